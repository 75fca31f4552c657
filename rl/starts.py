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


class PartialFoodStarts(gym.Wrapper):
    """With probability `probability`, a reset starts a game with a uniform random share of its
    food, from (0, 1] (at least one pellet); both draws come from the env's own generator, so
    the env's seed fixes them. The other games start whole.

    info["food_share"] holds the share asked for (1.0 for a whole game).
    """

    def __init__(self, env: gym.Env, probability: float):
        super().__init__(env)
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"the share of partial starts must be in [0, 1], got {probability!r}")
        self.probability = float(probability)

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)  # seeds the env's generator when asked to
        rng = self.env.unwrapped.np_random
        share = 1.0
        if rng.random() < self.probability:
            share = 1.0 - rng.random()  # (0, 1]
            # A second reset, unseeded: the generator goes on, the game starts anew, thinned.
            obs, info = self.env.reset(options={**(kwargs.get("options") or {}),
                                                "food_share": share})
        return obs, {**info, "food_share": share}
