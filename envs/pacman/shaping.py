"""Potential-based reward shaping toward the nearest food, for training agents on PacGrid.

A Pac-Man agent near the end of a game gets no reward until it reaches the last pellets, often
dozens of moves away, so a move toward them is worth little more than a move away from them in
its learned values. `FoodShaping` pays for the approach at once: it adds γ·Φ(s') − Φ(s) to each
reward, with the potential Φ(s) = −weight × (maze distance from Pac-Man to the nearest food) and
Φ = 0 once the game is over. Shaping of this form (Ng, Harada and Russell, 1999) changes every
policy's discounted return by the same amount, −Φ(start), so the best policy stays the best;
use the agent's own γ. The distance is the one the planner's heuristic uses
(envs.pacman.planner.food_distance).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from envs.pacman.env import PacmanEnv
from envs.pacman.planner import food_distance, maze_distances


class FoodShaping(gym.Wrapper):
    """Adds γ·Φ(s') − Φ(s) to the reward, Φ = −weight × moves to the nearest food (0 at the end).

    info["shaping"] holds the term added; info["score"] (the game's score) is untouched.
    """

    def __init__(self, env: gym.Env, weight: float, gamma: float):
        super().__init__(env)
        if not isinstance(env.unwrapped, PacmanEnv):
            raise ValueError(f"food shaping needs a PacGrid environment, not "
                             f"{type(env.unwrapped).__name__}: use --food-shaping 0 for other envs")
        if not np.isfinite(weight) or weight < 0:
            raise ValueError(f"the food shaping weight must be >= 0, got {weight!r}")
        self.weight = float(weight)
        self.gamma = float(gamma)
        self._game = env.unwrapped
        self._distances = maze_distances(self._game.maze)
        self._potential = 0.0

    def _phi(self) -> float:
        state = self._game.state
        return -self.weight * food_distance(self._distances, state, state.pacman)

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._potential = self._phi()
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        potential = 0.0 if terminated else self._phi()
        shaping = self.gamma * potential - self._potential
        self._potential = potential
        return obs, float(reward) + shaping, terminated, truncated, {**info, "shaping": shaping}
