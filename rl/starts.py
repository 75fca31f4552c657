"""Training games that start part of the way through: more of the states a good player reaches.

An agent sees the late part of a game (a few pellets left, far apart) only once it survives
that long, so it learns the endgame last and from few games. `PartialFoodStarts` starts a
share of the training games with part of the food already gone (the env's reset option
``food_share``, PacGrid's), so that boards with few pellets come from the first episodes on.
Evaluations play whole games.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from rl.seeding import make_rng

PARTIAL_STREAM = 4  # a seeded reset draws its start from make_rng([seed, PARTIAL_STREAM])


class PartialFoodStarts(gym.Wrapper):
    """With probability `probability`, a reset starts a game with a uniform random share of its
    food, from (0, 1] (at least one pellet); the other games start whole. A seeded reset (the
    training loop seeds every episode) draws both from its seed, an unseeded one from the env's
    generator, so the seeds fix them.

    info["food_share"] holds the share asked for (1.0 for a whole game).
    """

    def __init__(self, env: gym.Env, probability: float):
        super().__init__(env)
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"the share of partial starts must be in [0, 1], got {probability!r}")
        self.probability = float(probability)

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        rng = self.env.unwrapped.np_random if seed is None else make_rng([seed, PARTIAL_STREAM])
        share = 1.0 - rng.random() if rng.random() < self.probability else 1.0  # (0, 1]
        if share < 1.0:
            options = {**(options or {}), "food_share": share}
        obs, info = self.env.reset(seed=seed, options=options)
        return obs, {**info, "food_share": share}
