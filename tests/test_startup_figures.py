"""What keeps a run's fixed costs down besides lazy imports: figures drawn in a second process, lazy SciPy
submodules, and the garbage collector held off while a run imports its modules.

Timings are measured in ``benchmarks/bench_cli.py``, never asserted here; these tests check that the faster
paths give the same files and keep the guarantees of the serial ones (docs/guarantees.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from escalation.report.figures import FigureDrawing, FigureJob, can_fork
from tests.test_plots import CAPTION, cumulative_table, threshold_table

needs_fork = pytest.mark.skipif(not can_fork(), reason="figures are drawn in a second process on Linux only")


def chart_jobs(log: Path | None = None) -> list[FigureJob]:
    """Real briefing figures; each job notes the pid of the process that drew it in ``log``."""
    from escalation import plots

    def job(stem, draw):
        def drawn():
            if log is not None:
                with log.open("a") as stream:
                    stream.write(f"{stem} {os.getpid()}\n")
            return draw()

        return FigureJob(stem, drawn)

    return [
        job("fan_a", lambda: plots.fan_chart(cumulative_table(12), title="Fan a", caption=CAPTION)),
        job("thresholds", lambda: plots.threshold_chart(threshold_table(), title="T", caption=CAPTION)),
        job("fan_b", lambda: plots.fan_chart(cumulative_table(30), title="Fan b", caption=CAPTION)),
        job("fan_c", lambda: plots.fan_chart(cumulative_table(7), title="Fan c", caption=CAPTION)),
    ]


def drawers(log: Path) -> dict[str, int]:
    return dict((stem, int(pid)) for stem, pid in (line.split() for line in log.read_text().splitlines()))


def wait_for(done, seconds: float = 60.0) -> None:
    """Wait (as the tables would take time) until ``done()``: the figure process has reached a given point."""
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "the figure process did not start"
        time.sleep(0.02)


@needs_fork
def test_figures_drawn_in_two_processes_are_the_files_drawn_in_one(tmp_path):
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    with FigureDrawing(chart_jobs(), serial, ("png", "svg"), processes=1) as drawing:
        drawing.finish()
    log = tmp_path / "drawn.txt"
    with FigureDrawing(chart_jobs(log), parallel, ("png", "svg"), processes=2) as drawing:
        assert drawing.child is not None
        # The tables' turn: the figure process draws meanwhile.
        wait_for(lambda: log.exists() and any(pid != os.getpid() for pid in drawers(log).values()))
        drawing.finish()
        assert drawing.child is None  # reaped
    names = sorted(p.name for p in serial.iterdir())
    assert len(names) == 8 and names == sorted(p.name for p in parallel.iterdir())  # no temporary file
    for name in names:
        assert (serial / name).read_bytes() == (parallel / name).read_bytes(), name
    pids = drawers(log)
    assert sorted(pids) == ["fan_a", "fan_b", "fan_c", "thresholds"]  # each drawn once
    assert any(pid != os.getpid() for pid in pids.values())  # the figure process drew some


def test_one_process_draws_every_figure_here_in_order(tmp_path):
    log = tmp_path / "drawn.txt"
    with FigureDrawing(chart_jobs(log), tmp_path / "figures", ("png",), processes=1) as drawing:
        assert drawing.child is None
    assert list(drawers(log)) == ["fan_a", "thresholds", "fan_b", "fan_c"]
    assert set(drawers(log).values()) == {os.getpid()}
    assert len(list((tmp_path / "figures").iterdir())) == 4


@needs_fork
def test_an_error_in_the_figure_process_is_raised_here_with_the_figure_named(tmp_path):
    here = os.getpid()

    def broken():
        if os.getpid() != here:
            raise ValueError("bad table for this figure")
        return chart_jobs()[1].draw()

    jobs = [FigureJob("broken", broken), *chart_jobs()]
    with (
        pytest.raises(ValueError, match="bad table for this figure") as caught,
        FigureDrawing(jobs, tmp_path, ("png", "svg"), processes=2) as drawing,
    ):
        # The figure process takes the first job and fails: wait until it has ended (without reaping it).
        os.waitid(os.P_PID, drawing.child, os.WEXITED | os.WNOWAIT)
        drawing.finish()
    assert any("'broken' in the figure process" in note for note in caught.value.__notes__)
    assert drawing.child is None
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert not list(tmp_path.iterdir())  # the error was seen before this process drew anything


@needs_fork
def test_an_error_here_stops_the_figure_process_and_removes_its_temporary_files(tmp_path):
    started = tmp_path / "started"

    def stuck():
        # As a figure being written: its temporary file (named with the writer's pid), then a long draw.
        (tmp_path / f".stuck.png.{os.getpid()}.0123456789ab.tmp").write_bytes(b"half a figure")
        started.write_text(str(os.getpid()))
        time.sleep(60)

    begun = time.monotonic()
    jobs = [FigureJob("stuck", stuck), *chart_jobs()]
    with (
        pytest.raises(RuntimeError, match="the tables failed"),
        FigureDrawing(jobs, tmp_path, ("png",), processes=2),
    ):
        wait_for(started.exists)
        raise RuntimeError("the tables failed")
    assert time.monotonic() - begun < 50  # not the 60 s the stuck figure would take
    child = int(started.read_text())
    with pytest.raises(ChildProcessError):
        os.waitpid(child, os.WNOHANG)  # already reaped
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@needs_fork
def test_a_figure_process_that_dies_is_an_error_naming_the_signal(tmp_path):
    here = os.getpid()

    def crash():
        if os.getpid() != here:
            os.kill(os.getpid(), 9)
        return chart_jobs()[1].draw()

    jobs = [FigureJob("crash", crash), *chart_jobs()]
    with (
        pytest.raises(RuntimeError, match="ended by signal 9"),
        FigureDrawing(jobs, tmp_path, ("png",), processes=2) as drawing,
    ):
        os.waitid(os.P_PID, drawing.child, os.WEXITED | os.WNOWAIT)  # it takes the first job, and dies
        drawing.finish()


def run_python(code: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPROFILEIMPORTTIME"}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_modules_a_run_imports_leave_scipy_signal_and_metrics_leaves_scipy_stats():
    # scipy.signal (tally likelihoods, likelihood fits) is imported where it is used, not by every run;
    # metrics imports scipy.stats on first use, so the sweep and brief commands that read tables need not.
    out = run_python(
        """
        import sys
        import escalation.metrics
        print("scipy.stats" in sys.modules)
        import escalation.counts, escalation.fitting, escalation.calibration, escalation.experiment
        import escalation.report.experiment
        print("scipy.signal" in sys.modules)
        """
    )
    assert out.splitlines() == ["False", "False"]


def test_the_collector_is_held_off_only_in_the_commands_own_process():
    out = run_python(
        """
        import gc
        from escalation import cli
        gc.disable()  # a program's own setting is kept: this is not the command's process
        cli._imports_done()
        print(gc.isenabled(), gc.get_freeze_count() > 0)
        cli._is_command_process = lambda: True  # as main does in the command's process
        cli._imports_done()
        frozen = gc.get_freeze_count()
        print(gc.isenabled(), frozen > 1000)
        gc.disable()
        cli._imports_done()  # a second task in the same process (a sweep's next point) freezes nothing
        gc.enable()
        cli._imports_done()
        print(gc.get_freeze_count() == frozen)
        """
    )
    assert out.splitlines() == ["False False", "True True", "True"]


def test_figures_are_drawn_in_a_second_process_only_by_the_command_itself(monkeypatch):
    from escalation import cli

    assert cli._figure_processes() == 1  # under pytest: another program called main
    monkeypatch.setattr(cli, "_is_command_process", lambda: True)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert cli._figure_processes() == (2 if can_fork() and cores > 1 else 1)


@needs_fork
def test_an_experiment_with_arms_writes_the_same_folder_with_one_or_two_figure_processes(tmp_path):
    from escalation.report.experiment import figure_jobs, write_experiment
    from escalation.report.folder import RunFolder
    from tests.test_experiment import _run

    result, _ = _run("us_posture")  # arms: fans, ladders and thresholds per arm, and arms comparisons
    folders = {}
    for processes in (1, 2):
        folder = RunFolder(tmp_path / str(processes), {"experiment": "us_posture"})
        summary = write_experiment(result, folder, figure_processes=processes)
        folder.finish("ok")
        folders[processes] = (folder.path, summary)
    (one, summary_one), (two, summary_two) = folders[1], folders[2]
    assert summary_one == summary_two
    assert (one / "summary.json").read_bytes() == (two / "summary.json").read_bytes()
    stems = [job.stem for job in figure_jobs(result)]
    assert "arms_comparison" in stems and sum(s.startswith("ladder_") for s in stems) == len(result.spec.arms)
    assert len(stems) == len(set(stems))
    for sub in ("figures", "tables"):
        names = sorted(p.name for p in (one / sub).iterdir())
        assert names == sorted(p.name for p in (two / sub).iterdir())  # no temporary file either
        for name in names:
            assert (one / sub / name).read_bytes() == (two / sub / name).read_bytes(), name
    assert sorted(p.name for p in (one / "figures").iterdir()) == sorted(
        f"{stem}.{fmt}" for stem in stems for fmt in result.spec.figure_formats
    )
