"""Writing an experiment's run folder: tidy tables, briefing figures, fit checks and (last) the summary."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from escalation import __version__, plots
from escalation.calibration import Calibration
from escalation.experiment import Arm, ExperimentResult, observed_counts
from escalation.files import atomic_file
from escalation.report.figures import FigureDrawing, FigureJob, draw_all
from escalation.report.folder import RunFolder, atomic_write_parquet
from escalation.report.summary import ASSUMPTION, RunSummary, parameter_evidence


def write_experiment(
    result: ExperimentResult,
    folder: RunFolder,
    levers: Mapping[str, Any] | None = None,
    *,
    figure_processes: int = 1,
) -> RunSummary:
    """Write tables, figures and (last) the summary of an experiment into its run folder.

    ``levers``: a sweep point's lever values by key (``policy.us.retaliation_probability``: 0.5), added to
    ``replications.parquet`` as one column each, so a table read alone says which point it belongs to.
    ``figure_processes``: 2 draws the figures in a second process while this one writes the tables, then
    in both (:class:`~escalation.report.figures.FigureDrawing`; the files are the same); 1 draws them here.
    """
    spec = result.spec
    jobs = figure_jobs(result) if spec.figures else []
    with FigureDrawing(jobs, folder.figures, spec.figure_formats, processes=figure_processes) as drawing:
        _write_tables(result, folder, levers)
        summary = RunSummary.from_result(result)  # computed while figures may still be drawn; written last
        drawing.finish()
    summary.save(folder.path / "summary.json")
    return summary


def _write_tables(result: ExperimentResult, folder: RunFolder, levers: Mapping[str, Any] | None) -> None:
    spec = result.spec
    atomic_write_parquet(folder.tables / "thresholds.parquet", result.thresholds())
    atomic_write_parquet(folder.tables / "ladder_curves.parquet", result.ladder_curves())
    atomic_write_parquet(folder.tables / "cumulative_attacks.parquet", result.cumulative_attacks())
    atomic_write_parquet(folder.tables / "pauses.parquet", result.pauses())
    atomic_write_parquet(folder.tables / "campaign_stops.parquet", result.stops())
    write_parquet_batches(
        folder.tables / "replications.parquet", with_levers(result.replication_batches(), levers or {})
    )
    atomic_write_parquet(folder.tables / "uncertainty_drivers.parquet", uncertainty_drivers(result))
    if len(spec.arms) > 1:
        atomic_write_parquet(folder.tables / "paired_differences.parquet", result.paired_differences())


def figure_jobs(result: ExperimentResult) -> list[FigureJob]:
    """Every figure of an experiment's run folder, as jobs: the briefing figures, then the fit checks."""
    jobs = _briefing_figure_jobs(result)
    if result.calibration is not None:
        reference = next(a for a in result.spec.arms if a.name == result.spec.reference)
        jobs += fit_check_jobs(result.calibration, _caption(result, reference, all_arms=True))
    return jobs


def write_parquet_batches(path: Path, batches: Iterable[pd.DataFrame]) -> Path:
    """Write a table that arrives in batches as one Parquet file, atomically, one row group per batch.

    Only one batch is held at a time, so a table of a million replications never exists whole in memory;
    the file reads back (``pandas.read_parquet``) as the batches concatenated, with a fresh index. Every
    batch must have the same columns and dtypes (as :meth:`ExperimentResult.replication_batches` gives).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    with atomic_file(path) as stream:
        writer = None
        try:
            for batch in batches:
                table = pa.Table.from_pandas(batch, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(stream, table.schema)
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise ValueError(f"{path}: no batch to write")
    return Path(path)


def with_levers(batches: Iterable[pd.DataFrame], levers: Mapping[str, Any]) -> Iterator[pd.DataFrame]:
    """Each batch with one constant column per lever (floats, or text; None stays missing), after its own."""
    for batch in batches:
        if levers:
            clash = [key for key in levers if key in batch.columns]
            if clash:
                raise ValueError(f"lever {clash[0]!r} has the name of a column of the replications table")
            columns = {
                key: pd.Series(
                    [value] * len(batch), dtype="float64" if isinstance(value, float) else "string"
                )
                for key, value in levers.items()
            }
            batch = pd.concat([batch.reset_index(drop=True), pd.DataFrame(columns)], axis=1)
        yield batch


def uncertainty_drivers(result: ExperimentResult) -> pd.DataFrame:
    """Per arm and named threshold by the last horizon: each parameter's share of the parameter spread alone.

    With the evidence behind each parameter (:func:`~escalation.report.summary.parameter_evidence`).
    """
    horizon = max(result.spec.horizons)
    evidence = parameter_evidence(result.calibration.summaries if result.calibration else {})
    frames = []
    for arm in result.spec.arms:
        table = result.results[arm.name].uncertainty_drivers(horizon)
        table.insert(0, "arm", arm.name)
        table.insert(2, "horizon_days", horizon)
        table["evidence"] = [evidence.get(path, ASSUMPTION) for path in table["parameter"]]
        frames.append(table)
    return pd.concat(frames, ignore_index=True)


def write_fit_checks(calibration: Calibration, folder: RunFolder, caption: plots.Caption, formats) -> None:
    """QQ plots of the rescaled residuals of every dyad fitted by its likelihood (calibration fit checks)."""
    draw_all(fit_check_jobs(calibration, caption), folder.figures, formats)


def fit_check_jobs(calibration: Calibration, caption: plots.Caption) -> list[FigureJob]:
    """The fit checks' QQ plots (:func:`write_fit_checks`) as figure jobs."""
    jobs = []
    for check in calibration.checks:
        if check.get("residuals"):
            dyad = check["observation"].removeprefix("attacks ")
            p_value = check["ks_pvalue"]
            verdict = "consistent with the model" if check["consistent"] else "NOT consistent with the model"
            draw = functools.partial(
                plots.qq_uniform,
                check["residuals"],
                title=f"Fit check, {dyad}: rescaled residuals {verdict} (KS p = {p_value:.2f})",
                caption=caption,
            )
            jobs.append(FigureJob(f"fit_qq_{dyad.replace('->', '_on_')}", draw))
    return jobs


