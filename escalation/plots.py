"""Briefing figures: escalation curves, threshold probabilities, attack fans and experiment comparisons.

Every function here takes plain data (the tidy tables of :class:`~escalation.ensemble.EnsembleResult` and
:mod:`escalation.metrics`) and returns a :class:`matplotlib.figure.Figure`; none runs a model or writes a
file, except :func:`save_figure`. Figures are meant to go straight onto a slide, so each one has

* the caller's title (phrase it as the question the figure answers),
* axis labels with units, probabilities in percent, dates on time axes,
* a colour-blind-safe palette (Okabe & Ito 2008) and no decoration beyond a light grid,
* a caption line at the bottom in small grey type that identifies the run (:class:`Caption`).

The figures are drawn in the house style (:func:`house_style`) with a 16:9 shape, so a figure saved with
:func:`save_figure` at 200 dpi is 2000 × 1125 pixels and fills a slide without scaling its text. They are
plain :class:`~matplotlib.figure.Figure` objects, not registered with pyplot: they need no display, do not
pile up in long batch runs, and still show inline in a notebook.

References:
    Okabe, M., & Ito, K. (2008). Color Universal Design (CUD): how to make figures and presentations that
    are friendly to colorblind people. https://jfly.uni-koeln.de/color/
"""

from __future__ import annotations

import contextlib
import os
import textwrap
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import matplotlib.axis
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import matplotlib.text
import numpy as np
import pandas as pd
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator, MultipleLocator

__all__ = [
    "PALETTE",
    "RUNG_COLOURS",
    "Caption",
    "arms_chart",
    "fan_chart",
    "house_style",
    "ladder_chart",
    "save_figure",
    "threshold_chart",
]

# --------------------------------------------------------------------------------------------------------
# House style
# --------------------------------------------------------------------------------------------------------

PALETTE: tuple[str, ...] = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
"""Okabe-Ito colours in the order series receive them (yellow is left out: too faint on white)."""

RUNG_COLOURS: dict[int, str] = {
    1: "#999999",  # grey
    2: "#56B4E9",  # sky blue
    3: "#009E73",  # bluish green
    4: "#0072B2",  # blue
    5: "#E69F00",  # orange
    6: "#D55E00",  # vermillion
    7: "#000000",  # black
}
"""One fixed Okabe-Ito colour per rung, so a rung looks the same on every chart; cooler is lower."""

FIGSIZE: tuple[float, float] = (10.0, 5.625)
"""Default figure size in inches (16:9)."""

_MINUS = "\u2212"
"""The typographic minus sign, used in signed labels."""
_INK = "#222222"
_MUTED = "#555555"
_CAPTION_COLOUR = "#666666"
# Characters of the bold title that fit in one inch of figure width (measured on the house font).
_TITLE_CHARS_PER_INCH = 6.8
_CAPTION_SIZE = 9.5
_CAPTION_BAND_INCHES = 0.32
"""Height kept free at the bottom of every figure for the caption line."""

_STYLE: dict[str, object] = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica", "Liberation Sans"],
    "font.size": 12.0,
    "figure.titlesize": 17.0,
    "figure.titleweight": "bold",
    "axes.titlesize": 13.0,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 13.0,
    "axes.labelcolor": _INK,
    "axes.edgecolor": "#444444",
    "axes.linewidth": 0.9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "axes.prop_cycle": cycler(color=PALETTE),
    "grid.color": "#DDDDDD",
    "grid.linewidth": 0.8,
    "grid.linestyle": "-",
    "xtick.labelsize": 12.0,
    "ytick.labelsize": 12.0,
    "xtick.color": "#333333",
    "ytick.color": "#333333",
    "legend.fontsize": 11.5,
    "legend.title_fontsize": 12.0,
    "legend.frameon": False,
    "lines.linewidth": 2.2,
    "lines.solid_capstyle": "round",
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "svg.fonttype": "path",
    "svg.hashsalt": "escalation",
}


def house_style() -> contextlib.AbstractContextManager:
    """The house style as a context manager: fonts, sizes, colours, grid and spines.

    Every plot function draws inside it; use it too for any extra figure that should match::

        with house_style():
            fig, ax = plt.subplots()
    """
    return matplotlib.rc_context(_STYLE)


