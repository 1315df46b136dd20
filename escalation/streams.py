"""Named random streams: one independent generator per decision, for common random numbers.

Each decision (an actor's attacks on one target, the outcome of those attacks, a state's choice to strike ...)
draws from its own stream, seeded from the chunk's ``SeedSequence`` and a stable hash of the decision's name.
Adding an actor or changing a lever therefore changes only the draws that depend on it, and two arms of an
experiment run with the same seed differ by the policy, not by reshuffled noise.
"""

from __future__ import annotations

import hashlib

import numpy as np


def stable_hash(name: str) -> int:
    """A 64-bit hash of a name that is the same in every process and Python version (unlike ``hash``)."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "little")


def chunk_seed(root_seed: int, chunk: int) -> np.random.SeedSequence:
    """The seed of replication chunk ``chunk`` under a root seed: independent of how chunks are scheduled."""
    return np.random.SeedSequence(entropy=root_seed, spawn_key=(chunk,))


class NamedStreams:
    """Generators keyed by decision name, all derived from one ``SeedSequence``."""

    def __init__(self, seed: np.random.SeedSequence) -> None:
        self.seed = seed
        self._streams: dict[str, np.random.Generator] = {}

    def __call__(self, name: str) -> np.random.Generator:
        """The generator for a decision name (created on first use, then reused)."""
        stream = self._streams.get(name)
        if stream is None:
            child = np.random.SeedSequence(
                entropy=self.seed.entropy, spawn_key=(*self.seed.spawn_key, stable_hash(name))
            )
            stream = np.random.Generator(np.random.PCG64(child))
            self._streams[name] = stream
        return stream
