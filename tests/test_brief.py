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
    assert len(expected) == 4 * 3  # four named thresholds by three horizons
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
        assert (pixels.min(axis=2) < 0.5).mean() > 0.002, page  # not a blank page
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
        assert threshold.assumptions.drivers[0].parameter in text
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