def _caption(result: ExperimentResult, arm: Arm, *, all_arms: bool = False) -> plots.Caption:
    reference = result.results[arm.name]
    single = len(result.spec.arms) == 1 or all_arms
    return plots.Caption(
        experiment=result.spec.name if single else f"{result.spec.name} [{arm.label}]",
        replications=reference.replications,
        seed=reference.ensemble.seed,
        run_date=dt.date.today().isoformat(),
        version=__version__,
        scenario=arm.scenario.name,
    )


def driver_marks(scenario, target: str) -> list[tuple[object, str]]:
    """The dated drivers a target's fan chart marks: those that change an attack dyad against it."""
    return [
        (d.date, d.name.replace("_", " "))
        for d in scenario.drivers
        if any(d.applies_to(a) for a in scenario.attacks if a.target == target)
    ]


def _what_the_fan_counts(scenario, target: str) -> str:
    """One line: whose attacks on ``target`` the fan counts, the background war's named as such."""
    own = [
        scenario.actor(d.attacker).label for d in scenario.attacks if d.target == target and not d.background
    ]
    background = [
        scenario.actor(d.attacker).label for d in scenario.attacks if d.target == target and d.background
    ]
    text = "Counts the attacks by " + ", ".join(own) if own else "Counts"
    if background:
        text += (" and " if own else " the attacks by ") + ", ".join(background) + " (the background war)"
    return text


def _write_figures(result: ExperimentResult, folder: RunFolder) -> None:
    """Draw and save the briefing figures (not the fit checks) here, in order."""
    draw_all(_briefing_figure_jobs(result), folder.figures, result.spec.figure_formats)


def _briefing_figure_jobs(result: ExperimentResult) -> list[FigureJob]:
    """Per arm its ladder, fans and thresholds and, with arms, their comparisons: each drawn from its tables.

    The longest to draw (the ladder) comes first and the shortest (thresholds) last, so that two processes
    drawing them (:class:`~escalation.report.figures.FigureDrawing`) end close together. A job computes the
    tables it draws when it runs (in whichever process draws it); the tables shared by several figures are
    computed once in each process.
    """
    spec = result.spec
    tables = _SharedTables(result)
    jobs = []
    for arm in spec.arms:
        res = result.results[arm.name]
        suffix = "" if len(spec.arms) == 1 else f"_{arm.name}"
        caption = _caption(result, arm)
        where = "" if len(spec.arms) == 1 else f" ({arm.label})"

        def ladder(arm=arm, caption=caption, where=where):
            curves = tables.get("ladder_curves")
            return plots.ladder_chart(
                curves[curves["arm"] == arm.name],
                title=f"Escalation ladder: probability of reaching each rung{where}",
                caption=caption,
            )

        def threshold(arm=arm, caption=caption, where=where):
            thresholds = tables.get("thresholds")
            return plots.threshold_chart(
                thresholds[thresholds["arm"] == arm.name], title=f"{spec.question}{where}", caption=caption
            )

        jobs.append(FigureJob(f"ladder{suffix}", ladder))
        for target in arm.scenario.tracked_targets:
            label = arm.scenario.actor(target).label
            jobs.append(
                FigureJob(
                    f"fan_attacks_{target}{suffix}",
                    functools.partial(
                        _fan, result, arm, res, target, caption, f"Cumulative attacks on {label}{where}"
                    ),
                )
            )
        jobs.append(FigureJob(f"thresholds{suffix}", threshold))
    if len(spec.arms) > 1:
        # One chart per horizon: an arm's effect can be largest early. The last horizon keeps the plain name.
        reference = next(a for a in spec.arms if a.name == spec.reference)
        for horizon in spec.horizons:

            def arms(horizon=horizon):
                thresholds = tables.get("thresholds")
                all_differences = tables.get("paired_differences")
                return plots.arms_chart(
                    thresholds[thresholds["horizon_days"] == horizon],
                    all_differences[all_differences["horizon_days"] == horizon],
                    title=f"{spec.question} (by day {horizon})",
                    caption=_caption(result, reference, all_arms=True),
                    reference=reference.name,
                )

            stem = "arms_comparison" if horizon == max(spec.horizons) else f"arms_comparison_day{horizon}"
            jobs.append(FigureJob(stem, arms))
    return jobs


class _SharedTables:
    """An experiment's tables that several figures draw, each computed once, when a figure first needs it."""

    def __init__(self, result: ExperimentResult) -> None:
        self.result = result
        self.computed: dict[str, pd.DataFrame] = {}

    def get(self, name: str) -> pd.DataFrame:
        if name not in self.computed:
            self.computed[name] = getattr(self.result, name)()
        return self.computed[name]


def _fan(result: ExperimentResult, arm: Arm, res, target: str, caption: plots.Caption, title: str):
    observed = observed_counts(result.events, target, arm.scenario.start)
    offset = float(observed["count"].iloc[-1]) if len(observed) else 0.0
    label = arm.scenario.actor(target).label
    return plots.fan_chart(
        res.cumulative_attacks(target),
        title=title,
        caption=caption,
        observed=observed,
        offset=offset,
        ylabel=f"Attacks on {label} (cumulative count)",
        counting=_what_the_fan_counts(arm.scenario, target),
        markers=driver_marks(arm.scenario, target),
    )
