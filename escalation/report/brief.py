"""The briefing pack of a run folder: one PDF for print and one self-contained HTML page.

A brief puts on a few pages what a run folder spreads over many files: the question, the headline table
(probability, simulation-noise interval and parameter range by horizon), the key figures, the paired
differences of an experiment's arms at every horizon, what the numbers rest on, the caveats of
``docs/model.md`` that apply, and the run's provenance. It reads a finished folder and never runs the model.

The content is built once as a list of blocks (:class:`Brief`) and rendered twice:

* the PDF with matplotlib's own PDF backend (:class:`~matplotlib.backends.backend_pdf.PdfPages`), already a
  dependency, with TrueType fonts embedded so the text can be searched and extracted;
* the HTML page with the standard library only (``html.escape``): inline CSS and the figures embedded as
  base64 PNG, so the one file opens offline and can be mailed.

Experiment folders (``summary.json`` from :mod:`escalation.report.summary`), sweep folders (``sweep.json``)
and backtest folders (a ``summary.json`` with ``mode`` ``backtest`` or ``rolling_backtest``) each get their
own brief. The entry point is the ``escalation-brief`` command (:func:`main`) or ``experiment.brief: true``.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import sys
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from escalation.report.folder import atomic_write_bytes, atomic_write_text
from escalation.report.summary import ASSUMPTION, Estimate, RunSummary, SummaryError

if TYPE_CHECKING:
    import pandas as pd

USAGE_ERROR = 2
PDF_NAME = "brief.pdf"
HTML_NAME = "brief.html"
_DASH = "\u2013"  # the en dash of ranges: 47.8-63.9 set as typeset
_MINUS = "\u2212"  # the typographic minus sign of signed differences


class BriefError(ValueError):
    """A folder cannot be briefed; the message names the folder and what is missing."""


# --------------------------------------------------------------------------------------------------------
# Content
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Heading:
    """A section heading."""

    text: str


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of running text; ``note`` ones are set smaller and grey."""

    text: str
    note: bool = False


@dataclass(frozen=True)
class Table:
    """A table: a header row and rows of text cells, with an optional caption line under it."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""


@dataclass(frozen=True)
class Figure:
    """A figure of the run folder (a PNG file) with the sentence that says what it shows."""

    path: Path
    caption: str


Block = Heading | Paragraph | Table | Figure


@dataclass
class Brief:
    """The content of a brief: its title, a one-line subtitle and the blocks in reading order."""

    title: str
    subtitle: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> None:
        """Append blocks in order."""
        self.blocks.extend(blocks)

    def text(self) -> str:
        """All the brief's words, one block a paragraph (what a reader of the PDF or HTML can find)."""
        parts = [self.title, self.subtitle]
        for block in self.blocks:
            if isinstance(block, Heading | Paragraph):
                parts.append(block.text)
            elif isinstance(block, Table):
                parts += [" | ".join(block.header)] + [" | ".join(row) for row in block.rows]
            else:
                parts.append(block.caption)
        return "\n".join(parts)


def percent(value: float | None) -> str:
    """A probability as the brief prints it: one decimal, for example ``56.0%``; a dash when missing."""
    return _DASH if value is None else f"{100 * value:.1f}%"


def interval(low: float | None, high: float | None) -> str:
    """An interval in percent, one decimal, for example ``47.8–63.9``; a dash when not estimated."""
    if low is None or high is None:
        return _DASH
    return f"{100 * low:.1f}{_DASH}{100 * high:.1f}"


def points(value: float) -> str:
    """A paired difference in percentage points with its sign, one decimal: ``+42.0 pp``, ``−1.8 pp``."""
    sign = "+" if value > 0 else (_MINUS if value < 0 else "\u00b1")
    return f"{sign}{abs(100 * value):.1f} pp"


def _points_interval(low: float, high: float) -> str:
    def signed(v: float) -> str:
        return (_MINUS if v < 0 else "+" if v > 0 else "") + f"{abs(100 * v):.1f}"

    return f"{signed(low)} to {signed(high)}"


def headline_rows(summary: RunSummary, arm: str) -> tuple[tuple[str, ...], ...]:
    """One row per threshold and horizon of an arm: label, horizon, probability and both intervals."""
    rows = []
    for threshold in summary.arms[arm].thresholds.values():
        for horizon, value in sorted(threshold.by_day.items()):
            rows.append(
                (
                    threshold.label,
                    f"day {horizon}",
                    percent(value.probability),
                    interval(value.lower, value.upper),
                    interval(value.parameter_lower, value.parameter_upper),
                )
            )
    return tuple(rows)


HEADLINE_HEADER = (
    "Event",
    "By",
    "Probability",
    "Simulation noise",
    "Over plausible parameter values",
)