# --------------------------------------------------------------------------------------------------------
# Caption
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caption:
    """The provenance line printed at the bottom of every figure.

    Attributes:
        experiment: experiment name, for example ``"baseline"``.
        replications: number of Monte Carlo replications.
        seed: root seed of the ensemble.
        run_date: date of the run, as text (ISO format recommended).
        version: version of the ``escalation`` package that made the run.
        scenario: scenario name; left out of the line when empty.
    """

    experiment: str
    replications: int
    seed: int
    run_date: str
    version: str
    scenario: str = ""

    def text(self) -> str:
        """The caption as one line.

        For example ``baseline · october_2023 · 10,000 replications · seed 20231027 · 2026-11-24 ·
        escalation 0.1.0``; an empty scenario is left out.
        """
        noun = "replication" if self.replications == 1 else "replications"
        parts = [self.experiment, self.scenario, f"{self.replications:,} {noun}", f"seed {self.seed}"]
        parts += [str(self.run_date), f"escalation {self.version}"]
        return " · ".join(str(p) for p in parts if str(p).strip())


# --------------------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------------------


def _require(
    frame: pd.DataFrame, columns: Iterable[str], argument: str, *, allow_empty: bool = False
) -> None:
    """Raise ValueError naming the missing columns, or on an empty frame unless ``allow_empty``."""
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{argument}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{argument}: missing columns {missing}; has {list(frame.columns)}")
    if frame.empty and not allow_empty:
        raise ValueError(f"{argument}: the table has no rows")


def _new_figure(
    *, ncols: int = 1, figsize: tuple[float, float] = FIGSIZE, **subplot_kw: object
) -> tuple[Figure, np.ndarray]:
    """A constrained-layout figure that keeps a band free at the bottom for the caption."""
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False, **subplot_kw)
    bottom = _CAPTION_BAND_INCHES / figsize[1]
    fig.get_layout_engine().set(rect=(0.0, bottom, 1.0, 1.0 - bottom), h_pad=0.08, w_pad=0.08)
    return fig, axes[0]


def _finish(fig: Figure, title: str, caption: Caption) -> Figure:
    """Add the title (left-aligned, wrapped to the figure's width) and the caption line (bottom left)."""
    width = int(_TITLE_CHARS_PER_INCH * fig.get_figwidth())
    fig.suptitle(textwrap.fill(title, width=width), x=0.012, ha="left")
    fig.text(
        0.012,
        0.04 / fig.get_figheight(),
        caption.text(),
        ha="left",
        va="bottom",
        fontsize=_CAPTION_SIZE,
        color=_CAPTION_COLOUR,
    )
    return fig


def _percent_text(probability: float) -> str:
    """A probability in [0, 1] as a short percentage label: 82%, 4.1%, 0.3%, <0.1%."""
    value = 100.0 * float(probability)
    if value == 0.0:
        return "0%"
    if value >= 99.5 and value < 100.0:
        return ">99%"
    if value >= 10.0:
        return f"{value:.0f}%"
    if value >= 0.1:
        return f"{value:.1f}%"
    return "<0.1%"


def _points_text(points: float) -> str:
    """A difference in percentage points with its sign: +12.3 pp, −0.4 pp, 0 pp."""
    if abs(points) < 0.05:
        return "0 pp"
    sign = "+" if points > 0 else _MINUS
    digits = 0 if abs(points) >= 10 else 1
    return f"{sign}{abs(points):.{digits}f} pp"


def _signed(value: float) -> str:
    """A tick label with an explicit sign and a true minus: −10, 0, +10."""
    if round(value, 6) == 0:
        return "0"
    text = f"{abs(value):.3g}"
    return ("+" if value > 0 else _MINUS) + text


def _wrap(label: str, width: int = 24) -> str:
    """Wrap a category label onto lines of about ``width`` characters."""
    return "\n".join(textwrap.wrap(str(label), width=width)) or str(label)


