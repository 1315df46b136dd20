"""Figures of a sensitivity analysis and of scenario discovery, in the house style of :mod:`escalation.plots`.

Each function takes tidy tables and returns a figure (write it with :func:`escalation.plots.save_figure`).
Each also draws into the caller's axes when given ``ax=`` (keyword only; :func:`prim_chart` takes two): the
title then goes on the axes, the caption is left to the caller, and the axes' figure is returned, so panels
compose into one figure (see "Composing figures" in ``docs/brief.md``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from escalation.plots import (
    PALETTE,
    Caption,
    _finish_or_title,
    _new_figure,
    _require,
    _root,
    _target_axes,
    _wrap,
    house_style,
)

_MAX_FACTORS = 15  # factors shown on a chart: the most influential


def _short(factor: str) -> str:
    """A factor's path without the group prefix (``militias->us.base_rate``)."""
    return factor.split(".", 1)[1] if "." in factor else factor


def _top(rows: pd.DataFrame, key: str, limit: int) -> pd.DataFrame:
    return rows.sort_values(key, ascending=False, na_position="last").head(limit).iloc[::-1]


def tornado_chart(
    indices: pd.DataFrame, *, title: str, caption: Caption, level: float = 0.95, ax: Axes | None = None
) -> Figure:
    """Total-order Sobol indices of one headline, largest on top, each with its bootstrap interval.

    Args:
        indices: one headline's rows of the indices table (``factor``, ``ST``, ``ST_conf``).
        title: the figure's title (the headline as a question).
        caption: the provenance line.
        level: the intervals' confidence level (legend).
        ax: draw into this axes instead of a new figure (keyword only).
    """
    _require(indices, ("factor", "ST", "ST_conf"), "indices")
    given = _target_axes(ax, (1,))
    rows = _top(indices, "ST", _MAX_FACTORS)
    y = np.arange(len(rows), dtype=float)
    st = rows["ST"].to_numpy(float)
    conf = rows["ST_conf"].to_numpy(float)
    with house_style():
        figsize = (10.0, min(max(3.6, 1.4 + 0.42 * len(rows)), 8.5))
        fig, (ax,) = _new_figure(figsize=figsize) if given is None else (_root(given[0]), given)
        ax.barh(y, st, color=PALETTE[0], alpha=0.8, height=0.62, label="Total-order index ST")
        ax.errorbar(
            st, y, xerr=conf, fmt="none", ecolor="#222222", elinewidth=1.4, capsize=3,
            label=f"{round(100 * level)}% bootstrap interval",
        )  # fmt: skip
        ax.set_yticks(y, [_wrap(_short(f), 40) for f in rows["factor"]], fontsize=10.5)
        ax.set_xlim(0, max(1.0, float(np.nanmax(st + conf)) * 1.05) if np.isfinite(st).any() else 1.0)
        ax.set_xlabel("Share of the output's variance that involves the factor (ST)")
        ax.grid(axis="y", visible=False)
        ax.legend(loc="lower right")
        return _finish_or_title(fig, given, title, caption)


def index_chart(
    indices: pd.DataFrame, *, title: str, caption: Caption, level: float = 0.95, ax: Axes | None = None
) -> Figure:
    """First-order (S1) beside total-order (ST) Sobol indices of one headline, with bootstrap intervals.

    The gap between a factor's ST and S1 is the share of the variance it explains only together with other
    factors (interactions). With ``ax`` (keyword only) it is drawn into that axes.
    """
    _require(indices, ("factor", "S1", "S1_conf", "ST", "ST_conf"), "indices")
    given = _target_axes(ax, (1,))
    rows = _top(indices, "ST", _MAX_FACTORS)
    y = np.arange(len(rows), dtype=float)
    with house_style():
        figsize = (10.0, min(max(3.6, 1.4 + 0.5 * len(rows)), 9.0))
        fig, (ax,) = _new_figure(figsize=figsize) if given is None else (_root(given[0]), given)
        for offset, key, colour, label in (
            (0.18, "S1", PALETTE[2], "First order S1"),
            (-0.18, "ST", PALETTE[0], "Total order ST"),
        ):
            ax.errorbar(
                rows[key].to_numpy(float), y + offset, xerr=rows[f"{key}_conf"].to_numpy(float), fmt="o",
                color=colour, markersize=7, elinewidth=2.0, capsize=0, label=label,
            )  # fmt: skip
        ax.axvline(0, color="#888888", linewidth=0.9)
        ax.set_yticks(y, [_wrap(_short(f), 40) for f in rows["factor"]], fontsize=10.5)
        ax.set_xlabel(f"Sobol index (dots) with its {round(100 * level)}% bootstrap interval")
        ax.grid(axis="y", visible=False)
        ax.legend(loc="lower right")
        return _finish_or_title(fig, given, title, caption)


