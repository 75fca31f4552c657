"""Greedy evaluation of a trained run; prints one JSON line.

    python scripts/evaluate.py runs/CartPole-v1-dqn-0-20260101-120000 --episodes 100
    python scripts/evaluate.py runs/CartPole-v1-dqn-0-20260101-120000 --checkpoint best

Rebuilds the environment and the agent from the run's config and its last (or best) checkpoint
and plays greedy episodes on held-out seeds: games that neither training nor the evaluations
during training (which chose the best checkpoint) started. The JSON has the mean and standard
deviation of the return and, for the Pac-Man game, the win rate and the mean score.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as `python scripts/evaluate.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import envs  # noqa: F401 - registers the PacGrid environments with Gymnasium
from agents.registry import EVAL_ENVS, acting_overrides, add_acting_options, load_run
from rl.checkpoint import loaded_kind
from rl.config import ArgumentParser, acting_only_fields
from rl.evaluate import EVALUATE_STREAM, evaluate
from rl.run import CHECKPOINT_NAMES
from rl.seeding import make_rng


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="evaluate.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR",
                        help="a folder written by train.py")
    parser.add_argument("--allow-import", action="store_true",
                        help="let the run's env id 'module:Id' import its module (runs its code)")
    parser.add_argument("--checkpoint", choices=tuple(CHECKPOINT_NAMES), default="last",
                        help="which model to evaluate: the last checkpoint, or the best one by "
                             "the greedy evaluations during training (default: %(default)s)")
    parser.add_argument("--episodes", type=int, default=100, help="greedy episodes (default: 100)")
    add_acting_options(parser)
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the evaluation episodes (default: the run's seed)")
    parser.add_argument("--max-episode-steps", type=int, default=None,
                        help="cut episodes after this many steps (default: the env's time limit, "
                        "or 1000 when it has none)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error(f"--episodes must be >= 1, got {args.episodes}")
    if args.seed is not None and args.seed < 0:
        parser.error(f"--seed must be >= 0 (NumPy seeds are non-negative), got {args.seed}")
    if args.max_episode_steps is not None and args.max_episode_steps < 1:
        parser.error(f"--max-episode-steps must be >= 1, got {args.max_episode_steps}")
    try:
        run = load_run(args.run_dir, args.allow_import).acting_with(**acting_overrides(args))
        games = [run.make_env()]
        agent, meta = run.load_agent(games[0], args.checkpoint)
    except (FileNotFoundError, ValueError) as err:  # incl. UsageError, CheckpointError
        parser.error(str(err))
    if hasattr(agent, "act_batch"):  # games side by side, one forward pass for all
        games += [run.make_env() for _ in range(min(EVAL_ENVS, args.episodes) - 1)]
    seed = run.seed if args.seed is None else args.seed
    try:
        result = evaluate(games, agent, args.episodes, make_rng([seed, EVALUATE_STREAM]),
                          max_episode_steps=args.max_episode_steps, held_out=True)
    finally:
        for env in games:
            env.close()
    line = {
        "run_dir": str(run.run_dir),
        "algo": run.algo_name,
        "env_id": run.env_id,
        # A folder with only best.npz (a shipped model) gives it for "last".
        "checkpoint": loaded_kind(meta, args.checkpoint),
        "checkpoint_step": (meta.get("loop") or meta.get("best") or {}).get("step"),
        "seed": seed,
        # How the agent acted: its acting-only settings (e.g. the DQN's mirror_greedy).
        **{name: getattr(run.agent_config, name)
           for name in sorted(acting_only_fields(run.agent_config))},
        **result,
    }
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