def _date_axis(ax: Axes) -> None:
    """Readable dates: short tick labels (concise format) and the year always visible.

    Ticks read "Nov", "Dec", "2024", "Feb" or "Nov", "15", "Dec"; the year appears at a year boundary and
    again at the right end of the axis, so a chart that stays within one year still shows it.
    """
    locator = mdates.AutoDateLocator(minticks=4, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    formatter = mdates.ConciseDateFormatter(
        locator, offset_formats=["", "%Y", "%Y", "%d %b %Y", "%d %b %Y", "%d %b %Y"]
    )
    ax.xaxis.set_major_formatter(formatter)
    ax.set_xlabel("Date")


def _percent_axis(axis: matplotlib.axis.Axis) -> None:
    """Ticks every 20 percent on a 0-100 axis, labelled without a % sign (the label carries the unit)."""
    axis.set_major_locator(MultipleLocator(20))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0f}"))


def _interval_note(level: float) -> str:
    """Legend text for the whiskers or bands of Monte Carlo estimates."""
    return f"{level:.0%} confidence interval"


def _dodge(n: int, spread: float = 0.42) -> np.ndarray:
    """Vertical offsets that place ``n`` series side by side within one category row."""
    if n <= 1:
        return np.zeros(max(n, 0))
    return np.linspace(-spread / 2, spread / 2, n)


def _label_value(
    ax: Axes, x_low: float, x_high: float, y: float, text: str, colour: str, *, side: str = "right"
) -> _ValueLabel:
    """Write a value label beside an interval: right of its upper end or left of its lower end.

    The label is kept out of the layout so that it never moves the axes; :func:`_keep_inside` later moves
    it to the other side if it would stick out of the axes.
    """
    right = ((x_high, y), (6.0, 0.0), "left")
    left = ((x_low, y), (-6.0, 0.0), "right")
    first, other = (right, left) if side == "right" else (left, right)
    annotation = ax.annotate(
        text, first[0], xytext=first[1], textcoords="offset points", ha=first[2], va="center",
        fontsize=11.5, color=colour, fontweight="bold",
    )  # fmt: skip
    annotation.set_in_layout(False)
    return _ValueLabel(annotation, other)


def _end_labels(
    ax: Axes, x: object, values: Sequence[tuple[float, str, str, str]], *, min_gap: float
) -> None:
    """Label the right-hand ends of series, top to bottom, skipping any closer than ``min_gap`` to the last.

    Args:
        ax: the axes.
        x: x position of the series ends (data units).
        values: ``(y, text, colour, weight)`` from the top series down.
        min_gap: smallest vertical distance (data units) between two labels.
    """
    previous = None
    for y, text, colour, weight in values:
        if previous is not None and abs(previous - y) < min_gap:
            continue
        ax.annotate(
            text, (x, y), xytext=(6, 0), textcoords="offset points", ha="left", va="center",
            fontsize=11.5, color=colour, fontweight=weight, annotation_clip=False,
        )  # fmt: skip
        previous = y


@dataclass(frozen=True)
class _ValueLabel:
    """A value label and the placement (anchor, offset in points, alignment) it can switch to."""

    annotation: matplotlib.text.Annotation
    other: tuple[tuple[float, float], tuple[float, float], str]


def _keep_inside(fig: Figure, labels: Sequence[_ValueLabel]) -> None:
    """Lay the figure out, then move each value label that sticks out of its axes to its other side."""
    if not labels:
        return
    fig.draw_without_rendering()
    for label in labels:
        annotation = label.annotation
        box = annotation.get_window_extent()
        frame = annotation.axes.get_window_extent()
        if box.x1 > frame.x1 + 1.0 or box.x0 < frame.x0 - 1.0:
            xy, offset, align = label.other
            annotation.xy = xy
            annotation.xyann = offset
            annotation.set_horizontalalignment(align)


# --------------------------------------------------------------------------------------------------------
# Fan chart of a cumulative count
# --------------------------------------------------------------------------------------------------------


