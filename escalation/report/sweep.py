"""Sweeps: one experiment run at several values of one or two levers, aggregated into one table and figures.

A sweep folder holds one run folder per point (written by ``escalation -m``). Aggregation reads the points
whose manifest says ``ok``, and writes into the sweep folder:

- ``sweep_summary.parquet`` / ``.csv``: one row per point, arm, named threshold and horizon, with the lever
  values as columns and the probability with its interval;
- ``sweep_differences.parquet``: each point minus the reference point, per threshold and horizon, from the
  paired replications (every point runs the same replication seeds, so the difference is precise);
- ``sweep_robustness.parquet`` / ``.csv``: each point's effect across the parameter uncertainty, draw by
  draw: the share of parameter draws in which it lowers the risk against the reference point, and its regret
  against the best point of each draw (:func:`robustness`);
- ``sweep.json``: levers, reference point, points found, complete and incomplete;
- ``figures/``: probability against the lever with bands, a heatmap over two levers with the contour of the
  configured level, and the paired differences against the reference point;
- ``store/``: the results store (:func:`write_store`), one table each of the points, their headline numbers
  and their replications, with every lever, swept or fixed, as a column. The tables and figures above are
  computed from it, and a sweep folder that holds only its store (the point folders deleted or never copied)
  is aggregated from the store alone.

It never runs the model: ``escalation-report <sweep folder>`` re-aggregates an existing sweep.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from escalation import __version__, metrics, plots
from escalation.report.folder import (
    atomic_write_json,
    atomic_write_parquet,
    atomic_write_text,
    mark_if_dead,
    read_manifest,
)
from escalation.report.summary import RunSummary, SummaryError


class SweepError(ValueError):
    """A sweep folder cannot be aggregated; the message says why."""


@dataclass(frozen=True)
class SweepSettings:
    """How a sweep is reported (``experiment.sweep`` in the experiment file).

    Attributes:
        levers: the swept config keys, x first (empty: every key whose value varies across points).
        labels: display label of each lever.
        reference: lever values of the reference point for paired differences (empty, or no such point
            among the complete ones: the first point, as ``sweep.json`` then says).
        contour: probability level drawn as a contour on heatmaps.
    """

    levers: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    reference: tuple[Any, ...] = ()
    contour: float = 0.5


@dataclass(frozen=True)
class SweepPoint:
    """One complete point of a sweep; ``name`` is its folder relative to the sweep folder."""

    folder: Path
    name: str
    overrides: dict[str, Any]
    manifest: dict[str, Any]
    summary: RunSummary


def _value(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


def _overrides(manifest: dict[str, Any]) -> dict[str, Any]:
    pairs = (o.split("=", 1) for o in manifest.get("overrides", []) if "=" in o)
    return {key.lstrip("+~"): _value(value) for key, value in pairs}


def _settings(folder: Path) -> SweepSettings:
    """The sweep settings stored in a point's resolved config."""
    try:
        config = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return SweepSettings()
    raw = (config.get("experiment") or {}).get("sweep") or {}
    levers = raw.get("levers") or []
    return SweepSettings(
        levers=tuple(str(lever["key"]) for lever in levers),
        labels=tuple(str(lever.get("label") or lever["key"]) for lever in levers),
        reference=tuple(_value(str(v)) for v in (raw.get("reference") or [])),
        contour=float(raw.get("contour", 0.5)),
    )