def morris_chart(indices: pd.DataFrame, *, title: str, caption: Caption, ax: Axes | None = None) -> Figure:
    """Morris screening of one headline: mu* (overall influence) against sigma (non-linear, joint effects).

    With ``ax`` (keyword only) it is drawn into that axes.
    """
    _require(indices, ("factor", "mu_star", "mu_star_conf", "sigma"), "indices")
    given = _target_axes(ax, (1,))
    rows = _top(indices, "mu_star", _MAX_FACTORS)
    with house_style():
        fig, (ax,) = _new_figure() if given is None else (_root(given[0]), given)
        ax.errorbar(
            rows["mu_star"], rows["sigma"], xerr=rows["mu_star_conf"], fmt="o", color=PALETTE[0],
            markersize=7, elinewidth=1.2, capsize=2,
        )  # fmt: skip
        for _, row in rows.iloc[::-1].head(6).iterrows():
            ax.annotate(_short(row["factor"]), (row["mu_star"], row["sigma"]), xytext=(5, 4),
                        textcoords="offset points", fontsize=9.5)  # fmt: skip
        ax.set_xlabel("mu* (mean absolute elementary effect, per unit of the factor's quantile)")
        ax.set_ylabel("sigma (spread of the effects)")
        return _finish_or_title(fig, given, title, caption)


def prim_chart(
    trajectory: pd.DataFrame,
    limits: pd.DataFrame,
    *,
    title: str,
    caption: Caption,
    ax: Sequence[Axes] | None = None,
) -> Figure:
    """PRIM's trade-off (coverage against density along the peeling trajectory) and the chosen box's limits.

    Args:
        trajectory: the first box's peeling trajectory (``coverage``, ``density``, ``restricted_dimensions``,
            ``selected``).
        limits: the first box's restricted parameters (``parameter``, ``low``, ``high``), in the runs' units,
            drawn as a share of each parameter's range in the runs (``range_low``, ``range_high``).
        title: the figure's title.
        caption: the provenance line.
        ax: draw into two of the caller's axes, ``(trade-off, limits)``, instead of a new figure (keyword
            only); the title goes on the first.
    """
    _require(trajectory, ("coverage", "density", "restricted_dimensions", "selected"), "trajectory")
    _require(limits, ("parameter", "low", "high", "range_low", "range_high"), "limits", allow_empty=True)
    given = _target_axes(ax, (2,))
    with house_style():
        fig, (left, right) = _new_figure(ncols=2) if given is None else (_root(given[0]), given)
        points = left.scatter(
            trajectory["coverage"], trajectory["density"], c=trajectory["restricted_dimensions"],
            cmap="viridis", s=22,
        )  # fmt: skip
        chosen = trajectory[trajectory["selected"]]
        left.scatter(chosen["coverage"], chosen["density"], s=140, facecolors="none", edgecolors=PALETTE[1],
                     linewidths=2.0, label="Box reported")  # fmt: skip
        left.figure.colorbar(points, ax=left, label="Parameters restricted")
        left.set_xlabel("Coverage (share of the outcome's runs in the box)")
        left.set_ylabel("Density (share of the box's runs with the outcome)")
        left.set_xlim(0, 1.02)
        left.set_ylim(0, 1.02)
        left.legend(loc="lower left")
        y = np.arange(len(limits), dtype=float)
        span = (limits["range_high"] - limits["range_low"]).replace(0, np.nan)
        low = ((limits["low"] - limits["range_low"]) / span).to_numpy(float)
        high = ((limits["high"] - limits["range_low"]) / span).to_numpy(float)
        right.barh(y, high - low, left=low, color=PALETTE[1], alpha=0.7, height=0.5)
        for k, row in enumerate(limits.itertuples()):
            right.text(0.5, k + 0.33, f"{row.low:.3g} to {row.high:.3g}", ha="center", fontsize=9.5)
        right.set_yticks(y, [_wrap(_short(p), 28) for p in limits["parameter"]], fontsize=10)
        right.set_xlim(0, 1)
        right.set_ylim(-0.6, max(len(limits), 1) - 0.2)
        right.set_xlabel("The box's range, as a share of the runs' range")
        right.grid(axis="y", visible=False)
        return _finish_or_title(fig, given, title, caption)
