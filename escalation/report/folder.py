"""A run folder: atomic file writes, a lock, and a manifest that says whether the run finished.

The manifest is written first with status ``running`` (with the run's ``pid`` and ``host``) and rewritten at
the end as ``ok``, ``failed`` (with the error) or ``interrupted``. ``summary.json`` is written only after
every table and figure, so a folder with a summary and an ``ok`` manifest is complete, and a failed run never
leaves a summary behind.

A run holds an exclusive lock on the folder (``flock`` on its ``.lock`` file) from before its first write to
its final manifest: a second run into the same folder is refused (:class:`FolderLocked`). A run that was
killed (SIGKILL, a crash) leaves ``running`` behind; :func:`mark_if_dead` finds such a folder (its lock free
and its pid gone) and closes its manifest as ``dead``. Temporary files are named
``.<name>.<pid>.<random>.tmp``, unique to each writer; a dead run's are removed. See docs/guarantees.md.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from escalation import __version__
from escalation.files import atomic_file, is_temporary

if TYPE_CHECKING:
    import pandas as pd

try:
    import fcntl
except ImportError:  # not POSIX: run folders are not locked
    fcntl = None

KEY_LIBRARIES = ("mesa", "numpy", "scipy", "pandas", "pyarrow", "matplotlib", "hydra-core", "omegaconf")


LOCK_NAME = ".lock"


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write a file atomically (:func:`escalation.files.atomic_file`)."""
    with atomic_file(path) as stream:
        stream.write(data)
    return Path(path)


def atomic_write_text(path: Path, text: str) -> Path:
    """Write a text file atomically (UTF-8)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, data: Any) -> Path:
    """Write JSON atomically, indented, with sorted keys."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def atomic_write_parquet(path: Path, frame: pd.DataFrame) -> Path:
    """Write a Parquet table atomically."""
    with atomic_file(path) as stream:
        frame.to_parquet(stream, index=False)
    return Path(path)