# Caveats are short restatements of docs/model.md section 11 ("Known limitations"); each applies when its
# test on the summary is true.
_CAVEATS: tuple[tuple[str, str], ...] = (
    (
        "always",
        "Strikes cause no casualties in the model: no threshold counts deaths caused by strikes, and a "
        "strike's human cost is not simulated.",
    ),
    (
        "always",
        "Parameters stay constant over the run except through the dated drivers and the campaign regimes: "
        "no actor learns or changes policy after a threshold is crossed.",
    ),
    ("always", "The model moves in whole days: within a day nobody reacts to anybody."),
    (
        "regional_war",
        "Regional war is one rule (a number of direct interstate channel-days within a window); it does not "
        "weigh the size of strikes and has no notion of a war ending.",
    ),
    (
        "first_us_fatality",
        "The single observed US fatality drives a high per-attack kill probability, so a first US fatality "
        "comes early in most runs; a longer record would probably lower it.",
    ),
    (
        "assumptions",
        "Harm weights are conventions: other weights would change which retaliation thresholds are crossed "
        "and how fast.",
    ),
    (
        "fixed_lever",
        "A lever fixed to a number keeps the calibrated distribution of the parameters fitted jointly with "
        "it (their marginal posterior, not the posterior given the fixed value).",
    ),
)


def caveats(thresholds: Sequence[str], *, rests_on_assumptions: bool, fixes_levers: bool) -> list[str]:
    """The caveats of ``docs/model.md`` (section 11) that apply to a run with these named thresholds."""
    applies = {
        "always": True,
        "regional_war": "regional_war" in thresholds,
        "first_us_fatality": "first_us_fatality" in thresholds,
        "assumptions": rests_on_assumptions,
        "fixed_lever": fixes_levers,
    }
    return [text for key, text in _CAVEATS if applies[key]]


# --------------------------------------------------------------------------------------------------------
# Reading a folder
# --------------------------------------------------------------------------------------------------------


def _json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise BriefError(f"{path}: not readable JSON ({err})") from None
    return data if isinstance(data, dict) else None


def _calibration(folder: Path, manifest: dict[str, Any]) -> dict[str, Any] | None:
    """A run's calibration: its own ``calibration.json``, or the sweep's shared one its manifest names."""
    shared = manifest.get("calibration_file")
    return _json(folder / "calibration.json") or (_json(folder / str(shared)) if shared else None)