def collect_points(sweep_dir: Path) -> tuple[list[SweepPoint], list[str]]:
    """The complete points of the sweep last run in a folder, and the folders left out with the reason.

    Points are found at any depth (an override value with a slash nests its folder). A folder can hold points
    of earlier sweeps over other levers; only the points whose overrides have the same keys as the most
    recently finished point are aggregated. A point whose run died without closing its manifest (killed with
    SIGKILL: ``running``, its lock free, its pid gone) is marked ``dead`` here (:func:`mark_if_dead`) and left
    out with that reason.
    """
    points, left_out = [], []
    for manifest_path in sorted(Path(sweep_dir).rglob("manifest.json")):
        folder = manifest_path.parent
        name = folder.relative_to(sweep_dir).as_posix()
        dead = mark_if_dead(folder)
        if dead is not None:
            left_out.append(f"{name} (dead: {dead['error']}; marked dead)")
            continue
        manifest = read_manifest(folder)
        summary_path = folder / "summary.json"
        if not manifest or manifest.get("status") != "ok" or not summary_path.is_file():
            status = (manifest or {}).get("status")
            if status == "running" and manifest.get("pid") is not None:
                status = f"running, pid {manifest['pid']} on {manifest.get('host')}"
            left_out.append(f"{name} (not complete: {status})" if status else f"{name} (not complete)")
            continue
        try:
            summary = RunSummary.load(summary_path)
        except SummaryError:
            left_out.append(f"{name} (its summary.json is not a complete summary)")
            continue
        points.append(SweepPoint(folder, name, _overrides(manifest), manifest, summary))
    if not points:
        return [], left_out
    latest = max(points, key=lambda p: (p.manifest.get("finished", ""), p.name))
    keys = set(latest.overrides)
    left_out += [f"{p.name} (another sweep: other overrides)" for p in points if set(p.overrides) != keys]
    return [p for p in points if set(p.overrides) == keys], left_out


def _levers(points: list[SweepPoint], settings: SweepSettings) -> list[str]:
    """The configured levers that vary, then any other override that varies across the points."""
    keys = sorted({k for p in points for k in p.overrides})
    varying = [k for k in keys if len({repr(p.overrides.get(k)) for p in points}) > 1]
    configured = [k for k in settings.levers if k in varying]
    return configured + [k for k in varying if k not in configured]


def sweep_table(
    points: list[SweepPoint], levers: list[str], values: Mapping[str, Mapping[str, Any]] | None = None
) -> pd.DataFrame:
    """One row per point, arm, named threshold and horizon, with the lever values as columns.

    ``values``: point name -> lever values (default: the point's overrides).
    """
    rows = []
    for point in points:
        known = values[point.name] if values is not None else point.overrides
        for arm_name, arm in point.summary.arms.items():
            for threshold, entry in arm.thresholds.items():
                for horizon, value in entry.by_day.items():
                    rows.append(
                        {
                            "point": point.name,
                            **{lever: known.get(lever) for lever in levers},
                            "arm": arm_name,
                            "threshold": threshold,
                            "label": entry.label,
                            "horizon_days": horizon,
                            **vars(value),
                            "replications": point.summary.replications,
                            "seed": point.summary.seed,
                        }
                    )
    return pd.DataFrame(rows)


def _check_common_random_numbers(points: list[SweepPoint]) -> None:
    keys = {(p.summary.seed, p.summary.replications, p.summary.chunk_size) for p in points}
    if len(keys) > 1:
        raise SweepError(
            "the points were run with different seeds, replications or chunk sizes "
            f"({sorted(keys, key=repr)}); paired differences need the same replication seeds at every point"
        )


def _reference(
    points: list[SweepPoint], levers: list[str], settings: SweepSettings
) -> tuple[SweepPoint, str]:
    """The reference point for paired differences, and how it was chosen."""
    wanted = {k: v for k, v in zip(settings.levers, settings.reference, strict=False) if k in levers}
    if wanted:
        for point in points:
            if all(point.overrides.get(k) == v for k, v in wanted.items()):
                return point, f"experiment.sweep.reference {wanted}"
        return points[0], f"first point: no complete point has the configured reference {wanted}"
    return points[0], "first point"


