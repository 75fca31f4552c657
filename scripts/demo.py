"""The project's main job in one command (`make demo`): DQN learns a small Pac-Man layout.

    python scripts/demo.py                       # about 2-4 minutes on a 2-core CPU
    python scripts/demo.py --env PacGrid/Small-v1 --total-steps 300000   # the full small layout

Trains the CNN DQN (agents/dqn.py, with the environment's preset from agents/dqn_presets.py) as
scripts/train.py does, evaluates the greedy agent as scripts/evaluate.py does ("won 91 of 100
games, mean score 413"; the numbers go to evaluation.json for machines, and to stdout with
--json), then writes the learning curve (learning_curve.png) and a GIF of the trained agent
playing (play.gif) into the run folder, and prints where everything is and the commands to watch
it, and to watch the agent shipped in examples/pacman-medium (trained for 54 minutes on a bigger
maze).
"""

from __future__ import annotations

import os

# Small matrix products run fastest on one BLAS thread, and the 2 cores stay free for the game.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import argparse
import datetime as dt
import json
import sys
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as `python scripts/demo.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import envs  # noqa: F401 - registers the PacGrid environments with Gymnasium
from agents.registry import load_run, train_settings
from fileio import write_json
from rl import hints
from rl import run as run_folder
from rl.evaluate import EVALUATE_STREAM, WATCH_STREAM, evaluate, play_episodes, write_gif
from rl.loop import NonFiniteMetricError
from rl.seeding import make_rng

SHIPPED_MODEL = hints.EXAMPLES / "pacman-medium"  # config.json and best.npz of a trained run

EVALUATION_NAME = "evaluation.json"  # the final evaluation's numbers, in the run folder


@dataclass
class DemoConfig:
    """What the demo trains."""

    # Gymnasium id of the Pac-Man layout.
    env: str = "PacGrid/Tiny-v1"
    # Environment steps of training (None: the preset's budget for that layout).
    total_steps: int | None = None
    # Seed of the run.
    seed: int = 0
    # Output folder (None: runs/demo-<layout>-<time>).
    run_dir: Path | None = None
    # Greedy episodes of the final evaluation.
    eval_episodes: int = 100
    # Episodes recorded into the GIF.
    gif_episodes: int = 3
    # Print the training and evaluation numbers as one JSON object at the end.
    json: bool = False


def parse_args(argv: list[str] | None) -> DemoConfig:
    parser = argparse.ArgumentParser(prog="demo.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = DemoConfig()
    parser.add_argument("--env", default=defaults.env,
                        help=f"Pac-Man layout id (default: {defaults.env})")
    parser.add_argument("--total-steps", type=int, default=None,
                        help="training steps (default: the layout's preset)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed (default: 0)")
    parser.add_argument("--run-dir", type=Path, default=None,
                        help="output folder (default: runs/demo-<layout>-<time>)")
    parser.add_argument("--eval-episodes", type=int, default=defaults.eval_episodes,
                        help=f"greedy evaluation games (default: {defaults.eval_episodes})")
    parser.add_argument("--gif-episodes", type=int, default=defaults.gif_episodes,
                        help=f"games recorded in the GIF (default: {defaults.gif_episodes})")
    parser.add_argument("--json", action="store_true",
                        help="also print the numbers as one JSON object (they are always "
                             f"written to RUN_DIR/{EVALUATION_NAME})")
    args = parser.parse_args(argv)
    if args.total_steps is not None and args.total_steps < 1:
        parser.error("--total-steps must be a positive number of steps")
    if args.eval_episodes < 1 or args.gif_episodes < 1:
        parser.error("--eval-episodes and --gif-episodes must be at least 1")
    return DemoConfig(**vars(args))


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    layout = config.env.split("/")[-1].replace(":", "_")
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = config.run_dir or Path("runs") / f"demo-{layout}-{stamp}"

    settings = {"algo": "dqn", "env": config.env, "seed": config.seed}
    if config.total_steps is not None:
        settings["total_steps"] = config.total_steps
    print(f"demo: training dqn on {config.env} (seed {config.seed}) into {run_dir}")
    try:
        history = train_settings(run_dir, settings, resume=False)
    except (ValueError, NonFiniteMetricError) as err:
        print(f"demo: training stopped: {err}; see {run_dir}", file=sys.stderr)
        return 1
    training = {"steps": history.steps, "episodes": history.episodes,
                "elapsed_s": round(history.elapsed_s, 1)}
    print(f"demo: trained {history.steps:,} steps ({history.episodes:,} games) in "
          f"{history.elapsed_s:.0f} s")

    run = load_run(run_dir)
    env = run.make_env(render_mode="rgb_array")
    agent, _ = run.load_agent(env)
    print(f"demo: greedy evaluation over {config.eval_episodes} games")
    result = evaluate(env, agent, config.eval_episodes, make_rng([run.seed, EVALUATE_STREAM]),
                      held_out=True)
    print(f"demo: {summary(result)}")
    numbers = {"training": training, "evaluation": result}
    write_json(run_dir / EVALUATION_NAME, numbers)
    gif = run_dir / "play.gif"
    rng = make_rng([run.seed, WATCH_STREAM])
    frames = [frame for episode in play_episodes(env, agent, config.gif_episodes, rng,
                                                 record=True) for frame in episode.frames]
    env.close()
    write_gif(gif, frames, env.metadata.get("render_fps") or 10)
    print("demo: done.")
    print(f"  learning curve: {run_folder.curve_path(run_dir)}")
    print(f"  trained agent playing: {gif}")
    print(f"  numbers (JSON): {run_dir / EVALUATION_NAME}")
    print(f"  run folder (config, metrics, checkpoint): {run_dir}")
    print(f"  watch it in a window: {hints.command('watch.py', run_dir)}")
    print(f"  with its Q-values: {hints.command('watch.py', run_dir, '--show-q', '--fps', '4')}")
    if run_by_make(run_dir):
        print("  the same from make: make watch")
        print('  with its Q-values from make: make watch ARGS="--show-q --fps 4"')
    if SHIPPED_MODEL.is_dir():  # a bigger maze's agent, trained for 54 minutes, without training
        model = hints.short_path(SHIPPED_MODEL)
        print(f"  a DQN trained on the Medium maze ({model}/README.md): "
              f"{hints.command('watch.py', model)}")
    if config.json:
        print(json.dumps(numbers))
    return 0


def run_by_make(run_dir: Path) -> bool:
    """Whether `make demo` runs this (in the Makefile's folder) and `make watch` would find
    `run_dir` there: the Makefile's watch target plays the latest runs/demo-*."""
    return ("MAKELEVEL" in os.environ and Path("Makefile").is_file()
            and run_dir.parent == Path("runs") and run_dir.name.startswith("demo-"))


def summary(result: dict) -> str:
    """The evaluation as a person says it: "won 91 of 100 games, mean score 413"."""
    games = result["episodes"]
    if "win_rate" in result:
        text = f"won {round(result['win_rate'] * games)} of {games} games"
        if "mean_score" in result:
            text += f", mean score {result['mean_score']:.0f}"
        return text
    return f"mean return {result['return_mean']:.1f} over {games} games"


if __name__ == "__main__":
    sys.exit(main())