def folder_kind(folder: Path) -> str:
    """``experiment``, ``sweep`` or ``backtest``: which brief a folder gets.

    Raises:
        BriefError: when the folder is none of them, or its run did not finish.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise BriefError(f"{folder}: not a folder")
    if (folder / "sweep.json").is_file():
        return "sweep"
    manifest = _json(folder / "manifest.json")
    summary = _json(folder / "summary.json")
    if manifest is None or summary is None:
        missing = "manifest.json" if manifest is None else "summary.json"
        raise BriefError(
            f"{folder}: not a run folder ({missing} missing); "
            "allowed: an experiment, backtest or sweep folder"
        )
    if manifest.get("status") != "ok":
        raise BriefError(f"{folder}: the run did not finish (manifest status {manifest.get('status')!r})")
    if (
        manifest.get("mode") in ("backtest", "rolling_backtest")
        or "cutoff" in summary
        or "cutoffs" in summary
    ):
        return "backtest"
    return "experiment"


def _figure(folder: Path, stem: str, caption: str) -> list[Figure]:
    path = folder / "figures" / f"{stem}.png"
    return [Figure(path, caption)] if path.is_file() else []


def _data_dates(manifest: dict[str, Any], calibration: dict[str, Any] | None) -> str:
    """The days the event record covers (read from the file when it is still there with the same hash)."""
    path = manifest.get("data_path")
    text = ""
    if path and Path(path).is_file():
        from escalation.events import load_events

        try:
            events = load_events(path)
        except Exception:  # a changed or unreadable file: no dates rather than no brief
            events = None
        if events is not None and events.data_hash == manifest.get("data_hash"):
            span = events.coverage
            if span is not None:
                text = f"record covers {span[0].isoformat()} to {span[1].isoformat()}"
    if calibration and calibration.get("cutoff"):
        text = ", ".join(t for t in (text, f"calibrated on events up to {calibration['cutoff']}") if t)
    return text or "not recorded"


def _provenance(manifest: dict[str, Any], calibration: dict[str, Any] | None, extra=()) -> Table:
    rows = [
        ("Version", f"escalation {manifest.get('escalation_version', '?')}"),
        ("Git revision", str(manifest.get("git_revision") or "not a git checkout")),
        ("Seed", str(manifest.get("seed", "?"))),
        ("Replications", f"{manifest.get('replications', 0):,}"),
        ("Data", f"{manifest.get('data_path', '?')}"),
        ("Data hash (SHA-256)", str(manifest.get("data_hash", "?"))),
        ("Dates of the data", _data_dates(manifest, calibration)),
        ("Calibration hash", str(manifest.get("calibration_hash") or "none")),
        ("Config hash", str(manifest.get("config_hash", "?"))),
        ("Command", str(manifest.get("command", "?"))),
        *extra,
        ("Run date (when the software ran)", str(manifest.get("finished", "?"))[:10]),
    ]
    return Table(("", ""), tuple(rows))


def _evidence_counts(calibration: dict[str, Any] | None) -> tuple[list[str], list[str], list[str]]:
    """Calibrated parameters by what moved their distribution: pooled, narrowed by the data, assumptions."""
    from escalation.report.summary import NARROWED, POOLED, parameter_evidence

    summaries = (calibration or {}).get("summaries") or {}
    evidence = parameter_evidence(summaries)
    pooled = sorted(p for p, e in evidence.items() if e == POOLED)
    narrowed = sorted(p for p, e in evidence.items() if e == NARROWED)
    assumed = sorted(p for p in summaries if p not in evidence)
    return pooled, narrowed, assumed


def _sensitivity_blocks(sensitivity: Path) -> list[Block]:
    data = _json(Path(sensitivity) / "sensitivity_summary.json")
    if data is None or data.get("kind") != "sensitivity":
        raise BriefError(f"{sensitivity}: not a sensitivity run folder (sensitivity_summary.json missing)")
    key = "ST" if data["method"] == "sobol" else "mu_star"
    rows = []
    for name, headline in data["headlines"].items():
        tops = ", ".join(f"{t['factor']} ({t[key]:.2f})" for t in headline["top_factors"][:4])
        rows.append((name, f"day {headline['horizon_days']}", tops or "output did not vary"))
    return [
        Paragraph(
            f"Global sensitivity ({data['method']}, {data['design_runs']:,} design runs, "
            f"{len(data['factors'])} factors): the factors ranked by {key}, largest first."
        ),
        Table(("Headline", "By", f"Most influential factors ({key})"), tuple(rows)),
    ]


# --------------------------------------------------------------------------------------------------------
# The three briefs
# --------------------------------------------------------------------------------------------------------


def experiment_brief(folder: Path, sensitivity: Path | None = None) -> Brief:
    """The brief of an experiment run folder."""
    folder = Path(folder)
    try:
        summary = RunSummary.load(folder / "summary.json")
    except SummaryError as err:
        raise BriefError(str(err)) from None
    manifest = _json(folder / "manifest.json") or {}
    calibration = _calibration(folder, manifest)
    reference = summary.reference_arm
    arms = list(summary.arms)
    brief = Brief(
        title=summary.question,
        subtitle=(
            f"Experiment {summary.experiment}, scenario {summary.scenario}: forecast from {summary.start} "
            f"over {summary.horizon_days} days; {summary.replications:,} replications per arm, seed "
            f"{summary.seed}; {summary.level:.0%} intervals."
        ),
    )
    first = summary.arms[reference]
    top = next(iter(first.thresholds.values()))
    horizon = max(top.by_day)
    brief.add(
        Heading("The answer"),
        Paragraph(_answer(top.label, horizon, top.by_day[horizon], first.label if len(arms) > 1 else None)),
    )
    for name in [reference] + [a for a in arms if a != reference]:
        arm = summary.arms[name]
        title = "Headline numbers" if len(arms) == 1 else f"Headline numbers: {arm.label}"
        brief.add(
            Heading(title),
            Table(
                HEADLINE_HEADER,
                headline_rows(summary, name),
                caption=(
                    f"Probability that the event has happened by the day given. Simulation noise: the "
                    f"{summary.level:.0%} interval another seed could move the estimate within "
                    f"({summary.method}). Parameter values: the {summary.level:.0%} range of the probability "
                    "over plausible parameter values (dash: not estimated)."
                ),
            ),
        )
    if summary.paired_differences:
        rows = tuple(
            (
                str(d["arm_label"]),
                str(d["label"]),
                f"day {d['horizon_days']}",
                points(float(d["difference"])),
                _points_interval(float(d["lower"]), float(d["upper"])),
                "yes" if d["lower"] > 0 or d["upper"] < 0 else "no",
            )
            for d in summary.paired_differences
        )
        brief.add(
            Heading(f"Change from the reference arm ({summary.arms[reference].label}), at every horizon"),
            Table(
                ("Arm", "Event", "By", "Difference", f"{summary.level:.0%} interval", "Resolved"),
                rows,
                caption="Paired on common random numbers: each replication of an arm is compared with the "
                "same replication of the reference arm. Resolved: the interval excludes zero.",
            ),
        )
    brief.add(Heading("What the numbers rest on"), *_rests_on(summary, calibration))
    if sensitivity is not None:
        brief.add(*_sensitivity_blocks(sensitivity))
    flagged = any(
        t.assumptions is not None and t.assumptions.rests_on_assumptions
        for arm in summary.arms.values()
        for t in arm.thresholds.values()
    )
    brief.add(
        Heading("Caveats"),
        *[
            Paragraph("• " + text)
            for text in caveats(
                list(first.thresholds),
                rests_on_assumptions=flagged,
                fixes_levers=len(arms) > 1,
            )
        ],
        Paragraph("From the model's known limitations (docs/model.md, section 11).", note=True),
    )
    brief.add(Heading("Figures"), *_experiment_figures(folder, summary))
    brief.add(Heading("Provenance"), _provenance(manifest, calibration))
    return brief


def _answer(label: str, horizon: int, value: Estimate, arm: str | None) -> str:
    where = f" (arm {arm})" if arm else ""
    text = (
        f"{label} by day {horizon}{where}: {percent(value.probability)}; simulation noise "
        f"{interval(value.lower, value.upper)}%"
    )
    if value.parameter_lower is not None:
        text += f"; over plausible parameter values {interval(value.parameter_lower, value.parameter_upper)}%"
    return text + "."


def _rests_on(summary: RunSummary, calibration: dict[str, Any] | None) -> list[Block]:
    pooled, narrowed, assumed = _evidence_counts(calibration)
    blocks: list[Block] = [
        Paragraph(
            f"Of the {len(pooled) + len(narrowed) + len(assumed)} calibrated distributions, {len(pooled)} "
            f"come from priors pooled over earlier crises, {len(narrowed)} were narrowed by the event data "
            f"and {len(assumed)} are hand-set assumptions no data moved; every other distribution of the "
            "config is a hand-set assumption too (calibration.json)."
        )
    ]
    if narrowed:
        blocks.append(Paragraph("Narrowed by the event data: " + ", ".join(narrowed) + ".", note=True))
    rows = []
    for threshold in summary.arms[summary.reference_arm].thresholds.values():
        found = threshold.assumptions
        if found is None:
            continue
        drivers = "; ".join(
            f"{d.parameter} ({d.share:.0%}, {'assumption' if d.evidence == ASSUMPTION else d.evidence})"
            for d in found.drivers
        )
        rows.append(
            (
                threshold.label,
                f"{found.assumption_share:.0%}",
                "yes" if found.rests_on_assumptions else "no",
                drivers or "none detected alone (each below 5%, or within the noise of the draws)",
            )
        )
    if rows:
        blocks.append(
            Table(
                ("Event", "Spread from assumptions", "Rests on assumptions", "Main drivers (share alone)"),
                tuple(rows),
                caption=(
                    f"By day {summary.horizons[-1]}, reference arm. Share: the part of the probability's "
                    "spread over parameter values that one parameter explains alone."
                ),
            )
        )
    else:
        blocks.append(
            Paragraph(
                "The parameter spread was not estimated (one replication per parameter draw).", note=True
            )
        )
    return blocks


def _experiment_figures(folder: Path, summary: RunSummary) -> list[Figure]:
    several = len(summary.arms) > 1
    suffix = f"_{summary.reference_arm}" if several else ""
    figures = []
    if several:
        first, last = summary.horizons[0], summary.horizons[-1]
        figures += _figure(
            folder,
            f"arms_comparison_day{first}",
            f"By day {first}: each arm and its change from the reference.",
        )
        figures += _figure(
            folder, "arms_comparison", f"By day {last}: each arm and its change from the reference."
        )
    figures += _figure(folder, f"thresholds{suffix}", "Probability of each named event by the last horizon.")
    figures += _figure(
        folder, f"ladder{suffix}", "Probability of having reached each rung of the ladder, by date."
    )
    for target in next(iter(summary.arms.values())).attacks_by_horizon:
        figures += _figure(
            folder,
            f"fan_attacks_{target}{suffix}",
            f"Cumulative attacks on {target}: record and simulated fan.",
        )
    return figures


def _lever_text(value: Any) -> str:
    """A lever value as the sweep's tables print it: ``0.5``, ``1``, ``true``."""
    return f"{value:g}" if isinstance(value, float) else str(value)


