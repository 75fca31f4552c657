"""Seeding through explicit `numpy.random.Generator` objects; no global random state.

A run owns a few generators (the loop's, the agent's); their states are JSON-able dicts so a
checkpoint can store them in its metadata and a resumed run continues the same random stream.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np

# Episode seeds of training and of the evaluations during training are drawn below 2**31, so any
# consumer that wants a 32-bit signed int accepts them. Held-out seeds, for the evaluation of a
# trained agent, are drawn from the range above: a game they start is never one that training
# played, nor one of the evaluations that chose the run's best checkpoint (rl.loop). They still
# fit the 32 unsigned bits that the legacy np.random.seed accepts.
_SEED_BOUND = 2**31 - 1
HELD_OUT_SEEDS = range(2**31, 2**32)


def make_rng(seed: int | Sequence[int] | None) -> np.random.Generator:
    """A PCG64 generator from an int (or a sequence of ints, e.g. `[seed, stream]`).

    `None` gives fresh OS entropy: only for throwaway use, never for a run meant to reproduce.
    """
    return np.random.default_rng(seed)


def rng_state(rng: np.random.Generator) -> dict:
    """The generator's state as a JSON-able dict (Python ints may exceed 64 bits; JSON is fine)."""
    return copy.deepcopy(rng.bit_generator.state)


def set_rng_state(rng: np.random.Generator, state: dict) -> None:
    """Restore a state captured by `rng_state` into `rng` (same bit generator kind required)."""
    expected = type(rng.bit_generator).__name__
    found = state.get("bit_generator") if isinstance(state, dict) else None
    if found != expected:
        raise ValueError(
            f"rng state is for bit generator {found!r}, but this generator is {expected!r}"
        )
    rng.bit_generator.state = copy.deepcopy(state)


def episode_seed(rng: np.random.Generator, held_out: bool = False) -> int:
    """Draw the seed for the next `env.reset(seed=...)`: below 2**31, or from HELD_OUT_SEEDS."""
    if held_out:
        return int(rng.integers(HELD_OUT_SEEDS.start, HELD_OUT_SEEDS.stop))
    return int(rng.integers(0, _SEED_BOUND))