def fan_chart(
    cumulative: pd.DataFrame,
    *,
    title: str,
    caption: Caption,
    observed: pd.DataFrame | None = None,
    offset: float = 0.0,
    ylabel: str = "Cumulative attacks",
) -> Figure:
    """Fan chart of a simulated cumulative count, continuing the observed record.

    The median is drawn as a line, and the middle 50% and 90% of simulated runs (the daily 25-75% and 5-95%
    quantiles) as shaded bands. Observed counts are black markers; counts known only as lower bounds
    ("at least 19") are open markers. A dashed vertical line marks the first simulated day.

    Args:
        cumulative: one row per simulated day with columns ``date``, ``mean``, ``q05``, ``q25``, ``q50``,
            ``q75`` and ``q95`` (as returned by :meth:`EnsembleResult.cumulative_attacks`); the values count
            from the forecast start.
        title: figure title; phrase it as the question the figure answers.
        caption: provenance line printed at the bottom.
        observed: optional observed cumulative counts, with columns ``date``, ``count`` and ``lower_bound``
            (bool), on the same scale as the record (not shifted by ``offset``); None or an empty table
            when nothing was observed.
        offset: count observed before the forecast start, added to every simulated quantile so the fan
            continues the record.
        ylabel: label of the count axis.

    Returns:
        The figure.

    Raises:
        ValueError: if a table lacks a column or has no rows.
    """
    _require(cumulative, ("date", "mean", "q05", "q25", "q50", "q75", "q95"), "cumulative")
    if observed is not None:
        _require(observed, ("date", "count", "lower_bound"), "observed", allow_empty=True)
        if observed.empty:
            observed = None
    table = cumulative.sort_values("date")
    dates = pd.to_datetime(table["date"]).to_numpy()
    shift = float(offset)

    def band(column: str) -> np.ndarray:
        return table[column].to_numpy(dtype=float) + shift

    fill = PALETTE[0]
    with house_style():
        fig, (ax,) = _new_figure()
        ax.fill_between(dates, band("q05"), band("q95"), color=fill, alpha=0.16, linewidth=0)
        ax.fill_between(dates, band("q25"), band("q75"), color=fill, alpha=0.34, linewidth=0)
        ax.plot(dates, band("q50"), color="#003F6B", linewidth=2.4, label="Simulated median")
        handles = [
            Line2D([], [], color="#003F6B", linewidth=2.4, label="Simulated median"),
            Patch(facecolor=fill, alpha=0.34 + 0.16 * (1 - 0.34), label="Middle 50% of simulated runs"),
            Patch(facecolor=fill, alpha=0.16, label="Middle 90% of simulated runs"),
        ]
        start = dates[0]
        if observed is not None:
            obs = observed.sort_values("date")
            obs_dates = pd.to_datetime(obs["date"]).to_numpy()
            counts = obs["count"].to_numpy(dtype=float)
            bound = obs["lower_bound"].to_numpy(dtype=bool)
            marker = {"marker": "o", "markersize": 8, "linestyle": "none", "zorder": 5}
            if (~bound).any():
                ax.plot(obs_dates[~bound], counts[~bound], color="black", label="Observed", **marker)
                handles.append(Line2D([], [], color="black", label="Observed", **marker))
            if bound.any():
                open_marker = {**marker, "markerfacecolor": "white", "markeredgewidth": 1.8}
                ax.plot(
                    obs_dates[bound], counts[bound], color="black", label="Observed (at least)", **open_marker
                )
                handles.append(Line2D([], [], color="black", label="Observed (at least)", **open_marker))
            ax.axvline(start, color=_MUTED, linestyle="--", linewidth=1.3, zorder=1)
            day_one = pd.Timestamp(start)
            start_text = f"{day_one.day} {day_one:%b %Y}"
            handles.append(
                Line2D(
                    [], [], color=_MUTED, linestyle="--", linewidth=1.3, label=f"Forecast starts {start_text}"
                )
            )
            first, last = min(obs_dates.min(), start), max(obs_dates.max(), dates[-1])
        else:
            first, last = start, dates[-1]
        span = last - first
        ax.set_xlim(first - span * 0.02, last + span * 0.01)
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.grid(axis="x", visible=False)
        _date_axis(ax)
        ax.set_ylabel(ylabel)
        ax.legend(handles=handles, loc="upper left")
        _end_labels(
            ax,
            dates[-1],
            [
                (band("q95")[-1], f"{band('q95')[-1]:,.0f}", _MUTED, "normal"),
                (band("q50")[-1], f"{band('q50')[-1]:,.0f}", "#003F6B", "bold"),
                (band("q05")[-1], f"{band('q05')[-1]:,.0f}", _MUTED, "normal"),
            ],
            min_gap=0.05 * ax.get_ylim()[1],
        )
        return _finish(fig, title, caption)