_SWEEP_FIGURES = {
    "sweep": "probability across the sweep",
    "heatmap": "probability over the two levers",
    "difference": "change from the reference point",
    "robustness": "robustness over plausible parameter values",
}


def _sweep_figure_caption(stem: str, labels: dict[str, str]) -> str:
    kind, _, rest = stem.partition("_")
    if kind in _SWEEP_FIGURES:
        for threshold, label in labels.items():
            if rest == threshold or rest.startswith(threshold + "_"):
                arm = rest[len(threshold) + 1 :]
                return f"{label}: {_SWEEP_FIGURES[kind]}" + (f" (arm {arm})" if arm else "") + "."
    return stem.replace("_", " ")


def sweep_brief(folder: Path) -> Brief:
    """The brief of a sweep folder (after ``escalation-report`` or the end of a multirun).

    The headline table is ``sweep_summary.parquet`` at the last horizon, one row per point and event; the
    paired differences are ``sweep_differences.parquet`` at the same horizon, the reference point left out.
    """
    import pandas as pd

    folder = Path(folder)
    info = _json(folder / "sweep.json") or {}
    table_path = folder / "sweep_summary.parquet"
    if not table_path.is_file():
        raise BriefError(f"{folder}: sweep folder without sweep_summary.parquet; run escalation-report first")
    table = pd.read_parquet(table_path)
    levers = [str(lever) for lever in info.get("levers", [])]
    missing = [c for c in (*levers, "threshold", "label", "horizon_days", "probability") if c not in table]
    if missing:
        raise BriefError(f"{table_path}: missing columns {missing}; run escalation-report again")
    horizon = int(table["horizon_days"].max())
    last = table[table["horizon_days"] == horizon].sort_values(levers, kind="stable")
    arms = list(dict.fromkeys(last["arm"])) if "arm" in last else []
    by_arm = len(arms) > 1
    level = (info.get("interval") or {}).get("level")
    points_complete = info.get("points_complete", len(info.get("points", [])))
    question = str(info.get("question") or info.get("experiment") or folder.name)
    brief = Brief(
        title=question,
        subtitle=f"Sweep over {', '.join(levers) or 'no lever'}: {points_complete} points, "
        f"{info.get('replications', '?'):,} replications each, seed {info.get('seed', '?')}; "
        f"probabilities by day {horizon}"
        + (f", {level:.0%} intervals." if isinstance(level, float) else "."),
    )
    rows = tuple(
        (
            *(_lever_text(row[lever]) for lever in levers),
            *((str(row["arm"]),) if by_arm else ()),
            str(row["label"]),
            percent(float(row["probability"])),
            interval(float(row["lower"]), float(row["upper"])),
            interval(_maybe(row, "parameter_lower"), _maybe(row, "parameter_upper")),
        )
        for _, row in last.iterrows()
    )
    arm_column = ("Arm",) if by_arm else ()
    brief.add(
        Heading(f"Headline numbers by day {horizon}"),
        Table(
            (
                *levers,
                *arm_column,
                "Event",
                "Probability",
                "Simulation noise",
                "Over plausible parameter values",
            ),
            rows,
            caption="Each row is one sweep point (sweep_summary.parquet). Simulation noise: the interval "
            "another seed could move the estimate within. Parameter values: the range of the probability "
            "over plausible parameter values (dash: not estimated).",
        ),
    )
    brief.add(*_sweep_differences(folder, levers, horizon, by_arm, info))
    brief.add(
        Heading("Caveats"),
        *[
            Paragraph("• " + text)
            for text in caveats(
                list(dict.fromkeys(table["threshold"])), rests_on_assumptions=True, fixes_levers=True
            )
        ],
    )
    labels = dict(zip(table["threshold"], table["label"], strict=True))
    figures = sorted((folder / "figures").glob("*.png"))
    brief.add(
        Heading("Figures"), *[Figure(path, _sweep_figure_caption(path.stem, labels)) for path in figures]
    )
    brief.add(
        Heading("Provenance"),
        Table(("", ""), tuple((str(k), _short(v)) for k, v in info.items() if k != "points")),
    )
    return brief


