"""Start-up: the package, the command module and every command's ``--help`` import no heavy library.

Each check runs in a fresh interpreter and lists the heavy libraries in ``sys.modules`` afterwards, so it
fails as soon as someone adds an eager import of one of them back (docs/architecture.md, "Imports").
Timings are measured in ``benchmarks/bench_cli.py``, never asserted here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = (
    "scipy",
    "pandas",
    "matplotlib",
    "pyarrow",
    "mesa",
    "sklearn",
    "SALib",
    "ema_workbench",
    "streamlit",
    "ray",
)
REPORT_HEAVY = f"""
import sys
print(sorted(m for m in sys.modules if m.split('.')[0] in {set(HEAVY)!r}))
"""


def python(code: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPROFILEIMPORTTIME"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def heavy_modules(done: subprocess.CompletedProcess) -> list[str]:
    assert done.returncode == 0, done.stderr
    return eval(done.stdout.strip().splitlines()[-1])  # the list printed by REPORT_HEAVY


def console_scripts() -> dict[str, str]:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)["project"]["scripts"]


def test_the_heavy_libraries_are_detected_when_imported():
    # The check itself: a module that imports pandas shows up (so an empty list below means something).
    done = python("import escalation.cli\nimport pandas\n" + REPORT_HEAVY)
    assert "pandas" in heavy_modules(done)


def test_importing_the_package_and_the_command_imports_no_heavy_library():
    done = python("import escalation\nimport escalation.cli\nimport escalation.schema\n" + REPORT_HEAVY)
    assert heavy_modules(done) == []


@pytest.mark.parametrize("command", sorted(console_scripts()))
def test_help_of_every_command_imports_no_heavy_library(command, tmp_path):
    module, function = console_scripts()[command].split(":")
    code = f"""
        import contextlib, importlib, io, sys
        sys.argv = [{command!r}, "--help"]
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                getattr(importlib.import_module({module!r}), {function!r})()
            code = 0
        except SystemExit as done:
            code = done.code or 0
        assert code == 0, code
        assert "usage" in out.getvalue().lower() or "== Config groups" in out.getvalue(), out.getvalue()
    """
    done = python(textwrap.dedent(code) + REPORT_HEAVY, cwd=tmp_path)
    assert heavy_modules(done) == []
    assert not (tmp_path / "results").exists()


def test_the_command_help_is_hydras_own_help(tmp_path):
    # escalation --help lists the config groups from one copy of Hydra's config repository; the text must be
    # what Hydra's own --help prints, for an extra config folder and overrides too.
    experiments = tmp_path / "configs" / "experiment"
    experiments.mkdir(parents=True)
    (experiments / "mine.yaml").write_text("# @package _global_\nexperiment:\n  name: mine\n")
    args = [
        "--config-dir",
        str(tmp_path / "configs"),
        "experiment=mine",
        "ensemble.replications=77",
        "--help",
    ]
    ours = subprocess.run(
        [sys.executable, "-m", "escalation", *args], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    hydras = python(
        f"""
        import os, sys
        from escalation import cli
        os.environ["HYDRA_FULL_ERROR"] = "1"
        cli._register_schema()
        sys.argv = ["escalation", *{args!r}]
        cli._hydra_main()  # Hydra's own app help (it exits)
        """,
        cwd=tmp_path,
    )
    assert ours.returncode == 0, ours.stderr
    assert hydras.returncode == 0, hydras.stderr
    assert "experiment: " in ours.stdout and "mine" in ours.stdout.split("experiment: ", 1)[1].splitlines()[0]
    assert "replications: 77" in ours.stdout
    assert ours.stdout == hydras.stdout


def test_a_bad_override_with_help_is_one_line_and_exit_2(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "escalation", "--help", "experiment=nope"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("escalation: error: ")
    assert "experiment/nope" in lines[0] and "baseline" in lines[0]


def test_the_public_names_are_imported_on_first_use():
    import escalation

    for name in escalation.__all__:
        assert getattr(escalation, name) is not None
    from escalation.calibration import calibrate

    assert escalation.calibrate is calibrate
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        escalation.not_a_name  # noqa: B018


def test_a_run_ends_without_teardown_yet_writes_and_flushes_everything(tmp_path):
    # The command's own process ends with os._exit after the exit handlers: the printed summary, the job log
    # (closed by logging's exit handler) and the manifest must all be complete, and the exit code 0.
    args = [
        "ensemble.replications=20",
        "ensemble.progress=false",
        "calibration.draws=200",
        "experiment.figures=false",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "escalation", *args], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    (folder,) = (tmp_path / "results" / "baseline").iterdir()
    assert done.stdout.rstrip().splitlines()[-1] == f"Run folder: {folder}"
    log = (folder / "escalation.log").read_text()
    assert log.rstrip().endswith(f"Run folder: {folder}")
    assert json.loads((folder / "manifest.json").read_text())["status"] == "ok"


def test_main_called_by_another_program_leaves_its_process_alone():
    # Under pytest, __main__ is pytest's: ending the process here would end the test run.
    from escalation import cli

    assert not cli._is_command_process()
    assert cli._end_process(0) is None
