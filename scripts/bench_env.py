"""Benchmark: steps per second of the Pac-Man game, and the cost of drawing a frame.

For every built-in layout, times `env.step` of `gym.make("PacGrid/<Layout>-v0")` (the wrappers
Gymnasium adds included: TimeLimit, order enforcing, the passive checker) with uniformly random
actions drawn in advance from a seeded generator, grid observations, random ghosts, no
rendering, resetting whenever an episode ends (resets are part of the time). One process, one
core. Time is the process's CPU time (time.process_time), so that other programs sharing the
machine do not count against it, and each figure is the best of `--rounds` rounds.

Also reported, on the `small` layout: the bare environment without wrappers, each ghost
behaviour, and actions drawn with `env.action_space.sample()` instead; and, per layout, the
milliseconds to draw one `rgb_array` frame at `--tile-size` pixels per cell (measured apart,
since rendering only runs when asked).

Prints ONE JSON object on stdout, for example {"tiny": 290000.0, "small": 250000.0, ...,
"render_ms": {"tiny": 0.3, ...}, ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as `python scripts/bench_env.py`: make packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # frames are drawn offscreen
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import gymnasium as gym

import envs  # noqa: F401  (registers the PacGrid ids)
from fileio import write_json
from rl.config import add_dataclass_args, from_args

LAYOUT_IDS = {
    "tiny": "PacGrid/Tiny-v1",
    "small": "PacGrid/Small-v1",
    "medium": "PacGrid/Medium-v1",
    "classic": "PacGrid/Classic-v1",
}


@dataclass
class BenchConfig:
    """What to time and how long."""

    # Environment steps timed per layout in each round.
    steps: int = 50_000
    # Rounds per figure; the best round is reported.
    rounds: int = 3
    # rgb_array frames drawn per layout to time rendering.
    render_frames: int = 200
    # Pixels per maze cell in the timed frames.
    tile_size: int = 24
    # Seed of the actions and of the environments.
    seed: int = 0
    # Smoke run: 2,000 steps, 1 round, 10 frames (figures are then rough).
    quick: bool = False
    # Also write the JSON object to this file.
    out: str | None = None

    def __post_init__(self) -> None:
        if self.steps < 1 or self.rounds < 1 or self.render_frames < 1 or self.tile_size < 4:
            raise ValueError(
                "steps, rounds and render-frames must be at least 1 and tile-size at least 4"
            )
        if self.quick:
            self.steps, self.rounds, self.render_frames = 2_000, 1, 10


def time_steps(env: gym.Env, steps: int, seed: int, choose: Callable[[int], int] | None) -> float:
    """Steps per second over `steps` steps; `choose(i)` overrides the pre-drawn actions."""
    actions = np.random.default_rng(seed).integers(0, 5, size=steps).tolist()
    env.reset(seed=seed)
    start = time.process_time()
    for i in range(steps):
        action = actions[i] if choose is None else choose(i)
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return steps / (time.process_time() - start)


def best_rate(make: Callable[[], gym.Env], cfg: BenchConfig, sample: bool = False) -> float:
    env = make()
    choose = (lambda _: env.action_space.sample()) if sample else None
    env.action_space.seed(cfg.seed)
    rate = max(time_steps(env, cfg.steps, cfg.seed + r, choose) for r in range(cfg.rounds))
    env.close()
    return round(rate, 1)


def render_ms(env_id: str, cfg: BenchConfig) -> float:
    """Milliseconds per rgb_array frame, the best of the rounds, over a game in progress."""
    env = gym.make(env_id, render_mode="rgb_array", tile_size=cfg.tile_size)
    rng = np.random.default_rng(cfg.seed)
    env.reset(seed=cfg.seed)
    env.render()  # the first frame loads pygame and the font: not part of the cost per frame
    best = float("inf")
    for _ in range(cfg.rounds):
        env.reset(seed=cfg.seed)
        elapsed = 0.0
        for _ in range(cfg.render_frames):
            _, _, terminated, truncated, _ = env.step(int(rng.integers(5)))
            if terminated or truncated:
                env.reset()
            start = time.process_time()
            env.render()
            elapsed += time.process_time() - start
        best = min(best, elapsed / cfg.render_frames)
    env.close()
    return round(best * 1000, 3)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench_env.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_dataclass_args(parser, BenchConfig)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = from_args(BenchConfig, args)
    except ValueError as err:
        print(f"bench_env.py: {err}", file=sys.stderr)
        return 2
    report: dict[str, Any] = {}
    for name, env_id in LAYOUT_IDS.items():
        report[name] = best_rate(lambda env_id=env_id: gym.make(env_id), cfg)
    small = LAYOUT_IDS["small"]
    report["small_unwrapped"] = best_rate(lambda: gym.make(small).unwrapped, cfg)
    report["small_action_space_sample"] = best_rate(lambda: gym.make(small), cfg, sample=True)
    report["small_by_ghosts"] = {
        ghosts: best_rate(lambda ghosts=ghosts: gym.make(small, ghosts=ghosts), cfg)
        for ghosts in ("random", "directional", "arcade")
    }
    report["render_ms"] = {name: render_ms(env_id, cfg) for name, env_id in LAYOUT_IDS.items()}
    report["settings"] = {
        "unit": "environment steps per CPU second; render_ms: CPU milliseconds per frame",
        "clock": "time.process_time",
        "steps": cfg.steps,
        "rounds": cfg.rounds,
        "render_frames": cfg.render_frames,
        "tile_size": cfg.tile_size,
        "obs_type": "grid",
        "ghosts": "random",
        "python": sys.version.split()[0],
        "gymnasium": gym.__version__,
        "numpy": np.__version__,
    }
    text = json.dumps(report)
    print(text)
    if cfg.out:
        write_json(cfg.out, report)
        print(f"bench_env.py: wrote {cfg.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
