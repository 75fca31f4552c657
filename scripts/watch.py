"""Watch a trained agent play: greedy episodes in a pygame window, or recorded to a GIF.

    python scripts/watch.py runs/PacGrid_Small-v1-dqn-0-20260101-120000 --episodes 3
    python scripts/watch.py runs/<name> --show-q --fps 4     # what the agent thinks of each move
    python scripts/watch.py runs/<name> --gif runs/<name>/play.gif
    python scripts/watch.py runs/<name> --checkpoint best  # the best by evaluation in training

The window shows the episode, its return so far and, at the end, whether it was won or lost;
with --show-q, each action's Q-value as a bar beside the board, the chosen one in yellow. Keys:
Space or P pauses, Esc, Q or the window's close button stops. The end of each episode holds for
a moment (a key continues), the last one until a key is pressed.

With --gif, or when there is no display (SDL_VIDEODRIVER=dummy, or no DISPLAY/WAYLAND_DISPLAY
on Linux), the same pictures are written to a GIF with Pillow (default: RUN_DIR/watch.gif).
Prints each episode's return and where it wrote.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

if __package__ in (None, ""):  # run as `python scripts/watch.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import gymnasium as gym
import numpy as np

import envs  # noqa: F401 - registers the PacGrid environments with Gymnasium
from agents.registry import acting_overrides, add_acting_options, load_run
from rl.config import ArgumentParser
from rl.evaluate import DEFAULT_MAX_EPISODE_STEPS, WATCH_STREAM, write_gif
from rl.protocol import Agent, choose_action
from rl.run import CHECKPOINT_NAMES
from rl.seeding import episode_seed, make_rng
from rl.viewer import (
    CAPTION_LINE,
    PANEL_WIDTH,
    FrameComposer,
    Viewer,
    fit_zoom,
    has_display,
)

DEFAULT_FPS = 8.0  # moves per second: a person can follow the game
END_HOLD_S = 2.0  # how long the end of an episode (not the last) stays on screen
WINDOW_KEYS = "Space/P: pause   Esc/Q: quit"


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="watch.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR",
                        help="a folder written by train.py")
    parser.add_argument("--allow-import", action="store_true",
                        help="let the run's env id 'module:Id' import its module (runs its code)")
    parser.add_argument("--checkpoint", choices=tuple(CHECKPOINT_NAMES), default="last",
                        help="which model to watch: the last checkpoint, or the best one by "
                             "the greedy evaluations during training (default: %(default)s)")
    parser.add_argument("--episodes", type=int, default=1, help="episodes to play (default: 1)")
    add_acting_options(parser)
    parser.add_argument("--fps", type=float, default=DEFAULT_FPS,
                        help="moves per second (default: %(default)g)")
    parser.add_argument("--zoom", type=float, default=None,
                        help="scale of the environment's frames (default: the tiny Pac-Man maze "
                             "at least 480 px wide, a large one fitted to a 1280x800 screen)")
    parser.add_argument("--show-q", action="store_true",
                        help="show each action's Q-value beside the board, the chosen one "
                             "in yellow")
    parser.add_argument("--gif", type=Path, default=None, metavar="OUT.gif",
                        help="record to this GIF instead of opening a window")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the episodes (default: the run's seed)")
    parser.add_argument("--max-episode-steps", type=int, default=DEFAULT_MAX_EPISODE_STEPS,
                        help="stop an episode after this many steps (default: %(default)s)")
    return parser


def action_names(env: gym.Env) -> list[str]:
    """The actions' names (an env's get_action_meanings(), as Atari's), else their numbers."""
    meanings = getattr(env.unwrapped, "get_action_meanings", None)
    names = list(meanings()) if meanings is not None else None
    if names is None or len(names) != env.action_space.n:
        names = [str(action) for action in range(env.action_space.n)]
    return names


def outcome(info: dict, terminated: bool) -> str:
    if "win" in info:
        return "WON" if info["win"] else "LOST" if info.get("loss", terminated) else "TIME UP"
    return "done" if terminated else "cut off"


