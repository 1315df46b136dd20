"""Tests of the disk cache (escalation/cache.py) and of the pooled priors' fits it keeps (pooling.py)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy

import escalation
from escalation import cache, pooling
from escalation.calibration import calibrate
from escalation.events import load_builtin_events
from escalation.specs import default_scenario

CUTOFF = dt.date(2023, 10, 7)
RATE_POOLS = ("base_rate", "paused_rate")


def forget() -> None:
    """Clear the in-process caches of the pools, so that the next call reads the disk cache or fits."""
    pooling._rate_population.cache_clear()
    pooling._truce_population.cache_clear()


@pytest.fixture
def disk_cache(tmp_path, monkeypatch):
    """The disk cache on, in a folder of the test's own; the in-process caches cleared before and after."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(cache.CACHE_DIR, str(folder))
    monkeypatch.delenv(cache.NO_CACHE, raising=False)
    forget()
    yield folder
    forget()


@pytest.fixture
def fits(monkeypatch):
    """Counts the pools' fits (calls of pooling.fit_population), per call of the population."""
    calls = []
    original = pooling.fit_population

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(pooling, "fit_population", counted)
    return calls


def population(name: str, cutoff: dt.date = CUTOFF, leave_out: tuple[str, ...] = ()):
    forget()
    return pooling._rate_population(name, cutoff, leave_out)


def entries(folder: Path) -> list[Path]:
    return sorted((folder / pooling.POPULATION_CACHE).glob("*.npz"))


