"""Play the Pac-Man grid game yourself in a pygame window.

Arrow keys (or W A S D) steer: Pac-Man keeps going in the last direction pressed and turns as
soon as that way is open, as in the arcade. R starts a new game, Esc (or closing the window)
quits. The score of every game is printed when it ends, and the last one on quitting.

    python scripts/play.py                      # the medium maze, arcade ghosts
    python scripts/play.py --layout classic --fps 10
    python scripts/play.py --layout my_maze.lay --ghosts random
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as `python scripts/play.py`: make packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import gymnasium as gym

import envs  # noqa: F401  (registers the PacGrid ids)
from envs.pacman import Action
from rl.config import add_dataclass_args, from_args


@dataclass
class PlayConfig:
    """How to play."""

    # A built-in layout (tiny, small, medium, classic) or the path of a .lay file.
    layout: str = "medium"
    # Ghost behaviour: random, directional or arcade.
    ghosts: str = "arcade"
    # Game steps per second: how fast Pac-Man and the ghosts move.
    fps: float = 7.0
    # Pixels per maze cell.
    tile_size: int = 32
    # Seed of the first game's ghost moves (none: different every time).
    seed: int | None = None
    # Steps before a game stops unfinished.
    max_steps: int = 10_000

    def __post_init__(self) -> None:
        if self.fps <= 0 or self.tile_size < 4 or self.max_steps < 1:
            raise ValueError("fps must be positive, tile-size at least 4, max-steps at least 1")


def key_directions(pygame) -> dict[int, Action]:
    return {
        pygame.K_UP: Action.NORTH,
        pygame.K_w: Action.NORTH,
        pygame.K_DOWN: Action.SOUTH,
        pygame.K_s: Action.SOUTH,
        pygame.K_RIGHT: Action.EAST,
        pygame.K_d: Action.EAST,
        pygame.K_LEFT: Action.WEST,
        pygame.K_a: Action.WEST,
    }


def outcome(info: dict) -> str:
    return "you win" if info["win"] else "caught" if info["loss"] else "time up"


def make_env(cfg: PlayConfig) -> gym.Env:
    return gym.make(
        "PacGrid/Custom-v0",
        layout=cfg.layout,
        ghosts=cfg.ghosts,
        render_mode="human",
        tile_size=cfg.tile_size,
        render_fps=cfg.fps,
        max_episode_steps=cfg.max_steps,
    )


def play(
    env: gym.Env, seed: int | None = None, get_events: Callable[[], Iterable] | None = None
) -> list[int]:
    """Run games until the player quits; returns the final score of every game.

    `get_events` replaces `pygame.event.get` (tests feed scripted key presses through it).
    """
    import pygame  # rendering loads it anyway; the game itself never does

    get_events = get_events or pygame.event.get
    directions = key_directions(pygame)
    scores: list[int] = []
    _, info = env.reset(seed=seed)  # opens the window
    wanted = moving = Action.STOP
    over = False
    try:
        while True:
            restart = False
            for event in get_events():
                if event.type == pygame.QUIT:
                    return _finish(scores, info, over)
                if event.type != pygame.KEYDOWN:
                    continue
                if event.key == pygame.K_ESCAPE:
                    return _finish(scores, info, over)
                if event.key == pygame.K_r:
                    restart = True
                elif event.key in directions:
                    wanted = directions[event.key]
            if restart:
                if not over:
                    scores.append(info["score"])
                    print(f"restarted: score {info['score']}")
                _, info = env.reset()
                wanted = moving = Action.STOP
                over = False
                continue
            if over:
                env.render()  # keep the final frame on screen while waiting for R or Esc
                continue
            mask = info["action_mask"]
            if mask[wanted]:
                moving = wanted
            _, _, terminated, truncated, info = env.step(moving if mask[moving] else Action.STOP)
            if terminated or truncated:
                over = True
                scores.append(info["score"])
                print(f"game over ({outcome(info)}): score {info['score']}  [R: again, Esc: quit]")
    finally:
        env.close()


def _finish(scores: list[int], info: dict, over: bool) -> list[int]:
    if not over:
        scores.append(info["score"])
    print(f"final score: {scores[-1]}")
    return scores


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="play.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_dataclass_args(parser, PlayConfig)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = from_args(PlayConfig, args)
        env = make_env(cfg)
    except (ValueError, FileNotFoundError) as err:
        print(f"play.py: {err}", file=sys.stderr)
        return 2
    if not has_display():  # pygame would open no window and wait for keys forever
        env.close()
        print("play.py: error: no display to open a window on (DISPLAY and WAYLAND_DISPLAY are "
              "unset, or SDL_VIDEODRIVER is dummy): run it on a desktop, or with ssh -X",
              file=sys.stderr)
        return 2
    play(env, cfg.seed)
    return 0


def has_display() -> bool:
    """False when pygame cannot open a window (headless machines, tests)."""
    if os.environ.get("SDL_VIDEODRIVER") in ("dummy", "offscreen"):
        return False
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


if __name__ == "__main__":
    sys.exit(main())