def paired_differences(
    points: list[SweepPoint],
    reference: SweepPoint,
    levers: list[str],
    level: float,
    tables: Mapping[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Each point minus the reference, per arm, threshold and horizon, from the paired replications.

    ``tables``: point name -> its replications table (read from the point folders when None).
    """

    def replications(point: SweepPoint) -> pd.DataFrame:
        if tables is not None:
            return tables[point.name]
        return pd.read_parquet(point.folder / "tables" / "replications.parquet")

    base = replications(reference)
    rows = []
    for point in points:
        table = base if point is reference else replications(point)
        for arm_name, arm in point.summary.arms.items():
            mine = table[table["arm"] == arm_name]
            theirs = base[base["arm"] == arm_name]
            for threshold, entry in arm.thresholds.items():
                column = f"first_day_{threshold}"
                for h in entry.by_day:
                    a = _happened(mine[column].to_numpy(), h)
                    b = _happened(theirs[column].to_numpy(), h)
                    groups = theirs["draw"].to_numpy() if "draw" in theirs else None
                    paired = metrics.paired_difference(a, b, level=level, groups=groups)
                    rows.append(
                        {
                            "point": point.name,
                            **{lever: point.overrides.get(lever) for lever in levers},
                            "arm": arm_name,
                            "threshold": threshold,
                            "label": entry.label,
                            "horizon_days": h,
                            "reference_point": reference.name,
                            **{k: paired[k] for k in ("difference", "standard_error", "lower", "upper")},
                        }
                    )
    return pd.DataFrame(rows)


def robustness(
    points: list[SweepPoint],
    reference: SweepPoint,
    levers: list[str],
    tables: dict[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Each point's effect across the parameter uncertainty, draw by draw (robust levers).

    Every point runs the same replication seeds, so parameter draw ``m`` of every point holds the same values
    of the parameters its levers do not set, and the points' per-draw probabilities pair up draw by draw.
    Per point, arm, named threshold and horizon:

    - ``share_lower`` / ``share_higher`` / ``share_tied``: the share of parameter draws in which the point's
      probability is below / above / equal to the reference point's. With few replications per draw and a
      rare event most draws see no event at either point and tie at 0, so ``share_lower`` is small whatever
      the lever does: read it next to ``share_tied``;
    - ``regret_mean`` / ``regret_p90``: per draw, the point's probability minus the lowest of all points in
      that draw; its mean and 90th percentile (0 for a point that is best in every draw).

    A draw's probability is the share of its replications (``ensemble.replications_per_draw``) that saw the
    event, so both include simulation noise; more replications per draw reduce it (``docs/uncertainty.md``).

    Args:
        points: the complete points, each with ``tables/replications.parquet`` holding a ``draw`` column.
        reference: the point the shares are taken against.
        levers: the swept keys (columns of the table).
        tables: point name -> its replications table (read from the folders when None).

    Raises:
        SweepError: the points' arms have different numbers of parameter draws (draws cannot pair up).
    """
    tables = tables if tables is not None else {}
    for point in points:
        if point.name not in tables:
            tables[point.name] = pd.read_parquet(point.folder / "tables" / "replications.parquet")
    if any("draw" not in table.columns for table in tables.values()):
        return pd.DataFrame()
    first = reference.summary
    rows = []
    for arm_name, arm in first.arms.items():
        for threshold, entry in arm.thresholds.items():
            for h in sorted(entry.by_day):
                by_point = {}
                for point in points:
                    table = tables[point.name]
                    mine = table[table["arm"] == arm_name]
                    happened = _happened(mine[f"first_day_{threshold}"].to_numpy(), h)
                    successes, sizes = metrics.draw_counts(happened, mine["draw"].to_numpy())
                    by_point[point.name] = successes[:, 0] / sizes
                counts = {name: len(values) for name, values in by_point.items()}
                if len(set(counts.values())) > 1:
                    raise SweepError(
                        f"arm {arm_name}: the points have different numbers of parameter draws "
                        f"({', '.join(f'{n}: {c}' for n, c in counts.items())}), so draws cannot be paired; "
                        "run every point with the same ensemble.replications_per_draw"
                    )
                stacked = np.vstack(list(by_point.values()))
                best = stacked.min(axis=0)
                base = by_point[reference.name]
                for point in points:
                    mine = by_point[point.name]
                    regret = mine - best
                    rows.append(
                        {
                            "point": point.name,
                            **{lever: point.overrides.get(lever) for lever in levers},
                            "arm": arm_name,
                            "threshold": threshold,
                            "label": entry.label,
                            "horizon_days": h,
                            "reference_point": reference.name,
                            "draws": int(mine.size),
                            "share_lower": float(np.mean(mine < base)),
                            "share_higher": float(np.mean(mine > base)),
                            "share_tied": float(np.mean(mine == base)),
                            "regret_mean": float(regret.mean()),
                            "regret_p90": float(np.quantile(regret, 0.9)),
                        }
                    )
    return pd.DataFrame(rows)


# A text cell that begins with one of these is run as a formula when a spreadsheet opens the CSV (Excel,
# LibreOffice, Google Sheets): "=", "+", "-", "@", and a tab or carriage return before one of them.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _spreadsheet_text(value: Any) -> Any:
    """A text value prefixed with ``'`` when it would start a formula; anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def spreadsheet_csv(table: pd.DataFrame) -> str:
    """The table as CSV text that a spreadsheet opens as data, never as formulas.

    Text cells (arm names, threshold labels, point folders, non-numeric lever values) and column names that
    begin with ``=``, ``+``, ``-`` or ``@`` get a leading ``'``, which spreadsheets read as "text" and do not
    show. Numbers, also negative ones, are numbers in the table and stay numbers. The Parquet file keeps the
    values as they are.
    """
    safe = table.copy()
    for column in safe.columns:
        if pd.api.types.is_object_dtype(safe[column]) or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(_spreadsheet_text)
    safe.columns = [_spreadsheet_text(str(column)) for column in safe.columns]
    return safe.to_csv(index=False)


def _happened(first_days: np.ndarray, horizon: int) -> np.ndarray:
    return (first_days >= 0) & (first_days < horizon)


def aggregate_sweep(sweep_dir: str | Path, *, formats: tuple[str, ...] = ("png", "svg")) -> dict[str, Any]:
    """Aggregate a sweep folder into tables and figures (see the module docstring); returns ``sweep.json``.

    Raises:
        SweepError: no complete point, or points that cannot be paired.
    """
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise SweepError(f"{sweep_dir}: no such sweep folder")
    points, incomplete = collect_points(sweep_dir)
    if points:
        _check_common_random_numbers(points)
        write_store(sweep_dir, points, incomplete, _settings(points[0].folder))
    elif incomplete or not (sweep_dir / STORE / STORE_INFO).is_file():
        raise SweepError(
            f"{sweep_dir}: no complete sweep point (a point is complete when its manifest says ok)"
        )
    store = SweepStore(sweep_dir / STORE)  # the point folders' results, or the store left alone
    points, incomplete, settings = store.sweep_points(), store.info["points_left_out"], store.settings()
    levers = _levers(points, settings)
    if not levers:
        raise SweepError(f"{sweep_dir}: the points do not differ in any override; nothing was swept")
    _check_common_random_numbers(points)
    reference, reference_choice = _reference(points, levers, settings)
    level = points[0].summary.level
    table = sweep_table(points, levers)
    tables = {point.name: store.replications(point.name) for point in points}
    differences = paired_differences(points, reference, levers, level, tables)
    try:
        robust, robustness_note = robustness(points, reference, levers, tables), "written"
    except SweepError as err:  # the rest of the sweep still aggregates; say why this part is missing
        robust, robustness_note = pd.DataFrame(), f"left out: {err}"
    if robust.empty and robustness_note == "written":
        robustness_note = "left out: the points' replications tables have no draw column"
    if not robust.empty:
        atomic_write_parquet(sweep_dir / "sweep_robustness.parquet", robust)
        atomic_write_text(sweep_dir / "sweep_robustness.csv", spreadsheet_csv(robust))
    atomic_write_parquet(sweep_dir / "sweep_summary.parquet", table)
    atomic_write_text(sweep_dir / "sweep_summary.csv", spreadsheet_csv(table))
    atomic_write_parquet(sweep_dir / "sweep_differences.parquet", differences)
    labels = dict(zip(settings.levers, settings.labels, strict=True)) if settings.levers else {}
    figures = _figures_note(table, levers)
    if figures == "written":
        _write_sweep_figures(
            sweep_dir, table, differences, levers, labels, reference, settings, points, formats
        )
        if not robust.empty:
            _write_robustness_figures(sweep_dir, robust, levers, labels, reference, points, formats)
    first = points[0].summary
    info = {
        "experiment": first.experiment,
        "question": first.question,
        "levers": levers,
        "reference_point": reference.name,
        "reference": {lever: reference.overrides.get(lever) for lever in levers},
        "reference_choice": reference_choice,
        "points_complete": len(points),
        "points_left_out": incomplete,
        "replications": first.replications,
        "seed": first.seed,
        "interval": {"level": first.level, "method": first.method},
        "figures": figures,
        "robustness": robustness_note,
        "store": f"{STORE}/ ({', '.join(STORE_TABLES)}; every lever a column)",
        "aggregated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "escalation_version": __version__,
    }
    atomic_write_json(sweep_dir / "sweep.json", info)
    return info


def _figures_note(table: pd.DataFrame, levers: list[str]) -> str:
    """Whether the sweep can be drawn: one or two numeric levers (the tables always hold every result)."""
    if len(levers) > 2:
        return f"not drawn: {len(levers)} levers vary; the figures show one or two"
    for lever in levers:
        if not all(isinstance(v, float) for v in table[lever]):
            return f"not drawn: the lever {lever} is not numeric"
    return "written"


def _write_sweep_figures(
    sweep_dir: Path,
    table: pd.DataFrame,
    differences: pd.DataFrame,
    levers: list[str],
    labels: dict[str, str],
    reference: SweepPoint,
    settings: SweepSettings,
    points: list[SweepPoint],
    formats: tuple[str, ...],
) -> None:
    summary = points[0].summary
    caption = _sweep_caption(points)
    x = levers[0]
    series = levers[1] if len(levers) > 1 else None
    horizon = int(table["horizon_days"].max())
    reference_values = ", ".join(str(reference.overrides.get(k)) for k in levers)
    figures = sweep_dir / "figures"
    for (arm, threshold), rows in table[table["horizon_days"] == horizon].groupby(
        ["arm", "threshold"], sort=False
    ):
        name = f"{threshold}" if len(summary.arms) == 1 else f"{threshold}_{arm}"
        label = rows["label"].iloc[0]
        ylabel = f"Probability by day {horizon} (%)"
        fig = plots.sweep_chart(
            rows, lever=x, lever_label=labels.get(x, x), series=series,
            series_label=labels.get(series, series) if series else None,
            title=f"{label}: probability by day {horizon}", caption=caption, ylabel=ylabel,
            level=summary.level,
        )  # fmt: skip
        plots.save_figure(fig, figures, f"sweep_{name}", formats=formats)
        if series is not None:
            fig = plots.heatmap_chart(
                rows, x=x, y=series, x_label=labels.get(x, x), y_label=labels.get(series, series),
                title=f"{label}: probability by day {horizon}", caption=caption, contour=settings.contour,
            )  # fmt: skip
            plots.save_figure(fig, figures, f"heatmap_{name}", formats=formats)
        diffs = differences[
            (differences["arm"] == arm)
            & (differences["threshold"] == threshold)
            & (differences["horizon_days"] == horizon)
        ]
        fig = plots.difference_chart(
            diffs, lever=x, lever_label=labels.get(x, x), series=series,
            series_label=labels.get(series, series) if series else None,
            title=f"{label}: change from the reference point ({reference_values}) by day {horizon}",
            caption=caption, reference_label="the reference point", level=summary.level,
        )  # fmt: skip
        plots.save_figure(fig, figures, f"difference_{name}", formats=formats)


def _sweep_caption(points: list[SweepPoint]) -> plots.Caption:
    """The provenance line of a sweep's figures."""
    summary = points[0].summary
    return plots.Caption(
        experiment=f"{summary.experiment} sweep ({len(points)} points)",
        replications=summary.replications,
        seed=summary.seed,
        run_date=dt.date.today().isoformat(),
        version=__version__,
        scenario=summary.scenario,
    )


def _write_robustness_figures(
    sweep_dir: Path,
    robust: pd.DataFrame,
    levers: list[str],
    labels: dict[str, str],
    reference: SweepPoint,
    points: list[SweepPoint],
    formats: tuple[str, ...],
) -> None:
    summary = points[0].summary
    caption = _sweep_caption(points)
    x = levers[0]
    series = levers[1] if len(levers) > 1 else None
    horizon = int(robust["horizon_days"].max())
    reference_values = ", ".join(str(reference.overrides.get(k)) for k in levers)
    for (arm, threshold), rows in robust[robust["horizon_days"] == horizon].groupby(
        ["arm", "threshold"], sort=False
    ):
        name = f"{threshold}" if len(summary.arms) == 1 else f"{threshold}_{arm}"
        fig = plots.robustness_chart(
            rows, lever=x, lever_label=labels.get(x, x), series=series,
            series_label=labels.get(series, series) if series else None,
            title=f"{rows['label'].iloc[0]} by day {horizon}: robust across plausible parameter values?",
            caption=caption, reference_label=f"the reference point ({reference_values})",
        )  # fmt: skip
        plots.save_figure(fig, sweep_dir / "figures", f"robustness_{name}", formats=formats)


# ---------------------------------------------------------------------------------------------------------
# The results store

STORE = "store"  # the store's folder in the sweep folder
STORE_INFO = "store.json"
STORE_TABLES = ("points.parquet", "headline.parquet", "replications.parquet")
STORE_FORMAT = "escalation-sweep-store/1"
# What a point's row in points.parquet keeps of its manifest (besides its levers and summary).
_MANIFEST_COLUMNS = (
    "status", "started", "finished", "wall_seconds", "simulation_seconds", "seed", "replications",
    "chunk_size", "workers", "config_hash", "data_hash", "calibration_hash", "calibration_key",
)  # fmt: skip


def point_levers(point: SweepPoint) -> dict[str, Any]:
    """A point's lever values by key: those its run recorded, else its overrides.

    A run records every override, declared sweep lever, policy setting and driver date and factor
    (``escalation.cli._point_levers``).
    """
    recorded = point.manifest.get("levers")
    return {**point.overrides, **recorded} if isinstance(recorded, dict) else dict(point.overrides)


def _lever_text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value if isinstance(value, str) else format(value, "g") if isinstance(value, float) else str(value)


def _typed_levers(values: dict[str, dict[str, Any]], order: list[str]) -> dict[str, dict[str, Any]]:
    """Lever values with one type per lever across the points.

    A float when every point's value is a number (or missing), else text (numbers written as text).
    """
    keys = list(dict.fromkeys([*order, *(k for v in values.values() for k in v)]))
    numeric = {
        key: all(isinstance(v.get(key), int | float) or v.get(key) is None for v in values.values())
        for key in keys
    }
    return {
        name: {
            key: (float(v[key]) if v.get(key) is not None else None)
            if numeric[key]
            else _lever_text(v.get(key))
            for key in keys
        }
        for name, v in values.items()
    }


def _lever_column(values: list[Any]) -> pd.Series:
    if all(isinstance(v, float) or v is None for v in values):
        return pd.Series([np.nan if v is None else v for v in values], dtype="float64")
    return pd.Series(values, dtype="string")


def write_store(
    sweep_dir: Path, points: list[SweepPoint], left_out: list[str], settings: SweepSettings
) -> Path:
    """Write the sweep's results store, ``<sweep folder>/store/``, from its complete points.

    One table per kind, each with every lever (swept or fixed) as a column named by its key, one type per
    lever (float, or text when some point's value is not a number):

    - ``points.parquet``: one row per point: its folder (``point``), levers, overrides (JSON), manifest
      fields (status, times, seed, replications, config and calibration hashes) and summary (JSON);
    - ``headline.parquet``: one row per point, arm, named threshold and horizon: probability, interval,
      Monte Carlo standard error and the spread over parameter values (the points' ``summary.json``);
    - ``replications.parquet``: every point's ``tables/replications.parquet`` with ``point`` and the lever
      columns, one row group per point (its lever columns are constant, so a filter on a lever skips the
      other points' row groups);
    - ``store.json``: the format, the levers, which of them vary, the sweep settings, the points left out.

    Every file is written atomically; the store describes the points complete when it was written.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from escalation.files import atomic_file

    store = Path(sweep_dir) / STORE
    swept = _levers(points, settings)
    values = _typed_levers({p.name: point_levers(p) for p in points}, swept)
    keys = list(next(iter(values.values())))
    rows = []
    for point in points:
        row = {"point": point.name, **values[point.name]}
        row["overrides"] = json.dumps(list(point.manifest.get("overrides", [])))
        for column in _MANIFEST_COLUMNS:
            value = point.manifest.get(column)
            row[column] = None if value is None else value if isinstance(value, int | float) else str(value)
        row["summary"] = json.dumps(point.summary.to_dict(), sort_keys=True)
        rows.append(row)
    table = pd.DataFrame(rows)
    for key in keys:
        table[key] = _lever_column(list(table[key]))
    atomic_write_parquet(store / "points.parquet", table)
    headline = sweep_table(points, keys, values)
    for key in keys:
        headline[key] = _lever_column(list(headline[key]))
    atomic_write_parquet(store / "headline.parquet", headline)
    with atomic_file(store / "replications.parquet") as stream:
        writer, schema = None, None
        try:
            for point in points:
                frame = pd.read_parquet(point.folder / "tables" / "replications.parquet")
                frame = frame.drop(columns=[k for k in keys if k in frame.columns])
                levers = pd.DataFrame(
                    {"point": pd.Series([point.name] * len(frame), dtype="string")}
                    | {k: _lever_column([values[point.name][k]] * len(frame)) for k in keys}
                )
                frame = pd.concat([levers, frame.reset_index(drop=True)], axis=1)
                arrow = pa.Table.from_pandas(frame, preserve_index=False)
                if writer is None:
                    schema = arrow.schema
                    writer = pq.ParquetWriter(stream, schema)
                elif arrow.schema.names != schema.names:
                    raise SweepError(
                        f"{point.name}: its replications table has other columns than {points[0].name}'s "
                        "(the points ran different scenarios?); a store needs one table layout"
                    )
                writer.write_table(arrow.cast(schema))
        finally:
            if writer is not None:
                writer.close()
    first = points[0].summary
    atomic_write_json(
        store / STORE_INFO,
        {
            "format": STORE_FORMAT,
            "experiment": first.experiment,
            "question": first.question,
            "tables": list(STORE_TABLES),
            "levers": keys,
            "swept": swept,
            "points": [p.name for p in points],
            "points_left_out": left_out,
            "settings": {
                "levers": list(settings.levers),
                "labels": list(settings.labels),
                "reference": list(settings.reference),
                "contour": settings.contour,
            },
            "written": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "escalation_version": __version__,
        },
    )
    return store


class SweepStore:
    """A sweep's results store (:func:`write_store`), read back: what the aggregation computes from."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        try:
            self.info = json.loads((self.folder / STORE_INFO).read_text(encoding="utf-8"))
            if self.info.get("format") != STORE_FORMAT:
                raise ValueError(f"unknown format {self.info.get('format')!r}")
            self.points = pd.read_parquet(self.folder / "points.parquet")
        except (OSError, ValueError, KeyError) as err:
            raise SweepError(
                f"{self.folder}: not a readable sweep store ({err}); run the sweep again"
            ) from None
        self._row_groups: dict[str, list[int]] | None = None

    def settings(self) -> SweepSettings:
        """The sweep settings the store was written with (``experiment.sweep``)."""
        raw = self.info.get("settings") or {}
        return SweepSettings(
            levers=tuple(raw.get("levers", ())),
            labels=tuple(raw.get("labels", ())),
            reference=tuple(raw.get("reference", ())),
            contour=float(raw.get("contour", 0.5)),
        )

    def sweep_points(self) -> list[SweepPoint]:
        """The store's points, as the aggregation reads point folders (their folders need not exist)."""
        points = []
        for row in self.points.to_dict("records"):
            overrides = json.loads(row["overrides"])
            manifest = {c: row[c] for c in _MANIFEST_COLUMNS if c in row and not pd.isna(row[c])}
            manifest["overrides"] = overrides
            summary = RunSummary.from_dict(json.loads(row["summary"]), f"{self.folder}: point {row['point']}")
            folder = self.folder.parent / row["point"]
            points.append(SweepPoint(folder, row["point"], _overrides(manifest), manifest, summary))
        return points

    def replications(self, point: str) -> pd.DataFrame:
        """One point's replications (its row groups only), without the store's point and lever columns."""
        import pyarrow.parquet as pq

        handle = pq.ParquetFile(self.folder / "replications.parquet")
        if self._row_groups is None:
            index = handle.schema_arrow.get_field_index("point")
            groups: dict[str, list[int]] = {}
            for i in range(handle.metadata.num_row_groups):
                statistics = handle.metadata.row_group(i).column(index).statistics
                groups.setdefault(str(statistics.min), []).append(i)
            self._row_groups = groups
        drop = ["point", *self.info["levers"]]
        table = handle.read_row_groups(self._row_groups.get(point, []))
        frame = table.to_pandas()
        return frame.drop(columns=[c for c in drop if c in frame.columns])
