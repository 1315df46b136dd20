"""A cache on disk for results that are costly to compute and fixed by their inputs (the pooled priors' fits).

An entry is a NumPy ``.npz`` file of named arrays, named by a SHA-256 key of every input of the computation
(the caller's :func:`key` of texts and bytes), in :func:`cache_dir`:

1. ``$ESCALATION_CACHE_DIR`` when set;
2. else ``$XDG_CACHE_HOME/escalation`` when ``XDG_CACHE_HOME`` is set;
3. else ``~/.cache/escalation``.

``ESCALATION_NO_CACHE=1`` turns the cache off (nothing is read or written). An entry is written atomically (a
temporary file of its own, then a rename: :func:`escalation.files.atomic_file`), so a reader never sees half
an entry and parallel writers of one key never mix. An entry is read without pickles, and it is used only when
it is a readable ``.npz`` (the zip format's checksums catch flipped bits) whose stored key is the key asked
for and whose arrays the caller's check accepts; anything else counts as a miss, and the caller's fresh
result replaces it. A cache folder that cannot be made or written only means no caching: the computation's
result is the same either way.

Standard library and NumPy only.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np

from escalation.files import atomic_file

CACHE_DIR = "ESCALATION_CACHE_DIR"  # where the entries go (see cache_dir)
NO_CACHE = "ESCALATION_NO_CACHE"  # set to 1 to compute everything afresh
_KEY_ARRAY = "__key__"


def enabled() -> bool:
    """Whether the cache is on: unless ``ESCALATION_NO_CACHE`` is set to something other than ``0``."""
    return os.environ.get(NO_CACHE, "") in ("", "0")


def cache_dir() -> Path:
    """The cache folder (see the module's docstring for the order in which it is chosen)."""
    if os.environ.get(CACHE_DIR):
        return Path(os.environ[CACHE_DIR]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "escalation"
    return Path.home() / ".cache" / "escalation"


def key(parts: Iterable[str | bytes]) -> str:
    """SHA-256 of the parts, each length-prefixed (so that no two different lists of parts share a key)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else bytes(part)
        digest.update(f"{len(data)}:".encode())
        digest.update(data)
    return digest.hexdigest()


def entry_path(kind: str, entry_key: str) -> Path:
    """The file of an entry: ``<cache folder>/<kind>/<key>.npz``."""
    return cache_dir() / kind / f"{entry_key}.npz"


def read(
    kind: str, entry_key: str, check: Callable[[dict[str, np.ndarray]], bool] | None = None
) -> dict[str, np.ndarray] | None:
    """The arrays of an entry, or None: no entry, the cache is off, or the entry is not to be trusted.

    ``check``: the caller's test of the arrays (names, shapes, dtypes, finite values); an entry it refuses is
    a miss.
    """
    if not enabled():
        return None
    path = entry_path(kind, entry_key)
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, RuntimeError):
        return None  # unreadable or corrupt (a truncated file, flipped bits): computed again and rewritten
    stored_key = arrays.pop(_KEY_ARRAY, None)
    if stored_key is None or stored_key.shape != () or str(stored_key) != entry_key:
        return None
    try:
        if check is not None and not check(arrays):
            return None
    except (KeyError, ValueError, TypeError, IndexError):
        return None
    return arrays


def write(kind: str, entry_key: str, arrays: Mapping[str, np.ndarray]) -> bool:
    """Store an entry atomically; returns whether it was written (False: the cache is off or not writable)."""
    if not enabled():
        return False
    try:
        with atomic_file(entry_path(kind, entry_key)) as stream:
            np.savez(stream, **{_KEY_ARRAY: np.asarray(entry_key)}, **arrays)
    except OSError:
        return False  # a read-only or full disk, a folder we may not make: no caching, same results
    return True