def git_revision(directory: Path) -> str | None:
    """The git commit of the checkout holding ``directory`` (with ``-dirty`` if modified), or None."""
    try:
        sha = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(directory), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}-dirty" if dirty else sha


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries whose behaviour shapes the results."""
    versions = {"python": platform.python_version()}
    for name in KEY_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


class FolderLocked(Exception):
    """Another live run holds the run folder's lock; the message names the folder and that run's pid."""

    def __init__(self, path: Path, pid: int | None, host: str | None) -> None:
        self.path, self.pid, self.host = Path(path), pid, host
        holder = f"pid {pid}" if pid is not None else "pid unknown"
        if host and host != socket.gethostname():
            holder += f" on host {host}"
        super().__init__(
            f"{path}: another run ({holder}) is running into this run folder; wait for it to end, or run "
            "into another folder (hydra.run.dir=...)"
        )


def _try_lock(path: Path) -> int | None:
    """Take the folder's lock without waiting: the open lock file's descriptor, or None if it is held."""
    fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    if fcntl is None:
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _write_holder(fd: int) -> str:
    """Write this process's pid and host into the lock file it holds (for a refused run's message)."""
    host = socket.gethostname()
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {host}\n".encode(), 0)
    return host


def _unlock(fd: int) -> None:
    os.close(fd)  # closing the only descriptor of the lock file releases the flock


def lock_holder(path: Path) -> tuple[int | None, str | None]:
    """The pid and host the lock file of a run folder names (its last holder), as far as they can be read."""
    for attempt in range(3):
        try:
            words = (Path(path) / LOCK_NAME).read_text(encoding="utf-8").split()
        except OSError:
            words = []
        if len(words) >= 2 and words[0].isdigit():
            return int(words[0]), words[1]
        time.sleep(0.05 * (attempt + 1))  # the holder may be between taking the lock and writing its pid
    return None, None


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine (a zombie, which has ended, does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]


def remove_temporaries(path: Path) -> list[str]:
    """Remove the temporary files of atomic writes in a run folder (not in run folders nested inside it).

    Only safe while holding the folder's lock: then no live writer owns them. Returns the removed names,
    relative to the folder.
    """
    path = Path(path)
    removed: list[str] = []
    pending = [path]
    while pending:
        directory = pending.pop()
        try:
            entries = list(directory.iterdir())
        except OSError:
            continue
        for entry in sorted(entries):
            if entry.is_dir() and not entry.is_symlink():
                if not (entry / "manifest.json").exists():
                    pending.append(entry)
            elif is_temporary(entry):
                entry.unlink(missing_ok=True)
                removed.append(entry.relative_to(path).as_posix())
    return removed


class RunFolder:
    """The folder of one run, its lock and its manifest.

    Creating it takes the folder's lock (held until :meth:`finish` or :meth:`close`), removes temporary files
    left there by dead runs, removes an old ``summary.json`` and writes the manifest as ``running``.

    Args:
        path: the folder (created if needed).
        manifest: fields recorded from the start (experiment, seed, command line, ...).

    Raises:
        FolderLocked: another live run holds the folder's lock; nothing in the folder was changed.
    """

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = _try_lock(self.path)
        if self._lock is None:
            pid, host = lock_holder(self.path)
            if pid is None:
                other = read_manifest(self.path) or {}
                pid, host = other.get("pid"), other.get("host")
            raise FolderLocked(self.path, pid, host)
        host = _write_holder(self._lock)
        self._started = time.perf_counter()
        self.manifest: dict[str, Any] = {
            "escalation_version": __version__,
            "git_revision": git_revision(Path(__file__).resolve().parent),
            "libraries": library_versions(),
            "command": " ".join(sys.argv),
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            **manifest,
            "pid": os.getpid(),
            "host": host,
            "status": "running",
        }
        remove_temporaries(self.path)
        (self.path / "summary.json").unlink(missing_ok=True)
        self._write_manifest()

    @property
    def figures(self) -> Path:
        """The figures subfolder."""
        return self.path / "figures"

    @property
    def tables(self) -> Path:
        """The tables subfolder."""
        return self.path / "tables"

    def record(self, **fields: Any) -> None:
        """Add fields to the manifest (written at once)."""
        self.manifest.update(fields)
        self._write_manifest()

    def finish(self, status: str, error: str | None = None) -> None:
        """Close the manifest with a final status (``ok``, ``failed``, ``interrupted``); release the lock."""
        self.manifest.update(
            status=status,
            finished=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            wall_seconds=round(time.perf_counter() - self._started, 3),
        )
        if error is not None:
            self.manifest["error"] = error
        try:
            if status != "ok":
                (self.path / "summary.json").unlink(missing_ok=True)
            self._write_manifest()
        finally:
            self.close()

    def close(self) -> None:
        """Release the folder's lock (the manifest stays as it is)."""
        if self._lock is not None:
            _unlock(self._lock)
            self._lock = None

    def _write_manifest(self) -> None:
        atomic_write_json(self.path / "manifest.json", self.manifest)


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest of a run folder, or None if it has none or it is unreadable."""
    try:
        manifest = json.loads((Path(path) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def mark_if_dead(path: Path) -> dict[str, Any] | None:
    """Close the manifest of a run that died without closing it; the new manifest, or None if it is not dead.

    A run is dead when its manifest says ``running``, it ran on this machine, its lock is free and its pid is
    no longer alive (a run killed with SIGKILL, or crashed). Its manifest is rewritten with status ``dead``
    and the reason, any ``summary.json`` is removed (only an ``ok`` folder is complete) and its temporary
    files are removed. A run on another host, or a manifest without a pid, is left alone.
    """
    path = Path(path)
    manifest = read_manifest(path)
    if not _maybe_dead(manifest):
        return None
    try:
        lock = _try_lock(path)
    except OSError:
        return None  # a folder this process cannot write to: left as it is
    if lock is None:
        return None  # a live run holds the lock
    try:
        _write_holder(lock)
        manifest = read_manifest(path)  # again, under the lock: the run may have finished meanwhile
        if not _maybe_dead(manifest) or pid_alive(int(manifest["pid"])):
            return None
        found = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        manifest.update(
            status="dead",
            error=(
                f"the run (pid {manifest['pid']} on {manifest['host']}) ended without closing its manifest: "
                "it was killed (e.g. SIGKILL) or crashed"
            ),
            found_dead=found,
            found_dead_by=f"pid {os.getpid()}: {' '.join(sys.argv)}",
        )
        (path / "summary.json").unlink(missing_ok=True)
        manifest["removed_temporaries"] = remove_temporaries(path)
        atomic_write_json(path / "manifest.json", manifest)
        return manifest
    finally:
        _unlock(lock)


def _maybe_dead(manifest: dict[str, Any] | None) -> bool:
    return (
        manifest is not None
        and manifest.get("status") == "running"
        and isinstance(manifest.get("pid"), int)
        and manifest.get("host") == socket.gethostname()
    )