# --------------------------------------------------------------------------------------------------------
# Escalation-ladder curves
# --------------------------------------------------------------------------------------------------------


def _default_rungs(curves: pd.DataFrame) -> list[int]:
    """Rungs 2 to 7 that the table holds with some non-zero probability."""
    reached = curves.groupby("rung")["probability"].max()
    return [int(k) for k in reached.index if 2 <= k <= 7 and reached[k] > 0]


def ladder_chart(
    curves: pd.DataFrame,
    *,
    title: str,
    caption: Caption,
    rungs: Sequence[int] | None = None,
    level: float = 0.90,
) -> Figure:
    """Probability that the crisis has reached each rung of the escalation ladder, by date.

    One line per rung with its confidence band; the legend reads "≥ 4 proxy strike" for "the highest rung
    reached so far is at least 4, proxy strike". Lines never cross: a higher rung is never more likely than
    a lower one, so the legend lists rungs in the order the lines appear, top to bottom.

    By default rungs 2 (casualties) to 7 (regional war) are drawn, leaving out any the table never reaches.
    Rung 1 (harassment) is left out because it sits at about 100% from the first simulated day and only
    crowds the top of the chart; pass ``rungs`` to choose others.

    Args:
        curves: tidy table with columns ``rung``, ``rung_name``, ``date``, ``probability``, ``lower`` and
            ``upper`` (as returned by :meth:`EnsembleResult.ladder_curves`); probabilities in [0, 1].
        title: figure title; phrase it as the question the figure answers.
        caption: provenance line printed at the bottom.
        rungs: rungs to draw (each >= 1 and present in ``curves``); the default is described above.
        level: confidence level of the ``lower``/``upper`` columns, used in the legend.

    Returns:
        The figure.

    Raises:
        ValueError: if the table lacks a column or has no rows, a requested rung is not in it, or no rung is
            left to draw.
    """
    _require(curves, ("rung", "rung_name", "date", "probability", "lower", "upper"), "curves")
    available = {int(k) for k in curves["rung"].unique()}
    chosen = _default_rungs(curves) if rungs is None else [int(k) for k in rungs]
    missing = sorted(set(chosen) - available)
    if missing:
        raise ValueError(f"rungs: {missing} not in the table; it has rungs {sorted(available)}")
    if any(k < 1 for k in chosen):
        raise ValueError(f"rungs: rungs must be >= 1 (rung 0 is reached by definition), got {chosen}")
    if not chosen:
        raise ValueError("rungs: no rung to draw (every rung from 2 to 7 has probability 0)")

    with house_style():
        fig, (ax,) = _new_figure()
        first = last = None
        ends: list[tuple[float, np.datetime64]] = []
        for rung in sorted(set(chosen)):
            rows = curves[curves["rung"] == rung].sort_values("date")
            dates = pd.to_datetime(rows["date"]).to_numpy()
            colour = RUNG_COLOURS.get(rung, PALETTE[rung % len(PALETTE)])
            label = f"≥ {rung} {rows['rung_name'].iloc[0]}"
            ax.fill_between(
                dates, 100 * rows["lower"].to_numpy(float), 100 * rows["upper"].to_numpy(float),
                color=colour, alpha=0.22, linewidth=0,
            )  # fmt: skip
            ax.plot(dates, 100 * rows["probability"].to_numpy(float), color=colour, label=label)
            first = dates[0] if first is None else min(first, dates[0])
            last = dates[-1] if last is None else max(last, dates[-1])
            ends.append((100 * float(rows["probability"].iloc[-1]), dates[-1]))
        span = last - first
        ax.set_xlim(first, last + span * 0.01)
        ax.set_ylim(0, 101)
        ax.set_ylabel("Probability (%)")
        _percent_axis(ax.yaxis)
        ax.grid(axis="x", visible=False)
        _date_axis(ax)
        ends.sort(key=lambda end: -end[0])
        _end_labels(ax, last, [(p, _percent_text(p / 100), _INK, "bold") for p, _ in ends], min_gap=4.5)
        handles, _ = ax.get_legend_handles_labels()
        handles.append(Patch(facecolor="#888888", alpha=0.3, label=_interval_note(level)))
        fig.legend(handles=handles, title="Highest rung reached", loc="outside right upper", alignment="left")
        return _finish(fig, title, caption)


