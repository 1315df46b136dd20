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


class DailyUniforms:
    """A stream's uniforms of one fixed shape per day, drawn from its generator a block of days at a time.

    A generator's doubles come in sequence, so ``generator.random((days, *shape))`` gives, day by day, exactly
    the arrays that ``days`` calls of ``generator.random(shape)`` would: drawing ahead changes no number, only
    the count of calls (one per block instead of one per day). For streams that draw on every day, whatever
    happened (common random numbers).

    Args:
        generator: the decision's stream.
        shape: the shape of one day's uniforms.
        days: the days the stream will be asked for, at most (the draws stop there).
        block_bytes: the largest block drawn at once, in bytes (at least one day is drawn). The block is one
            buffer refilled in place, small enough to stay in the processor's cache.
    """

    def __init__(
        self, generator: np.random.Generator, shape: tuple[int, ...], days: int, block_bytes: int = 1 << 18
    ) -> None:
        self._generator = generator
        per_day = 8 * int(np.prod(shape, dtype=np.int64))
        self._buffer = np.empty((max(1, min(int(days), block_bytes // max(per_day, 1))), *shape))
        self._days_left = int(days)
        self._block = self._buffer[:0]
        self._next = 0

    def today(self) -> np.ndarray:
        """The next day's uniforms: a view valid until the next block is drawn (use it the same day)."""
        if self._next == len(self._block):
            if self._days_left <= 0:
                raise RuntimeError("DailyUniforms: more days asked for than the stream was made for")
            self._block = self._buffer[: min(len(self._buffer), self._days_left)]
            self._generator.random(out=self._block)
            self._days_left -= len(self._block)
            self._next = 0
        day = self._block[self._next]
        self._next += 1
        return day


class StackedUniforms:
    """Several streams' uniforms of one fixed shape per day, side by side in one array.

    Day t's array has, in row ``i``, the next ``shape`` uniforms of generator ``i``: exactly the numbers a
    :class:`DailyUniforms` of that generator (or one call of ``generator.random(shape)`` a day) would give
    that day. Each generator fills its own row in place, so the decisions of several dyads read one array
    without a copy to stack them.

    Args:
        generators: the decisions' streams, in the order of the rows.
        shape: the shape of one stream's uniforms of one day.
        days: the days the streams will be asked for, at most (the draws stop there).
    """

    def __init__(self, generators: list[np.random.Generator], shape: tuple[int, ...], days: int) -> None:
        self._generators = list(generators)
        self._today = np.empty((len(self._generators), *shape))
        self._days_left = int(days)

    def today(self) -> np.ndarray:
        """The next day's uniforms, (streams, *shape): valid until the next call (use it the same day)."""
        if self._days_left <= 0:
            raise RuntimeError("StackedUniforms: more days asked for than the streams were made for")
        for generator, row in zip(self._generators, self._today, strict=True):
            generator.random(out=row)
        self._days_left -= 1
        return self._today
