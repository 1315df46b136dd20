"""Tests of escalation/streams.py: named streams and uniforms drawn a block of days ahead."""

from __future__ import annotations

import numpy as np
import pytest

from escalation.streams import DailyUniforms, NamedStreams


def test_daily_uniforms_are_the_numbers_of_one_call_a_day():
    # Drawing ahead must change no number: day t's array equals the t-th call of random(shape).
    for shape, block_bytes in (((300,), 8 * 300 * 4), ((50, 4), 8 * 200 * 3), ((7,), 1)):
        reference = np.random.Generator(np.random.PCG64(5))
        blocked = DailyUniforms(np.random.Generator(np.random.PCG64(5)), shape, 11, block_bytes=block_bytes)
        for _ in range(11):
            assert np.array_equal(blocked.today(), reference.random(shape))


def test_daily_uniforms_refuse_days_beyond_those_they_were_made_for():
    stream = DailyUniforms(np.random.Generator(np.random.PCG64(1)), (3,), 2)
    stream.today()
    stream.today()
    with pytest.raises(RuntimeError, match="more days"):
        stream.today()


def test_named_streams_differ_by_name_and_repeat_by_seed():
    a, b = NamedStreams(np.random.SeedSequence(3)), NamedStreams(np.random.SeedSequence(3))
    assert np.array_equal(a("attacks:x").random(5), b("attacks:x").random(5))
    assert not np.array_equal(a("attacks:y").random(5), b("outcome:y").random(5))
