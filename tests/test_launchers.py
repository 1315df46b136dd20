"""Sweeps through cluster launchers: submitit (the slurm extra) and a Ray cluster started separately.

The submitit sweep runs on submitit's local executor, which runs each point as its own job process as SLURM
would; without SLURM, the keys a user sets for it are checked in the job array's sbatch script. The Ray sweep
runs on a two-node Ray cluster (two raylets on this machine, each with its own temporary folder and one CPU)
that the test starts with ``ray start`` and stops itself, as a user's existing cluster. The check that the
sweep folder is shared by the nodes (``cli._aggregate``) is tested on a simulated missing point folder, and on
the Ray cluster with a relative sweep folder that each node resolves in its own working folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest
import yaml

from escalation import cli
from tests.conftest import assert_rows_match_summaries

TINY = ["ensemble.replications=80", "ensemble.chunk_size=40", "calibration.draws=300"]
LEVER = "scenario.drivers.air_defence.factor"
TWO_POINTS = [f"{LEVER}=1.0,0.5"]
POINT_FOLDERS = [  # the folder names Hydra gives the two points (experiment is excluded from them)
    f"calibration.draws=300,ensemble.chunk_size=40,ensemble.replications=80,{LEVER}={value}"
    for value in ("1.0", "0.5")
]


def escalation(cwd: Path, *args: str, timeout: float = 600, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "escalation", *args],
        cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env,
    )  # fmt: skip


def assert_aggregated(sweep: Path) -> None:
    """The sweep table has both points, with their lever values, each row equal to its point's summary."""
    table = pd.read_parquet(sweep / "sweep_summary.parquet")
    assert sorted(table[LEVER].unique()) == [0.5, 1.0]
    assert sorted(table["point"].unique()) == sorted(POINT_FOLDERS)
    assert_rows_match_summaries(sweep, table)
    info = json.loads((sweep / "sweep.json").read_text())
    assert info["points_complete"] == 2 and info["points_left_out"] == []


# ---------------------------------------------------------------------------------------------------------
# The launcher configs


def hydra_config(cwd: Path, *overrides: str) -> dict:
    done = escalation(cwd, "--cfg", "hydra", *overrides, timeout=120)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)["hydra"]


def test_the_submitit_local_launcher_is_installed(tmp_path):
    local = hydra_config(tmp_path, "hydra/launcher=submitit_local")["launcher"]
    assert local["_target_"] == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher"


