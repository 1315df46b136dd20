"""Writing a sensitivity run's folder: index tables, the design, scenario discovery, figures, summary last."""

from __future__ import annotations

import datetime as dt
import json
import re

import numpy as np
import pandas as pd

from escalation import __version__, plots
from escalation.discovery import Discovery, discover
from escalation.report import sensitivity_plots
from escalation.report.folder import RunFolder, atomic_write_parquet, atomic_write_text
from escalation.sensitivity import RANDOMNESS, SensitivityResult

SUMMARY_FILE = "sensitivity_summary.json"
TOP_FACTORS = 5  # factors per headline in the summary


def discover_in_design(result: SensitivityResult, outcome: str, min_coverage: float = 0.5) -> Discovery:
    """Scenario discovery of one threshold headline (``regional_war@180``) over the design's independent runs.

    Only the runs that are independent draws of the factors are used (Sobol's A and B rows; the first point
    of each Morris trajectory), and the randomness factor is left out: it is not a condition anyone could
    name.
    """
    design = result.design
    if outcome not in design.outputs:
        raise ValueError(
            f"sensitivity.discovery_outcome: unknown {outcome!r}; allowed: {', '.join(design.outputs)}"
        )
    rows = design.independent_rows()
    frame = design.frame().iloc[rows]
    x = frame[[f.name for f in design.factors if f.kind != RANDOMNESS]]
    return discover(
        x, frame[outcome].to_numpy() > 0.5, outcome, min_coverage=min_coverage, seed=design.spec.seed
    )


def _stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _title(kind: str, subject: str, horizon: int, label: str) -> str:
    if kind == "threshold":
        return f"What drives the risk of {label.lower()} by day {horizon}?"
    return f"What drives the cumulative attacks on {label} by day {horizon}?"


def write_sensitivity(
    result: SensitivityResult,
    discovery: Discovery | None,
    folder: RunFolder,
    *,
    experiment: str,
    formats: tuple[str, ...] = ("png", "svg"),
    figures: bool = True,
) -> dict:
    """Write tables, figures and (last) the summary of a sensitivity analysis; returns the summary."""
    design = result.design
    atomic_write_parquet(folder.tables / "sensitivity_indices.parquet", result.indices)
    atomic_write_parquet(folder.tables / "sensitivity_headlines.parquet", result.headlines())
    atomic_write_parquet(folder.tables / "sensitivity_design.parquet", design.frame())
    if discovery is not None:
        atomic_write_parquet(folder.tables / "discovery_boxes.parquet", discovery.boxes)
        atomic_write_parquet(folder.tables / "discovery_limits.parquet", discovery.limits)
        atomic_write_parquet(folder.tables / "discovery_trajectory.parquet", discovery.trajectory)
        atomic_write_parquet(folder.tables / "discovery_tree.parquet", discovery.leaves)
        atomic_write_text(folder.path / "discovery_tree.txt", discovery.tree_text or f"{discovery.note}\n")
    if figures:
        _write_figures(result, discovery, folder, experiment, formats)
    summary = _summary(result, discovery, experiment)
    atomic_write_text(folder.path / SUMMARY_FILE, json.dumps(summary, indent=2, allow_nan=False) + "\n")
    return summary


def _labels(result: SensitivityResult) -> dict[str, str]:
    scenario = result.design.ensemble.scenario
    labels = {t.name: t.label or t.name for t in scenario.thresholds}
    labels.update({a.name: a.label or a.name for a in scenario.actors})
    return labels