def _sweep_differences(
    folder: Path, levers: list[str], horizon: int, by_arm: bool, info: dict[str, Any]
) -> list[Block]:
    import pandas as pd

    path = folder / "sweep_differences.parquet"
    if not path.is_file():
        return []
    table = pd.read_parquet(path)
    rows = table[(table["horizon_days"] == horizon) & (table["point"] != info.get("reference_point"))]
    if rows.empty:
        return []
    rows = rows.sort_values(levers, kind="stable")
    reference = ", ".join(f"{k} = {_lever_text(v)}" for k, v in (info.get("reference") or {}).items())
    level = (info.get("interval") or {}).get("level")
    return [
        Heading(f"Change from the reference point{f' ({reference})' if reference else ''}, by day {horizon}"),
        Table(
            (
                *levers,
                *(("Arm",) if by_arm else ()),
                "Event",
                "Difference",
                f"{level:.0%} interval" if isinstance(level, float) else "Interval",
                "Resolved",
            ),
            tuple(
                (
                    *(_lever_text(row[lever]) for lever in levers),
                    *((str(row["arm"]),) if by_arm else ()),
                    str(row["label"]),
                    points(float(row["difference"])),
                    _points_interval(float(row["lower"]), float(row["upper"])),
                    "yes" if row["lower"] > 0 or row["upper"] < 0 else "no",
                )
                for _, row in rows.iterrows()
            ),
            caption="Paired on common random numbers: every point runs the reference point's seeds "
            "(sweep_differences.parquet). Resolved: the interval excludes zero.",
        ),
    ]


def _cell(value: Any) -> str:
    """A table cell of a backtest: dates as dates, missing values as a dash, numbers to 4 figures."""
    import pandas as pd

    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return _DASH
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    return _short(value)


def _happened(value: Any) -> str:
    import pandas as pd

    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
        return "unknown"
    return "yes" if bool(value) else "no"