def episode_pictures(
    env: gym.Env, agent: Agent, episodes: int, rng: np.random.Generator, max_episode_steps: int,
    composer_for: Callable[[np.ndarray], FrameComposer], show_q: bool, keys: str | None,
) -> Iterator[tuple[np.ndarray, dict | None]]:
    """Play greedy episodes and yield each moment's composed picture, with a summary of the
    episode (number, return, steps, outcome, info) on the last picture of each, else None.

    `composer_for(frame)` gives the FrameComposer for the first frame's size.
    """
    composer = None
    keys_line = [keys] if keys else []
    for number in range(1, episodes + 1):
        obs, info = env.reset(seed=episode_seed(rng))
        total, steps, terminated, truncated = 0.0, 0, False, False
        while True:
            frame = env.render()
            composer = composer or composer_for(frame)
            over = terminated or truncated or steps >= max_episode_steps
            head = f"episode {number}/{episodes}   step {steps}   return {total:g}"
            if over:
                result = outcome(info, terminated)
                head = f"episode {number}/{episodes}: {result}   return {total:g} in {steps} steps"
                summary = {"number": number, "return": total, "steps": steps, "info": info,
                           "outcome": result}
                if keys and number == episodes:
                    keys_line = ["any key: close"]
                yield composer.compose(frame, [head, *keys_line], banner=result), summary
                break
            q_values = agent.q_values(obs) if show_q else None
            action = choose_action(agent, obs, info, greedy=True)
            yield composer.compose(frame, [head, *keys_line], q_values, action), None
            obs, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            steps += 1


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error(f"--episodes must be >= 1, got {args.episodes}")
    if not 0 < args.fps < math.inf:
        parser.error(f"--fps must be a positive number, got {args.fps}")
    if args.zoom is not None and not 0.1 <= args.zoom <= 16:
        parser.error(f"--zoom must be between 0.1 and 16, got {args.zoom}")
    if args.seed is not None and args.seed < 0:
        parser.error(f"--seed must be >= 0 (NumPy seeds are non-negative), got {args.seed}")
    if args.max_episode_steps < 1:
        parser.error(f"--max-episode-steps must be >= 1, got {args.max_episode_steps}")
    if args.gif is not None and args.gif.is_dir():
        parser.error(f"--gif {args.gif} is a folder: give a file name such as "
                     f"{args.gif / 'watch.gif'}")
    record = args.gif is not None or not has_display()
    try:
        run = load_run(args.run_dir, args.allow_import).acting_with(**acting_overrides(args))
        env = run.make_env(render_mode="rgb_array")
        agent, _ = run.load_agent(env, args.checkpoint)
    except (FileNotFoundError, ValueError) as err:  # UsageError and CheckpointError too
        parser.error(str(err))
    if "rgb_array" not in env.metadata.get("render_modes", []):
        parser.error(f"{run.env_id} cannot render frames (it supports "
                     f"{env.metadata.get('render_modes', [])}, not 'rgb_array')")
    if args.show_q and not hasattr(agent, "q_values"):
        parser.error(f"--show-q needs an agent with Q-values; the {run.algo_name} agent has none")

    names = action_names(env) if args.show_q else None

    def composer_for(frame: np.ndarray) -> FrameComposer:
        lines = 1 if record else 2  # the window adds a line of keys
        extra = (PANEL_WIDTH if args.show_q else 0, lines * CAPTION_LINE + 6)
        zoom = args.zoom or fit_zoom(frame.shape[1], frame.shape[0], extra)
        return FrameComposer(zoom, names, caption_lines=lines)

    rng = make_rng([run.seed if args.seed is None else args.seed, WATCH_STREAM])
    pictures = episode_pictures(env, agent, args.episodes, rng, args.max_episode_steps,
                                composer_for, args.show_q, None if record else WINDOW_KEYS)
    viewer = None if record else Viewer(f"watch.py {run.run_dir.name}")
    frames: list[np.ndarray] = []
    durations: list[float] = []
    returns = []
    try:
        for picture, summary in pictures:
            if summary is not None:
                returns.append(summary["return"])
                info = summary["info"]
                extra = "".join(f", {key} {info[key]}" for key in ("score", "win") if key in info)
                print(f"episode {summary['number']}: return {summary['return']:g} in "
                      f"{summary['steps']} steps{extra}")
            if record:
                frames.append(picture)
                durations.append(END_HOLD_S if summary is not None else 1 / args.fps)
                continue
            viewer.show(picture)
            if summary is None:
                asked = viewer.wait(1 / args.fps)
            elif summary["number"] < args.episodes:
                asked = viewer.wait(END_HOLD_S, until_key=True)
            else:
                print("watch.py: the last frame stays until a key is pressed (or the window "
                      "is closed)")
                asked = viewer.wait(math.inf, until_key=True)
            if asked == "quit":
                if summary is None or summary["number"] < args.episodes:
                    print("stopped", file=sys.stderr)
                break
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        pictures.close()
        env.close()
        if viewer is not None:
            viewer.close()
    if returns:
        print(json.dumps({"returns": returns, "return_mean": float(np.mean(returns))}))
    if record and frames:
        gif = args.gif or run.run_dir / "watch.gif"
        try:
            write_gif(gif, frames, args.fps, durations)
        except OSError as err:  # a read-only folder, a full disk
            print(f"watch.py: error: cannot write {gif}: {err.strerror or err}. Choose a writable "
                  "--gif path", file=sys.stderr)
            return 2
        print(f"wrote {len(frames)} frames to {gif}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