def assert_identical(a: pooling.Population, b: pooling.Population) -> None:
    """Two populations are the same to the bit: arrays, predictive, prior, summary, stretches and notes."""
    assert a is not b
    assert a.weights.dtype == b.weights.dtype and a.weights.tobytes() == b.weights.tobytes()
    assert len(a.grids) == len(b.grids) == len(a.stretches)
    for x, y in zip(a.grids + a.log_likelihoods, b.grids + b.log_likelihoods, strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
    assert a.predictive().tobytes() == b.predictive().tobytes()
    assert a.prior() == b.prior()
    assert a.summary() == b.summary()
    assert a.stretches == b.stretches and a.notes == b.notes


@pytest.mark.parametrize("name", RATE_POOLS)
def test_a_population_read_from_the_cache_is_bit_identical_to_a_fresh_fit(
    name, disk_cache, fits, monkeypatch
):
    monkeypatch.setenv(cache.NO_CACHE, "1")
    fresh = population(name)
    assert not disk_cache.exists()  # the cache off: nothing written
    monkeypatch.delenv(cache.NO_CACHE)
    written = population(name)
    assert len(entries(disk_cache)) == 1 and len(fits) == 2
    read = population(name)
    assert len(fits) == 2  # read from the disk cache: no third fit
    assert_identical(fresh, written)
    assert_identical(fresh, read)


def test_a_calibration_with_cached_pools_is_the_same_artefact(disk_cache, fits, monkeypatch):
    scenario = default_scenario()
    events = load_builtin_events(actors=scenario.actor_names)
    monkeypatch.setenv(cache.NO_CACHE, "1")
    forget()
    fresh = calibrate(events, scenario, draws=500)
    monkeypatch.delenv(cache.NO_CACHE)
    forget()
    calibrate(events, scenario, draws=500)  # fills the cache
    count = len(fits)
    forget()
    cached = calibrate(events, scenario, draws=500)
    assert len(fits) == count  # every pool read from the cache
    assert cached.hash == fresh.hash
    assert cached.pools == fresh.pools and cached.notes == fresh.notes


@pytest.fixture
def inputs(tmp_path, monkeypatch):
    """Copies of the reference records, the pools file and the fit's modules, for a test to change."""
    records = tmp_path / "reference"
    shutil.copytree(pooling.reference_dir(), records)
    code = tmp_path / "code"
    code.mkdir()
    for module in pooling._FIT_MODULES:
        shutil.copy(Path(pooling.__file__).parent / module, code / module)
    monkeypatch.setattr(pooling, "__file__", str(code / "pooling.py"))
    return records, code


def test_every_input_of_a_fit_enters_its_key(inputs, monkeypatch):
    records, code = inputs
    pools = pooling.load_pools(records / "pools.yaml")
    base, paused = pools["base_rate"], pools["paused_rate"]
    record = sorted(base.dyads)[0]

    def key(pool=base, cutoff=CUTOFF, leave_out=()):
        return pooling.population_key(pool, cutoff, leave_out, folder=records)

    def appended(path: Path, text: str) -> str:
        path.write_bytes(path.read_bytes() + text.encode())
        return key()

    original = key()
    assert key() == original  # the same inputs, the same key
    keys = {
        "original": original,
        "pool": key(pool=paused),
        "cut-off": key(cutoff=dt.date(2023, 10, 6)),
        "no cut-off": key(cutoff=None),
        "leave-out": key(leave_out=(record,)),
    }
    for name, value in (("escalation", "9.9.9"), ("np", "0.0.1"), ("scipy", "0.0.2")):
        module = {"escalation": escalation, "np": np, "scipy": scipy}[name]
        with monkeypatch.context() as patch:
            patch.setattr(module, "__version__", value)
            keys[f"{name} version"] = key()
    keys["pools file"] = appended(records / "pools.yaml", "# one more comment\n")
    keys["record"] = appended(records / record, "\n")
    for module in pooling._FIT_MODULES:
        keys[f"source of {module}"] = appended(code / module, "\n# changed\n")
    assert len(set(keys.values())) == len(keys), keys


def test_a_changed_input_misses_the_cache_and_fits_again(disk_cache, fits, inputs, monkeypatch):
    records, _ = inputs
    monkeypatch.setattr(pooling, "reference_dir", lambda: records)
    pooling._record.cache_clear()
    try:
        first = population("base_rate")
        population("base_rate")
        assert len(fits) == 1
        # A comment in the pools file changes no number of the fit, but the cache cannot know that: a miss.
        (records / "pools.yaml").write_bytes((records / "pools.yaml").read_bytes() + b"# changed\n")
        again = population("base_rate")
        assert len(fits) == 2 and len(entries(disk_cache)) == 2
        assert_identical(first, again)
        population("base_rate", leave_out=(sorted(first.records)[0],))  # another leave-out set: a miss
        population("base_rate", cutoff=dt.date(2023, 1, 1))  # another cut-off: a miss
        assert len(fits) == 4 and len(entries(disk_cache)) == 4
    finally:
        pooling._record.cache_clear()


def corruptions(entry: Path, fresh: pooling.Population):
    """Ways an entry can be spoiled; each yields after writing its spoilt entry over ``entry``."""
    good = entry.read_bytes()
    entry.write_bytes(b"not a cache entry")
    yield "garbage"
    entry.write_bytes(good[: len(good) // 2])
    yield "truncated"
    entry.write_bytes(b"")
    yield "empty"
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0xFF  # inside the arrays' data: the zip's CRC-32 no longer matches
    entry.write_bytes(bytes(flipped))
    yield "a flipped bit"
    arrays = pooling._population_arrays(fresh)
    with entry.open("wb") as stream:
        np.savez(stream, __key__=np.asarray("0" * 64), **arrays)
    yield "another key's entry"
    with entry.open("wb") as stream:
        np.savez(stream, __key__=np.asarray(entry.stem), **{**arrays, "weights": arrays["weights"][:, :3]})
    yield "an array of the wrong shape"
    with entry.open("wb") as stream:
        np.savez(
            stream, __key__=np.asarray(entry.stem), **{**arrays, "predictive": arrays["predictive"] * np.nan}
        )
    yield "not-a-number values"
    with entry.open("wb") as stream:
        np.savez(stream, __key__=np.asarray(entry.stem), **{**arrays, "stretches": arrays["stretches"][::-1]})
    yield "other stretches"
    with entry.open("wb") as stream:
        np.savez(stream, __key__=np.asarray(entry.stem), **{**arrays, "extra": np.zeros(3)})
    yield "an unknown array"


def test_a_spoilt_entry_is_never_trusted_and_is_rewritten(disk_cache, fits, monkeypatch):
    monkeypatch.setenv(cache.NO_CACHE, "1")
    fresh = population("base_rate")
    monkeypatch.delenv(cache.NO_CACHE)
    population("base_rate")
    (entry,) = entries(disk_cache)
    for spoilt in corruptions(entry, fresh):
        count = len(fits)
        assert_identical(fresh, population("base_rate"))
        assert len(fits) == count + 1, spoilt  # a miss: fitted again, and the entry rewritten
        assert_identical(fresh, population("base_rate"))
        assert len(fits) == count + 1, spoilt  # the rewritten entry is read
    assert entries(disk_cache) == [entry]
    assert not [p for p in entry.parent.iterdir() if p.suffix != ".npz"]  # no temporary file left


def test_no_cache_turns_the_cache_off(disk_cache, fits, monkeypatch):
    monkeypatch.setenv(cache.NO_CACHE, "1")
    population("base_rate")
    population("base_rate")
    assert len(fits) == 2 and not disk_cache.exists()
    for value in ("0", ""):
        monkeypatch.setenv(cache.NO_CACHE, value)
        assert cache.enabled()


def test_a_cache_folder_that_cannot_be_written_only_means_no_caching(tmp_path, fits, monkeypatch):
    blocked = tmp_path / "a file"
    blocked.write_text("in the way of the cache folder")
    monkeypatch.setenv(cache.CACHE_DIR, str(blocked / "cache"))
    monkeypatch.setenv(cache.NO_CACHE, "1")
    fresh = population("base_rate")
    monkeypatch.delenv(cache.NO_CACHE)
    assert_identical(fresh, population("base_rate"))
    assert len(fits) == 2
    assert not cache.write("kind", "0" * 64, {"x": np.zeros(2)})
    assert cache.read("kind", "0" * 64) is None
    forget()


def test_the_cache_folder_is_chosen_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(cache.CACHE_DIR, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "escalation"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "escalation"
    monkeypatch.setenv(cache.CACHE_DIR, str(tmp_path / "own"))
    assert cache.cache_dir() == tmp_path / "own"
    assert cache.entry_path("kind", "abc") == tmp_path / "own" / "kind" / "abc.npz"


def test_keys_of_different_parts_differ():
    # Length prefixes: moving bytes from one part to the next changes the key.
    assert cache.key(["ab", "c"]) != cache.key(["a", "bc"])
    assert cache.key(["ab", b"c"]) == cache.key([b"ab", "c"])
    assert cache.key([]) != cache.key([""])