def _write_figures(result, discovery, folder, experiment, formats) -> None:
    design = result.design
    caption = plots.Caption(
        experiment=experiment,
        replications=len(design.unit),
        seed=design.ensemble.ensemble.seed,
        run_date=dt.date.today().isoformat(),
        version=__version__,
        scenario=design.ensemble.scenario.name,
    )
    labels = _labels(result)
    level = result.spec.level
    for name, (kind, subject, horizon) in design.headlines.items():
        rows = result.indices[result.indices["headline"] == name]
        if rows.empty or rows["variance"].iloc[0] == 0:
            continue  # the output did not vary: no index to draw
        title = _title(kind, subject, horizon, labels.get(subject, subject))
        if result.spec.method == "sobol":
            fig = sensitivity_plots.tornado_chart(rows, title=title, caption=caption, level=level)
            plots.save_figure(fig, folder.figures, f"tornado_{_stem(name)}", formats=formats)
            fig = sensitivity_plots.index_chart(rows, title=title, caption=caption, level=level)
            plots.save_figure(fig, folder.figures, f"indices_{_stem(name)}", formats=formats)
        else:
            fig = sensitivity_plots.morris_chart(rows, title=title, caption=caption)
            plots.save_figure(fig, folder.figures, f"morris_{_stem(name)}", formats=formats)
    if discovery is not None and len(discovery.boxes):
        frame = design.frame()
        limits = discovery.limits[discovery.limits["box"] == 1].copy()
        limits["range_low"] = [float(frame[p].min()) for p in limits["parameter"]]
        limits["range_high"] = [float(frame[p].max()) for p in limits["parameter"]]
        trajectory = discovery.trajectory[discovery.trajectory["box"] == 1]
        subject, _, horizon = discovery.outcome.partition("@")
        fig = sensitivity_plots.prim_chart(
            trajectory,
            limits,
            title=f"Under which conditions: {labels.get(subject, subject).lower()} by day {horizon}",
            caption=caption,
        )
        plots.save_figure(fig, folder.figures, f"prim_{_stem(discovery.outcome)}", formats=formats)


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _summary(result: SensitivityResult, discovery: Discovery | None, experiment: str) -> dict:
    design, spec = result.design, result.spec
    key = "ST" if spec.method == "sobol" else "mu_star"
    headlines = {}
    for row in result.headlines().itertuples():
        ranking = result.ranking(row.headline).head(TOP_FACTORS)
        columns = (
            ["S1", "S1_conf", "ST", "ST_conf"]
            if spec.method == "sobol"
            else ["mu_star", "mu_star_conf", "sigma"]
        )
        headlines[row.headline] = {
            "kind": row.kind,
            "subject": row.subject,
            "horizon_days": int(row.horizon_days),
            "mean": float(row.mean),
            "variance": float(row.variance),
            "top_factors": [
                {"factor": r["factor"], **{c: _finite(r[c]) for c in columns}}
                for _, r in ranking.iterrows()
                if np.isfinite(r[key])
            ],
        }
    summary = {
        "kind": "sensitivity",
        "experiment": experiment,
        "method": spec.method,
        "base_samples": spec.base_samples,
        "level": spec.level,
        "factors": [{"name": f.name, "kind": f.kind} for f in design.factors],
        "design_runs": len(design.unit),
        "simulated_replications": design.ensemble.replications,
        "simulation_seconds": round(design.elapsed_seconds, 3),
        "calibration_hash": result.calibration_hash,
        "headlines": headlines,
    }
    if discovery is not None:
        summary["discovery"] = {
            "outcome": discovery.outcome,
            "runs": discovery.runs,
            "positives": discovery.positives,
            "note": discovery.note,
            "boxes": [
                {
                    **{
                        c: (int(v) if c in ("box", "restricted_dimensions") else float(v))
                        for c, v in box.items()
                    },
                    "limits": discovery.limits[discovery.limits["box"] == box["box"]][
                        ["parameter", "low", "high"]
                    ].to_dict("records"),
                }
                for box in discovery.boxes.to_dict("records")
            ],
        }
    return summary


def headline_lines(summary: dict) -> list[str]:
    """A few lines for the terminal: each threshold headline at its longest horizon and its top factors."""
    method = summary["method"]
    key = "ST" if method == "sobol" else "mu_star"
    lines = [
        "",
        f"Sensitivity ({method}, N = {summary['base_samples']}): {len(summary['factors'])} factors, "
        f"{summary['design_runs']:,} design runs",
    ]
    frame = pd.DataFrame([{"name": n, **h} for n, h in summary["headlines"].items()])
    for _, row in frame[frame["horizon_days"] == frame["horizon_days"].max()].iterrows():
        tops = (
            ", ".join(f"{t['factor']} {t[key]:.2f}" for t in row["top_factors"][:3]) or "output did not vary"
        )
        lines.append(f"  {row['name']:<32} mean {row['mean']:.3g}; {key}: {tops}")
    found = summary.get("discovery")
    if found:
        for box in found["boxes"]:
            ranges = "; ".join(
                f"{lim['parameter']} in [{lim['low']:.3g}, {lim['high']:.3g}]" for lim in box["limits"]
            )
            remaining = box.get("coverage_of_remaining", box["coverage"])
            of_rest = f" ({remaining:.2f} of those left)" if box["box"] > 1 else ""
            lines.append(
                f"  PRIM box {box['box']} for {found['outcome']}: coverage {box['coverage']:.2f}{of_rest}, "
                f"density {box['density']:.2f}: {ranges}"
            )
        if found["note"]:
            lines.append(f"  Discovery: {found['note']}")
    return lines
