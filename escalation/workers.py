"""Set-up of the ensemble's worker processes: they ignore Ctrl-C and die with their parent.

This module imports only the standard library (and ``escalation/__init__.py``, which imports nothing heavy),
so a spawned worker runs :func:`watch_parent` at once, before its first task imports NumPy, SciPy and Mesa
(seconds on a busy machine): a worker orphaned during that import is already watched.

Workers die with their parent: a daemon thread polls ``os.getppid()`` and ends the worker with ``os._exit``
once it differs from the parent's pid (the parent has ended, even by SIGKILL, and the worker was re-parented).
Polling is portable and does not depend on which of the parent's threads started the worker, as Linux's
``PR_SET_PDEATHSIG`` does. Workers ignore SIGINT: Ctrl-C reaches the whole process group, and the parent,
which handles it, stops the workers itself, so no worker prints a traceback.
"""

from __future__ import annotations

import os
import signal
import threading
import time

PARENT_POLL_SECONDS = 0.25


def watch_parent(parent: int, interval: float = PARENT_POLL_SECONDS) -> None:
    """The pool's initializer: ignore SIGINT and end this worker once process ``parent`` is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # held by the parent while it starts the pool, and inherited
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()