def slurm_stand_ins(tmp_path: Path, sbatch: str | None) -> dict[str, str]:
    """The environment of a command with SLURM stand-ins first on PATH: ``srun`` and the ``sbatch`` given.

    ``sbatch``: the body of its shell script (None: no ``sbatch`` at all). submitit looks for ``srun``
    before it submits anything, then runs ``sbatch <script>``.
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tools = {"srun": "exit 1\n", **({"sbatch": sbatch} if sbatch is not None else {})}
    for tool, body in tools.items():
        (bin_dir / tool).write_text(f"#!/bin/sh\n{body}")
        (bin_dir / tool).chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def test_the_slurm_keys_a_user_sets_reach_the_sbatch_script(tmp_path):
    # No SLURM here: an `sbatch` on PATH keeps the job array's script and refuses it, which ends the command.
    record = tmp_path / "sbatch.sh"
    env = slurm_stand_ins(tmp_path, 'cat "$1" > "$SBATCH_RECORD"\necho "no SLURM here" >&2\nexit 1\n')
    env["SBATCH_RECORD"] = str(record)
    done = subprocess.run(
        [sys.executable, "-m", "escalation", "experiment=air_defence_sweep", f"{LEVER}=1.0,0.5,0.2",
         "hydra/launcher=submitit_slurm", "hydra.launcher.partition=cpu", "hydra.launcher.timeout_min=30",
         "hydra.launcher.cpus_per_task=2", "hydra.launcher.mem_gb=4", "hydra.launcher.array_parallelism=2",
         "ensemble.workers=2"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode != 0 and "no SLURM here" in done.stderr
    script = record.read_text().splitlines()
    for line in ("--partition=cpu", "--time=30", "--cpus-per-task=2", "--mem=4GB", "--array=0-2%2"):
        assert f"#SBATCH {line}" in script, (line, script)
    assert any("-m submitit.core._submit" in line and "/.submitit/" in line for line in script)


def test_the_ray_cluster_launcher_joins_an_existing_cluster_without_sizing_it(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="the Ray launcher is the ray extra")
    launcher = hydra_config(
        tmp_path, "hydra/launcher=ray_cluster", "hydra.launcher.ray.init.address=10.0.0.1:6379"
    )
    # Ray refuses object_store_memory when it joins a cluster; the launcher sets one unless the key is there.
    assert launcher["launcher"]["ray"] == {
        "init": {"address": "10.0.0.1:6379", "object_store_memory": None},
        "remote": {"num_cpus": 1},
    }
    assert (
        hydra_config(tmp_path, "hydra/launcher=ray_cluster")["launcher"]["ray"]["init"]["address"] == "auto"
    )


# ---------------------------------------------------------------------------------------------------------
# A cluster launcher that cannot start: one line naming the setting, exit code 2, nothing that looks complete


def assert_one_line_error(done: subprocess.CompletedProcess, key: str) -> str:
    """The command ended with exit code 2 and one line naming ``key``, its last, and no traceback."""
    assert done.returncode == cli.USAGE_ERROR, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines and lines[-1].startswith(f"escalation: error: {key}: "), lines
    assert [line for line in lines if key in line] == [lines[-1]], lines
    return lines[-1]


def assert_nothing_complete(root: Path) -> None:
    """No run folder, summary or sweep aggregate under ``root`` (at most Hydra's and submitit's own files)."""
    for name in ("manifest.json", "summary.json", "sweep.json", "sweep_summary.parquet", "store"):
        assert not list(root.rglob(name)), (name, sorted(root.rglob("*")))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def test_a_ray_address_where_nothing_listens_is_refused_at_once(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="the Ray launcher is the ray extra")
    address = f"127.0.0.1:{free_port()}"  # bound and released: nothing listens there
    started = time.monotonic()
    done = escalation(
        tmp_path, "experiment=air_defence_sweep", *TWO_POINTS, *TINY, "hydra/launcher=ray_cluster",
        f"{cli.RAY_ADDRESS_KEY}={address}", timeout=120,
    )  # fmt: skip
    line = assert_one_line_error(done, cli.RAY_ADDRESS_KEY)
    assert done.stderr.strip() == line  # Ray was not even started: nothing else on stderr
    assert f"at {address}: nothing listens there (connection refused)" in line
    assert "hydra/launcher=ray_cluster" in line and "allowed: " in line
    assert time.monotonic() - started < 20  # Ray alone would try for minutes
    assert not (tmp_path / "results").exists()  # refused before Hydra made any folder


def test_a_ray_address_that_is_no_ray_cluster_is_a_one_line_error(tmp_path):
    # Something listens, but it is no Ray cluster: Ray's own attempt to join fails (with its timeouts cut to
    # about a second each so that it gives up in seconds), and its ConnectionError becomes one line.
    pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="the Ray launcher is the ray extra")
    env = {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_gcs_server_port_wait_time_s": "1",  # one attempt to reach the cluster's GCS, not twenty
        "RAY_py_gcs_connect_timeout_s": "1",
        "RAY_gcs_rpc_server_connect_timeout_s": "1",
    }
    env.pop("RAY_ADDRESS", None)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # accepts connections (the kernel's backlog) and never answers
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        done = escalation(
            tmp_path, "experiment=air_defence_sweep", *TWO_POINTS, *TINY, "hydra/launcher=ray_cluster",
            f"{cli.RAY_ADDRESS_KEY}={address}", timeout=120, env=env,
        )  # fmt: skip
    line = assert_one_line_error(done, cli.RAY_ADDRESS_KEY)
    assert f"could not join a Ray cluster at {address}: Failed to connect to Ray cluster" in line
    assert_nothing_complete(tmp_path)


def test_an_sbatch_that_refuses_the_job_array_is_a_one_line_error(tmp_path):
    env = slurm_stand_ins(tmp_path, 'echo "sbatch: error: invalid partition specified: gpu9" >&2\nexit 1\n')
    done = subprocess.run(
        [sys.executable, "-m", "escalation", "experiment=air_defence_sweep", *TWO_POINTS, *TINY,
         "hydra/launcher=submitit_slurm", "hydra.launcher.partition=gpu9"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    line = assert_one_line_error(done, "hydra.launcher")
    assert "(hydra/launcher=submitit_slurm) could not submit the sweep's job array" in line
    assert "sbatch: error: invalid partition specified: gpu9" in line  # sbatch's own words
    script = Path(line.split("its script, with the #SBATCH lines: ")[1].split(";")[0])
    assert "#SBATCH --partition=gpu9" in script.read_text().splitlines()
    assert_nothing_complete(tmp_path)


def test_slurm_tools_missing_from_path_are_a_one_line_error(tmp_path):
    env = slurm_stand_ins(tmp_path, None)  # srun but no sbatch
    env["PATH"] = os.pathsep.join(
        [str(tmp_path / "bin"), str(Path(sys.executable).parent), "/usr/bin", "/bin"]
    )
    done = subprocess.run(
        [sys.executable, "-m", "escalation", "experiment=air_defence_sweep", *TWO_POINTS, *TINY,
         "hydra/launcher=submitit_slurm"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    line = assert_one_line_error(done, "hydra/launcher=submitit_slurm")
    assert "cannot submit jobs from this machine: sbatch is not on PATH" in line
    assert_nothing_complete(tmp_path)


def test_errors_raised_elsewhere_keep_their_traceback():
    # Only an error raised inside the launchers' start (Ray's start_ray, submitit's submission) is the user's
    # setting; the same exception types raised anywhere else (a bug in a point, a job's own failure) are not.
    def start_ray():  # the Ray launcher's function name, but not the launcher's file
        raise ConnectionError("Failed to connect to Ray cluster at 10.0.0.1:6379")

    def launch():  # the submitit launcher's method name, but not the launcher's file
        raise RuntimeError("sbatch: error: invalid partition specified: cpu")

    for raising in (start_ray, launch):
        with pytest.raises((ConnectionError, RuntimeError)) as raised:
            raising()
        assert cli._launcher_failure(raised.value) is None
    with pytest.raises(ConnectionError), cli._launcher_errors():
        start_ray()


# ---------------------------------------------------------------------------------------------------------
# The shared-folder check, on a simulated missing point folder


@pytest.fixture
def multirun_config(monkeypatch):
    """Compose a multirun's config as Hydra does before it sweeps (Hydra initialised, as in the command)."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode

    monkeypatch.setattr(cli, "_FINISHED_SWEEPS", [])
    monkeypatch.setattr(cli, "_LAUNCHED_POINTS", {})
    cli._register_schema()

    def compose(*overrides: str):
        return GlobalHydra.instance().hydra.compose_config(
            config_name="config", overrides=list(overrides), run_mode=RunMode.MULTIRUN
        )

    with initialize_config_dir(config_dir=cli.CONFIG_DIR, version_base="1.3"):
        yield compose


