"""rl.schedules and rl.seeding: pure schedules, JSON round trips, reproducible generators."""

import itertools
import json

import numpy as np
import pytest

from rl import schedules
from rl.seeding import HELD_OUT_SEEDS, episode_seed, make_rng, rng_state, set_rng_state


def test_linear_hits_its_ends_and_interpolates():
    s = schedules.linear(1.0, 0.1, 100)
    assert s(0) == 1.0
    assert s(50) == pytest.approx(0.55)
    assert s(100) == pytest.approx(0.1)
    assert s(10_000) == pytest.approx(0.1)
    assert schedules.linear(0.5, 0.0, 0)(0) == 0.0


def test_exponential_decays_toward_end_without_passing_it():
    s = schedules.exponential(1.0, 0.1, 0.5)
    assert s(0) == 1.0
    assert s(1) == pytest.approx(0.1 + 0.9 * 0.5)
    assert s(3) == pytest.approx(0.1 + 0.9 * 0.125)
    assert s(10**12) == pytest.approx(0.1)
    values = [s(t) for t in range(50)]
    assert all(a >= b for a, b in itertools.pairwise(values))


def test_constant_and_number_shorthand():
    assert schedules.constant(0.3)(12345) == 0.3
    assert schedules.from_config(0.25)(7) == 0.25


@pytest.mark.parametrize(
    "schedule",
    [schedules.constant(0.2), schedules.linear(1, 0.05, 1000), schedules.exponential(1, 0, 0.99)],
)
def test_config_round_trip_through_json(schedule):
    d = json.loads(json.dumps(schedule.config()))
    rebuilt = schedules.from_config(d)
    assert rebuilt == schedule
    assert [rebuilt(t) for t in (0, 10, 999, 5000)] == [schedule(t) for t in (0, 10, 999, 5000)]


def test_schedules_are_pure_functions_of_the_step():
    s = schedules.linear(1, 0, 10)
    first = [s(t) for t in (7, 3, 7, 0)]
    assert first == [s(t) for t in (7, 3, 7, 0)]
    assert first[0] == first[2]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"kind": "cosine"}, "unknown schedule kind"),
        ({"start": 1}, "'kind' key"),
        ({"kind": "linear", "start": 1}, "bad parameters"),
        ({"kind": "exponential", "start": 1, "end": 0, "decay": 1.5}, "decay"),
        ({"kind": "linear", "start": 1, "end": 0, "duration": -3}, "duration"),
    ],
)
def test_bad_schedule_configs_say_what_is_wrong(bad, message):
    with pytest.raises(ValueError, match=message):
        schedules.from_config(bad)


def test_same_seed_same_stream_and_different_seeds_differ():
    a, b, c = make_rng(7), make_rng(7), make_rng(8)
    assert np.array_equal(a.random(5), b.random(5))
    assert not np.array_equal(make_rng(7).random(5), c.random(5))
    assert [episode_seed(make_rng(3)) for _ in range(2)] == [episode_seed(make_rng(3))] * 2


def test_rng_state_round_trips_through_json():
    rng = make_rng(123)
    rng.random(17)
    state = json.loads(json.dumps(rng_state(rng)))
    expected = rng.random(10)
    other = make_rng(999)
    set_rng_state(other, state)
    assert np.array_equal(other.random(10), expected)


def test_rng_state_is_a_copy_not_a_view():
    rng = make_rng(1)
    state = rng_state(rng)
    rng.random(3)
    assert rng_state(rng) != state


def test_set_rng_state_rejects_another_bit_generator():
    mt = np.random.Generator(np.random.MT19937(0))
    with pytest.raises(ValueError, match="bit generator"):
        set_rng_state(make_rng(0), rng_state(mt))


def test_episode_seeds_are_valid_reset_seeds():
    rng = make_rng(0)
    seeds = [episode_seed(rng) for _ in range(100)]
    assert all(isinstance(s, int) and 0 <= s < 2**31 for s in seeds)
    assert len(set(seeds)) == 100


def test_held_out_seeds_lie_above_every_other_seed():
    rng = make_rng(0)
    held_out = [episode_seed(rng, held_out=True) for _ in range(1000)]
    assert all(isinstance(s, int) and s in HELD_OUT_SEEDS for s in held_out)
    assert HELD_OUT_SEEDS[0] == 2**31 and HELD_OUT_SEEDS[-1] == 2**32 - 1  # they fit 32 bits
    np.random.RandomState(max(held_out))  # the legacy seeding accepts them
