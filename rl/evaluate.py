"""Greedy evaluation of an agent: the return it gets when it stops exploring."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from rl.protocol import Agent
from rl.seeding import episode_seed

# Cap for environments without a time limit (CliffWalking has none): a greedy policy that walks
# into a wall forever must not hang the evaluation.
DEFAULT_MAX_EPISODE_STEPS = 1_000


def evaluate(
    env: gym.Env,
    agent: Agent,
    episodes: int,
    rng: np.random.Generator,
    max_episode_steps: int | None = None,
) -> dict[str, Any]:
    """Play `episodes` greedy episodes; each starts with `env.reset(seed=episode_seed(rng))`.

    Returns return_mean, return_std, length_mean, episodes, truncated (episodes cut by a time
    limit or by `max_episode_steps`), and win_rate / mean_score when the env's final info has
    "win" / "score" (the Pac-Man game). `max_episode_steps` defaults to the env's own time
    limit, or 1,000 steps when it has none.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    if max_episode_steps is None:
        spec_limit = env.spec.max_episode_steps if env.spec is not None else None
        max_episode_steps = spec_limit or DEFAULT_MAX_EPISODE_STEPS
    returns, lengths, wins, scores = [], [], [], []
    truncations = 0
    for _ in range(episodes):
        obs, info = env.reset(seed=episode_seed(rng))
        total, length = 0.0, 0
        while True:
            obs, reward, terminated, truncated, info = env.step(agent.act(obs, greedy=True))
            total += float(reward)
            length += 1
            if terminated or truncated or length >= max_episode_steps:
                truncations += int(not terminated)
                break
        returns.append(total)
        lengths.append(length)
        if "win" in info:
            wins.append(bool(info["win"]))
        if "score" in info:
            scores.append(float(info["score"]))
    result: dict[str, Any] = {
        "episodes": episodes,
        "return_mean": float(np.mean(returns)),
        "return_std": float(np.std(returns)),
        "length_mean": float(np.mean(lengths)),
        "truncated": truncations,
    }
    if wins:
        result["win_rate"] = float(np.mean(wins))
    if scores:
        result["mean_score"] = float(np.mean(scores))
    return result
