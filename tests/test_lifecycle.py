"""How a run ends: signals, the run folder's lock, killed runs and their workers, resumed sweeps.

See docs/guarantees.md. Where the behaviour is about processes, the command runs as a subprocess in a
temporary working directory, as a user would run it; runs that must last a while use more replications.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from escalation.calibration import Calibration
from escalation.report.folder import (
    FolderLocked,
    RunFolder,
    atomic_write_json,
    atomic_write_parquet,
    atomic_write_text,
    mark_if_dead,
    read_manifest,
)
from escalation.report.sweep import collect_points

TINY = [
    "ensemble.replications=60",
    "ensemble.chunk_size=30",
    "calibration.draws=300",
    "ensemble.progress=false",
    "experiment.figures=false",
]
# Enough work to last well beyond the moments a test acts in (the test stops these runs itself).
LONG = [
    "ensemble.replications=20000",
    "ensemble.chunk_size=500",
    "calibration.draws=300",
    "ensemble.progress=false",
]


def escalation(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "escalation", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def start(cwd: Path, *args: str) -> subprocess.Popen:
    """Start the command in its own process group (as a terminal's foreground job), SIGINT not ignored."""
    return subprocess.Popen(
        [sys.executable, "-m", "escalation", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip


def wait_for(condition, timeout: float = 60, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def running_manifest(folder: Path, pid: int):
    """The folder's manifest once it says running with this pid and the simulation inputs are recorded."""
    manifest = read_manifest(folder)
    if manifest and manifest.get("status") == "running" and manifest.get("pid", pid) == pid:
        return manifest if "calibration_hash" in manifest else None
    return None


def alive(pid: int) -> bool:
    """Whether a process exists and has not ended (a zombie waiting for its reaper has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def workers_of(parent: int) -> list[int]:
    """The pids of the multiprocessing worker processes whose parent is ``parent`` (Linux: /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[-1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent and "spawn_main" in cmdline and alive(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)


def stop(process: subprocess.Popen, workers=()) -> None:
    """Clean up after a test: kill the command's process group (its workers keep it even when orphaned)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.kill()
    process.wait()
    for stream in (process.stdout, process.stderr):
        stream.close()
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def dead_pid() -> int:
    """The pid of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def stderr_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*.tmp")]


# 1. Ctrl-C and SIGTERM ------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("how", "code", "line", "reason"),
    [
        ("ctrl-c", 130, "escalation: interrupted", "SIGINT"),
        ("sigterm", 143, "escalation: interrupted (SIGTERM)", "SIGTERM"),
    ],
)
def test_an_interrupted_run_prints_one_line_marks_its_manifest_and_stops_its_workers(
    tmp_path, how, code, line, reason
):
    process = start(tmp_path, "hydra.run.dir=run", "ensemble.workers=2", *LONG)
    workers: list[int] = []
    try:
        wait_for(lambda: running_manifest(tmp_path / "run", process.pid), what="the simulation to start")
        workers = wait_for(lambda: workers_of(process.pid), what="the worker processes")
        if how == "ctrl-c":
            os.killpg(process.pid, signal.SIGINT)  # a terminal sends Ctrl-C to the whole foreground job
        else:
            os.kill(process.pid, signal.SIGTERM)  # kill, a scheduler: the command's process only
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == code, stderr
        assert stderr_lines(stderr) == [line]
        manifest = read_manifest(tmp_path / "run")
        assert manifest["status"] == "interrupted" and reason in manifest["error"]
        assert not (tmp_path / "run" / "summary.json").exists()
        assert not temporaries(tmp_path / "run")
        wait_for(lambda: not any(alive(pid) for pid in workers), timeout=5, what="the workers to end")
    finally:
        stop(process, workers)


# 2. Two runs into one folder: the lock, unique temporary names ----------------------------------------------


def test_a_run_into_a_folder_whose_lock_is_held_is_refused_in_one_line_naming_the_holder(tmp_path):
    folder = tmp_path / "same"
    folder.mkdir()
    with (folder / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write(f"{os.getpid()} {socket.gethostname()}\n")
        lock.flush()
        done = escalation(tmp_path, "hydra.run.dir=same", *TINY)
    assert done.returncode == 2, done.stderr
    lines = stderr_lines(done.stderr)
    assert len(lines) == 1 and lines[0].startswith("escalation: error: "), done.stderr
    assert str(folder) in lines[0] and f"pid {os.getpid()}" in lines[0]
    assert not (folder / "manifest.json").exists() and not (folder / "config.yaml").exists()


@pytest.mark.slow
def test_two_runs_into_one_folder_the_second_is_refused_and_the_folder_is_the_first_runs(tmp_path):
    longer = ["ensemble.replications=6000", "ensemble.chunk_size=500"]  # lasts well beyond a start-up
    rest = [a for a in TINY if not a.startswith(("ensemble.replications=", "ensemble.chunk_size="))]
    first = start(tmp_path, "hydra.run.dir=same", "ensemble.seed=1", *longer, *rest)
    try:
        wait_for(lambda: running_manifest(tmp_path / "same", first.pid), what="the first run to start")
        second = escalation(tmp_path, "hydra.run.dir=same", "ensemble.seed=2", *TINY)
        assert first.poll() is None, "the first run should still be running"
        assert second.returncode == 2, second.stderr
        lines = stderr_lines(second.stderr)
        assert len(lines) == 1 and lines[0].startswith("escalation: error: "), second.stderr
        assert str(tmp_path / "same") in lines[0] and f"pid {first.pid}" in lines[0]
        _, stderr = first.communicate(timeout=120)
        assert first.returncode == 0, stderr
    finally:
        stop(first)
    folder = tmp_path / "same"
    manifest = read_manifest(folder)
    assert manifest["status"] == "ok" and manifest["seed"] == 1 and manifest["pid"] == first.pid
    assert json.loads((folder / "summary.json").read_text())["seed"] == 1
    assert pd.read_parquet(folder / "tables" / "replications.parquet").shape[0] == 6000
    assert "ensemble.seed=1" in (folder / ".hydra" / "overrides.yaml").read_text()
    assert "ensemble.seed=2" not in (folder / ".hydra" / "overrides.yaml").read_text()
    assert not temporaries(folder)


def test_a_run_folder_holds_its_lock_until_it_finishes_and_records_pid_and_host(tmp_path):
    folder = RunFolder(tmp_path, {"experiment": "x"})
    manifest = read_manifest(tmp_path)
    assert manifest["status"] == "running"
    assert manifest["pid"] == os.getpid() and manifest["host"] == socket.gethostname()
    with pytest.raises(FolderLocked, match=f"pid {os.getpid()}") as refused:
        RunFolder(tmp_path, {"experiment": "y"})
    assert str(tmp_path) in str(refused.value)
    assert read_manifest(tmp_path)["experiment"] == "x"
    folder.finish("ok")
    again = RunFolder(tmp_path, {"experiment": "y"})
    again.finish("failed", "boom")
    assert read_manifest(tmp_path)["status"] == "failed"


def _write_each(folder: Path, target: str) -> None:
    atomic_write_text(folder / target, "text")
    atomic_write_json(folder / target, {"a": 1})
    atomic_write_parquet(folder / target, pd.DataFrame({"a": [1, 2]}))
    Calibration.save(SimpleNamespace(to_dict=lambda: {"format": "x"}), folder / target)


def test_temporary_names_are_unique_to_each_writer(tmp_path, monkeypatch):
    # Another writer's temporary file under the old fixed name (.name.tmp) does not get in the way ...
    (tmp_path / ".out.tmp").mkdir()
    _write_each(tmp_path, "out")
    # ... and every temporary name carries this process's pid and a random part.
    sources: list[str] = []
    replace = Path.replace
    monkeypatch.setattr(
        Path, "replace", lambda self, target: sources.append(self.name) or replace(self, target)
    )
    _write_each(tmp_path, "out")
    _write_each(tmp_path, "out")
    assert len(sources) == 8 and len(set(sources)) == 8
    assert all(s.startswith(".out.") and s.endswith(".tmp") and f".{os.getpid()}." in s for s in sources)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.tmp", "out"]


# 3. Killing the parent of a workers=2 run ---------------------------------------------------------------


@pytest.mark.slow
def test_the_workers_of_a_killed_run_die_with_it(tmp_path):
    process = start(tmp_path, "hydra.run.dir=run", "ensemble.workers=2", *LONG)
    workers: list[int] = []
    try:
        wait_for(lambda: running_manifest(tmp_path / "run", process.pid), what="the simulation to start")
        workers = wait_for(
            lambda: len(workers_of(process.pid)) == 2 and workers_of(process.pid), what="2 workers"
        )
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(alive(pid) for pid in workers):
            time.sleep(0.05)
        assert not [pid for pid in workers if alive(pid)], "workers outlived their killed parent"
    finally:
        stop(process, workers)


# 4. A run killed with SIGKILL: found dead by the next command that reads its folder ------------------------


def _killed_folder(folder: Path, **fields) -> Path:
    """A folder as a run killed with SIGKILL leaves it: manifest running with a dead pid, temporary files."""
    (folder / "tables").mkdir(parents=True)
    manifest = {
        "status": "running",
        "pid": dead_pid(),
        "host": socket.gethostname(),
        "overrides": [],
        **fields,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / f".summary.json.{manifest['pid']}.abc.tmp").write_text("{")
    (folder / "tables" / ".thresholds.parquet.tmp").write_text("partial")
    return folder


def test_collect_points_marks_a_killed_point_dead_and_leaves_it_out_with_the_reason(tmp_path):
    sweep = tmp_path / "sweep"
    killed = _killed_folder(sweep / "x.lever=1")
    nested = sweep / "x.lever=1" / "nested"  # a point folder inside it (an override value with a slash)
    nested.mkdir()
    (nested / "manifest.json").write_text(json.dumps({"status": "failed"}))
    (nested / ".keep.tmp").write_text("not the dead run's")
    points, left_out = collect_points(sweep)
    assert points == []
    assert any(entry.startswith("x.lever=1 (dead: ") and "SIGKILL" in entry for entry in left_out), left_out
    manifest = read_manifest(killed)
    assert manifest["status"] == "dead" and "ended without closing its manifest" in manifest["error"]
    assert sorted(manifest["removed_temporaries"]) == [
        f".summary.json.{manifest['pid']}.abc.tmp",
        "tables/.thresholds.parquet.tmp",
    ]
    assert temporaries(killed) == [nested / ".keep.tmp"]
    # Read again: already closed, so left out as not complete, and not rewritten.
    assert mark_if_dead(killed) is None
    assert any(entry == "x.lever=1 (not complete: dead)" for entry in collect_points(sweep)[1])


def test_a_live_or_foreign_run_is_not_marked_dead(tmp_path):
    live = RunFolder(tmp_path / "live", {})  # holds its lock
    assert mark_if_dead(tmp_path / "live") is None
    live.close()  # lock free, but its pid (this process) is alive
    assert mark_if_dead(tmp_path / "live") is None
    assert read_manifest(tmp_path / "live")["status"] == "running"
    _killed_folder(tmp_path / "elsewhere", host="another-host")  # cannot check another machine's pids
    assert mark_if_dead(tmp_path / "elsewhere") is None
    _, left_out = collect_points(tmp_path)
    assert f"live (not complete: running, pid {os.getpid()} on {socket.gethostname()})" in left_out


@pytest.mark.slow
def test_a_run_into_the_folder_of_a_killed_run_reports_it_dead_and_runs(tmp_path):
    process = start(tmp_path, "hydra.run.dir=run", *LONG)
    try:
        wait_for(lambda: running_manifest(tmp_path / "run", process.pid), what="the simulation to start")
    finally:
        stop(process)
    (tmp_path / "run" / f".summary.json.{process.pid}.abc.tmp").write_text("{")  # as if killed mid-write
    assert read_manifest(tmp_path / "run")["status"] == "running"
    done = escalation(tmp_path, "hydra.run.dir=run", *TINY)
    assert done.returncode == 0, done.stderr
    assert f"the previous run (pid {process.pid} on {socket.gethostname()}) died" in done.stdout
    assert "marked dead" in (tmp_path / "run" / "escalation.log").read_text()
    manifest = read_manifest(tmp_path / "run")
    assert manifest["status"] == "ok" and manifest["pid"] != process.pid
    assert not temporaries(tmp_path / "run")


# 4 and 5. A resumed sweep reruns a killed point and a point with a truncated summary ------------------------


@pytest.mark.slow
def test_a_resumed_sweep_reruns_a_dead_point_and_a_point_whose_summary_is_truncated(tmp_path):
    # A non-numeric lever: the sweep draws no figures, which keeps the test short.
    args = ["-m", "hydra.sweep.dir=sweep", "scenario.description=a,b", *TINY]
    done = escalation(tmp_path, *args)
    assert done.returncode == 0, done.stderr
    sweep = tmp_path / "sweep"
    truncated, killed = sorted(p.parent for p in sweep.rglob("manifest.json"))  # description a, then b
    assert "description=a" in truncated.name and "description=b" in killed.name
    text = (truncated / "summary.json").read_text()
    (truncated / "summary.json").write_text(text[: len(text) // 2])  # manifest still ok
    manifest = read_manifest(killed)
    manifest.update(status="running", pid=dead_pid())
    (killed / "manifest.json").write_text(json.dumps(manifest))
    (killed / "tables" / ".replications.parquet.tmp").write_text("partial")
    resumed = escalation(tmp_path, *args)
    assert resumed.returncode == 0, resumed.stderr
    assert "already complete, skipped" not in resumed.stdout
    assert f"the previous run (pid {manifest['pid']} on {socket.gethostname()}) died" in resumed.stdout
    assert resumed.stdout.count("[point ") == 2
    for point in (truncated, killed):
        assert read_manifest(point)["status"] == "ok"
        json.loads((point / "summary.json").read_text())
        assert not temporaries(point)
    info = json.loads((sweep / "sweep.json").read_text())
    assert info["points_complete"] == 2 and info["points_left_out"] == []


def test_a_signal_that_a_side_thread_receives_while_the_pool_starts_is_delivered_after_it():
    # The kernel gives a process-directed signal to any thread that does not block it (the progress bar's
    # monitor thread, for one), and Python runs the handler in the main thread whatever its mask: the hold
    # must therefore swap the handlers, not only block the mask. Here a side thread, started before the hold
    # (so it does not block SIGINT), sends SIGINT to itself during the hold, and the main thread must not see
    # KeyboardInterrupt until the hold ends. The signal is sent to the thread, not to the process: a
    # process-directed one could be taken by any other thread of the test process (a library's thread that
    # waits for signals, say), and the test would then depend on which tests ran before it.
    import threading

    from escalation.ensemble import _signals_deferred

    go, sent = threading.Event(), threading.Event()

    def receive() -> None:
        go.wait(5)
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)
        sent.set()

    # Python's own Ctrl-C handler, as in an interactive run: a test process started in the background by a
    # shell without job control has SIGINT ignored, and an ignored signal would never be delivered at all.
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        side = threading.Thread(target=receive)
        side.start()
        steps: list[str] = []
        with pytest.raises(KeyboardInterrupt), _signals_deferred():
            go.set()
            assert sent.wait(5)
            for _ in range(200):  # bytecode and calls in which a pending handler would run
                time.sleep(0.001)
            steps.append("held to the end")
        side.join()
        assert steps == ["held to the end"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, outer)
