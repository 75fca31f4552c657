"""Play the Pac-Man grid game yourself in a pygame window.

Arrow keys (or W A S D) steer: Pac-Man keeps going in the last direction pressed and turns as
soon as that way is open, as in the arcade. The game waits (READY) until the first arrow key,
P pauses, R starts a new game, Esc (or closing the window) quits; the keys are written under
the maze. The score of every game is printed when it ends, and the last one on quitting.

    python scripts/play.py                      # the medium maze, arcade ghosts
    python scripts/play.py --layout classic --fps 10
    python scripts/play.py --layout my_maze.lay --ghosts random

The tiles are sized so that the window fits a 1280x800 screen (--tile-size to choose).
"""

from __future__ import annotations

import argparse
import math
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
from envs.pacman.layout import load_layout
from envs.pacman.render import PACMAN, frame_shape
from rl.config import add_dataclass_args, from_args
from rl.viewer import CAPTION_LINE, MAX_WINDOW, FrameComposer, Viewer, has_display

KEY_HELP = "arrows/WASD: move   P: pause   R: new game   Esc: quit"
OVER_HELP = "R: play again   Esc: quit"
MAX_TILE = 32  # pixels per cell when the screen has room
DEATH_FRAMES = 8  # frames of Pac-Man's death when caught: about a second at 7 steps a second


@dataclass
class PlayConfig:
    """How to play."""

    # A built-in layout (tiny, small, medium, classic) or the path of a .lay file.
    layout: str = "medium"
    # Ghost behaviour: random, directional or arcade.
    ghosts: str = "arcade"
    # Game steps per second: how fast Pac-Man and the ghosts move.
    fps: float = 7.0
    # Pixels per maze cell (none: up to 32, as large as fits a 1280x800 screen).
    tile_size: int | None = None
    # Seed of the first game's ghost moves (none: different every time).
    seed: int | None = None
    # Steps before a game stops unfinished.
    max_steps: int = 10_000

    def __post_init__(self) -> None:
        if self.fps <= 0 or (self.tile_size is not None and self.tile_size < 4) or (
                self.max_steps < 1):
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


def fitting_tile_size(layout: str, max_size: tuple[int, int] = MAX_WINDOW) -> int:
    """The largest tile (at most 32 px) whose window, keys line included, fits `max_size`."""
    maze = load_layout(layout)
    for tile in range(MAX_TILE, 4, -1):
        height, width, _ = frame_shape(maze, tile)
        if width <= max_size[0] and height + CAPTION_LINE + 6 <= max_size[1]:
            return tile
    return 4


def make_env(cfg: PlayConfig) -> gym.Env:
    return gym.make(
        "PacGrid/Custom-v1",  # the observation is not used: v1 for no deprecation warning
        layout=cfg.layout,
        ghosts=cfg.ghosts,
        render_mode="rgb_array",  # play() shows the frames, with the keys and READY/PAUSED
        tile_size=cfg.tile_size or fitting_tile_size(cfg.layout),
        render_fps=cfg.fps,
        max_episode_steps=cfg.max_steps,
    )


def play(
    env: gym.Env, seed: int | None = None, get_events: Callable[[], Iterable] | None = None
) -> list[int]:
    """Run games until the player quits; returns the final score of every game.

    A game is READY (ghosts wait) until the first arrow key, then plays the env's render_fps steps
    a second;
    P pauses it. `get_events` replaces `pygame.event.get` (tests feed scripted key presses).
    """
    import pygame  # rendering loads it anyway; the game itself never does

    viewer = Viewer(f"play.py: PacGrid {env.unwrapped.layout.name}", get_events)
    composer = FrameComposer(1.0)
    clock = pygame.time.Clock()
    fps = env.metadata["render_fps"]
    directions = key_directions(pygame)
    scores: list[int] = []
    _, info = env.reset(seed=seed)
    wanted = moving = Action.STOP
    mode = "ready"  # ready, playing, paused or over
    over_frames = 0  # frames shown since the game ended
    try:
        while True:
            restart = False
            for event in viewer.get_events():
                if event.type == pygame.QUIT:
                    return _finish(scores, info, mode == "over")
                if event.type != pygame.KEYDOWN:
                    continue
                if event.key == pygame.K_ESCAPE:
                    return _finish(scores, info, mode == "over")
                if event.key == pygame.K_r:
                    restart = True
                elif event.key == pygame.K_p and mode in ("playing", "paused"):
                    mode = "paused" if mode == "playing" else "playing"
                elif event.key in directions and mode != "over":
                    wanted = directions[event.key]
                    mode = "playing"
            if restart:
                if mode != "over":
                    scores.append(info["score"])
                    print(f"restarted: score {info['score']}")
                _, info = env.reset()
                wanted = moving = Action.STOP
                mode = "ready"
            elif mode == "playing":
                mask = info["action_mask"]
                if mask[wanted]:
                    moving = wanted
                action = moving if mask[moving] else Action.STOP
                _, _, terminated, truncated, info = env.step(action)
                if terminated or truncated:
                    mode = "over"
                    over_frames = 0
                    scores.append(info["score"])
                    print(f"game over ({outcome(info)}): score {info['score']}  "
                          "[R: again, Esc: quit]")
            banner = {"ready": "READY!", "paused": "PAUSED", "playing": None,
                      "over": outcome(info).upper() + "!"}[mode]
            caption = OVER_HELP if mode == "over" else KEY_HELP
            picture = composer.compose_surface(env.render(), [caption], banner=banner)
            if mode == "over" and info["loss"] and over_frames < DEATH_FRAMES:
                _draw_dying_pacman(pygame, picture, env.unwrapped, over_frames / DEATH_FRAMES)
                over_frames += 1
            viewer.show(picture)
            clock.tick(fps)
    finally:
        env.close()
        viewer.close()


def _draw_dying_pacman(pygame, surface, game, progress: float) -> None:
    """Pac-Man back on top of the ghost that caught him, his mouth opening until he is gone
    (`progress` 0 to 1), as in the arcade."""
    tile = game.tile_size
    row, col = game.maze.coords[game.state.pacman]
    cx, cy = col * tile + tile / 2, row * tile + tile / 2
    radius = tile / 2 - max(1, tile // 12)
    mouth = 180 * progress  # half-angle of the mouth, opening upwards
    if mouth >= 179:
        return
    points = [(cx, cy)]
    for k in range(25):
        angle = math.radians(90 + mouth + (360 - 2 * mouth) * k / 24)
        points.append((cx + radius * math.cos(angle), cy - radius * math.sin(angle)))
    pygame.draw.polygon(surface, PACMAN, points)


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


if __name__ == "__main__":
    sys.exit(main())