def write_manifest(folder: Path, status: str) -> None:
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"status": status, "overrides": []}))


def test_a_point_the_driver_cannot_see_is_a_one_line_error_naming_it(tmp_path, multirun_config):
    sweep = tmp_path / "sweep"
    config = multirun_config("experiment=air_defence_sweep", *TWO_POINTS, *TINY, f"hydra.sweep.dir={sweep}")
    cli.AggregateSweep().on_multirun_end(config)
    # The callback composed the two points the basic sweeper ran (the command line's values replace the
    # experiment's own five), with the folders Hydra gives them.
    (finished,) = cli._FINISHED_SWEEPS
    assert finished == sweep
    assert cli._LAUNCHED_POINTS[sweep] == [sweep / name for name in POINT_FOLDERS]
    # One point ran on a node that shares the folder; the other wrote its folder on its own node's disk.
    write_manifest(sweep / POINT_FOLDERS[0], "ok")
    with pytest.raises(cli.UserError) as raised:
        cli._aggregate(sweep)
    message = str(raised.value)
    assert message.startswith(f"{cli.SHARED_FOLDER}: the launcher ran 2 points to completion, but {sweep}")
    assert f"no complete folder for 1 of them ({POINT_FOLDERS[1]})" in message
    assert "\n" not in message