# --------------------------------------------------------------------------------------------------------
# Named thresholds
# --------------------------------------------------------------------------------------------------------


def _by_horizon_label(horizon: int | None) -> str:
    return f"Probability by day {horizon} (%)" if horizon is not None else "Probability (%)"


def threshold_chart(
    table: pd.DataFrame,
    *,
    title: str,
    caption: Caption,
    horizon: int | None = None,
    level: float = 0.90,
) -> Figure:
    """Probability of each named threshold event by one horizon: a dot and its interval per threshold.

    Thresholds are listed top to bottom in the order of the table, each with its probability written next
    to the dot.

    Args:
        table: tidy table with columns ``threshold``, ``label``, ``horizon_days``, ``probability``,
            ``lower`` and ``upper`` (as returned by :meth:`EnsembleResult.threshold_table`).
        title: figure title; phrase it as the question the figure answers.
        caption: provenance line printed at the bottom.
        horizon: horizon in days to show; the largest in the table when None.
        level: confidence level of the ``lower``/``upper`` columns, used in the legend.

    Returns:
        The figure.

    Raises:
        ValueError: if the table lacks a column or has no rows, or has no row for ``horizon``.
    """
    _require(table, ("threshold", "label", "horizon_days", "probability", "lower", "upper"), "table")
    horizons = sorted(int(h) for h in table["horizon_days"].unique())
    chosen = horizons[-1] if horizon is None else int(horizon)
    rows = table[table["horizon_days"] == chosen]
    if rows.empty:
        raise ValueError(f"horizon: no rows for {chosen} days; the table has horizons {horizons}")
    rows = rows.drop_duplicates("threshold", keep="first").reset_index(drop=True)
    n = len(rows)
    y = np.arange(n, dtype=float)
    probability = 100 * rows["probability"].to_numpy(float)
    lower = 100 * rows["lower"].to_numpy(float)
    upper = 100 * rows["upper"].to_numpy(float)
    labels = [
        _wrap(label if pd.notna(label) and str(label) else name)
        for label, name in zip(rows["label"], rows["threshold"], strict=True)
    ]
    colour = PALETTE[0]

    with house_style():
        height = min(max(3.4, 1.6 + 0.85 * n), 7.5)
        fig, (ax,) = _new_figure(figsize=(FIGSIZE[0], height))
        ax.set_xlim(0, 100)
        ax.hlines(y, lower, upper, color=colour, linewidth=3.0, alpha=0.55, label=_interval_note(level))
        ax.plot(probability, y, "o", color=colour, markersize=10, label="Estimate", zorder=3)
        value_labels = [
            _label_value(ax, lower[k], upper[k], y[k], _percent_text(rows["probability"].iloc[k]), _INK)
            for k in range(n)
        ]
        ax.set_yticks(y, labels)
        ax.set_ylim(n - 0.5, -0.6)
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)
        ax.grid(axis="y", visible=False)
        _percent_axis(ax.xaxis)
        ax.set_xlabel(_by_horizon_label(chosen))
        ax.set_ylabel("Event")
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2, borderaxespad=0.2)
        _finish(fig, title, caption)
        _keep_inside(fig, value_labels)
        return fig


# --------------------------------------------------------------------------------------------------------
# Experiment arms
# --------------------------------------------------------------------------------------------------------


