"""Watch a trained agent play: greedy episodes in a pygame window, or recorded to a GIF.

    python scripts/watch.py runs/PacGrid_Small-v1-dqn-0-20260101-120000 --episodes 3 --fps 8
    python scripts/watch.py runs/<name> --gif runs/<name>/play.gif

With --gif, or when there is no display (SDL_VIDEODRIVER=dummy, or no DISPLAY/WAYLAND_DISPLAY
on Linux), frames are rendered off-screen ("rgb_array") and written to a GIF with Pillow
(default: RUN_DIR/watch.gif). Prints each episode's return and where it wrote.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as `python scripts/watch.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

import envs  # noqa: F401 - registers the PacGrid environments with Gymnasium
from agents.registry import load_run
from rl.config import ArgumentParser
from rl.evaluate import DEFAULT_MAX_EPISODE_STEPS, WATCH_STREAM, play_episodes, write_gif
from rl.seeding import make_rng


def has_display() -> bool:
    """False when pygame cannot open a window (headless machines, tests)."""
    if os.environ.get("SDL_VIDEODRIVER") in ("dummy", "offscreen"):
        return False
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


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
    parser.add_argument("--episodes", type=int, default=1, help="episodes to play (default: 1)")
    parser.add_argument("--fps", type=float, default=None,
                        help="frames per second (default: the environment's render_fps)")
    parser.add_argument("--gif", type=Path, default=None, metavar="OUT.gif",
                        help="record to this GIF instead of opening a window")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the episodes (default: the run's seed)")
    parser.add_argument("--max-episode-steps", type=int, default=DEFAULT_MAX_EPISODE_STEPS,
                        help="stop an episode after this many steps (default: %(default)s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error(f"--episodes must be >= 1, got {args.episodes}")
    if args.fps is not None and not 0 < args.fps < math.inf:
        parser.error(f"--fps must be a positive number, got {args.fps}")
    if args.seed is not None and args.seed < 0:
        parser.error(f"--seed must be >= 0 (NumPy seeds are non-negative), got {args.seed}")
    if args.max_episode_steps < 1:
        parser.error(f"--max-episode-steps must be >= 1, got {args.max_episode_steps}")
    if args.gif is not None and args.gif.is_dir():
        parser.error(f"--gif {args.gif} is a folder: give a file name such as "
                     f"{args.gif / 'watch.gif'}")
    record = args.gif is not None or not has_display()
    render_mode = "rgb_array" if record else "human"
    try:
        run = load_run(args.run_dir, args.allow_import)
        env = run.make_env(render_mode=render_mode)
        agent, _ = run.load_agent(env)
    except (FileNotFoundError, ValueError) as err:  # UsageError and CheckpointError too
        parser.error(str(err))
    if render_mode not in env.metadata.get("render_modes", []):
        parser.error(f"{run.env_id} cannot render in {render_mode!r} mode "
                     f"(it supports {env.metadata.get('render_modes', [])})")
    fps = args.fps or env.metadata.get("render_fps") or 10
    if not record:
        # Gymnasium's pygame renderers pace the window with metadata["render_fps"].
        env.unwrapped.metadata = {**env.unwrapped.metadata, "render_fps": fps}

    rng = make_rng([run.seed if args.seed is None else args.seed, WATCH_STREAM])
    frames: list[np.ndarray] = []
    returns = []
    try:
        episodes = play_episodes(env, agent, args.episodes, rng, args.max_episode_steps, record)
        for number, episode in enumerate(episodes, start=1):
            frames += episode.frames
            returns.append(episode.total_return)
            info = episode.info
            extra = "".join(f", {key} {info[key]}" for key in ("score", "win") if key in info)
            print(f"episode {number}: return {episode.total_return:g} in {episode.steps} "
                  f"steps{extra}")
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        env.close()
    if returns:
        print(json.dumps({"returns": returns, "return_mean": float(np.mean(returns))}))
    if record and frames:
        gif = args.gif or run.run_dir / "watch.gif"
        try:
            write_gif(gif, frames, fps)
        except OSError as err:  # a read-only folder, a full disk
            print(f"watch.py: error: cannot write {gif}: {err.strerror or err}. Choose a writable "
                  "--gif path", file=sys.stderr)
            return 2
        print(f"wrote {len(frames)} frames to {gif}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
