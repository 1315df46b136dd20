"""Drawing a run's figures: each figure is a job, drawn here or, beside this process, in one forked process.

A run's figures take longer to draw and save than its tables take to write (about 1.3 s for the baseline's
five figures, against 0.4 s for its tables). :class:`FigureDrawing` starts a second process (``os.fork``, on
Linux only) that draws figures while this process writes the tables; then both draw what is left. The two
processes take the jobs one at a time from one queue (a pipe holding the jobs' numbers), so neither waits
while the other has work left. Every figure is the same file whichever process draws it.

The guarantees of a serial run hold (docs/guarantees.md):

- every file is written atomically by :func:`escalation.plots.save_figure`;
- an error in the figure process is raised in this one (the same exception, with the figure's name and the
  figure process's traceback as a note), and the figure process stops at its first error;
- when this process fails or is interrupted while the figure process runs, the figure process is killed and
  reaped, and the temporary files it may have left (named with its pid) are removed;
- the figure process ignores Ctrl-C (this process, which handles it, stops the figure process) and stops
  before its next figure once this process has gone.

Where a second process cannot start (not Linux, ``processes=1``, fewer than two jobs, ``fork`` refused),
the figures are drawn here, after the work beside them, in the jobs' order.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_JOB_BYTES = 2  # a job's number in the queue: two bytes
MAX_PARALLEL_JOBS = 2_000
"""Above this many jobs the queue might not fit in a pipe's buffer (one page, 4,096 bytes, at the least,
and it is written before the figure process starts): they are drawn in this process."""


@dataclass(frozen=True)
class FigureJob:
    """One figure: the file stem it is saved as and the function that draws it (called once, anywhere)."""

    stem: str
    draw: Callable[[], Figure]


def draw_and_save(job: FigureJob, directory: Path, formats: Sequence[str]) -> list[Path]:
    """Draw one job's figure and save it in each format (atomically, then closed)."""
    from escalation import plots

    return plots.save_figure(job.draw(), directory, job.stem, formats=formats)


def draw_all(jobs: Sequence[FigureJob], directory: Path, formats: Sequence[str]) -> None:
    """Draw and save every job in this process, in order."""
    for job in jobs:
        draw_and_save(job, directory, formats)


