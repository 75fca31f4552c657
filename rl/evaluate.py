"""Greedy evaluation of an agent: the return it gets when it stops exploring; episodes played
one by one (to watch them) and recorded to a GIF."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from fileio import atomic_write
from rl.protocol import Agent, choose_action, choose_actions
from rl.seeding import episode_seed

# Cap for environments without a time limit (CliffWalking has none): a greedy policy that walks
# into a wall forever must not hang the evaluation.
DEFAULT_MAX_EPISODE_STEPS = 1_000


def evaluate(
    env: gym.Env | Sequence[gym.Env],
    agent: Agent,
    episodes: int,
    rng: np.random.Generator,
    max_episode_steps: int | None = None,
    held_out: bool = False,
) -> dict[str, Any]:
    """Play `episodes` greedy episodes; episode k starts with `reset(seed=...)`, the k-th seed
    drawn by `episode_seed(rng)`.

    Several environments (a list of copies of one env) play their episodes side by side, the
    agent choosing their actions in one batched forward pass (`act_batch`) where it can: the
    same episodes, with the same seeds, in a fraction of the time. Results are by episode,
    whatever the number of environments (float32 rounding in a batched forward pass could only
    change a choice between two actions valued equal to ~1e-6).

    `held_out` draws the seeds from rl.seeding.HELD_OUT_SEEDS, games that no training episode
    and no evaluation during training starts: what the final evaluation of a trained agent
    plays (scripts/evaluate.py, the demo), since the evaluations during training chose the best
    checkpoint and would flatter it.

    Returns return_mean, return_std, length_mean, episodes, truncated (episodes cut by a time
    limit or by `max_episode_steps`), and win_rate / mean_score when the env's final info has
    "win" / "score" (the Pac-Man game). `max_episode_steps` defaults to the env's own time
    limit, or 1,000 steps when it has none.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    envs = [env] if isinstance(env, gym.Env) else list(env)
    if max_episode_steps is None:
        spec_limit = envs[0].spec.max_episode_steps if envs[0].spec is not None else None
        max_episode_steps = spec_limit or DEFAULT_MAX_EPISODE_STEPS
    seeds = [episode_seed(rng, held_out) for _ in range(episodes)]
    finished: list[_Playing] = []
    playing: dict[int, _Playing] = {}  # env index -> its current episode
    for i in range(min(len(envs), episodes)):
        playing[i] = _Playing(i, *envs[i].reset(seed=seeds[i]))
    started = len(playing)
    while playing:
        slots = list(playing)
        actions = choose_actions(agent, [playing[i].obs for i in slots],
                                 [playing[i].info for i in slots], greedy=True)
        for i, action in zip(slots, actions, strict=True):
            game = playing[i]
            game.obs, reward, terminated, truncated, game.info = envs[i].step(action)
            game.total += float(reward)
            game.length += 1
            if terminated or truncated or game.length >= max_episode_steps:
                game.cut = not terminated
                finished.append(game)
                del playing[i]
                if started < episodes:
                    playing[i] = _Playing(started, *envs[i].reset(seed=seeds[started]))
                    started += 1
    finished.sort(key=lambda game: game.episode)  # the order of their seeds
    returns = [game.total for game in finished]
    lengths = [game.length for game in finished]
    truncations = sum(game.cut for game in finished)
    wins = [bool(game.info["win"]) for game in finished if "win" in game.info]
    scores = [float(game.info["score"]) for game in finished if "score" in game.info]
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


@dataclass
class _Playing:
    """An episode in progress in `evaluate`."""

    episode: int  # its index, which chose its seed
    obs: Any
    info: dict[str, Any]
    total: float = 0.0
    length: int = 0
    cut: bool = False  # ended by a time limit, not by the game


# --- playing and recording episodes (scripts/watch.py, scripts/demo.py) ---------------------------

# Episode seeds of the scripts, apart from training's (stream 1 is the loop's evaluation):
# scripts/evaluate.py plays make_rng([seed, EVALUATE_STREAM]) (held-out seeds), watch.py
# [seed, WATCH_STREAM].
EVALUATE_STREAM = 2
WATCH_STREAM = 3


@dataclass
class Episode:
    """One greedy episode as played by `play_episodes`."""

    total_return: float
    steps: int
    # The env's info of the last step (the Pac-Man game's "score" and "win").
    info: dict[str, Any]
    # RGB frames (H, W, 3), from the reset on, when recording; else empty.
    frames: list[np.ndarray] = field(default_factory=list)


def play_episodes(
    env: gym.Env, agent: Agent, episodes: int, rng: np.random.Generator,
    max_episode_steps: int = DEFAULT_MAX_EPISODE_STEPS, record: bool = False,
) -> Iterator[Episode]:
    """Play greedy episodes one by one (rendering each frame when `record`)."""
    for _ in range(episodes):
        obs, info = env.reset(seed=episode_seed(rng))
        frames = [env.render()] if record else []
        total, steps, done = 0.0, 0, False
        while not done and steps < max_episode_steps:
            action = choose_action(agent, obs, info, greedy=True)
            obs, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            steps += 1
            done = terminated or truncated
            if record:
                frames.append(env.render())
        yield Episode(total, steps, info, frames)


_PALETTE_FRAMES = 32  # frames sampled for a GIF's shared palette


def write_gif(path: Path, frames: list[np.ndarray], fps: float,
              durations: list[float] | None = None) -> Path:
    """Write RGB frames (H, W, 3) uint8 to an animated GIF atomically, each shown 1/fps
    seconds, or `durations[i]` seconds when given (to hold the end of an episode)."""
    from PIL import Image

    # One palette for every frame (no dithering): with equal palettes the GIF stores only what
    # changed between frames. It is drawn from frames spread over the whole game stacked into
    # one picture, so that colours first seen late (a frightened ghost, the end caption) keep
    # their own entry instead of the nearest colour of the first frame.
    arrays = [np.asarray(frame, dtype=np.uint8) for frame in frames]
    if not arrays:
        raise ValueError("write_gif needs at least one frame")
    spread = np.linspace(0, len(arrays) - 1, min(len(arrays), _PALETTE_FRAMES))
    picks = np.unique(spread.astype(int))
    sample = Image.fromarray(np.concatenate([arrays[i] for i in picks], axis=0))
    palette = sample.quantize(256, dither=Image.Dither.NONE)
    images = [Image.fromarray(array).quantize(palette=palette, dither=Image.Dither.NONE)
              for array in arrays]
    seconds = durations if durations is not None else [1 / fps] * len(images)
    if len(seconds) != len(images):
        raise ValueError(f"{len(images)} frames but {len(seconds)} durations")
    with atomic_write(path) as f:
        images[0].save(f, format="GIF", save_all=True, append_images=images[1:],
                       duration=[max(round(1000 * s), 20) for s in seconds], loop=0)
    return path