def test_a_stale_unfinished_folder_of_a_finished_point_counts_as_unseen(tmp_path, multirun_config):
    # A folder left by an earlier, killed run on the driver's disk is not the finished point's folder.
    sweep = tmp_path / "sweep"
    config = multirun_config("experiment=air_defence_sweep", *TWO_POINTS, *TINY, f"hydra.sweep.dir={sweep}")
    cli.AggregateSweep().on_multirun_end(config)
    write_manifest(sweep / POINT_FOLDERS[0], "ok")
    write_manifest(sweep / POINT_FOLDERS[1], "running")
    with pytest.raises(cli.UserError, match=f"no complete folder for 1 of them \\({POINT_FOLDERS[1]}\\)"):
        cli._aggregate(sweep)


def test_when_every_point_is_seen_the_check_passes_to_the_aggregation(tmp_path, multirun_config):
    sweep = tmp_path / "sweep"
    config = multirun_config("experiment=air_defence_sweep", *TWO_POINTS, *TINY, f"hydra.sweep.dir={sweep}")
    cli.AggregateSweep().on_multirun_end(config)
    for name in POINT_FOLDERS:
        write_manifest(sweep / name, "ok")
    # These manifests have no summary beside them, so the aggregation itself refuses them: past the check.
    with pytest.raises(cli.UserError) as raised:
        cli._aggregate(sweep)
    assert cli.SHARED_FOLDER not in str(raised.value)
    assert "no complete sweep point" in str(raised.value)


def test_an_optimising_sweep_chooses_its_points_as_it_goes_and_is_not_checked(tmp_path, multirun_config):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="the optimising sweeper is an extra")
    config = multirun_config("experiment=optimise_us_posture", f"hydra.sweep.dir={tmp_path}")
    cli.AggregateSweep().on_multirun_end(config)
    assert cli._LAUNCHED_POINTS[tmp_path] == []


# ---------------------------------------------------------------------------------------------------------
# submitit's local executor


@pytest.mark.slow
def test_a_sweep_through_submitits_local_executor_aggregates(tmp_path):
    done = escalation(
        tmp_path, "experiment=air_defence_sweep", *TWO_POINTS, *TINY, "hydra/launcher=submitit_local"
    )
    assert done.returncode == 0, done.stderr
    assert "Submitit 'local' sweep output dir" in done.stdout
    assert "Sweep: 2 points complete" in done.stdout
    (sweep,) = (tmp_path / "results" / "sweeps").iterdir()
    assert_aggregated(sweep)
    # Each point ran in its own submitit job process, whose log holds the point's line.
    commands = {json.loads((sweep / name / "manifest.json").read_text())["command"] for name in POINT_FOLDERS}
    assert all("submitit/core/_submit.py" in command for command in commands)
    logs = "".join(p.read_text() for p in (sweep / ".submitit").glob("*/*_log.out"))
    assert logs.count("[point ") == 2 and logs.count("Job completed successfully") == 2


# ---------------------------------------------------------------------------------------------------------
# A two-node Ray cluster started separately