def can_fork() -> bool:
    """Whether figures may be drawn in a forked process here (Linux, with ``os.fork``)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def _import_savers(formats: Sequence[str]) -> None:
    """Import what saving in ``formats`` imports on first use (backends, image plugins), before a fork.

    Else both processes would import them, each on its first figure.
    """
    import PIL.Image
    from matplotlib.backend_bases import get_registered_canvas_class

    for fmt in formats:
        get_registered_canvas_class(fmt)  # imports its backend (an unknown format: saving reports it)
    PIL.Image.preinit()


class FigureProcessError(RuntimeError):
    """The figure process ended without a reply (a crash, a signal), or its error could not be sent."""


class FigureDrawing:
    """Draw ``jobs`` beside the work of a ``with`` block, then :meth:`finish` them here.

    ::

        with FigureDrawing(jobs, folder.figures, formats, processes=2) as drawing:
            write_tables()  # the figure process draws meanwhile
            drawing.finish()  # draws what is left here, waits, raises the figure process's error

    A block that ends without calling :meth:`finish` calls it as it ends; an error in the block stops the
    figure process and removes its temporary files, and the block's error propagates.
    """

    def __init__(
        self, jobs: Sequence[FigureJob], directory: Path, formats: Sequence[str], *, processes: int = 1
    ) -> None:
        self.jobs = list(jobs)
        self.directory = Path(directory)
        self.formats = tuple(formats)
        self.processes = processes
        self.child: int | None = None  # the figure process's pid while it may run
        self._queue: int | None = None  # read end of the queue of job numbers
        self._reply_fd: int | None = None  # read end of the pipe of the figure process's reply
        self._reply: tuple | None = None  # the reply, once read: ("ok",), ("error", ...) or ("ended",)
        self._finished = False

    # -- this process -------------------------------------------------------------------------------------

    def __enter__(self) -> FigureDrawing:
        if self.processes > 1 and 1 < len(self.jobs) <= MAX_PARALLEL_JOBS and can_fork():
            self._start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None and not self._finished:
                self.finish()
        finally:
            self._stop()

    def finish(self) -> None:
        """Draw the jobs no process has taken yet, here; wait for the figure process; raise its error."""
        self._finished = True
        if self._queue is None:
            draw_all(self.jobs, self.directory, self.formats)
            return
        for job in self._pull():
            if self._read_reply(wait=False) and self._reply[0] != "ok":
                break  # the figure process stopped at an error: raised below, without drawing on
            draw_and_save(job, self.directory, self.formats)
        self._wait()

    def _start(self) -> None:
        _import_savers(self.formats)
        queue_read, queue_write = os.pipe()
        reply_read, reply_write = os.pipe()
        try:
            os.write(queue_write, b"".join(k.to_bytes(_JOB_BYTES, "big") for k in range(len(self.jobs))))
        finally:
            os.close(queue_write)  # the queue ends (EOF) once its numbers are taken
        for stream in (sys.stdout, sys.stderr):  # else both processes would write what is buffered
            stream.flush()
        parent = os.getpid()
        try:
            with warnings.catch_warnings():
                # Python 3.12 warns about forking a process with threads (a progress bar's monitor): the
                # figure process only draws and writes files, and never takes a lock those threads hold.
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
        except OSError:
            for fd in (queue_read, reply_read, reply_write):
                os.close(fd)
            return  # no second process: finish draws them all here
        if pid == 0:
            os.close(reply_read)
            self._queue = queue_read
            self._figure_process(parent, reply_write)  # never returns
        os.close(reply_write)
        self.child, self._queue, self._reply_fd = pid, queue_read, reply_read

    def _pull(self) -> Iterator[FigureJob]:
        """The next job nobody has taken yet, until the queue is empty."""
        while True:
            taken = os.read(self._queue, _JOB_BYTES)  # one whole number: a pipe read is atomic
            if not taken:
                return
            yield self.jobs[int.from_bytes(taken, "big")]

    def _read_reply(self, *, wait: bool) -> bool:
        """Read the figure process's reply (sent as it ends) if it has come, or wait for it; whether read."""
        if self._reply is None:
            if not wait and not select.select([self._reply_fd], [], [], 0)[0]:
                return False
            chunks = []
            while chunk := os.read(self._reply_fd, 1 << 16):  # to the end: the process is ending
                chunks.append(chunk)
            self._reply = pickle.loads(b"".join(chunks)) if chunks else ("ended",)
        return True

    def _wait(self) -> None:
        """Wait for the figure process's reply, reap it, and raise its error if it had one."""
        self._read_reply(wait=True)
        _, status = os.waitpid(self.child, 0)
        self.child = None
        if self._reply[0] == "ok":
            return
        if self._reply[0] == "ended":
            code = os.waitstatus_to_exitcode(status)
            how = f"by signal {-code}" if code < 0 else f"with exit code {code}"
            raise FigureProcessError(f"the figure process (drawing into {self.directory}) ended {how}")
        _, stem, error, trace = self._reply
        error.add_note(f"while drawing figure {stem!r} in the figure process:\n{trace.rstrip()}")
        raise error

    def _stop(self) -> None:
        """Kill and reap a figure process still running, remove its temporary files, close the pipes."""
        if self.child is not None:
            pid, self.child = self.child, None
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            if self.directory.is_dir():
                for path in self.directory.glob(f".*.{pid}.*.tmp"):
                    path.unlink(missing_ok=True)
        for name in ("_queue", "_reply_fd"):
            fd = getattr(self, name)
            if fd is not None:
                setattr(self, name, None)
                os.close(fd)

    # -- the figure process -------------------------------------------------------------------------------

    def _figure_process(self, parent: int, reply: int) -> None:
        """Draw jobs from the queue until it is empty, send the reply, and end without the parent's exit."""
        code = 0
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            message: tuple = ("ok",)
            stem = None
            try:
                for job in self._pull():
                    if os.getppid() != parent:
                        break  # the run has gone: nobody reads these figures' reply
                    stem = job.stem
                    draw_and_save(job, self.directory, self.formats)
            except BaseException as err:  # every error goes back to the parent
                message = ("error", stem, err, traceback.format_exc())
            try:
                data = pickle.dumps(message)
                pickle.loads(data)  # the parent must be able to read it back
            except Exception:  # an error that cannot be sent goes as text
                error = FigureProcessError(f"{type(message[2]).__name__}: {message[2]}")
                data = pickle.dumps(("error", message[1], error, message[3]))
            view = memoryview(data)
            while view:
                view = view[os.write(reply, view) :]
            os.close(reply)
            sys.stderr.flush()  # warnings the figures printed
        except BaseException:  # no reply: the parent sees the exit code
            code = 1
        finally:
            os._exit(code)