def backtest_brief(folder: Path) -> Brief:
    """The brief of a backtest run folder (one cut-off or rolling origins): scores, summary and figures.

    The threshold table and the forecasters' mean scores are ``summary.json``'s; the daily count scores
    ``tables/backtest_scores.parquet``'s.
    """
    import pandas as pd

    folder = Path(folder)
    summary = _json(folder / "summary.json") or {}
    manifest = _json(folder / "manifest.json") or {}
    calibration = _calibration(folder, manifest)
    origins = summary.get("origins") or ([summary["cutoff"]] if summary.get("cutoff") else [])
    when = (
        f"at the cut-off {origins[0]}"
        if len(origins) == 1
        else f"at {len(origins)} cut-offs, {origins[0]} to {origins[-1]}"
        if origins
        else "at a cut-off"
    )
    brief = Brief(
        title=f"Backtest: {summary.get('experiment', folder.name)}",
        subtitle=f"Forecasts of the attacks on {summary.get('target', '?')} over "
        f"{summary.get('horizon_days', '?')} days made {when} from the events known then, scored against "
        f"what the record shows later; {summary.get('replications', 0):,} replications, seed "
        f"{summary.get('seed', '?')}.",
    )
    thresholds_path = folder / "tables" / "backtest_thresholds.parquet"
    thresholds = (
        pd.read_parquet(thresholds_path).to_dict("records")
        if thresholds_path.is_file()
        else summary.get("thresholds", [])
    )
    if thresholds:
        rolling = any("cutoff" in t for t in thresholds)
        brief.add(
            Heading("Named thresholds"),
            Table(
                (*(("Cut-off",) if rolling else ()), "Event", "By", "Forecast", "Happened", "Brier",
                 "Log score"),
                tuple(
                    (
                        *((_cell(t["cutoff"]),) if rolling else ()),
                        str(t["label"]),
                        f"day {t['horizon_days']}",
                        percent(float(t["probability"])),
                        _happened(t["happened"]),
                        _cell(t["brier"]),
                        _cell(t["log_score"]),
                    )
                    for t in thresholds
                ),
                caption=_threshold_scores_caption(summary.get("threshold_scores") or {}),
            ),
        )  # fmt: skip
    forecasters = summary.get("forecasters") or {}
    if forecasters:
        keys = list(dict.fromkeys(k for entry in forecasters.values() for k in entry))
        brief.add(
            Heading("Count forecasts: mean scores"),
            Table(
                ("Forecaster", *(k.replace("_", " ") for k in keys)),
                tuple((name, *(_cell(entry.get(k)) for k in keys)) for name, entry in forecasters.items()),
                caption="Over the days whose count is exact (a count known only as a lower bound is not "
                "scored). CRPS: lower is better; skill: the share of a baseline's CRPS the model saves.",
            ),
        )
    else:
        brief.add(
            Paragraph(
                "No count was scored: every count after the cut-off is known only as a lower bound.",
                note=True,
            )
        )
    scores = folder / "tables" / "backtest_scores.parquet"
    if scores.is_file():
        table = pd.read_parquet(scores)
        brief.add(
            Heading("Daily counts"),
            Table(
                tuple(str(c).replace("_", " ") for c in table.columns),
                tuple(tuple(_cell(v) for v in r) for r in table.itertuples(index=False)),
                caption="backtest_scores.parquet: each forecaster on each observed day.",
            ),
        )
    flat = {k: v for k, v in summary.items() if not isinstance(v, dict | list)}
    brief.add(Heading("Summary"), Table(("", ""), tuple((str(k), _short(v)) for k, v in flat.items())))
    figures = sorted((folder / "figures").glob("*.png"))
    brief.add(Heading("Figures"), *[Figure(path, path.stem.replace("_", " ")) for path in figures])
    brief.add(Heading("Provenance"), _provenance(manifest, calibration))
    return brief


def _threshold_scores_caption(scores: dict[str, Any]) -> str:
    parts = [f"{scores.get('forecasts', 0)} forecasts scored"]
    if scores.get("mean_brier") is not None:
        parts.append(f"mean Brier {scores['mean_brier']:.4g}, mean log score {scores['mean_log_score']:.4g}")
    if scores.get("left_out"):
        parts.append(f"{scores['left_out']} left out ({scores.get('left_out_reason', 'unknown outcome')})")
    return "; ".join(parts) + "."


def _maybe(row: pd.Series, column: str) -> float | None:
    import pandas as pd

    value = row.get(column)
    return None if value is None or pd.isna(value) else float(value)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    return text if len(text) <= 90 else text[:87] + "..."


def build_brief(folder: Path, sensitivity: Path | None = None) -> Brief:
    """The brief of any finished folder (experiment, sweep or backtest)."""
    kind = folder_kind(folder)
    if kind == "sweep":
        return sweep_brief(folder)
    if kind == "backtest":
        return backtest_brief(folder)
    return experiment_brief(folder, sensitivity)


# --------------------------------------------------------------------------------------------------------
# Rendering: PDF
# --------------------------------------------------------------------------------------------------------

_PAGE = (8.27, 11.69)  # A4 portrait, inches
_MARGIN = 0.6
_INK = "#222222"
_GREY = "#666666"
_RULE = "#BBBBBB"
_SIZES = {"title": 17.0, "subtitle": 10.0, "heading": 13.0, "text": 9.5, "note": 8.0, "table": 8.0}