def arms_chart(
    table: pd.DataFrame,
    differences: pd.DataFrame,
    *,
    title: str,
    caption: Caption,
    reference: str,
    level: float = 0.90,
) -> Figure:
    """Compare experiment arms run with common random numbers, threshold by threshold.

    The left panel shows each arm's probability of each threshold side by side (dot and interval, one colour
    per arm). The right panel shows each arm's paired difference from the reference arm in percentage
    points, with its interval and a line at zero; an interval that excludes zero is a difference the
    ensemble resolves.

    Args:
        table: columns ``arm``, ``arm_label``, ``threshold``, ``label``, ``probability``, ``lower`` and
            ``upper`` for one horizon (an optional ``horizon_days`` column names it on the axis).
        differences: columns ``arm``, ``arm_label``, ``threshold``, ``label``, ``difference``, ``lower``
            and ``upper``: arm minus reference (probabilities in [-1, 1]), for example from
            :func:`escalation.metrics.paired_difference` on replication-aligned outcomes.
        title: figure title; phrase it as the question the figure answers.
        caption: provenance line printed at the bottom.
        reference: the ``arm`` the differences are taken against.
        level: confidence level of the intervals, used in the legend.

    Returns:
        The figure.

    Raises:
        ValueError: if a table lacks a column or has no rows, holds more than one horizon, or ``reference``
            is not an arm of ``table``.
    """
    _require(table, ("arm", "arm_label", "threshold", "label", "probability", "lower", "upper"), "table")
    _require(
        differences, ("arm", "arm_label", "threshold", "label", "difference", "lower", "upper"), "differences"
    )
    arms = list(dict.fromkeys(table["arm"]))
    if reference not in arms:
        raise ValueError(f"reference: {reference!r} is not an arm of the table; arms: {arms}")
    horizon = None
    if "horizon_days" in table.columns:
        horizon_values = table["horizon_days"].unique()
        if len(horizon_values) > 1:
            raise ValueError(f"table: expected one horizon, got {sorted(horizon_values.tolist())}")
        horizon = int(horizon_values[0])
    arm_labels = dict(zip(table["arm"], table["arm_label"], strict=True))
    for arm, label in zip(differences["arm"], differences["arm_label"], strict=True):
        if arm not in arm_labels:
            arms.append(arm)
            arm_labels[arm] = label
    colours = {arm: PALETTE[k % len(PALETTE)] for k, arm in enumerate(arms)}
    thresholds = list(dict.fromkeys(list(table["threshold"]) + list(differences["threshold"])))
    names = dict(zip(differences["threshold"], differences["label"], strict=True))
    names.update(zip(table["threshold"], table["label"], strict=True))
    row = {t: float(k) for k, t in enumerate(thresholds)}
    offset = dict(zip(arms, _dodge(len(arms)), strict=True))
    n = len(thresholds)

    with house_style():
        height = min(max(4.2, 2.2 + 0.95 * n), 8.0)
        fig, (left, right) = _new_figure(
            ncols=2, figsize=(FIGSIZE[0] + 1.0, height), sharey=True, gridspec_kw={"width_ratios": (1.25, 1)}
        )
        labels: list[_ValueLabel] = []
        # Left: probabilities by arm.
        left.set_xlim(0, 100)
        for arm in arms:
            rows = table[table["arm"] == arm]
            if rows.empty:
                continue
            y = rows["threshold"].map(row).to_numpy(float) + offset[arm]
            colour = colours[arm]
            left.hlines(
                y, 100 * rows["lower"].to_numpy(float), 100 * rows["upper"].to_numpy(float),
                color=colour, linewidth=2.6, alpha=0.6,
            )  # fmt: skip
            left.plot(
                100 * rows["probability"].to_numpy(float), y, "o", color=colour, markersize=8,
                label=str(arm_labels[arm]), zorder=3,
            )  # fmt: skip
            for p, lo, hi, yy in zip(rows["probability"], rows["lower"], rows["upper"], y, strict=True):
                labels.append(_label_value(left, 100 * lo, 100 * hi, yy, _percent_text(p), colour))
        _percent_axis(left.xaxis)
        left.set_xlabel(_by_horizon_label(horizon))
        left.set_ylabel("Event")

        # Right: paired differences from the reference arm, in percentage points.
        points = []
        for arm in arms:
            rows = differences[differences["arm"] == arm]
            if rows.empty:
                continue
            y = rows["threshold"].map(row).to_numpy(float) + offset[arm]
            colour = colours[arm]
            d = 100 * rows["difference"].to_numpy(float)
            lo = 100 * rows["lower"].to_numpy(float)
            hi = 100 * rows["upper"].to_numpy(float)
            right.hlines(y, lo, hi, color=colour, linewidth=2.6, alpha=0.6)
            right.plot(d, y, "o", color=colour, markersize=8, label=str(arm_labels[arm]), zorder=3)
            points.append((d, lo, hi, y, colour))
        right.axvline(0, color=_INK, linewidth=1.2, zorder=2)
        extent = max([np.abs(np.concatenate([lo, hi])).max() for _, lo, hi, _, _ in points] + [1.0])
        right.set_xlim(-1.6 * extent, 1.6 * extent)
        for d, lo, hi, y, colour in points:
            for k in range(len(d)):
                side = "left" if d[k] < 0 else "right"
                labels.append(_label_value(right, lo[k], hi[k], y[k], _points_text(d[k]), colour, side=side))
        right.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _signed(v)))
        right.set_xlabel(f"Difference from {arm_labels[reference]}\n(percentage points)")
        right.tick_params(axis="y", left=False)

        for ax in (left, right):
            ax.set_yticks(np.arange(n), [_wrap(names[t], 22) for t in thresholds])
            ax.set_ylim(n - 0.5, -0.5)
            ax.grid(axis="y", visible=False)
            ax.tick_params(axis="y", length=0)
            ax.spines["left"].set_visible(False)
        handles = [
            Line2D(
                [], [], color=colours[a], marker="o", markersize=8, linewidth=2.6, label=str(arm_labels[a])
            )
            for a in arms
        ]
        handles.append(Line2D([], [], color="#888888", linewidth=2.6, alpha=0.6, label=_interval_note(level)))
        # The legend sits between each panel's title and its axes, in room kept by the title padding.
        legend = left.legend(
            handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=len(handles),
            borderaxespad=0.3, handlelength=1.6, columnspacing=1.4,
        )  # fmt: skip
        legend.set_in_layout(False)
        left.set_title("Probability in each arm", pad=30)
        right.set_title("Change from the reference arm", pad=30)
        _finish(fig, title, caption)
        _keep_inside(fig, labels)
        return fig