def _started_by(root: Path) -> list[int]:
    """Pids of the processes whose command line names this cluster's temporary folder (its nodes' own)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if str(root).encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
    return pids


def _wait_for_start(node: subprocess.Popen, log: Path, what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while "Ray runtime started" not in log.read_text():
        if node.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start; its log:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)


@pytest.fixture
def ray_cluster():
    """A head node and a second node joining it, one CPU each; stopped (their processes only) on teardown.

    Each node runs ``ray start --block`` in its own session, so stopping it kills that process group, then any
    process left that names the cluster's temporary folder; ``ray stop`` would stop every Ray node of the
    machine. The temporary folder is short: Ray's socket paths must fit in 107 bytes. The nodes, the test and
    the command share one authentication token of their own (Ray's token mode), whatever ``~/.ray`` holds: a
    head node turns token mode on by itself when ``~/.ray/auth_token`` exists, a joining node does not.
    """
    pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="the Ray launcher is the ray extra")
    ray = shutil.which("ray", path=str(Path(sys.executable).parent))
    root = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))
    env = {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": uuid.uuid4().hex,
    }
    for name in ("RAY_ADDRESS", "RAY_AUTH_TOKEN_PATH"):
        env.pop(name, None)
    nodes: list[subprocess.Popen] = []

    def start(name: str, *args: str) -> None:
        log = root / f"{name}.log"
        with log.open("w") as out:
            nodes.append(
                subprocess.Popen(
                    [ray, "start", "--block", "--num-cpus=1", f"--temp-dir={root / name}", *args],
                    cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )  # fmt: skip
        _wait_for_start(nodes[-1], log, f"the {name} node")

    try:
        start(
            "head", "--head", f"--port={free_port()}", "--include-dashboard=false",
            f"--dashboard-port={free_port()}", f"--ray-client-server-port={free_port()}",
        )  # fmt: skip
        address = (root / "head" / "ray_current_cluster").read_text().strip()
        start("worker", f"--address={address}")
        yield address, root, env
    finally:
        for node in nodes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for node in nodes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.wait(timeout=max(0.1, deadline - time.monotonic()))
        for node in nodes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.pid, signal.SIGKILL)
            node.wait()
        for pid in _started_by(root):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)


def alive_nodes(address: str, env: dict) -> int:
    code = "import ray, sys; ray.init(address=sys.argv[1]); print(sum(n['Alive'] for n in ray.nodes()))"
    done = subprocess.run(
        [sys.executable, "-c", code, address],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env=env,
    )
    return int(done.stdout.split()[-1])


@pytest.mark.slow
def test_a_sweep_on_a_separately_started_two_node_ray_cluster(tmp_path, ray_cluster):
    address, root, env = ray_cluster
    assert alive_nodes(address, env) == 2
    sweep = tmp_path / "sweep"
    launcher = [
        "hydra/launcher=ray_cluster", f"hydra.launcher.ray.init.address={address}",
        "+hydra.launcher.ray.remote.scheduling_strategy=SPREAD",  # one point a node, not both on the first
    ]  # fmt: skip
    done = escalation(
        tmp_path,
        "experiment=air_defence_sweep",
        *TWO_POINTS,
        *TINY,
        *launcher,
        f"hydra.sweep.dir={sweep}",
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert f"Connecting to existing Ray cluster at address: {address}" in done.stderr
    assert "Started a local Ray instance" not in done.stdout + done.stderr
    assert "Sweep: 2 points complete" in done.stdout
    assert_aggregated(sweep)
    # Each node ran one of the points: its own logs (worker-*.out, the job processes' output) hold its line.
    ran = {
        node: {
            line.split("]")[0] + "]"
            for p in (root / node).glob("session_*/logs/worker-*.out")
            for line in p.read_text(errors="replace").splitlines()
            if line.startswith("[point ")
        }
        for node in ("head", "worker")
    }
    assert sorted(sorted(points) for points in ran.values()) == [["[point 0]"], ["[point 1]"]], ran

    # The same sweep with its default, relative folder: each node resolves it in its own working folder (the
    # cluster's here), so the driver sees neither point and says what the sweep folder needs.
    (tmp_path / "driver").mkdir()
    done = escalation(
        tmp_path / "driver", "experiment=air_defence_sweep", *TWO_POINTS, *TINY, *launcher, env=env
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith(f"escalation: error: {cli.SHARED_FOLDER}: the launcher ran 2 points"), lines[
        -1
    ]
    assert "no complete folder for 2 of them" in lines[-1]
    assert all(name in lines[-1] for name in POINT_FOLDERS)
    ran_there = sorted(p.parent.name for p in (root / "results" / "sweeps").glob("*/*/manifest.json"))
    assert ran_there == sorted(POINT_FOLDERS)
    assert not list((tmp_path / "driver").rglob("manifest.json"))
