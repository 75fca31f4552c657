"""Can the DQN's network see the food? A supervised check of the architecture, without RL.

    python scripts/pacman_food_probe.py --env PacGrid/Small-v1
    python scripts/pacman_food_probe.py --env PacGrid/Medium-v1 --updates 20000

A DQN that walks about aimlessly once few pellets are left may not see where they are, or may
see them but value the moves there too alike to choose well. This separates the two. It builds
the Q-network of the env id's DQN preset (agents/dqn_presets.py: centred view, convolutions,
dueling head), collects positions of the `-v1` game (random legal walks from random starts,
then all but 1 to `--max-food` random pellets removed) and trains the network by regression:
its output for each legal move is -(maze distance from the cell the move leads to, to the
nearest pellet) / 10. Then, on positions it never saw, it counts how often the network's best
legal move is a shortest-path move. A random legal move scores the `chance` figure printed.

Prints ONE JSON object: the settings, chance, and the held-out accuracy after each report.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from tqdm import tqdm

import envs  # noqa: F401 - registers the PacGrid environments with Gymnasium
from agents.registry import UsageError, new_run
from envs.pacman.observation import MarkovEncoder
from envs.pacman.planner import maze_distances
from rl.config import ArgumentParser

DISTANCE_SCALE = 10.0  # targets -distance / 10: the size of the DQN's scaled values


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="pacman_food_probe.py", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="PacGrid/Small-v1",
                        help="a PacGrid -v1 id; its DQN preset gives the network "
                             "(default: %(default)s)")
    parser.add_argument("--positions", type=int, default=20_000,
                        help="training positions (default: %(default)s)")
    parser.add_argument("--test-positions", type=int, default=2_000,
                        help="held-out positions (default: %(default)s)")
    parser.add_argument("--max-food", type=int, default=5,
                        help="pellets left in a position: 1 to this many (default: %(default)s)")
    parser.add_argument("--updates", type=int, default=10_000,
                        help="gradient steps (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=32,
                        help="positions per step (default: %(default)s)")
    parser.add_argument("--learning-rate", type=float, default=5e-4,
                        help="Adam step size, the presets' first one (default: %(default)s)")
    parser.add_argument("--report-every", type=int, default=2_500,
                        help="updates between held-out accuracies (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True,
                        help="show a progress bar on stderr (default: on)")
    return parser


def collect(env: Any, count: int, max_food: int, rng: np.random.Generator,
            progress: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`count` positions: observations, per-action targets and legal-move masks."""
    game = env.unwrapped
    maze = game.maze
    encoder = MarkovEncoder(maze, arcade=False)
    distances = maze_distances(maze)
    observations, targets, masks = [], [], []
    with tqdm(total=count, desc="positions", disable=not progress) as bar:
        while len(observations) < count:
            _, info = env.reset(seed=int(rng.integers(2**31)))
            ended = False
            for _ in range(int(rng.integers(0, 80))):
                action = int(rng.choice(np.flatnonzero(info["action_mask"])))
                _, _, terminated, truncated, info = env.step(action)
                if ended := terminated or truncated:
                    break
            state = game.state
            food = np.flatnonzero(np.frombuffer(state.food, dtype=np.uint8))
            if ended or len(food) == 0:
                continue
            keep = rng.choice(food, size=min(len(food), int(rng.integers(1, max_food + 1))),
                              replace=False)
            position = state.copy()  # the env's own state stays as it was
            position.food = bytearray(len(state.food))
            for cell in keep:
                position.food[cell] = 1
            position.food_left = len(keep)
            moves = maze.next_cell[position.pacman]
            observations.append(encoder.encode(position))
            targets.append([-distances[cell][keep].min() / DISTANCE_SCALE for cell in moves])
            masks.append(np.asarray(maze.legal_masks[position.pacman], dtype=bool))
            bar.update()
    return (np.asarray(observations), np.asarray(targets, dtype=np.float32),
            np.asarray(masks))


def shortest_move_rate(values: np.ndarray, targets: np.ndarray, masks: np.ndarray) -> float:
    """How often the best legal move by `values` is a best legal move by `targets`."""
    chosen = np.where(masks, values, -np.inf).argmax(axis=1)
    best = np.where(masks, targets, -np.inf).max(axis=1)
    return float(np.mean(targets[np.arange(len(targets)), chosen] >= best - 1e-6))


def chance_rate(targets: np.ndarray, masks: np.ndarray) -> float:
    """What a uniformly random legal move scores on `shortest_move_rate`."""
    best = np.where(masks, targets, -np.inf).max(axis=1, keepdims=True)
    return float(np.mean(((targets >= best - 1e-6) & masks).sum(1) / masks.sum(1)))


def probe(env_id: str, positions: int, test_positions: int, max_food: int, updates: int,
          batch_size: int, learning_rate: float, report_every: int, seed: int,
          progress: bool = False) -> dict[str, Any]:
    run = new_run("dqn", env_id, {"seed": seed})
    env = run.make_env()
    try:
        if not hasattr(env.unwrapped, "maze") or env.unwrapped.obs_type != "markov":
            raise UsageError(f"{env_id} is not a PacGrid -v1 id (Markov observation); "
                             f"try PacGrid/Small-v1")
        agent = run.make_agent(env)
        rng = np.random.default_rng(seed)
        train = collect(env, positions, max_food, rng, progress)
        test = collect(env, test_positions, max_food, rng, progress)
    finally:
        env.close()
    net, optimizer = agent.q_net, agent.optimizer
    optimizer.lr = learning_rate
    reports = []
    for update in tqdm(range(1, updates + 1), desc="updates", disable=not progress):
        rows = rng.integers(0, positions, batch_size)
        values = net.forward(train[0][rows], train=True)
        error = np.where(train[2][rows], values - train[1][rows], 0.0)
        net.backward((error / batch_size).astype(np.float32))  # mean squared error / 2
        optimizer.update(agent.params, agent.grads)
        if update % report_every == 0 or update == updates:
            reports.append({"updates": update,
                            "held_out": shortest_move_rate(net.forward(test[0]), *test[1:])})
    return {"env": env_id, "positions": positions, "test_positions": test_positions,
            "max_food": max_food, "batch_size": batch_size, "learning_rate": learning_rate,
            "seed": seed, "chance": chance_rate(*test[1:]), "reports": reports}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("positions", "test_positions", "max_food", "updates", "batch_size",
                 "report_every"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.learning_rate <= 0:
        parser.error(f"--learning-rate must be > 0, got {args.learning_rate}")
    try:
        result = probe(args.env, args.positions, args.test_positions, args.max_food,
                       args.updates, args.batch_size, args.learning_rate, args.report_every,
                       args.seed, args.progress)
    except (UsageError, ValueError) as err:
        parser.error(str(err))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
