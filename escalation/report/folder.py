"""A run folder: atomic file writes and a manifest that says whether the run finished.

The manifest is written first with status ``running`` and rewritten at the end as ``ok``, ``failed`` (with
the error) or ``interrupted``. ``summary.json`` is written only after every table and figure, so a folder
with a summary and an ``ok`` manifest is complete, and a failed run never leaves a summary behind.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from escalation import __version__

KEY_LIBRARIES = ("mesa", "numpy", "scipy", "pandas", "pyarrow", "matplotlib", "hydra-core", "omegaconf")


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write a file via a temporary file in the same folder and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    """Write a text file atomically (UTF-8)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, data: Any) -> Path:
    """Write JSON atomically, indented, with sorted keys."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def atomic_write_parquet(path: Path, frame: pd.DataFrame) -> Path:
    """Write a Parquet table atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)
    return path


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


class RunFolder:
    """The folder of one run and its manifest.

    Args:
        path: the folder (created if needed).
        manifest: fields recorded from the start (experiment, seed, command line, ...).
    """

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._started = time.perf_counter()
        self.manifest: dict[str, Any] = {
            "escalation_version": __version__,
            "git_revision": git_revision(Path(__file__).resolve().parent),
            "libraries": library_versions(),
            "command": " ".join(sys.argv),
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            **manifest,
            "status": "running",
        }
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
        """Close the manifest with a final status: ``ok``, ``failed`` or ``interrupted``."""
        self.manifest.update(
            status=status,
            finished=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            wall_seconds=round(time.perf_counter() - self._started, 3),
        )
        if error is not None:
            self.manifest["error"] = error
        if status != "ok":
            (self.path / "summary.json").unlink(missing_ok=True)
        self._write_manifest()

    def _write_manifest(self) -> None:
        atomic_write_json(self.path / "manifest.json", self.manifest)


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest of a run folder, or None if it has none or it is unreadable."""
    try:
        return json.loads((Path(path) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
