"""Bad input to the escalation command gets one line, exit code 2, and no run folder that looks complete.

The project standard (README, "Running experiments"): ``escalation: error: <key or file>: <what is wrong>;
allowed: ...`` on standard error, exit code 2, no traceback; a run folder made before the error says
``failed`` and holds no ``summary.json``. Each case is a subprocess in a temporary working directory, as a
user would run it, with a tiny ensemble; an error case returns within seconds. Each subprocess has an
address-space limit, so that a command that tried to allocate what the memory check refuses fails at once
instead of filling the machine.
"""

from __future__ import annotations

import csv
import io
import json
import resource
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

TINY = [
    "ensemble.replications=60",
    "ensemble.chunk_size=30",
    "ensemble.progress=false",
    "calibration.draws=300",
    "experiment.figures=false",
]
ADDRESS_SPACE_BYTES = 4 * 2**30
REPORT = (
    "import sys; from escalation.cli import report_main; sys.argv[0] = 'escalation-report'; report_main()"
)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_BYTES, ADDRESS_SPACE_BYTES))


def run(cwd: Path, *args: str, code: str | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    """``escalation`` with the arguments, or the Python ``code`` with them."""
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "escalation"]
    return subprocess.run(
        [*command, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_limit_memory,
    )


def with_tiny(args: list[str]) -> list[str]:
    """The arguments with the tiny ensemble, except the keys the arguments set themselves."""
    keys = {a.split("=", 1)[0].lstrip("+~") for a in args if "=" in a}
    return [*args, *(a for a in TINY if a.split("=", 1)[0] not in keys)]


def assert_one_line_error(done: subprocess.CompletedProcess, cwd: Path, prefix: str = "escalation") -> str:
    assert done.returncode == 2, (done.returncode, done.stderr[-3000:])
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr[-3000:]
    assert lines[0].startswith(f"{prefix}: error: "), lines[0]
    assert "Traceback" not in done.stderr
    for manifest in cwd.rglob("manifest.json"):
        assert json.loads(manifest.read_text())["status"] == "failed", manifest
        assert not (manifest.parent / "summary.json").exists(), manifest
    return lines[0]


# (arguments, what the one line must say); the tiny ensemble is added to each.
ERRORS = [
    # 1. Sizes that cannot fit in memory: refused with the size that would fit.
    pytest.param(
        ["ensemble.replications=1000000000000"],
        [
            "ensemble.replications: 1,000,000,000,000 replications need about",
            "replications fit in this machine's memory (",
        ],
        id="memory-replications",
    ),
    pytest.param(
        ["scenario.horizon_days=1000000"],
        ["scenario.horizon_days: 1,000,000 days need about", "days fit in this machine's memory ("],
        id="memory-horizon",
    ),
    pytest.param(
        ["calibration.draws=1000000000"],
        ["calibration.draws: 1,000,000,000 draws need about", "draws fit in this machine's memory ("],
        id="memory-calibration-draws",
    ),
    # 3. Unknown keys added with + (Hydra's force_add bypasses the schema), and a new entry via +.
    pytest.param(
        ["+some.unknown.key=1"],
        ["some: unknown key; allowed: scenario, actors, policy, ensemble, data, calibration, experiment"],
        id="plus-unknown-top-level-key",
    ),
    pytest.param(
        ["+ensemble.foo=1"],
        ["ensemble.foo: unknown key; allowed: replications, chunk_size, workers, seed, progress"],
        id="plus-unknown-key-in-group",
    ),
    pytest.param(
        ["++actors.us.shield=1"],
        [
            "actors.us.shield: unknown key; allowed: kind, patron, protector, max_rung, interception, "
            "restraint, restraint_sensitivity, cost_memory_days, label"
        ],
        id="force-add-unknown-key",
    ),
    pytest.param(
        ["+scenario.thresholds.first_strike={min_rung: 4}"],
        ["scenario.thresholds.first_strike:", "allowed: '++scenario.thresholds={first_strike: {...}}'"],
        id="plus-new-entry-says-how",
    ),
    # 4. A prior on the command line replaces the whole prior: a missing parameter is an error.
    pytest.param(
        ["actors.us.interception={dist: beta, a: 8}"],
        [
            "actors.us.interception: a beta distribution takes exactly a, b; missing b; "
            "allowed: {dist: beta, a: <number>, b: <number>}",
            "replaces the whole prior",
        ],
        id="beta-prior-missing-b",
    ),
    pytest.param(
        ["actors.us.interception={a: 8}"],
        ["actors.us.interception.dist: no distribution family given; allowed: beta (a, b), gamma (a, scale)"],
        id="prior-without-family",
    ),
    # 5. An unknown family, or a new family given incompletely: our message, not Hydra's "append with +".
    pytest.param(
        ["actors.us.interception={dist: cauchy, loc: 0, scale: 1}"],
        ["actors.us.interception.dist: unknown distribution 'cauchy'; allowed: beta (a, b), gamma"],
        id="unknown-distribution",
    ),
    pytest.param(
        ["actors.us.interception={dist: uniform, loc: 0}"],
        [
            "actors.us.interception: a uniform distribution takes exactly loc, scale; missing scale",
            "replaces the whole prior",
        ],
        id="new-family-incomplete",
    ),
    # 6. Values Hydra's grammar cannot read: say how to quote them.
    pytest.param(
        ["data.path=événements.csv"],
        ["data.path: ", "quote the value: 'data.path=\"événements.csv\"'"],
        id="non-ascii-path",
    ),
    pytest.param(
        ["data.path=my events (1).csv"],
        ["quote the value: 'data.path=\"my events (1).csv\"'"],
        id="path-with-spaces-and-brackets",
    ),
    pytest.param(
        ["data.path=events,2023.csv"],
        [
            "data.path: 'events,2023.csv' lists values to sweep",
            "quote the value: 'data.path=\"events,2023.csv\"'",
        ],
        id="comma-in-a-single-run",
    ),
    # 7. Folder names must stay under results/.
    pytest.param(
        ["experiment.name=../../somewhere"],
        ["experiment.name: '../../somewhere' is not a plain name", "allowed: letters, digits"],
        id="experiment-name-escapes",
    ),
    pytest.param(
        ["-m", "experiment.question=a,../../../../../x"],
        ["experiment.question: the swept value '../../../../../x' contains '/' or '..'"],
        id="swept-value-escapes",
    ),
    pytest.param(
        ["-m", "data.path=a/../../../../../x.csv", "policy.us.proportionality=0.1,0.2"],
        ["data.path: 'a/../../../../../x.csv' would put the sweep's point folders outside its sweep folder"],
        id="fixed-value-of-a-sweep-escapes",
    ),
    # 9. Callbacks are code: never from an override.
    pytest.param(
        ["hydra.callbacks.x._target_=builtins.print"],
        ["hydra.callbacks.x._target_: the command's callbacks cannot be changed"],
        id="callback-override",
    ),
    # 10. Fresh malformed overrides that did not get the one-line treatment (or named no key).
    pytest.param(["calibration.seed=-1"], ["calibration.seed: must be an integer >= 0, got -1"], id="seed"),
    pytest.param(
        ["calibration.priors=flat"],
        ["calibration.priors: unknown 'flat'; allowed: reference_class, hand"],
        id="unknown-priors",
    ),
    pytest.param(
        ["experiment.sweep.contour=2"],
        ["experiment.sweep.contour: must be a probability in (0, 1), got 2"],
        id="contour-not-a-probability",
    ),
    pytest.param(["experiment.horizons=[]"], ["experiment.horizons: no horizon given"], id="no-horizons"),
    pytest.param(
        ["policy.us.threshold={dist: gamma, a: -1, scale: 1}"],
        ["policy.us.threshold: invalid gamma parameters (a: -1, scale: 1); allowed: a > 0, scale > 0"],
        id="gamma-with-negative-shape",
    ),
    pytest.param(
        ["experiment.arms={x: {label: X, set: [policy.us.threshold=80]}}"],
        ["experiment.arms: ", "quote each text inside it"],
        id="unquoted-override-inside-a-mapping",
    ),
]


# The errors found only once the run has its folder (which then says failed); the others are found when the
# command line is checked, before Hydra makes any folder.
FOUND_IN_THE_RUN = {
    "memory-replications",
    "memory-horizon",
    "memory-calibration-draws",
    "seed",
    "unknown-priors",
    "contour-not-a-probability",
    "no-horizons",
}


@pytest.mark.parametrize(("args", "expected"), ERRORS)
def test_bad_input_gets_one_line_and_exit_code_2(tmp_path, request, args, expected):
    cwd = tmp_path / "a" / "b" / "c"  # deep: a path that escapes lands inside tmp_path, where it is seen
    cwd.mkdir(parents=True)
    line = assert_one_line_error(run(cwd, *with_tiny(args)), cwd)
    for text in expected:
        assert text in line
    assert "To append to your config use +" not in line
    outside = [p for p in tmp_path.rglob("*") if cwd not in (p, *p.parents) and p not in cwd.parents]
    assert not outside, outside
    if request.node.callspec.id not in FOUND_IN_THE_RUN:
        assert not (cwd / "results").exists()


@pytest.mark.parametrize(
    ("name", "experiment", "expected"),
    [
        (
            "callback",
            {
                "hydra": {
                    "callbacks": {"evil": {"_target_": "shutil.copyfile", "src": "{src}", "dst": "{dst}"}}
                }
            },
            "hydra.callbacks.evil: refused 'shutil.copyfile': a config may not add code for Hydra to run",
        ),
        (
            "logging",
            {
                "hydra": {
                    "job_logging": {
                        "handlers": {"evil": {"()": "shutil.copyfile", "src": "{src}", "dst": "{dst}"}}
                    }
                }
            },
            "hydra.job_logging.handlers.evil.(): refused 'shutil.copyfile'",
        ),
        (
            "name",
            {"experiment": {"name": "../../outside"}},
            "experiment.name: '../../outside' is not a plain name",
        ),
        (
            "sweep",
            {"hydra": {"mode": "MULTIRUN", "sweeper": {"params": {"experiment.question": "a/../../../x,b"}}}},
            "experiment.question: the swept value 'a/../../../x' contains '/' or '..'",
        ),
        (
            "extra_key",
            {"experiment": {"shield": 1}},
            "experiment/extra_key: experiment.shield: unknown key; allowed:",
        ),
    ],
)
def test_experiment_files_are_configuration_not_code(tmp_path, name, experiment, expected):
    src, dst = tmp_path / "secret.txt", tmp_path / "copied.txt"
    src.write_text("secret")
    text = json.dumps(experiment).replace("{src}", str(src)).replace("{dst}", str(dst))
    experiment = json.loads(text)
    experiment.setdefault("experiment", {}).setdefault("name", name)
    folder = tmp_path / "my_configs" / "experiment"
    folder.mkdir(parents=True)
    (folder / f"{name}.yaml").write_text("# @package _global_\n" + json.dumps(experiment))
    cwd = tmp_path / "a" / "b"
    cwd.mkdir(parents=True)
    line = assert_one_line_error(
        run(cwd, "--config-dir", str(tmp_path / "my_configs"), f"experiment={name}", *TINY), cwd
    )
    assert expected in line
    assert not dst.exists()
    assert not (tmp_path / "outside").exists() and not (cwd / "results").exists()


@pytest.mark.slow
def test_what_fits_still_runs_and_a_plain_experiment_file_is_accepted(tmp_path):
    """The README's own experiment file, a new prior family and a new threshold: the checks let them run."""
    folder = tmp_path / "my_configs" / "experiment"
    folder.mkdir(parents=True)
    (folder / "restraint.yaml").write_text(
        "# @package _global_\n"
        "experiment:\n"
        "  name: restraint\n"
        "  question: Does Iran halving the militias' attacks change the risk?\n"
        "  reference_arm: as_calibrated\n"
        "  arms:\n"
        "    as_calibrated: {label: As calibrated, set: []}\n"
        '    restrained: {label: Militias restrained by half, set: ["actors.militias.restraint=0.5"]}\n'
    )
    done = run(
        tmp_path,
        "--config-dir",
        "my_configs",
        "experiment=restraint",
        "actors.us.interception={dist: uniform, loc: 0, scale: 1}",
        "++scenario.thresholds={first_strike: {min_rung: 4, label: First strike}}",
        *TINY,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (run_folder,) = (tmp_path / "results" / "restraint").iterdir()
    summary = json.loads((run_folder / "summary.json").read_text())
    assert "first_strike" in summary["arms"]["restrained"]["thresholds"]
    config = (run_folder / "config.yaml").read_text()
    assert "dist: uniform\n      loc: 0\n      scale: 1\n    restraint" in config  # replaced, not merged


@pytest.mark.slow
def test_a_sweep_over_priors_replaces_the_prior_at_each_point(tmp_path):
    done = run(
        tmp_path,
        "-m",
        "actors.us.interception={dist: beta, a: 8, b: 2},{dist: uniform, loc: 0, scale: 1}",
        *TINY,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    configs = sorted((tmp_path / "results" / "sweeps").glob("*/*/config.yaml"))
    assert len(configs) == 2
    priors = [c.read_text().split("interception:\n", 1)[1].split("    restraint", 1)[0] for c in configs]
    assert sorted(priors) == [
        "      dist: beta\n      a: 8\n      b: 2\n",
        "      dist: uniform\n      loc: 0\n      scale: 1\n",
    ]


def test_a_prior_on_the_command_line_replaces_the_whole_prior(tmp_path):
    done = run(tmp_path, "--cfg", "job", "actors.us.interception={dist: uniform, loc: 0.2, scale: 0.5}")
    assert done.returncode == 0, done.stderr
    us = done.stdout.split("\n  us:\n", 1)[1].split("\n  iran:\n", 1)[0]
    assert "interception:\n      dist: uniform\n      loc: 0.2\n      scale: 0.5\n" in us
    assert "a: " not in us and "b: " not in us
    done = run(tmp_path, "--cfg", "job", "actors.us.interception={dist: beta, a: 8, b: 3}")
    assert "interception:\n      dist: beta\n      a: 8\n      b: 3\n" in done.stdout
    assert not (tmp_path / "results").exists()


def test_help_is_left_to_hydra(tmp_path):
    done = run(tmp_path, "--help")
    assert done.returncode == 0, done.stderr
    assert "== Config groups" in done.stdout


def test_an_ad_hoc_sweep_folder_is_one_plain_folder():
    from escalation.cli import sweep_folder_override

    folder = sweep_folder_override(["-m", "mygroup/sub=a,b", "policy.us.proportionality=0.1,0.2"])
    name = folder.split("=", 1)[1]
    assert name.startswith("results/sweeps/${experiment.name}--")
    assert "/" not in name.removeprefix("results/sweeps/")
    assert "mygroup_sub+policy.us.proportionality-" in name


def test_the_sweep_csv_neutralises_formulas_and_keeps_numbers():
    from escalation.report.sweep import spreadsheet_csv

    table = pd.DataFrame(
        {
            "point": ["x=1", "x=2"],
            "lever": [-0.5, 1.0],
            "arm": ["=cmd|' /C calc'!A0", "@SUM(1)"],
            "label": ["+plus", "-minus"],
            "probability": [0.25, -0.0],
        }
    )
    rows = list(csv.reader(io.StringIO(spreadsheet_csv(table))))
    assert rows[1] == ["x=1", "-0.5", "'=cmd|' /C calc'!A0", "'+plus", "0.25"]
    assert rows[2] == ["x=2", "1.0", "'@SUM(1)", "'-minus", "-0.0"]
    assert table["arm"].iloc[0] == "=cmd|' /C calc'!A0"  # the table itself (and so the Parquet) unchanged


def test_the_memory_estimate_lets_the_default_run_fit():
    from escalation.ensemble import estimate_memory
    from escalation.specs import EnsembleSpec, default_scenario

    spec = EnsembleSpec()
    scenario = default_scenario()
    estimate = estimate_memory(
        scenario, spec.replications, chunk_size=spec.chunk_size, calibration_draws=4000
    )
    assert estimate.total < 1e9  # the default 10,000 replications: well under a gigabyte
    big = estimate_memory(scenario, 10**12, chunk_size=spec.chunk_size)
    assert big.outcomes > 5e14 and big.outcomes > 100 * big.histograms
    long = estimate_memory(scenario, 60, chunk_size=30, horizon_days=10**6)
    assert long.histograms > 1e14 and long.histograms > 100 * long.outcomes


def test_escalation_report_refuses_unknown_formats_in_one_line(tmp_path):
    (tmp_path / "sweep").mkdir()
    done = run(tmp_path, "sweep", "--formats", "png,xyz", code=REPORT)
    line = assert_one_line_error(done, tmp_path, prefix="escalation-report")
    assert "--formats: unknown format xyz; allowed: " in line
    assert "png" in line and "svg" in line


@pytest.fixture(scope="module")
def formula_sweep(tmp_path_factory):
    """A two-point sweep whose arm names and a threshold label begin with =, +, - and @."""
    root = tmp_path_factory.mktemp("formula_sweep")
    folder = root / "my_configs" / "experiment"
    folder.mkdir(parents=True)
    (folder / "formulas.yaml").write_text(
        "# @package _global_\n"
        "experiment:\n"
        "  name: formulas\n"
        "  horizons: [30]\n"
        "  figures: false\n"
        '  reference_arm: "=calibrated"\n'
        "  arms:\n"
        '    "=calibrated": {label: "+calibrated", set: []}\n'
        '    "@restrained": {label: "-restrained", set: ["policy.us.threshold=80.0"]}\n'
        "scenario:\n"
        "  thresholds:\n"
        "    regional_war:\n"
        "      label: '=HYPERLINK(\"http://example.com\")'\n"
    )
    done = run(
        root,
        "-m",
        "--config-dir",
        "my_configs",
        "experiment=formulas",
        "policy.us.proportionality=0.02,0.1",
        *TINY,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (sweep,) = (root / "results" / "sweeps").iterdir()
    return root, sweep


@pytest.mark.slow
def test_sweep_summary_csv_text_cells_cannot_run_as_formulas(formula_sweep):
    _, sweep = formula_sweep
    rows = list(csv.DictReader(io.StringIO((sweep / "sweep_summary.csv").read_text())))
    assert {row["arm"] for row in rows} == {"'=calibrated", "'@restrained"}
    assert '\'=HYPERLINK("http://example.com")' in {row["label"] for row in rows}
    for row in rows:
        for column in ("policy.us.proportionality", "probability", "lower", "upper", "replications"):
            float(row[column])  # numbers stay numbers
        assert not row["point"].startswith(("=", "+", "-", "@"))
    table = pd.read_parquet(sweep / "sweep_summary.parquet")
    assert set(table["arm"]) == {"=calibrated", "@restrained"}  # the Parquet keeps the values


@pytest.mark.slow
def test_escalation_report_with_unknown_format_writes_nothing(formula_sweep):
    root, sweep = formula_sweep
    before = {p: p.stat().st_mtime_ns for p in sweep.rglob("*") if p.is_file()}
    done = run(root, str(sweep), "--formats", "xyz", code=REPORT)
    line = assert_one_line_error(done, root / "nowhere", prefix="escalation-report")
    assert "--formats: unknown format xyz; allowed: " in line
    assert {p: p.stat().st_mtime_ns for p in sweep.rglob("*") if p.is_file()} == before
