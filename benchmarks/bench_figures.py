"""Figure benchmark: the time a baseline run spends drawing and writing its figures.

Makes one real result in process (the configured experiment, ``ensemble=quick`` by default: calibration
and simulation are not timed), then times what :func:`escalation.report.experiment.write_experiment` does
for figures: :func:`~escalation.report.experiment._write_figures` (fans, ladder, thresholds and, with arms,
the arms comparisons) and the fit checks (:func:`~escalation.report.experiment.write_fit_checks`), in the
run's own formats (PNG and SVG). Each repeat writes into a fresh folder; the first repeat is a warm-up of
matplotlib's font cache and is timed too (it is what a fresh command pays). Prints min and median per
figure kind and in total. BLAS is pinned to one thread.

Usage:
    python benchmarks/bench_figures.py                       # baseline, 5 repeats
    python benchmarks/bench_figures.py --experiment us_posture --repeats 3
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import collections  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402

from hydra import compose, initialize_config_dir  # noqa: E402

from escalation import cli, plots  # noqa: E402
from escalation.experiment import run_experiment  # noqa: E402
from escalation.report import experiment as report  # noqa: E402


def make_result(experiment: str, ensemble: str):
    cli._register_schema()
    with initialize_config_dir(config_dir=str(Path(cli.CONFIG_DIR)), version_base="1.3"):
        cfg = compose(
            config_name="config",
            overrides=[f"experiment={experiment}", f"ensemble={ensemble}", "ensemble.progress=false"],
        )
    inputs = cli.prepare_inputs(cfg)
    calibration = cli.calibrate_inputs(cfg, inputs)
    return run_experiment(inputs.spec, inputs.ensemble, inputs.events, calibration)


def timed_figures(result, directory: Path) -> dict[str, float]:
    """Seconds per figure kind (draw + save) for one full set of the run's figures."""
    spent: dict[str, float] = collections.defaultdict(float)
    originals = {}

    def wrap(name):
        original = getattr(plots, name)
        originals[name] = original

        def timed(*args, **kwargs):
            started = time.perf_counter()
            figure = original(*args, **kwargs)
            spent[f"{name} (draw)"] += time.perf_counter() - started
            return figure

        return timed

    for name in ("fan_chart", "ladder_chart", "threshold_chart", "arms_chart", "qq_uniform"):
        setattr(plots, name, wrap(name))
    save = plots.save_figure

    def timed_save(*args, **kwargs):
        started = time.perf_counter()
        written = save(*args, **kwargs)
        spent["save_figure (png+svg)"] += time.perf_counter() - started
        return written

    plots.save_figure = timed_save
    try:
        folder = SimpleNamespace(figures=directory, path=directory)
        started = time.perf_counter()
        report._write_figures(result, folder)
        spec = result.spec
        if result.calibration is not None:
            reference = next(a for a in spec.arms if a.name == spec.reference)
            report.write_fit_checks(
                result.calibration, folder, report._caption(result, reference, all_arms=True),
                spec.figure_formats,
            )  # fmt: skip
        spent["total"] = time.perf_counter() - started
    finally:
        for name, original in originals.items():
            setattr(plots, name, original)
        plots.save_figure = save
    return dict(spent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="baseline")
    parser.add_argument("--ensemble", default="quick")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    result = make_result(args.experiment, args.ensemble)
    runs = []
    with tempfile.TemporaryDirectory() as root:
        for k in range(args.repeats):
            runs.append(timed_figures(result, Path(root) / f"run{k}"))
        count = len(list((Path(root) / "run0").glob("*.png")))
    print(f"{args.experiment}: {count} figures (PNG + SVG each), {args.repeats} repeats")
    print(f"{'':28s} {'first':>7s} {'min':>7s} {'median':>7s}   seconds")
    for key in sorted(runs[0], key=lambda k: (k == "total", k)):
        values = [run.get(key, 0.0) for run in runs]
        print(f"{key:28s} {values[0]:7.3f} {min(values):7.3f} {statistics.median(values):7.3f}")


if __name__ == "__main__":
    main()
