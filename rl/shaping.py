"""Potential-based reward shaping: a denser reward that leaves the best policy the best.

A reward that comes dozens of moves after the moves that earned it is slow to learn from.
`PotentialShaping` adds F = γ·Φ(s') − Φ(s) to each reward for a potential Φ of the state, with
Φ = 0 once the episode has terminated. Along any episode these terms add up, discounted, to
−Φ(s₀), the same for every way of acting, so the order of policies by return, and with it the
best policy, is unchanged (Ng, Harada and Russell, 1999) when γ is the agent's own discount.
Example: Φ = −w × (moves to the nearest food) on PacGrid pays w at once for a step toward food
(`--food-shaping` of the DQN).

`OutcomePenalty` is the other kind: it changes the task on purpose. It takes a fixed amount off
the last reward of an episode that ended in a given way (info["loss"] on PacGrid), so that an
agent with a short horizon (γ 0.95) prices being caught as the lost game it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym


class PotentialShaping(gym.Wrapper):
    """Adds γ·Φ(s') − Φ(s) to the reward; Φ = potential(env.unwrapped), 0 after termination
    (unless `zero_at_end` is False).

    info["shaping"] holds the term added; the rest of info is the env's.
    """

    def __init__(self, env: gym.Env, potential: Callable[[Any], float], gamma: float,
                 zero_at_end: bool = True):
        super().__init__(env)
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"the shaping discount must be in [0, 1], got {gamma!r}")
        self.potential = potential
        self.gamma = float(gamma)
        # False: a terminal state keeps its own potential, so an episode's terms add up to
        # γᵀ·Φ(s_T) − Φ(s₀); the order of policies then holds among those that end alike.
        self.zero_at_end = zero_at_end
        self._last = 0.0

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._last = float(self.potential(self.env.unwrapped))
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        now = 0.0 if terminated and self.zero_at_end else float(self.potential(self.env.unwrapped))
        shaping = self.gamma * now - self._last
        self._last = now
        return obs, float(reward) + shaping, terminated, truncated, {**info, "shaping": shaping}


class OutcomePenalty(gym.Wrapper):
    """Subtracts `penalty` from the reward of a step that terminates with info[`key`] true.

    info["penalty"] holds the amount taken off (0.0 on other steps); the rest of info is the
    env's. The env's reset info must have `key`, so that a misspelt key or an env without that
    outcome is an error, not a silently unchanged reward.
    """

    def __init__(self, env: gym.Env, penalty: float, key: str = "loss"):
        super().__init__(env)
        if not 0.0 <= penalty < float("inf"):
            raise ValueError(f"the penalty must be a finite amount >= 0, got {penalty!r}")
        self.penalty, self.key = float(penalty), key

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        if self.key not in info:
            raise ValueError(f"{type(self.env.unwrapped).__name__} reports no info[{self.key!r}] "
                             f"(PacGrid does): nothing to penalize")
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        penalty = self.penalty if terminated and info.get(self.key) else 0.0
        return obs, float(reward) - penalty, terminated, truncated, {**info, "penalty": penalty}
