"""Train tabular Q-learning on four problems and check the results the README reports.

    python scripts/eval_qlearning.py                       # all four, seed 0 (about a minute)
    python scripts/eval_qlearning.py --tasks cliffwalking taxi --seed 1

Each task is one run of `--algo qlearning --env ID --seed S`, trained as scripts/train.py does,
with the hyperparameters of `agents.q_learning.presets` (recorded in each run's config.json),
followed by a greedy evaluation of the final table on its own seeded episodes:

    cliffwalking  CliffWalking-v1            greedy return, must be the optimal -13
    taxi          Taxi-v4                    mean greedy return over 100 episodes, >= 7.5
    frozenlake    FrozenLake-v1 (4x4, slip)  greedy success rate over 1,000 episodes, >= 0.70
    pacman_tiny   PacGrid/Tiny-v0 (random)   greedy win rate over 100 games, >= 0.90, after at
                                             most 2,000 training episodes

Prints ONE JSON object on stdout (the results, the training time of each task, the episodes it
trained for, and whether each target was met); the run folders go under --out-dir. Exits with
status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as `python scripts/eval_qlearning.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import envs  # noqa: F401 - registers the PacGrid environments with Gymnasium
from agents.registry import load_run, train_settings
from rl.config import add_dataclass_args, from_args
from rl.evaluate import evaluate
from rl.seeding import make_rng

EVAL_STREAM = 2  # evaluation episodes use make_rng([seed, EVAL_STREAM]), apart from training's


@dataclasses.dataclass(frozen=True)
class Task:
    """One result: where to train, how to measure, and the target it must reach."""

    env_id: str
    # Key in rl.evaluate's result that is the figure ("return_mean", or "win_rate").
    measure: str
    eval_episodes: int
    target: float
    # The most training episodes the target allows (None: no limit).
    max_train_episodes: int | None = None


TASKS: dict[str, Task] = {
    "cliffwalking": Task("CliffWalking-v1", "return_mean", eval_episodes=1, target=-13.0),
    "taxi": Task("Taxi-v4", "return_mean", eval_episodes=100, target=7.5),
    # FrozenLake's only reward is +1 at the goal, so the mean return is the success rate.
    "frozenlake": Task("FrozenLake-v1", "return_mean", eval_episodes=1_000, target=0.70),
    "pacman_tiny": Task(
        "PacGrid/Tiny-v0", "win_rate", eval_episodes=100, target=0.90, max_train_episodes=2_000
    ),
}
RESULT_KEYS = {
    "cliffwalking": "cliffwalking_return",
    "taxi": "taxi_mean_return",
    "frozenlake": "frozenlake_success",
    "pacman_tiny": "pacman_tiny_win_rate",
}


@dataclasses.dataclass
class EvalQLearningConfig:
    """What to run."""

    # Seed of every training run (scripts/train.py --seed) and of the evaluation episodes.
    seed: int = 0
    # Which results to produce (cliffwalking, taxi, frozenlake, pacman_tiny).
    tasks: tuple[str, ...] = tuple(TASKS)
    # Folder for the run folders; "" means runs/eval_qlearning-<seed>-<time>.
    out_dir: str = ""
    # Show the training progress bars (on stderr).
    progress: bool = True


def run_task(name: str, task: Task, seed: int, run_dir: Path, progress: bool) -> dict:
    """Train with the preset (agents.registry.train_settings), then evaluate the saved table."""
    settings = {"algo": "qlearning", "env": task.env_id, "seed": seed, "progress": progress}
    # Training reports on stdout; this script's stdout is kept for its one JSON object.
    with contextlib.redirect_stdout(sys.stderr):
        try:
            train_settings(run_dir, settings, resume=False)
        except (ValueError, FloatingPointError) as err:
            raise RuntimeError(f"training {name} failed: {err}") from err
    run = load_run(run_dir)
    env = run.make_env()
    agent, meta = run.load_agent(env)
    result = evaluate(env, agent, task.eval_episodes, make_rng([seed, EVAL_STREAM]))
    env.close()
    value = result[task.measure]
    episodes = int(meta["loop"]["episode"])
    met = value >= task.target
    if task.max_train_episodes is not None:
        met = met and episodes <= task.max_train_episodes
    return {
        "value": value,
        "train_seconds": round(float(meta["loop"]["elapsed_s"]), 2),
        "train_steps": int(meta["loop"]["step"]),
        "train_episodes": episodes,
        "met": bool(met),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eval_qlearning.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_dataclass_args(parser, EvalQLearningConfig)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    config = from_args(EvalQLearningConfig, parser.parse_args(argv))
    unknown = [name for name in config.tasks if name not in TASKS]
    if unknown or not config.tasks:
        parser.error(f"--tasks: unknown {unknown}; choose from {', '.join(TASKS)}")
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = Path(config.out_dir or f"runs/eval_qlearning-{config.seed}-{stamp}")
    if out_dir.exists() and any(out_dir.iterdir()):
        parser.error(f"--out-dir {out_dir} is not empty; choose a new folder")

    report: dict = {"seed": config.seed}
    all_met = True
    started = time.perf_counter()
    for name in config.tasks:
        task = TASKS[name]
        outcome = run_task(name, task, config.seed, out_dir / name, config.progress)
        key = RESULT_KEYS[name]
        report[key] = outcome["value"]
        report[f"{name}_train_seconds"] = outcome["train_seconds"]
        report[f"{name}_train_episodes"] = outcome["train_episodes"]
        report[f"{name}_met"] = outcome["met"]
        all_met = all_met and outcome["met"]
    report["all_targets_met"] = all_met
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    report["out_dir"] = str(out_dir)
    print(json.dumps(report))
    print(f"wrote the run folders in {out_dir}", file=sys.stderr)
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