# --------------------------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------------------------


def save_figure(
    fig: Figure, directory: Path, stem: str, formats: Sequence[str] = ("png", "svg"), dpi: int = 200
) -> list[Path]:
    """Write a figure in each format, atomically, then close it.

    Each file is written to a temporary file in ``directory`` and moved into place with an atomic rename
    (:func:`os.replace`), so a reader never sees a half-written figure. The figure keeps its size: a PNG is
    ``dpi × figsize`` pixels (2000 × 1125 for the default figure at 200 dpi).

    Args:
        fig: the figure; closed afterwards, even when writing fails.
        directory: where to write; created if missing.
        stem: file name without extension.
        formats: file formats (extensions) to write.
        dpi: resolution of raster formats.

    Returns:
        The paths written, in the order of ``formats``.
    """
    directory = Path(directory)
    written: list[Path] = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with house_style():
            for fmt in formats:
                target = directory / f"{stem}.{fmt}"
                temporary = directory / f".{stem}.{fmt}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
                try:
                    with temporary.open("xb") as stream:
                        fig.savefig(stream, format=fmt, dpi=dpi, metadata=_metadata(fmt))
                    temporary.replace(target)
                except BaseException:
                    temporary.unlink(missing_ok=True)
                    raise
                written.append(target)
    finally:
        plt.close(fig)
    return written


def _metadata(fmt: str) -> dict[str, str | None] | None:
    """File metadata without a creation date, so the same figure gives the same file."""
    if fmt == "svg":
        return {"Date": None}
    if fmt == "pdf":
        return {"CreationDate": None}
    return None
