"""Atomic file writes: a temporary file of its own in the same folder, then a rename.

Every file the package writes (run folders, calibration artefacts, event files) goes through
:func:`atomic_file`, so a reader never sees half a file and two writers never write into each other's
temporary file. It imports only the standard library, so the data and inference layers can use it.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


def temporary_path(path: Path) -> Path:
    """A temporary name next to ``path``, unique to this process and call: ``.<name>.<pid>.<random>.tmp``."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")


def is_temporary(path: Path) -> bool:
    """Whether a file name is one of the temporary names of an atomic write."""
    return path.name.startswith(".") and path.name.endswith(".tmp")


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], *, make_folder: bool = True) -> Iterator[BinaryIO]:
    """A binary stream whose content replaces ``path`` when the block ends; nothing is left if it fails.

    ``make_folder``: create the missing folders first (else a missing folder raises ``FileNotFoundError``).
    """
    path = Path(path)
    if make_folder:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        with tmp.open("xb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())  # the content is on disk before the name points at it
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
