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
import sys
import textwrap
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import matplotlib.axis
import matplotlib.colors
import matplotlib.dates as mdates
import matplotlib.text
import numpy as np
import pandas as pd
from cycler import cycler
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator, MultipleLocator
from matplotlib.transforms import ScaledTranslation

__all__ = [
    "PALETTE",
    "RUNG_COLOURS",
    "Caption",
    "arms_chart",
    "difference_chart",
    "fan_chart",
    "heatmap_chart",
    "house_style",
    "ladder_chart",
    "pit_histogram",
    "qq_uniform",
    "reliability_diagram",
    "save_figure",
    "sweep_chart",
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
_BAND_ALPHA = 0.38
"""Opacity of the simulation-noise band around a line: light enough to see the line, dark enough to show."""
_BAR_ALPHA = 0.9
_RANGE_ALPHA = 0.22
"""Opacity of a simulation-noise bar through a dot."""
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

        For example ``baseline · october_2023 · 10,000 replications · seed 20231027 · escalation 0.1.0 ·
        run on 2026-11-24``; an empty scenario is left out. The run date comes last and says what it is, so it
        is not read as a date of the scenario.
        """
        noun = "replication" if self.replications == 1 else "replications"
        parts = [self.experiment, self.scenario, f"{self.replications:,} {noun}", f"seed {self.seed}"]
        parts += [
            f"escalation {self.version}",
            f"run on {self.run_date}" if str(self.run_date).strip() else "",
        ]
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


def _target_axes(ax: Axes | Sequence[Axes] | None, counts: tuple[int, ...]) -> list[Axes] | None:
    """The caller's axes as a list (one of the allowed ``counts`` of them), or None to make a new figure.

    Raises:
        ValueError: naming ``ax`` and what is allowed, for anything else.
    """
    if ax is None:
        return None
    axes = [ax] if isinstance(ax, Axes) else list(np.ravel(np.asarray(ax, dtype=object)))
    if len(axes) not in counts or not all(isinstance(a, Axes) for a in axes):
        allowed = " or ".join("a matplotlib Axes" if n == 1 else f"a sequence of {n} Axes" for n in counts)
        raise ValueError(f"ax: expected {allowed}, got {ax!r}")
    return axes


def _root(ax: Axes) -> Figure:
    """The figure an axes is drawn in (the top-level one when the axes sit in a subfigure)."""
    return ax.get_figure(root=True)


# Characters of a bold axes title that fit in one inch of the axes' width (the figure title's ratio, scaled
# from its font size to the axes title's).
_AXES_TITLE_CHARS_PER_INCH = _TITLE_CHARS_PER_INCH * 17.0 / 13.0
_COMPOSED_LEGEND_PAD = 30.0
"""Title padding (points) that leaves room for a one-row legend between an axes and its title."""


def _axes_title(ax: Axes, title: str, *, subtitle: str = "", pad: float = 6.0) -> Figure:
    """The title of a figure drawn into the caller's axes: on the axes (left, bold), not on the figure.

    A ``subtitle`` goes in small grey type between the title and the axes. Returns the axes' figure.
    """
    fig = _root(ax)
    inches = ax.get_position().width * fig.get_figwidth()
    width = max(16, int(_AXES_TITLE_CHARS_PER_INCH * inches))
    if subtitle:
        note = ax.annotate(
            subtitle, (0.0, 1.0), xycoords="axes fraction", xytext=(0, pad), textcoords="offset points",
            ha="left", va="bottom", fontsize=_CAPTION_SIZE + 1, color=_MUTED, annotation_clip=False,
        )  # fmt: skip
        note.set_in_layout(False)
        pad += 1.5 * (_CAPTION_SIZE + 1)
    ax.set_title(
        textwrap.fill(title, width=width), loc="left", pad=pad, fontsize=_STYLE["axes.titlesize"],
        fontweight="bold",
    )  # fmt: skip
    return fig


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


def _finish_or_title(
    fig: Figure, given: list[Axes] | None, title: str, caption: Caption, *, legend_above: bool = False
) -> Figure:
    """:func:`_finish` a new figure; on the caller's axes, the title on the (first) axes instead.

    ``legend_above``: the axes carry a one-row legend above them, so the title sits higher to clear it.
    """
    if given is None:
        return _finish(fig, title, caption)
    return _axes_title(given[0], title, pad=_COMPOSED_LEGEND_PAD if legend_above else 6.0)


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
    # The model's unit is the day: on a horizon of a few days, tick whole days rather than hours.
    locator.intervald[mdates.HOURLY] = [24]
    ax.xaxis.set_major_locator(locator)
    formatter = mdates.ConciseDateFormatter(
        locator, offset_formats=["", "%Y", "%b %Y", "%d %b %Y", "%d %b %Y", "%d %b %Y"]
    )
    ax.xaxis.set_major_formatter(formatter)
    ax.set_xlabel("Date")


def _percent_axis(axis: matplotlib.axis.Axis) -> None:
    """Ticks every 20 percent on a 0-100 axis, labelled without a % sign (the label carries the unit)."""
    axis.set_major_locator(MultipleLocator(20))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0f}"))


def _interval_note(level: float) -> str:
    """Legend text for the whiskers or bands of Monte Carlo estimates (how far another seed moves them)."""
    return f"simulation noise ({level:.0%})"


def _parameter_note(level: float) -> str:
    """Legend text for the range of a probability over plausible parameter values."""
    return f"range over plausible parameter values ({level:.0%})"


def _parameter_columns(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    """A table's parameter range in percent, or None when it has none (no column, or not estimated)."""
    if "parameter_lower" not in rows.columns or "parameter_upper" not in rows.columns:
        return None
    lower = 100 * pd.to_numeric(rows["parameter_lower"], errors="coerce").to_numpy(float)
    upper = 100 * pd.to_numeric(rows["parameter_upper"], errors="coerce").to_numpy(float)
    if not np.isfinite(lower).any():
        return None
    return lower, upper


def _parameter_range(
    ax: Axes, at: np.ndarray, lower: np.ndarray, upper: np.ndarray, colour: str, *, vertical: bool = False
) -> None:
    """The range over plausible parameter values as a wide pale bar behind an estimate's noise bar."""
    keep = np.isfinite(lower) & np.isfinite(upper)
    draw = ax.vlines if vertical else ax.hlines
    draw(at[keep], lower[keep], upper[keep], color=colour, linewidth=11, alpha=_RANGE_ALPHA, zorder=1)


def _dodge(n: int, spread: float = 0.42) -> np.ndarray:
    """Vertical offsets that place ``n`` series side by side within one category row."""
    if n <= 1:
        return np.zeros(max(n, 0))
    return np.linspace(-spread / 2, spread / 2, n)


def _label_value(
    ax: Axes, x_low: float, x_high: float, y: float, text: str, colour: str, *, side: str = "right"
) -> _ValueLabel:
    """Write a value label beside an interval: right of its upper end or left of its lower end.

    The label is kept out of the layout so that it never moves the axes; :func:`_place_labels` later moves
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


def _dots_and_intervals(
    ax: Axes,
    at: np.ndarray,
    centre: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    colour: str,
    *,
    vertical: bool = False,
    marker: str = "o",
    markersize: float = 8.0,
    linewidth: float = 2.6,
    alpha: float = 0.6,
    label: str | None = None,
    interval_label: str | None = None,
) -> Line2D:
    """Estimates as dots, each with its confidence interval as a bar through it.

    Bars are horizontal at rows ``at`` (estimates on the x axis), or vertical at positions ``at`` when
    ``vertical`` (estimates on the y axis). Returns the line holding the dots.
    """
    bars = {"color": colour, "linewidth": linewidth, "alpha": max(alpha, _BAR_ALPHA), "zorder": 2}
    if interval_label is not None:
        bars["label"] = interval_label
    # The dot is drawn unclipped so an estimate of exactly 0% or 100% shows whole at the axis edge.
    dots: dict[str, object] = {"color": colour, "markersize": markersize, "zorder": 3, "clip_on": False}
    if label is not None:
        dots["label"] = label
    # End caps mark where the interval stops even when the dot covers most of a narrow one.
    caps = {"color": colour, "s": (markersize * 1.1) ** 2, "linewidths": 2.0, "zorder": 2}
    if vertical:
        ax.vlines(at, lower, upper, **bars)
        ax.scatter(np.r_[at, at], np.r_[lower, upper], marker="_", **caps)
        (line,) = ax.plot(at, centre, linestyle="none", marker=marker, **dots)
    else:
        ax.hlines(at, lower, upper, **bars)
        ax.scatter(np.r_[lower, upper], np.r_[at, at], marker="|", **caps)
        (line,) = ax.plot(centre, at, linestyle="none", marker=marker, **dots)
    return line


def _line_and_band(
    ax: Axes, x: object, centre: np.ndarray, lower: np.ndarray, upper: np.ndarray, colour: str,
    *, label: str, **line: object,
) -> Line2D:  # fmt: skip
    """An estimate as a line with its confidence interval as an edged band behind it (visible on a slide)."""
    ax.fill_between(
        x,
        lower,
        upper,
        facecolor=matplotlib.colors.to_rgba(colour, _BAND_ALPHA),
        edgecolor=colour,
        linewidth=0.8,
    )
    (drawn,) = ax.plot(x, centre, color=colour, label=label, **line)
    return drawn


def _difference_axis(ax: Axes, which: str) -> None:
    """A paired-difference axis (``"x"`` or ``"y"``): a solid line at zero and signed tick labels."""
    zero = {"color": _INK, "linewidth": 1.2, "zorder": 2}
    if which == "x":
        ax.axvline(0, **zero)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _signed(v)))
    else:
        ax.axhline(0, **zero)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _signed(v)))


@dataclass(frozen=True)
class _ValueLabel:
    """A value label and the placement (anchor, offset in points, alignment) it can switch to."""

    annotation: matplotlib.text.Annotation
    other: tuple[tuple[float, float], tuple[float, float], str]


_LABEL_GAP = 2.0
"""Smallest horizontal gap (pixels at the figure's dpi) between two value labels on one axes."""


def _place_labels(fig: Figure, labels: Sequence[_ValueLabel]) -> None:
    """Lay the figure out, then place each value label inside its axes and clear of the labels before it.

    Labels are placed in order. Each keeps its place when it is inside its axes and overlaps no label placed
    before it on the same axes; otherwise it moves to the other end of its interval; failing both, it is
    pushed along its row (away from its interval) past the labels it would cover, on either side. A label
    that fits nowhere keeps the old rule: its first side if inside the axes, else its other side. Close
    values of neighbouring arms, whose rows are a few points apart, so come out staggered instead of
    printed over each other.
    """
    if not labels:
        return
    fig.draw_without_rendering()
    to_points = 72.0 / fig.dpi
    placed: dict[Axes, list] = {}
    for label in labels:
        annotation = label.annotation
        frame = annotation.axes.get_window_extent()
        others = placed.setdefault(annotation.axes, [])
        first = (annotation.xy, annotation.xyann, annotation.get_horizontalalignment())
        placed_well = False
        for placement, push in ((first, False), (label.other, False), (first, True), (label.other, True)):
            _set_placement(annotation, placement)
            box = annotation.get_window_extent()
            for _ in range(len(others) if push else 0):
                found = _hits(box, others)
                if not found:
                    break
                if placement[2] == "left":  # the text runs right from its anchor: push it right
                    shift = max(b.x1 for b in found) + _LABEL_GAP - box.x0
                else:
                    shift = min(b.x0 for b in found) - _LABEL_GAP - box.x1
                x, y = annotation.xyann
                annotation.xyann = (x + shift * to_points, y)
                box = annotation.get_window_extent()
            if _inside(box, frame) and not _hits(box, others):
                placed_well = True
                break
        if not placed_well:
            _set_placement(annotation, first)
            if not _inside(annotation.get_window_extent(), frame):
                _set_placement(annotation, label.other)
        others.append(annotation.get_window_extent())


def _set_placement(
    annotation: matplotlib.text.Annotation, placement: tuple[tuple[float, float], tuple[float, float], str]
) -> None:
    xy, offset, align = placement
    annotation.xy = xy
    annotation.xyann = offset
    annotation.set_horizontalalignment(align)


def _inside(box, frame) -> bool:
    """Whether a box lies within the left and right edges of an axes' frame (a pixel of slack)."""
    return box.x1 <= frame.x1 + 1.0 and box.x0 >= frame.x0 - 1.0


def _hits(box, others: list) -> list:
    """The boxes among ``others`` that ``box`` overlaps or comes too close to."""
    return [b for b in others if _overlapping(box, b, _LABEL_GAP)]


def _overlapping(a, b, gap: float) -> bool:
    """Whether two boxes (display units) overlap, or come closer than ``gap`` side by side."""
    return a.x0 < b.x1 + gap and b.x0 < a.x1 + gap and a.y0 < b.y1 and b.y0 < a.y1


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
    counting: str = "",
    markers: Sequence[tuple[object, str]] = (),
    ax: Axes | None = None,
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
        counting: one line under the title saying what the count counts (which attackers, whether a
            background war is in it); empty: none.
        markers: ``(date, label)`` of dated changes to mark (the scenario's drivers): a dotted vertical line
            and its label at the top of the plot, for the dates inside the simulated days.
        ax: draw into this axes instead of a new figure (keyword only): the title goes on the axes, the
            caption is left to the caller, and the axes' figure is returned; see "Composing figures" in
            ``docs/brief.md``.

    Returns:
        The figure (with ``ax``: the figure of ``ax``).

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
    given = _target_axes(ax, (1,))
    with house_style():
        fig, (ax,) = _new_figure() if given is None else (_root(given[0]), given)
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
        if counting and given is None:
            ax.set_title(counting, loc="left", fontsize=_CAPTION_SIZE + 1, color=_MUTED)
        for when, text in markers:
            moment = pd.Timestamp(when).to_datetime64()
            if not dates[0] <= moment <= dates[-1]:
                continue
            ax.axvline(moment, color=_MUTED, linestyle=":", linewidth=1.2, zorder=1)
            ax.annotate(
                text,
                (moment, 0.0),
                xycoords=("data", "axes fraction"),
                xytext=(3, 4),
                textcoords="offset points",
                ha="left",
                va="bottom",
                rotation=90,
                fontsize=_CAPTION_SIZE,
                color=_MUTED,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.75, "pad": 1.0},
            )
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
        if given is not None:
            return _axes_title(ax, title, subtitle=counting)
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
    ax: Axes | Sequence[Axes] | None = None,
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
        ax: draw into the caller's axes instead of a new figure (keyword only): one axes for the curves, or
            two (curves, side panel) to show the parameter ranges on the last day beside them too (the side
            panel is drawn only when the table has them). The title goes on the curves' axes, the legend to
            their right, the caption is left to the caller, and the axes' figure is returned.

    Returns:
        The figure (with ``ax``: the figure of ``ax``).

    Raises:
        ValueError: if the table lacks a column or has no rows, a requested rung is not in it, no rung is
            left to draw, or ``ax`` is not one or two axes.
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

    spread = _parameter_columns(curves[curves["rung"].isin(chosen)])
    given = _target_axes(ax, (1, 2))
    with house_style():
        if given is not None:
            fig, ax = _root(given[0]), given[0]
            side = given[1] if len(given) == 2 else None
            if side is not None and spread is None:
                side.set_axis_off()
            spread = spread if side is not None else None
        elif spread is None:
            fig, (ax,) = _new_figure()
        else:
            fig, (ax, side) = _new_figure(ncols=2, sharey=True, gridspec_kw={"width_ratios": (3.2, 1)})
        first = last = None
        ends: list[tuple[float, np.datetime64]] = []
        for rung in sorted(set(chosen)):
            rows = curves[curves["rung"] == rung].sort_values("date")
            dates = pd.to_datetime(rows["date"]).to_numpy()
            colour = RUNG_COLOURS.get(rung, PALETTE[rung % len(PALETTE)])
            label = f"≥ {rung} {rows['rung_name'].iloc[0]}"
            _line_and_band(
                ax, dates, 100 * rows["probability"].to_numpy(float), 100 * rows["lower"].to_numpy(float),
                100 * rows["upper"].to_numpy(float), colour, label=label,
            )  # fmt: skip
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
        handles.append(
            Patch(facecolor="#888888", alpha=_BAND_ALPHA, edgecolor="#888888", label=_interval_note(level))
        )
        if spread is not None:
            _ladder_side_panel(side, curves, sorted(set(chosen)), level)
            if given is not None:
                side.set_ylim(ax.get_ylim())
                _percent_axis(side.yaxis)
                side.tick_params(axis="y", labelleft=False)
            handles.append(
                Line2D(
                    [], [], color="#888888", linewidth=11, alpha=_RANGE_ALPHA, label=_parameter_note(level)
                )
            )
        if given is not None:
            # Right of the axes, clear of the end labels (which stand outside the curves' axes).
            host = side if spread is not None else ax
            clear = 0.0 if spread is not None else 48.0 / 72.0
            host.legend(
                handles=handles, title="Highest rung reached", loc="center left", bbox_to_anchor=(1.0, 0.5),
                bbox_transform=host.transAxes + ScaledTranslation(clear + 0.1, 0.0, fig.dpi_scale_trans),
                alignment="left", borderaxespad=0.0,
            )  # fmt: skip
            return _axes_title(ax, title)
        # Centred on the right: at the top it would share the band of the figure's title.
        fig.legend(
            handles=handles, title="Highest rung reached", loc="outside right center", alignment="left"
        )
        return _finish(fig, title, caption)


def _ladder_side_panel(ax: Axes, curves: pd.DataFrame, rungs: list[int], level: float) -> None:
    """Each rung's probability on the last day, with its simulation noise and its parameter range."""
    last_day = curves["day"].max() if "day" in curves.columns else None
    at = np.arange(len(rungs), dtype=float)
    for k, rung in enumerate(rungs):
        rows = curves[curves["rung"] == rung].sort_values("date").tail(1)
        colour = RUNG_COLOURS.get(rung, PALETTE[rung % len(PALETTE)])
        spread = _parameter_columns(rows)
        if spread is not None:
            _parameter_range(ax, at[k : k + 1], *spread, colour, vertical=True)
        _dots_and_intervals(
            ax, at[k : k + 1], 100 * rows["probability"].to_numpy(float), 100 * rows["lower"].to_numpy(float),
            100 * rows["upper"].to_numpy(float), colour, vertical=True, markersize=6,
        )  # fmt: skip
    ax.set_xticks(at, [str(rung) for rung in rungs])
    ax.set_xlim(-0.6, len(rungs) - 0.4)
    ax.set_xlabel("Rung")
    ax.grid(axis="x", visible=False)
    day = f"day {int(last_day) + 1}" if last_day is not None else "the last day"
    ax.set_title(f"By {day}:\nparameter range", fontsize=11)


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
    ax: Axes | None = None,
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
        ax: draw into this axes instead of a new figure (keyword only): the title goes on the axes, the
            caption is left to the caller, and the axes' figure is returned; see "Composing figures" in
            ``docs/brief.md``.

    Returns:
        The figure (with ``ax``: the figure of ``ax``).

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
    spread = _parameter_columns(rows)
    low_end, high_end = lower, upper
    if spread is not None:
        low_end, high_end = np.fmin(lower, spread[0]), np.fmax(upper, spread[1])

    given = _target_axes(ax, (1,))
    with house_style():
        height = min(max(3.4, 1.6 + 0.85 * n), 7.5)
        fig, (ax,) = _new_figure(figsize=(FIGSIZE[0], height)) if given is None else (_root(given[0]), given)
        ax.set_xlim(0, 100)
        if spread is not None:
            _parameter_range(ax, y, *spread, colour)
        _dots_and_intervals(
            ax, y, probability, lower, upper, colour, markersize=10, linewidth=3.0,
            label="Estimate", interval_label=_interval_note(level),
        )  # fmt: skip
        value_labels = [
            _label_value(ax, low_end[k], high_end[k], y[k], _percent_text(rows["probability"].iloc[k]), _INK)
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
        handles, _ = ax.get_legend_handles_labels()
        if spread is not None:
            handles.append(
                Line2D([], [], color=colour, linewidth=11, alpha=_RANGE_ALPHA, label=_parameter_note(level))
            )
        ax.legend(
            handles=handles, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=min(len(handles), 3),
            borderaxespad=0.2,
        )  # fmt: skip
        if given is None:
            _finish(fig, title, caption)
        else:
            _axes_title(ax, title, pad=_COMPOSED_LEGEND_PAD)
        _place_labels(fig, value_labels)
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
    ax: Sequence[Axes] | None = None,
) -> Figure:
    """Compare experiment arms run with common random numbers, threshold by threshold.

    The left panel shows each arm's probability of each threshold side by side (dot and interval, one colour
    per arm). The right panel shows each arm's paired difference from the reference arm in percentage
    points, with its interval and a line at zero; an interval that excludes zero is a difference the
    ensemble resolves. Each value is written beside its interval; a label that would overlap another is
    moved to the other end of its interval or further along its row (:func:`_place_labels`).

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
        ax: draw into two of the caller's axes, ``(probabilities, differences)``, instead of a new figure
            (keyword only): the title goes on the first axes, the caption is left to the caller, and the
            axes' figure is returned. The two axes should share their height (rows line up by position).

    Returns:
        The figure (with ``ax``: the figure of the axes).

    Raises:
        ValueError: if a table lacks a column or has no rows, holds more than one horizon, ``reference``
            is not an arm of ``table``, or ``ax`` is not two axes.
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

    given = _target_axes(ax, (2,))
    with house_style():
        height = min(max(4.2, 2.2 + 0.95 * n), 8.0)
        if given is None:
            fig, (left, right) = _new_figure(
                ncols=2, figsize=(FIGSIZE[0] + 1.0, height), sharey=True,
                gridspec_kw={"width_ratios": (1.25, 1)},
            )  # fmt: skip
        else:
            (left, right), fig = given, _root(given[0])
        labels: list[_ValueLabel] = []
        spreads = False
        # Left: probabilities by arm.
        left.set_xlim(0, 100)
        for arm in arms:
            rows = table[table["arm"] == arm]
            if rows.empty:
                continue
            y = rows["threshold"].map(row).to_numpy(float) + offset[arm]
            colour = colours[arm]
            low_end, high_end = 100 * rows["lower"].to_numpy(float), 100 * rows["upper"].to_numpy(float)
            spread = _parameter_columns(rows)
            if spread is not None:
                spreads = True
                _parameter_range(left, y, *spread, colour)
                low_end, high_end = np.fmin(low_end, spread[0]), np.fmax(high_end, spread[1])
            _dots_and_intervals(
                left, y, 100 * rows["probability"].to_numpy(float), 100 * rows["lower"].to_numpy(float),
                100 * rows["upper"].to_numpy(float), colour, label=str(arm_labels[arm]),
            )  # fmt: skip
            for p, lo, hi, yy in zip(rows["probability"], low_end, high_end, y, strict=True):
                labels.append(_label_value(left, lo, hi, yy, _percent_text(p), colour))
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
            _dots_and_intervals(right, y, d, lo, hi, colour, label=str(arm_labels[arm]))
            points.append((d, lo, hi, y, colour))
        _difference_axis(right, "x")
        extent = max([np.abs(np.concatenate([lo, hi])).max() for _, lo, hi, _, _ in points] + [1.0])
        right.set_xlim(-1.6 * extent, 1.6 * extent)
        for d, lo, hi, y, colour in points:
            for k in range(len(d)):
                side = "left" if d[k] < 0 else "right"
                labels.append(_label_value(right, lo[k], hi[k], y[k], _points_text(d[k]), colour, side=side))
        right.set_xlabel(f"Difference from {arm_labels[reference]}\n(percentage points)")
        right.tick_params(axis="y", left=False)
        if given is not None:  # the new figure's panels share the y axis, which hides these already
            right.tick_params(axis="y", labelleft=False)

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
        handles.append(
            Line2D(
                [], [], color="#888888", linewidth=2.6, marker="|", markersize=9, label=_interval_note(level)
            )
        )
        if spreads:
            handles.append(
                Line2D(
                    [], [], color="#888888", linewidth=11, alpha=_RANGE_ALPHA, label=_parameter_note(level)
                )
            )
        # The legend sits between each panel's title and its axes, in room kept by the title padding.
        legend = left.legend(
            handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0),
            ncols=len(handles) if not spreads else 2,
            borderaxespad=0.3, handlelength=1.6, columnspacing=1.4,
        )  # fmt: skip
        legend.set_in_layout(False)
        pad = 30 if not spreads else 30 + 22 * (-(-len(handles) // 2) - 1)
        if given is None:
            left.set_title("Probability in each arm", pad=pad)
            _finish(fig, title, caption)
        else:
            _axes_title(left, title, pad=pad)
        right.set_title("Change from the reference arm", pad=pad)
        _place_labels(fig, labels)
        return fig


# --------------------------------------------------------------------------------------------------------
# Deterrence sweeps
# --------------------------------------------------------------------------------------------------------

_SERIES_MARKERS: tuple[str, ...] = ("o", "s", "D", "^", "v", "P", "X")
"""Marker shapes in the order series receive them, so series differ in shape as well as colour."""

_MAX_LEVER_TICKS = 12
"""Above this many sweep points, a lever axis gets ordinary ticks instead of one at every point."""


def _lever_text(value: float) -> str:
    """A lever value as a short label: 0.1, 0.05, 2, 1e-05."""
    return f"{float(value):g}"


def _lever_ticks(
    axis: matplotlib.axis.Axis, values: Sequence[float], positions: Sequence[float] | None = None
) -> None:
    """Ticks labelled with the sweep's lever values, when there are few enough to read.

    The ticks sit at the values themselves, or at ``positions`` (for example cell indices) when given.
    """
    if len(values) <= _MAX_LEVER_TICKS:
        axis.set_ticks(list(values if positions is None else positions), [_lever_text(v) for v in values])


def _sweep_series(
    table: pd.DataFrame, lever: str, series: str | None, argument: str
) -> list[tuple[float | None, pd.DataFrame]]:
    """Split a sweep table into its series (ascending values of ``series``), each sorted by the lever.

    Returns one ``(series value, rows)`` pair per series; the value is None when ``series`` is None.

    Raises:
        ValueError: if two rows share a lever value within one series.
    """
    keys = [lever] if series is None else [series, lever]
    duplicated = table.duplicated(keys, keep=False)
    if duplicated.any():
        first = table.loc[duplicated, keys].iloc[0].to_dict()
        raise ValueError(f"{argument}: more than one row for the sweep point {first}")
    if series is None:
        return [(None, table.sort_values(lever))]
    return [(float(value), rows.sort_values(lever)) for value, rows in table.groupby(series, sort=True)]


def _series_styles(values: Sequence[float | None]) -> dict[float | None, tuple[str, str]]:
    """A colour and a marker shape for each series, in order."""
    return {
        value: (PALETTE[k % len(PALETTE)], _SERIES_MARKERS[k % len(_SERIES_MARKERS)])
        for k, value in enumerate(values)
    }


def _sweep_legend(ax: Axes, handles: list[Artist], series_label: str | None, *, grouped: bool) -> None:
    """Legend of a sweep figure: right of the axes with a title when there are series, else above them.

    Both places are beside the axes rather than the figure, so a title wrapped onto two lines never runs
    into the legend.
    """
    if grouped:
        ax.legend(handles=handles, title=series_label, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                  alignment="left", borderaxespad=0.0)  # fmt: skip
    else:
        ax.legend(handles=handles, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=len(handles),
                  borderaxespad=0.2)  # fmt: skip


def _probability_limits(ax: Axes, upper: np.ndarray) -> None:
    """A probability axis from 0: the full 0-100% scale, or zoomed in when every interval stays low.

    Small probabilities (every upper bound below 40%) would lie flat along the bottom of a 0-100% axis, so
    the axis then stops a little above the highest upper bound.
    """
    top = float(np.nanmax(upper)) if upper.size else 100.0
    if top >= 40.0:
        ax.set_ylim(0, 101)
        _percent_axis(ax.yaxis)
    else:
        ax.set_ylim(0, max(1.0, 1.12 * top))
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def _sweep_setup(
    table: pd.DataFrame, lever: str, series: str | None, value: str
) -> tuple[list, list, list[float]]:
    """Check a sweep table and split it into series: (groups, their styles, the sorted lever values)."""
    columns = [lever, value, "lower", "upper"] + ([series] if series is not None else [])
    _require(table, columns, "table")
    groups = _sweep_series(table, lever, series, "table")
    styles = _series_styles([group for group, _ in groups])
    return groups, styles, sorted({float(v) for v in table[lever]})


def sweep_chart(
    table: pd.DataFrame,
    *,
    lever: str,
    lever_label: str,
    title: str,
    caption: Caption,
    series: str | None = None,
    series_label: str | None = None,
    level: float = 0.90,
    ylabel: str = "Probability (%)",
    ax: Axes | None = None,
) -> Figure:
    """Probability of one threshold event across a sweep of one or two policy levers.

    The probability is drawn as a line against the lever, with a marker at each sweep point and its
    confidence interval as a band. With ``series``, a second lever, there is one line and band per value of
    it, each in its own colour and marker shape, listed in a legend titled ``series_label``. The x axis has
    a tick at each lever value of the sweep.

    The axis runs from 0 to 100%, or stops a little above the highest interval when every upper bound is
    below 40%, so that small probabilities stay readable.

    Args:
        table: one row per sweep point, for one threshold and one horizon, with columns ``<lever>``,
            ``probability``, ``lower`` and ``upper`` (probabilities in [0, 1]) and, with ``series``,
            ``<series>``.
        lever: column of the lever on the x axis.
        lever_label: label of the x axis, for example ``"Retaliation probability"``.
        title: figure title; phrase it as the question the figure answers.
        caption: provenance line printed at the bottom.
        series: column of a second lever, one line per value; None for a single line.
        series_label: legend title for the values of ``series``; ``series`` itself when None.
        level: confidence level of the ``lower``/``upper`` columns, used in the legend.
        ylabel: label of the probability axis, for example ``"Probability by day 90 (%)"``.
        ax: draw into this axes instead of a new figure (keyword only): the title goes on the axes, the
            caption is left to the caller, and the axes' figure is returned.

    Returns:
        The figure (with ``ax``: the figure of ``ax``).

    Raises:
        ValueError: if the table lacks a column, has no rows, or has two rows for one sweep point.
    """
    groups, styles, levers = _sweep_setup(table, lever, series, "probability")
    given = _target_axes(ax, (1,))

    with house_style():
        fig, (ax,) = _new_figure() if given is None else (_root(given[0]), given)
        handles: list[Artist] = []
        for value, rows in groups:
            colour, marker = styles[value]
            x = rows[lever].to_numpy(float)
            p = 100 * rows["probability"].to_numpy(float)
            name = "Estimate" if value is None else _lever_text(value)
            spread = _parameter_columns(rows)
            if spread is not None:
                ax.fill_between(x, *spread, color=colour, alpha=0.08, linewidth=0)
                for edge in spread:
                    ax.plot(x, edge, color=colour, linewidth=1.0, linestyle=(0, (2, 2)), alpha=0.7)
            line = _line_and_band(
                ax, x, p, 100 * rows["lower"].to_numpy(float), 100 * rows["upper"].to_numpy(float), colour,
                label=name, marker=marker, markersize=7,
            )  # fmt: skip
            handles.append(line)
        handles.append(
            Patch(facecolor="#888888", alpha=_BAND_ALPHA, edgecolor="#888888", label=_interval_note(level))
        )
        spread = _parameter_columns(table)
        tops = 100 * table["upper"].to_numpy(float)
        if spread is not None:
            handles.append(
                Patch(
                    facecolor="#888888", alpha=0.12, edgecolor="#555555", linestyle=(0, (2, 2)),
                    label=_parameter_note(level),
                )
            )  # fmt: skip
            tops = np.fmax(tops, spread[1])
        _probability_limits(ax, tops)
        span = levers[-1] - levers[0]
        margin = 0.03 * span if span > 0 else 0.5
        ax.set_xlim(levers[0] - margin, levers[-1] + margin)
        _lever_ticks(ax.xaxis, levers)
        ax.grid(axis="x", visible=False)
        ax.set_xlabel(lever_label)
        ax.set_ylabel(ylabel)
        _sweep_legend(ax, handles, series_label or series, grouped=series is not None)
        return _finish_or_title(fig, given, title, caption, legend_above=series is None)


def robustness_chart(
    table: pd.DataFrame,
    *,
    lever: str,
    lever_label: str,
    title: str,
    caption: Caption,
    series: str | None = None,
    series_label: str | None = None,
    reference_label: str = "the reference point",
    ax: Sequence[Axes] | None = None,
) -> Figure:
    """How robust each lever value is across plausible parameter values: two panels against the lever.

    Left: the share of parameter draws in which the value gives a lower risk than the reference point.
    Right: the regret, per draw the value's risk minus that of the best value in that draw, as its mean
    (line) and 90th percentile (dashed). A robust value lowers the risk in most draws and has a small regret
    even in its bad draws.

    Args:
        table: one row per sweep point for one threshold and horizon, with columns ``<lever>``,
            ``share_lower``, ``regret_mean``, ``regret_p90`` (probabilities) and, with ``series``,
            ``<series>`` (as :func:`escalation.report.sweep.robustness` writes them).
        lever: column of the lever on the x axis.
        lever_label: label of the x axis.
        title: figure title.
        caption: provenance line printed at the bottom.
        series: column of a second lever, one line per value; None for a single line.
        series_label: legend title for ``series``.
        reference_label: how the left panel's axis names the reference.
        ax: draw into two of the caller's axes, ``(share of draws, regret)``, instead of a new figure
            (keyword only): the title goes on the first axes, the caption is left to the caller, and the
            axes' figure is returned.

    Returns:
        The figure (with ``ax``: the figure of the axes).
    """
    columns = [lever, "share_lower", "regret_mean", "regret_p90"] + ([series] if series is not None else [])
    _require(table, columns, "table")
    groups = _sweep_series(table, lever, series, "table")
    styles = _series_styles([group for group, _ in groups])
    levers = sorted({float(v) for v in table[lever]})
    given = _target_axes(ax, (2,))
    with house_style():
        if given is None:
            fig, (left, right) = _new_figure(ncols=2, figsize=(FIGSIZE[0] + 1.0, FIGSIZE[1]))
        else:
            (left, right), fig = given, _root(given[0])
        handles: list[Artist] = []
        for value, rows in groups:
            colour, marker = styles[value]
            x = rows[lever].to_numpy(float)
            name = "Share of draws" if value is None else _lever_text(value)
            (line,) = left.plot(x, 100 * rows["share_lower"].to_numpy(float), color=colour, marker=marker,
                                markersize=7, label=name)  # fmt: skip
            right.plot(
                x, 100 * rows["regret_mean"].to_numpy(float), color=colour, marker=marker, markersize=7
            )
            right.plot(x, 100 * rows["regret_p90"].to_numpy(float), color=colour, linestyle=(0, (3, 2)),
                       linewidth=1.4)  # fmt: skip
            handles.append(line)
        handles.append(Line2D([], [], color="#888888", label="regret: mean"))
        handles.append(
            Line2D([], [], color="#888888", linestyle=(0, (3, 2)), label="regret: 90th percentile")
        )
        left.set_ylim(0, 101)
        _percent_axis(left.yaxis)
        left.set_ylabel(f"Parameter draws with a lower risk\nthan {reference_label} (%)")
        right.set_ylabel("Regret against the best value\nin each draw (percentage points)")
        right.set_ylim(bottom=0)
        span = levers[-1] - levers[0]
        margin = 0.03 * span if span > 0 else 0.5
        for ax in (left, right):
            ax.set_xlim(levers[0] - margin, levers[-1] + margin)
            _lever_ticks(ax.xaxis, levers)
            ax.grid(axis="x", visible=False)
            ax.set_xlabel(lever_label)
        _sweep_legend(right, handles, series_label or series, grouped=series is not None)
        return _finish(fig, title, caption) if given is None else _axes_title(left, title)


def _to_border(n: int) -> np.ndarray:
    """Cell-centre positions 0..n-1 with the two outer borders (-0.5 and n-0.5) added."""
    return np.concatenate([[-0.5], np.arange(n, dtype=float), [n - 0.5]])


_HEATMAP_STEP = 5.0
"""The heatmap's colour scale starts and ends on a multiple of this many percent."""

_SMOOTH_SAMPLES = 12
"""Points per cell of the surface the heatmap's contour is traced on."""


def _heatmap_norm(values: np.ndarray) -> matplotlib.colors.Normalize:
    """A colour scale over the grid's own range (widened to whole steps of 5%), not a fixed 0-100%.

    On a fixed 0-100% scale a grid whose probabilities lie between 5% and 11% comes out in one colour.
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return matplotlib.colors.Normalize(vmin=0.0, vmax=100.0)
    low = _HEATMAP_STEP * np.floor(finite.min() / _HEATMAP_STEP)
    high = _HEATMAP_STEP * np.ceil(finite.max() / _HEATMAP_STEP)
    if high <= low:
        low, high = max(0.0, low - _HEATMAP_STEP), min(100.0, high + _HEATMAP_STEP)
    return matplotlib.colors.Normalize(vmin=float(low), vmax=float(high))


def _smooth_surface(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ma.MaskedArray]:
    """The grid as a smooth surface for its contour: x, y and the values on a fine grid.

    The outer cells are repeated at the grid's border (so the line reaches the edge of the grid instead of
    stopping half a cell short), then a bicubic spline (bilinear on a grid of two cells a side) through the
    cell centres is evaluated on a fine grid, which gives a smooth line instead of the corners of straight
    segments between cell centres. A grid with a blank cell is traced without smoothing.
    """
    padded = np.pad(values, 1, mode="edge")
    rows, cols = values.shape
    x, y = _to_border(cols), _to_border(rows)
    if not np.isfinite(padded).all():
        return x, y, np.ma.masked_invalid(padded)
    import scipy.interpolate  # only a heatmap with a contour needs it

    spline = scipy.interpolate.RectBivariateSpline(
        y, x, padded, kx=min(3, len(y) - 1), ky=min(3, len(x) - 1)
    )  # fmt: skip
    fine_x = np.linspace(x[0], x[-1], _SMOOTH_SAMPLES * cols + 1)
    fine_y = np.linspace(y[0], y[-1], _SMOOTH_SAMPLES * rows + 1)
    return fine_x, fine_y, np.ma.masked_invalid(spline(fine_y, fine_x))


def _text_colour_on(rgba: Sequence[float]) -> str:
    """Dark or white text, whichever contrasts more with a fill colour (by its relative luminance)."""

    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(c) for c in rgba[:3])
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    # White wins when the fill is darker than the point of equal contrast with white and near-black.
    return "white" if luminance < 0.18 else _INK


def heatmap_chart(
    grid: pd.DataFrame,
    *,
    x: str,
    y: str,
    x_label: str,
    y_label: str,
    title: str,
    caption: Caption,
    contour: float | None = 0.5,
    colorbar_label: str = "Probability (%)",
    ax: Axes | None = None,
) -> Figure:
    """Probability of one threshold event over a two-lever sweep, as a grid of coloured cells.

    Each sweep point is a cell coloured by its probability (the colour-blind-safe *viridis* colour map, dark
    blue for low and yellow for high) on a scale over the grid's own range, widened to whole steps of 5%, so
    5% and 11% differ in colour; every cell is also labelled with its value. Cells are equal
    in size whatever the spacing of the lever values, and ticks sit at the lever values. When the grid crosses
    ``contour``, a white line marks where the probability passes it (interpolated linearly between cell
    centres, smoothed by a spline, and carried flat across the outer half cells to the edge of the grid) and
    is labelled with it,
    for example "50%"; the same level is marked on the colour bar.

    Args:
        grid: one row per sweep point with columns ``<x>``, ``<y>`` and ``probability`` (in [0, 1]); a
            missing combination is left as a blank cell.
        x: column of the lever across the figure.
        y: column of the lever up the figure.
        x_label: label of the x axis.
        y_label: label of the y axis.
        title: figure title; phrase it as the question the figure answers.
        caption: provenance line printed at the bottom.
        contour: probability (in [0, 1]) to trace; None for no line.
        colorbar_label: label of the colour bar.
        ax: draw into this axes instead of a new figure (keyword only): the colour bar takes room from it,
            the title goes on the axes, the caption is left to the caller, and the axes' figure is returned.

    Returns:
        The figure (with ``ax``: the figure of ``ax``).

    Raises:
        ValueError: if the table lacks a column, has no rows, or has two rows for one sweep point, or if
            ``contour`` is outside (0, 1).
    """
    _require(grid, (x, y, "probability"), "grid")
    if contour is not None and not 0.0 < contour < 1.0:
        raise ValueError(f"contour: expected a probability strictly between 0 and 1, got {contour}")
    duplicated = grid.duplicated([x, y], keep=False)
    if duplicated.any():
        first = grid.loc[duplicated, [x, y]].iloc[0].to_dict()
        raise ValueError(f"grid: more than one row for the sweep point {first}")
    cells = grid.astype({x: float, y: float}).pivot(index=y, columns=x, values="probability")
    cells = cells.sort_index(axis=0).sort_index(axis=1)
    values = 100 * cells.to_numpy(float)
    n_rows, n_cols = values.shape
    colours = matplotlib.colormaps["viridis"].with_extremes(bad="#EEEEEE")
    norm = _heatmap_norm(values)
    fontsize = 12.0 if n_cols <= 8 and n_rows <= 10 else 9.0
    given = _target_axes(ax, (1,))

    with house_style():
        fig, (ax,) = _new_figure() if given is None else (_root(given[0]), given)
        image = ax.imshow(
            np.ma.masked_invalid(values), cmap=colours, norm=norm, origin="lower", aspect="auto",
            interpolation="nearest",
        )  # fmt: skip
        for row in range(n_rows):
            for col in range(n_cols):
                value = values[row, col]
                if np.isnan(value):
                    continue
                ax.text(
                    col, row, _percent_text(value / 100), ha="center", va="center", fontsize=fontsize,
                    fontweight="bold", color=_text_colour_on(colours(norm(value))),
                )  # fmt: skip
        bar = ax.figure.colorbar(image, ax=ax, label=colorbar_label, fraction=0.05, pad=0.02)
        bar.ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
        bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        bar.outline.set_visible(False)
        level = None if contour is None else 100.0 * contour
        if level is not None and min(n_rows, n_cols) >= 2 and np.nanmin(values) < level < np.nanmax(values):
            # Repeating the outer cells at the grid's border carries the line from the outer cell centres
            # to the edge of the grid instead of stopping half a cell short.
            lines = ax.contour(
                *_smooth_surface(values), levels=[level], colors="white", linewidths=2.4, linestyles="--",
            )  # fmt: skip
            ax.clabel(lines, fmt=lambda v: _percent_text(v / 100), fontsize=11.5, inline_spacing=6)
            for text in lines.labelTexts:
                text.set_fontweight("bold")
            bar.add_lines(lines)
        _lever_ticks(ax.xaxis, list(cells.columns), range(n_cols))
        _lever_ticks(ax.yaxis, list(cells.index), range(n_rows))
        ax.tick_params(length=0)
        ax.grid(visible=False)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        return _finish_or_title(fig, given, title, caption)


def _is_reference(rows: pd.DataFrame) -> np.ndarray:
    """Rows that are the reference point itself: difference 0 with a zero-width interval."""
    return (
        (rows["difference"].to_numpy(float) == 0)
        & (rows["lower"].to_numpy(float) == 0)
        & (rows["upper"].to_numpy(float) == 0)
    )


def difference_chart(
    table: pd.DataFrame,
    *,
    lever: str,
    lever_label: str,
    title: str,
    caption: Caption,
    reference_label: str,
    series: str | None = None,
    series_label: str | None = None,
    level: float = 0.90,
    ax: Axes | None = None,
) -> Figure:
    """Paired differences from a reference sweep point, in percentage points, across a sweep.

    Every sweep point shares its seeds with the reference point, so the difference between them is paired
    and its interval is much narrower than the two intervals of :func:`sweep_chart` would suggest. Each
    point is a dot with its confidence interval as a vertical bar, joined along the lever by a thin line;
    an interval that does not reach the zero line is a difference the ensemble resolves. With ``series``,
    each value of the second lever has its own colour and marker shape, nudged sideways so bars do not
    overlap. The reference point (difference 0 with a zero-width interval) is a hollow marker, listed in the
    legend as "Reference point".

    Args:
        table: one row per sweep point with columns ``<lever>``, ``difference``, ``lower`` and ``upper``
            (point minus reference, in probability units in [-1, 1]) and, with ``series``, ``<series>``.
        lever: column of the lever on the x axis.
        lever_label: label of the x axis.
        title: figure title; phrase it as the question the figure answers.
        caption: provenance line printed at the bottom.
        reference_label: the reference point as readers know it, for example ``"retaliation 0.1"``;
            used in the y axis label.
        series: column of a second lever, one set of points per value; None for a single set.
        series_label: legend title for the values of ``series``; ``series`` itself when None.
        level: confidence level of the intervals, used in the legend.
        ax: draw into this axes instead of a new figure (keyword only): the title goes on the axes, the
            caption is left to the caller, and the axes' figure is returned.

    Returns:
        The figure (with ``ax``: the figure of ``ax``).

    Raises:
        ValueError: if the table lacks a column, has no rows, or has two rows for one sweep point.
    """
    groups, styles, levers = _sweep_setup(table, lever, series, "difference")
    given = _target_axes(ax, (1,))
    gap = float(np.diff(levers).min()) if len(levers) > 1 else 1.0
    nudge = dict(zip(styles, _dodge(len(groups), spread=0.3 * gap), strict=True))

    with house_style():
        fig, (ax,) = _new_figure() if given is None else (_root(given[0]), given)
        _difference_axis(ax, "y")
        handles: list[Artist] = []
        reference_points: list[tuple[float, str, str]] = []
        for value, rows in groups:
            colour, marker = styles[value]
            x = rows[lever].to_numpy(float) + nudge[value]
            d = 100 * rows["difference"].to_numpy(float)
            name = "Estimate" if value is None else _lever_text(value)
            ax.plot(x, d, color=colour, linewidth=1.2, alpha=0.7, label=name, zorder=2)
            shown = ~_is_reference(rows)
            _dots_and_intervals(
                ax, x[shown], d[shown], 100 * rows["lower"].to_numpy(float)[shown],
                100 * rows["upper"].to_numpy(float)[shown], colour, vertical=True, marker=marker,
                markersize=7.5,
            )  # fmt: skip
            reference_points += [(float(at), colour, marker) for at in x[~shown]]
            handles.append(
                Line2D([], [], color=colour, marker=marker, markersize=7.5, linewidth=1.2, label=name)
            )
        handles.append(
            Line2D(
                [], [], color="#888888", linewidth=2.6, marker="|", markersize=9, label=_interval_note(level)
            )
        )
        for at, colour, marker in reference_points:
            ax.plot(
                [at], [0.0], linestyle="none", marker=marker, markersize=10, markerfacecolor="white",
                markeredgecolor=colour, markeredgewidth=2.0, zorder=4,
            )  # fmt: skip
        if reference_points:
            handles.append(
                Line2D(
                    [], [], linestyle="none", marker="o", markersize=10, markerfacecolor="white",
                    markeredgecolor=_INK, markeredgewidth=2.0, label="Reference point",
                )
            )  # fmt: skip
        span = levers[-1] - levers[0]
        margin = (0.05 * span if span > 0 else 0.5) + max(nudge.values())
        ax.set_xlim(levers[0] - margin, levers[-1] + margin)
        _lever_ticks(ax.xaxis, levers)
        ax.grid(axis="x", visible=False)
        ax.set_xlabel(lever_label)
        ax.set_ylabel(_wrap(f"Difference from {reference_label}", 40) + "\n(percentage points)")
        _sweep_legend(ax, handles, series_label or series, grouped=series is not None)
        return _finish_or_title(fig, given, title, caption, legend_above=series is None)


# --------------------------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------------------------


def pit_histogram(
    pit: Sequence[float], *, title: str, caption: Caption, bins: int = 10, ax: Axes | None = None
) -> Figure:
    """Histogram of PIT values of count forecasts against the uniform density a calibrated forecast gives.

    A U shape means forecasts too narrow, a hump too wide, a slope biased (Czado, Gneiting & Held 2009).
    With ``ax`` (keyword only) it is drawn into that axes, titled there, and the axes' figure is returned.
    """
    values = np.asarray(pit, dtype=float)
    if values.size == 0 or ((values < 0) | (values > 1)).any():
        raise ValueError("pit: expected at least one value in [0, 1]")
    given = _target_axes(ax, (1,))
    with house_style():
        fig, (ax,) = _new_figure() if given is None else (_root(given[0]), given)
        ax.hist(values, bins=np.linspace(0, 1, bins + 1), density=True, color=PALETTE[0], alpha=0.8,
                edgecolor="white", label=f"PIT of {values.size} observations")  # fmt: skip
        ax.axhline(1.0, color=_INK, linestyle="--", linewidth=1.5, label="Calibrated forecast (uniform)")
        ax.set_xlim(0, 1)
        ax.set_xlabel("Probability integral transform of the observed count")
        ax.set_ylabel("Density")
        ax.legend(loc="upper right")
        return _finish_or_title(fig, given, title, caption)


def reliability_diagram(
    table: pd.DataFrame, *, title: str, caption: Caption, ax: Axes | None = None
) -> Figure:
    """Observed frequency against mean forecast probability per bin, with the diagonal of perfect calibration.

    ``table``: columns mean_forecast, observed_frequency, forecasts (escalation.backtest.reliability_table);
    marker area grows with the number of forecasts in the bin, and each bin is labelled with that number.
    With ``ax`` (keyword only) it is drawn into that axes, titled there, and the axes' figure is returned.
    """
    _require(table, ["mean_forecast", "observed_frequency", "forecasts"], "table")
    given = _target_axes(ax, (1,))
    with house_style():
        fig, (ax,) = _new_figure() if given is None else (_root(given[0]), given)
        ax.set_box_aspect(1)
        ax.plot([0, 100], [0, 100], color=_INK, linestyle="--", linewidth=1.5, label="Perfect reliability")
        sizes = 30 + 270 * table["forecasts"].to_numpy(float) / max(1.0, float(table["forecasts"].max()))
        ax.scatter(100 * table["mean_forecast"], 100 * table["observed_frequency"], s=sizes, color=PALETTE[0],
                   zorder=3, label="Forecast bins (area: number of forecasts)")  # fmt: skip
        ax.plot(
            100 * table["mean_forecast"], 100 * table["observed_frequency"], color=PALETTE[0], linewidth=1.5
        )
        for x_value, y_value, count in zip(
            table["mean_forecast"], table["observed_frequency"], table["forecasts"], strict=True
        ):
            ax.annotate(
                f"n = {int(count)}", (100 * x_value, 100 * y_value), xytext=(9, -12),
                textcoords="offset points", fontsize=10, color=_MUTED, annotation_clip=False,
            )  # fmt: skip
        ax.set_xlim(0, 100)
        ax.set_ylim(0, 100)
        _percent_axis(ax.xaxis)
        _percent_axis(ax.yaxis)
        ax.set_xlabel("Forecast probability (%)")
        ax.set_ylabel("Observed frequency (%)")
        ax.legend(loc="upper left")
        return _finish_or_title(fig, given, title, caption)


def qq_uniform(
    residuals: Sequence[float], *, title: str, caption: Caption, level: float = 0.95, ax: Axes | None = None
) -> Figure:
    """QQ plot of rescaled residuals against the uniform distribution, with the KS acceptance band.

    Points inside the band are what a correct model produces; a systematic bow means counts spread more (or
    less) than the model allows (Brown et al. 2002). With ``ax`` (keyword only) it is drawn into that axes,
    titled there, and the axes' figure is returned.
    """
    values = np.sort(np.asarray(residuals, dtype=float))
    if values.size == 0:
        raise ValueError("residuals: expected at least one value")
    expected = (np.arange(1, values.size + 1) - 0.5) / values.size
    import scipy.stats  # only this figure needs it

    band = scipy.stats.kstwo.ppf(level, values.size)
    given = _target_axes(ax, (1,))
    with house_style():
        fig, (ax,) = _new_figure() if given is None else (_root(given[0]), given)
        ax.set_box_aspect(1)
        ax.fill_between([0, 1], [-band, 1 - band], [band, 1 + band], color=PALETTE[5], alpha=0.25,
                        label=f"{round(100 * level)}% KS band")  # fmt: skip
        ax.plot([0, 1], [0, 1], color=_INK, linestyle="--", linewidth=1.5, label="Model is right")
        ax.plot(expected, values, "o", color=PALETTE[0], markersize=3.5, label=f"{values.size} observed days")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("Uniform quantile")
        ax.set_ylabel("Rescaled residual (randomised PIT)")
        ax.legend(loc="upper left")
        return _finish_or_title(fig, given, title, caption)


def save_figure(
    fig: Figure, directory: Path, stem: str, formats: Sequence[str] = ("png", "svg"), dpi: int = 200
) -> list[Path]:
    """Write a figure in each format, atomically, then close it.

    Each file is written to a temporary file in ``directory`` and moved into place with an atomic rename
    (:func:`os.replace`), so a reader never sees a half-written figure. The figure keeps its size: a PNG is
    ``dpi × figsize`` pixels (2000 × 1125 for the default figure at 200 dpi). The layout is computed once,
    when the first format is drawn, and kept for the others (the same positions in every file, at half the
    cost of laying the figure out again for each).

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
    engine = fig.get_layout_engine()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with house_style():
            for k, fmt in enumerate(formats):
                if k == 1 and engine is not None:
                    fig.set_layout_engine("none")  # laid out by the first format's draw
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
        if engine is not None and fig.get_layout_engine() is not engine:
            fig.set_layout_engine(engine)
        # A figure made through pyplot is registered there; without pyplot imported, none can be.
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:
            pyplot.close(fig)
    return written


def _metadata(fmt: str) -> dict[str, str | None] | None:
    """File metadata without a creation date, so the same figure gives the same file."""
    if fmt == "svg":
        return {"Date": None}
    if fmt == "pdf":
        return {"CreationDate": None}
    return None