class _Pages:
    """A cursor over A4 pages of matplotlib figures: text flows down and a full page starts the next."""

    def __init__(self, pdf, footer: str) -> None:
        self.pdf = pdf
        self.footer = footer
        self.number = 0
        self.figure = None
        self.y = 0.0
        self._new_page()

    def _new_page(self) -> None:
        from matplotlib.figure import Figure as MplFigure

        if self.figure is not None:
            self._close_page()
        self.figure = MplFigure(figsize=_PAGE)
        self.number += 1
        self.y = _PAGE[1] - _MARGIN

    def _close_page(self) -> None:
        self.figure.text(
            _MARGIN / _PAGE[0], 0.35 / _PAGE[1], f"{self.footer} · page {self.number}",
            fontsize=7.5, color=_GREY, ha="left",
        )  # fmt: skip
        self.pdf.savefig(self.figure)

    def need(self, inches: float) -> None:
        if self.y - inches < _MARGIN + 0.2:
            self._new_page()

    def line(self, text: str, size: float, *, x: float = _MARGIN, weight="normal", colour=_INK) -> None:
        height = size / 72 * 1.45
        self.need(height)
        self.y -= height
        self.figure.text(
            x / _PAGE[0], self.y / _PAGE[1], text, fontsize=size, fontweight=weight, color=colour
        )

    def gap(self, inches: float) -> None:
        self.y -= inches

    def wrapped(self, text: str, size: float, **style) -> None:
        width = int((_PAGE[0] - 2 * _MARGIN) * 72 / (size * 0.52))
        for piece in textwrap.wrap(text, width=width) or [""]:
            self.line(piece, size, **style)

    def close(self) -> None:
        self._close_page()


def _column_widths(table: Table, available: float, size: float) -> list[float]:
    """Column widths in inches from the longest cell of each column, scaled down to the page."""
    char = size / 72 * 0.55
    cells = [table.header, *table.rows]
    longest = [max(len(str(row[k])) for row in cells) for k in range(len(table.header))]
    wanted = [min(n, 70) * char + 0.15 for n in longest]  # 70: a SHA-256 hash stays on one line
    scale = min(1.0, available / sum(wanted))
    return [w * scale for w in wanted]


def _table_cells(
    table: Table, cells: Sequence[str], widths: Sequence[float]
) -> tuple[list[list[str]], float]:
    """A table row's cells wrapped to their column widths, and the row's height in inches."""
    size = _SIZES["table"]
    pieces = [
        textwrap.wrap(str(c), width=max(4, int(w / (size / 72 * 0.55)) - 1)) or [""]
        for c, w in zip(cells, widths, strict=True)
    ]
    return pieces, max(len(p) for p in pieces) * size / 72 * 1.4 + 0.04


def _table_height(table: Table) -> float:
    """The height of a table's rows on the page, in inches (its caption aside)."""
    widths = _column_widths(table, _PAGE[0] - 2 * _MARGIN, _SIZES["table"])
    rows = [table.header, *table.rows] if any(table.header) else list(table.rows)
    return sum(_table_cells(table, cells, widths)[1] for cells in rows)


def _pdf_table(pages: _Pages, table: Table) -> None:
    size = _SIZES["table"]
    widths = _column_widths(table, _PAGE[0] - 2 * _MARGIN, size)
    starts = [_MARGIN + sum(widths[:k]) for k in range(len(widths))]

    def row(cells: Sequence[str], weight: str) -> None:
        pieces, height = _table_cells(table, cells, widths)
        pages.need(height)
        top = pages.y
        for k, piece in enumerate(pieces):
            for j, text in enumerate(piece):
                pages.figure.text(
                    starts[k] / _PAGE[0], (top - (j + 1) * size / 72 * 1.4) / _PAGE[1], text,
                    fontsize=size, fontweight=weight, color=_INK,
                )  # fmt: skip
        pages.y = top - height
        pages.figure.add_artist(_rule(pages.y))

    if any(table.header):
        row(table.header, "bold")
    for cells in table.rows:
        row(cells, "normal")
    if table.caption:
        pages.gap(0.03)
        pages.wrapped(table.caption, _SIZES["note"], colour=_GREY)


def _rule(y: float):
    from matplotlib.lines import Line2D

    return Line2D(
        [_MARGIN / _PAGE[0], 1 - _MARGIN / _PAGE[0]], [y / _PAGE[1]] * 2, color=_RULE, linewidth=0.4
    )


def _pdf_figure(pages: _Pages, figure: Figure) -> None:
    import matplotlib.image

    image = matplotlib.image.imread(figure.path)
    height_px, width_px = image.shape[:2]
    width = _PAGE[0] - 2 * _MARGIN
    height = width * height_px / width_px
    pages.need(height + 0.35)
    pages.y -= height
    ax = pages.figure.add_axes((_MARGIN / _PAGE[0], pages.y / _PAGE[1], width / _PAGE[0], height / _PAGE[1]))
    ax.imshow(image, interpolation="antialiased")
    ax.set_axis_off()
    pages.line(figure.caption, _SIZES["note"], colour=_GREY)
    pages.gap(0.15)


