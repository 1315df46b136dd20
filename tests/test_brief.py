"""The briefing pack: written at the end of a run (``experiment.brief=true``) and by ``escalation-brief``.

The PDF is checked the way a reader meets it: its text extracted with ``pdftotext`` and its pages rendered
with ``pdftoppm`` (poppler-utils; the tests that need them skip with the reason when they are missing).
"""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from escalation.report.brief import (
    HTML_NAME,
    PDF_NAME,
    BriefError,
    build_brief,
    interval,
    percent,
    write_brief,
)
from escalation.report.summary import RunSummary

POPPLER = shutil.which("pdftotext") and shutil.which("pdftoppm")
needs_poppler = pytest.mark.skipif(
    not POPPLER, reason="pdftotext/pdftoppm not installed (apt-get install -y poppler-utils)"
)


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    """A small baseline run that writes its brief at the end (experiment.brief=true)."""
    root = tmp_path_factory.mktemp("brief")
    folder = root / "run"
    done = subprocess.run(
        [sys.executable, "-m", "escalation", "ensemble.replications=200", "experiment.brief=true",
         f"hydra.run.dir={folder}"],
        cwd=root, capture_output=True, text=True, timeout=300,
        env={"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return folder


def headline_lines(summary: RunSummary) -> list[tuple[str, str, str, str, str]]:
    """What each headline row must say, computed from summary.json alone."""
    arm = summary.arms[summary.reference_arm]
    return [
        (
            t.label,
            f"day {h}",
            percent(v.probability),
            interval(v.lower, v.upper),
            interval(v.parameter_lower, v.parameter_upper),
        )
        for t in arm.thresholds.values()
        for h, v in sorted(t.by_day.items())
    ]


def test_the_run_writes_its_brief_when_asked(run_folder):
    assert (run_folder / PDF_NAME).stat().st_size > 10_000
    page = (run_folder / HTML_NAME).read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    # Self-contained: the figures are embedded and nothing is fetched.
    assert "data:image/png;base64," in page
    assert "http://" not in page and "https://" not in page and "<script" not in page


@needs_poppler
def test_pdf_headline_numbers_equal_summary_json(run_folder):
    summary = RunSummary.load(run_folder / "summary.json")
    text = subprocess.run(
        ["pdftotext", "-layout", str(run_folder / PDF_NAME), "-"], capture_output=True, text=True, check=True
    ).stdout
    lines = [" ".join(line.split()) for line in text.splitlines()]
    expected = headline_lines(summary)
    assert len(expected) == 5 * 3  # five named thresholds by three horizons
    for row in expected:
        assert " ".join(row) in lines, row
    assert summary.question.split()[0] in text
    manifest = json.loads((run_folder / "manifest.json").read_text())
    for fact in (manifest["data_hash"], manifest["calibration_hash"], str(manifest["seed"])):
        assert fact in text.replace("\n", "")


def test_html_headline_numbers_equal_summary_json(run_folder):
    summary = RunSummary.load(run_folder / "summary.json")
    page = (run_folder / HTML_NAME).read_text(encoding="utf-8")
    for row in headline_lines(summary):
        assert "<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" in page, row


@needs_poppler
def test_pdf_pages_render_with_content(run_folder, tmp_path):
    subprocess.run(
        ["pdftoppm", "-r", "40", "-png", str(run_folder / PDF_NAME), str(tmp_path / "page")], check=True
    )
    import matplotlib.image

    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 3  # text, then the figures
    for page in pages:
        pixels = matplotlib.image.imread(page)[..., :3]
        assert pixels.shape[0] > pixels.shape[1]  # A4 portrait
        # Not a blank page: at 40 dpi a page with only its footer has 0.00001 of its pixels dark, one with a
        # short table (the provenance) about 0.0016.
        assert (pixels.min(axis=2) < 0.5).mean() > 0.0005, page
    # A figure page carries colour (the embedded charts), not only black text.
    spread = [np.ptp(matplotlib.image.imread(p)[..., :3], axis=2).max() for p in pages]
    assert max(spread) > 0.3


def test_brief_of_a_baseline_run_takes_under_ten_seconds(run_folder, tmp_path):
    started = time.perf_counter()
    write_brief(run_folder, tmp_path)
    assert time.perf_counter() - started < 10.0


def test_brief_says_what_the_numbers_rest_on_and_the_caveats_that_apply(run_folder):
    text = build_brief(run_folder).text()
    summary = RunSummary.load(run_folder / "summary.json")
    flagged = [
        t
        for t in summary.arms[summary.reference_arm].thresholds.values()
        if t.assumptions and t.assumptions.rests_on_assumptions
    ]
    for threshold in flagged:
        if threshold.assumptions.drivers:
            assert threshold.assumptions.drivers[0].parameter in text
        else:  # no parameter's effect detected alone: the table says so
            assert "none detected alone" in text
    assert "Regional war is one rule" in text  # the baseline tracks regional_war
    assert "A lever fixed to a number" not in text  # only experiments with arms fix levers


def run_brief(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from escalation.report.brief import main; main()", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize("kind", ["missing", "empty", "unfinished"])
def test_a_bad_folder_is_one_line_exit_2_and_nothing_written(kind, tmp_path, run_folder):
    folder = tmp_path / "folder"
    if kind != "missing":
        folder.mkdir()
    if kind == "unfinished":
        manifest = json.loads((run_folder / "manifest.json").read_text()) | {"status": "running"}
        (folder / "manifest.json").write_text(json.dumps(manifest))
        shutil.copy(run_folder / "summary.json", folder / "summary.json")
    out = tmp_path / "out"
    done = run_brief(str(folder), "--out", str(out))
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and str(folder) in done.stderr
    assert not out.exists()
    with pytest.raises(BriefError):
        build_brief(folder)


# --------------------------------------------------------------------------------------------------------
# Sweep and backtest folders made by the command
# --------------------------------------------------------------------------------------------------------

PINNED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}


def escalation(cwd: Path, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "escalation", *args], cwd=cwd, capture_output=True, text=True, timeout=300,
        env=PINNED,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def pdf_lines(pdf: Path) -> list[str]:
    """The PDF's text as a reader finds it, one line of the page a line, runs of spaces made one."""
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    return [" ".join(line.split()) for line in text.splitlines()]


@pytest.fixture(scope="module")
def backtest_folder(tmp_path_factory) -> Path:
    """A real backtest folder: the built-in backtest experiment at 200 replications."""
    root = tmp_path_factory.mktemp("backtest")
    escalation(root, "experiment=backtest", "ensemble.replications=200", "calibration.draws=300",
               f"hydra.run.dir={root / 'run'}")  # fmt: skip
    return root / "run"


@needs_poppler
def test_the_brief_of_a_real_backtest_folder_prints_its_summary_numbers(backtest_folder, tmp_path):
    write_brief(backtest_folder, tmp_path)
    lines = pdf_lines(tmp_path / PDF_NAME)
    summary = json.loads((backtest_folder / "summary.json").read_text())
    assert any(f"at the cut-off {summary['cutoff']}" in line for line in lines)
    for t in summary["thresholds"]:
        happened = "unknown" if t["happened"] is None else ("yes" if t["happened"] else "no")
        brier = "\u2013" if t["brier"] is None else f"{t['brier']:.4g}"
        row = f"{t['label']} day {t['horizon_days']} {percent(t['probability'])} {happened} {brier}"
        assert any(line.startswith(row) for line in lines), row
    scores = summary["threshold_scores"]
    assert any(f"{scores['forecasts']} forecasts scored" in line for line in lines)
    for key in ("observations", "days_scored", "replications", "seed"):
        assert f"{key} {summary[key]}" in lines, key
    table = pd.read_parquet(backtest_folder / "tables" / "backtest_scores.parquet")
    for row in table.itertuples():
        assert any(
            line.startswith(f"{row.forecaster} {row.date.date().isoformat()} {row.day} {row.observed}")
            and f"{row.p_at_least_observed:.4g}" in line
            for line in lines
        ), row
    assert "backtest fan us" in lines


def _sweep_rows(folder: Path) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    info = json.loads((folder / "sweep.json").read_text())
    table = pd.read_parquet(folder / "sweep_summary.parquet")
    differences = pd.read_parquet(folder / "sweep_differences.parquet")
    return info, table, differences


def check_sweep_brief(folder: Path, out: Path) -> None:
    """Every headline and difference number in the sweep's brief equals the sweep's tables."""
    write_brief(folder, out)
    lines = pdf_lines(out / PDF_NAME)
    info, table, differences = _sweep_rows(folder)
    (lever,) = info["levers"]
    horizon = int(table["horizon_days"].max())
    assert any(f"{info['points_complete']} points" in line for line in lines)
    # A long event label wraps onto a second line of its cell; its first words start the row.
    for row in table[table["horizon_days"] == horizon].itertuples():
        value = getattr(row, "_" + str(list(table.columns).index(lever) + 1))
        first_words = " ".join(row.label.split()[:2])
        numbers = f"{percent(row.probability)} {interval(row.lower, row.upper)}"
        assert any(line.startswith(f"{value:g} {first_words}") and numbers in line for line in lines), (
            value,
            row.label,
            numbers,
        )
    changed = differences[
        (differences["horizon_days"] == horizon) & (differences["point"] != info["reference_point"])
    ]
    assert len(changed) > 0
    for row in changed.itertuples():
        sign = "+" if row.difference > 0 else ("\u2212" if row.difference < 0 else "\u00b1")
        resolved = "yes" if row.lower > 0 or row.upper < 0 else "no"
        text = f"{sign}{abs(100 * row.difference):.1f} pp"
        assert any(text in line and line.endswith(resolved) and row.label.split()[0] in line
                   for line in lines), (row.label, text)  # fmt: skip
    html_page = (out / HTML_NAME).read_text(encoding="utf-8")
    assert html_page.count("<figure>") == len(list((folder / "figures").glob("*.png")))


@pytest.mark.slow
@needs_poppler
def test_the_brief_of_a_real_two_point_sweep_equals_its_tables(tmp_path):
    escalation(tmp_path, "experiment=air_defence_sweep", "scenario.drivers.air_defence.factor=1.0,0.5",
               "ensemble.replications=80", "ensemble.chunk_size=40", "calibration.draws=300")  # fmt: skip
    (folder,) = (tmp_path / "results" / "sweeps").iterdir()
    check_sweep_brief(folder, tmp_path / "brief")


@needs_poppler
def test_the_brief_of_a_sweep_folder_aggregated_from_real_points_equals_its_tables(run_folder, tmp_path):
    # The fast version of the test above: two points made from the module's real run (its summary with the
    # lever's value written in), aggregated by the sweep code itself, without figures.
    from escalation.report.sweep import aggregate_sweep

    sweep = tmp_path / "sweep"
    for value, shift in ((1.0, 0.0), (0.5, -0.1)):
        point = sweep / f"scenario.drivers.air_defence.factor={value}"
        shutil.copytree(run_folder, point, ignore=shutil.ignore_patterns("figures", "brief.*", "*.lock"))
        manifest = json.loads((point / "manifest.json").read_text())
        manifest["overrides"] = [f"scenario.drivers.air_defence.factor={value}"]
        (point / "manifest.json").write_text(json.dumps(manifest))
        if shift:
            summary = json.loads((point / "summary.json").read_text())
            for arm in summary["arms"].values():
                for threshold in arm["thresholds"].values():
                    for estimate in threshold["by_day"].values():
                        for key in ("probability", "lower", "upper"):
                            estimate[key] = max(0.0, estimate[key] + shift)
            (point / "summary.json").write_text(json.dumps(summary))
    try:
        aggregate_sweep(sweep, formats=())
    except Exception as err:  # the aggregate needs what a real multirun leaves; say which part is missing
        pytest.skip(f"a sweep cannot be aggregated from copied run folders here: {err}")
    check_sweep_brief(sweep, tmp_path / "brief")
