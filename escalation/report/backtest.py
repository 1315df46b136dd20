"""Writing a backtest's run folder: score tables, calibrations, fans, PIT and reliability, the summary."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from escalation import __version__, plots
from escalation.backtest import MIN_FOR_DIAGRAMS, BacktestResult, RollingBacktest
from escalation.report.experiment import write_fit_checks
from escalation.report.folder import RunFolder, atomic_write_json, atomic_write_parquet


def _caption(result: BacktestResult, experiment: str, cutoffs: str | None = None):
    return plots.Caption(
        experiment=f"{experiment} ({cutoffs or f'cut-off {result.cutoff.isoformat()}'})",
        replications=result.forecast.replications,
        seed=result.forecast.ensemble.seed,
        run_date=dt.date.today().isoformat(),
        version=__version__,
        scenario=result.forecast.scenario.name,
    )


def _write_fan(
    result: BacktestResult, folder: RunFolder, experiment: str, formats: tuple[str, ...], stem: str
) -> None:
    observed = pd.DataFrame(
        [
            {"date": pd.Timestamp(o.date), "count": o.count, "lower_bound": o.lower_bound}
            for o in result.observations
        ],
        columns=["date", "count", "lower_bound"],
    )
    label = result.forecast.scenario.actor(result.target).label
    figure = plots.fan_chart(
        result.forecast.cumulative_attacks(result.target),
        title=f"Backtest: forecast from {result.cutoff:%d %b %Y} against the attacks on {label} after it",
        caption=_caption(result, experiment),
        observed=observed,
        ylabel=f"Attacks on {label} since the cut-off",
    )
    plots.save_figure(figure, folder.figures, stem, formats=formats)


def write_backtest(
    result: BacktestResult, folder: RunFolder, *, experiment: str, formats: tuple[str, ...]
) -> dict:
    """Write a backtest's tables, calibration, figure and (last) summary into a run folder."""
    atomic_write_parquet(folder.tables / "backtest_scores.parquet", result.scores)
    atomic_write_parquet(folder.tables / "backtest_thresholds.parquet", result.thresholds)
    atomic_write_parquet(
        folder.tables / "cumulative_attacks.parquet", result.forecast.cumulative_attacks(result.target)
    )
    result.calibration.save(folder.path / "calibration.json")
    _write_fan(result, folder, experiment, formats, f"backtest_fan_{result.target}")
    write_fit_checks(result.calibration, folder, _caption(result, experiment), formats)
    summary = {"experiment": experiment, **result.summary()}
    atomic_write_json(folder.path / "summary.json", summary)
    return summary


def write_rolling_backtest(
    rolling: RollingBacktest, folder: RunFolder, *, experiment: str, formats: tuple[str, ...]
) -> dict:
    """Write a rolling backtest: pooled tables, each origin's calibration and fan, PIT and reliability."""
    scores, thresholds, reliability = rolling.scores(), rolling.thresholds(), rolling.reliability()
    atomic_write_parquet(folder.tables / "backtest_scores.parquet", scores)
    atomic_write_parquet(folder.tables / "backtest_thresholds.parquet", thresholds)
    atomic_write_parquet(folder.tables / "reliability.parquet", reliability)
    for result in rolling.results:
        result.calibration.save(folder.path / "calibrations" / f"{result.cutoff.isoformat()}.json")
        _write_fan(
            result, folder, experiment, formats, f"backtest_fan_{result.target}_{result.cutoff.isoformat()}"
        )
    first, last = rolling.results[0], rolling.results[-1]
    span = f"{len(rolling.results)} cut-offs, {first.cutoff.isoformat()} to {last.cutoff.isoformat()}"
    caption = _caption(last, experiment, cutoffs=span)
    pit = scores[(scores["forecaster"] == "model") & ~scores["lower_bound"].astype(bool)]["pit"].dropna()
    if len(pit) >= MIN_FOR_DIAGRAMS:
        figure = plots.pit_histogram(
            pit, title="Backtest: PIT of the model's count forecasts", caption=caption
        )
        plots.save_figure(figure, folder.figures, "backtest_pit", formats=formats)
    if thresholds["happened"].notna().sum() >= MIN_FOR_DIAGRAMS:
        figure = plots.reliability_diagram(
            reliability, title="Backtest: reliability of the named-threshold forecasts", caption=caption
        )
        plots.save_figure(figure, folder.figures, "backtest_reliability", formats=formats)
    summary = {"experiment": experiment, **rolling.summary()}
    atomic_write_json(folder.path / "summary.json", summary)
    return summary