def render_pdf(brief: Brief) -> bytes:
    """The brief as a PDF (A4 pages drawn with matplotlib, TrueType fonts so its text can be extracted)."""
    import matplotlib
    from matplotlib.backends.backend_pdf import PdfPages

    stream = io.BytesIO()
    style = {"pdf.fonttype": 42, "font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"]}
    with (
        matplotlib.rc_context(style),
        PdfPages(stream, metadata={"Title": brief.title, "CreationDate": None}) as pdf,
    ):
        pages = _Pages(pdf, footer=brief.title[:90])
        pages.wrapped(brief.title, _SIZES["title"], weight="bold")
        pages.gap(0.05)
        pages.wrapped(brief.subtitle, _SIZES["subtitle"], colour=_GREY)
        for k, block in enumerate(brief.blocks):
            if isinstance(block, Heading):
                pages.need(0.9)  # keep a heading with the start of its section
                following = brief.blocks[k + 1] if k + 1 < len(brief.blocks) else None
                if isinstance(following, Table):  # and with all of a table that fits on one page
                    height = 0.9 + _table_height(following)
                    if height < _PAGE[1] - 2 * _MARGIN - 0.2:
                        pages.need(height)
                pages.gap(0.12)
                pages.wrapped(block.text, _SIZES["heading"], weight="bold")
                pages.gap(0.04)
            elif isinstance(block, Paragraph):
                size = _SIZES["note" if block.note else "text"]
                pages.wrapped(block.text, size, colour=_GREY if block.note else _INK)
            elif isinstance(block, Table):
                _pdf_table(pages, block)
            else:
                _pdf_figure(pages, block)
        pages.close()
    return stream.getvalue()


# --------------------------------------------------------------------------------------------------------
# Rendering: HTML
# --------------------------------------------------------------------------------------------------------

_CSS = """
body { font-family: "DejaVu Sans", Arial, Helvetica, sans-serif; color: #222; max-width: 60rem;
       margin: 2rem auto; padding: 0 1rem; line-height: 1.4; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
.subtitle, .note, figcaption, .caption { color: #666; font-size: 0.85rem; }
h2 { font-size: 1.15rem; margin-top: 1.8rem; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.4rem 0; }
th, td { text-align: left; padding: 0.2rem 0.7rem 0.2rem 0; border-bottom: 1px solid #ddd;
         vertical-align: top; }
th { font-weight: bold; }
figure { margin: 1rem 0; }
img { max-width: 100%; height: auto; }
@media print { h2 { break-after: avoid; } figure { break-inside: avoid; } }
"""


def render_html(brief: Brief) -> str:
    """The brief as one self-contained HTML page: inline CSS, figures as base64 PNG, no network."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(brief.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(brief.title)}</h1>",
        f'<p class="subtitle">{e(brief.subtitle)}</p>',
    ]
    for block in brief.blocks:
        if isinstance(block, Heading):
            parts.append(f"<h2>{e(block.text)}</h2>")
        elif isinstance(block, Paragraph):
            parts.append(f'<p class="note">{e(block.text)}</p>' if block.note else f"<p>{e(block.text)}</p>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{e(c)}</th>" for c in block.header) if any(block.header) else ""
            body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in block.rows)
            parts.append(
                f"<table>{f'<thead><tr>{head}</tr></thead>' if head else ''}<tbody>{body}</tbody></table>"
            )
            if block.caption:
                parts.append(f'<p class="caption">{e(block.caption)}</p>')
        else:
            data = base64.b64encode(block.path.read_bytes()).decode("ascii")
            parts.append(
                f'<figure><img alt="{e(block.caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{e(block.caption)}</figcaption></figure>"
            )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------------------------------------
# Writing and the command
# --------------------------------------------------------------------------------------------------------


def write_brief(folder: Path, out: Path | None = None, sensitivity: Path | None = None) -> tuple[Path, Path]:
    """Write ``brief.pdf`` and ``brief.html`` of a finished folder into ``out`` (default: the folder).

    Both are built before either is written, so a folder that cannot be briefed gets no file.

    Raises:
        BriefError: when the folder (or the sensitivity folder) cannot be briefed.
    """
    folder = Path(folder)
    brief = build_brief(folder, sensitivity)
    pdf, page = render_pdf(brief), render_html(brief)
    target = Path(out) if out is not None else folder
    target.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(target / PDF_NAME, pdf), atomic_write_text(target / HTML_NAME, page)


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``escalation-brief``: the briefing pack of a finished run, sweep or backtest folder."""
    parser = argparse.ArgumentParser(
        prog="escalation-brief",
        description="Write brief.pdf and brief.html (self-contained) of a finished run, sweep or backtest.",
    )
    parser.add_argument("folder", type=Path, help="the run folder, e.g. results/runs/baseline/<date>")
    parser.add_argument("--out", type=Path, default=None, help="where to write (default: the folder itself)")
    parser.add_argument(
        "--sensitivity", type=Path, default=None, help="a sensitivity run folder whose ranking to include"
    )

    def refuse(message: str) -> None:
        print(f"escalation-brief: error: {message}", file=sys.stderr)
        sys.exit(USAGE_ERROR)

    parser.error = refuse  # type: ignore[method-assign]  # one line, not argparse's usage and error lines
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        pdf, page = write_brief(args.folder, args.out, args.sensitivity)
    except BriefError as err:
        refuse(str(err))
    print(f"Brief: {pdf} and {page} ({time.perf_counter() - started:.1f} s)")
