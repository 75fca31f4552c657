"""How a trained Pac-Man agent loses: its greedy games on held-out seeds, looked at move by move.

    python scripts/pacman_diagnose.py runs/PacGrid-Small-v1-dqn-0-20260101-120000 --games 30
    python scripts/pacman_diagnose.py runs/PacGrid-Small-v1-dqn-0-20260101-120000 --planner 3

With --planner DEPTH the same games are played by scripts/pacman_planner.py's expectimax player
instead of the run's agent: the yardstick, measured the same way.

Plays the games scripts/evaluate.py plays (the same held-out seeds) and prints one JSON object:

- win_rate, length_mean: as evaluate.py reports them;
- endgame: the moves made with `--endgame-food` or fewer pellets left: how many per won and
  per lost game, and the share that brought Pac-Man closer (by maze distance) to the nearest
  pellet (the planner, which dodges ghosts and stops to let them pass, scores 0.36-0.45: a
  low share alone does not mean the agent cannot see the food);
- deaths: how many, how many of them came from a move when a safe move existed (one no
  unscared ghost could reach on its next move), how many of those moved onto a certain ghost
  (one standing on the cell, or whose only next move enters it: a misread board, not a
  gamble on a random ghost's choice), how many came in a move where Pac-Man ate a ghost
  (an eaten ghost returns to its start unscared: onto Pac-Man if he stands there, or a
  step from him), how many of those he was caught on the eaten ghost's own start, and the
  pellets left at each death.

Needs the game's state (env.unwrapped), so only PacGrid environments.
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

import envs  # noqa: F401 - registers the PacGrid environments with Gymnasium
from agents.registry import acting_overrides, add_acting_options, load_run
from envs.pacman.game import (
    FOOD_REWARD,
    GHOST_REWARD,
    LOSS_PENALTY,
    TIME_PENALTY,
    WIN_REWARD,
    GameState,
    Maze,
)
from envs.pacman.planner import Planner, food_distance, maze_distances
from rl.checkpoint import loaded_kind
from rl.config import ArgumentParser
from rl.evaluate import EVALUATE_STREAM
from rl.protocol import choose_action
from rl.run import CHECKPOINT_NAMES
from rl.seeding import episode_seed, make_rng


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="pacman_diagnose.py", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR",
                        help="a folder written by train.py on a PacGrid environment")
    parser.add_argument("--checkpoint", choices=tuple(CHECKPOINT_NAMES), default="last",
                        help="which model to look at (default: %(default)s)")
    parser.add_argument("--games", type=int, default=30, help="greedy games (default: 30)")
    add_acting_options(parser)
    parser.add_argument("--endgame-food", type=int, default=5,
                        help="pellets left at most, for a move to count as the endgame "
                             "(default: %(default)s)")
    parser.add_argument("--planner", type=int, default=None, metavar="DEPTH",
                        help="play the games with the expectimax planner of this depth "
                             "(scripts/pacman_planner.py) instead of the run's agent")
    return parser


class PlannerAgent:
    """The planner behind the agent interface: it reads the live game state, not `obs`."""

    def __init__(self, env: Any, depth: int, seed: int) -> None:
        self.game = env.unwrapped
        self.planner = Planner(self.game.maze, self.game.ghost_behaviour, depth)
        self.rng = make_rng([seed, EVALUATE_STREAM, depth])

    def act(self, obs: Any, greedy: bool = True) -> int:
        return self.planner.act(self.game.state, self.rng)


def reachable_by_a_ghost(maze: Maze, state: GameState, cell: int) -> bool:
    """Whether an unscared ghost stands on `cell` or can step onto it with its next move."""
    for ghost, heading, scared in zip(state.ghosts, state.ghost_dirs, state.scared, strict=True):
        if scared == 0 and (ghost == cell or any(
                option == cell for _, option in maze.ghost_moves[ghost][heading])):
            return True
    return False


def certain_ghost(maze: Maze, state: GameState, cell: int) -> bool:
    """Whether an unscared ghost stands on `cell` or has it as its only next move."""
    for ghost, heading, scared in zip(state.ghosts, state.ghost_dirs, state.scared, strict=True):
        options = {option for _, option in maze.ghost_moves[ghost][heading]}
        if scared == 0 and (ghost == cell or options == {cell}):
            return True
    return False


def ghosts_eaten(state: GameState, score_before: int, food_before: int) -> int:
    """How many ghosts Pac-Man ate in the move that led to `state`, from the score's change
    (each move costs TIME_PENALTY; food, eaten ghosts and a win or a loss add theirs)."""
    change = state.score - score_before + TIME_PENALTY
    change -= FOOD_REWARD * (food_before - state.food_left)
    change -= WIN_REWARD * state.win - LOSS_PENALTY * state.loss
    return change // GHOST_REWARD


def caught_on_its_start(maze: Any, state: GameState, scared_before: list[int]) -> bool:
    """Whether the ghost that caught Pac-Man in `state` was scared before the move and stands
    on its own start with him: eaten there, it came back unscared onto his cell."""
    return any(cell == state.pacman == maze.ghost_starts[k] and scared_before[k] > 0
               and state.scared[k] == 0 for k, cell in enumerate(state.ghosts))


def diagnose(env: Any, agent: Any, games: int, seed: int, endgame_food: int) -> dict[str, Any]:
    game = env.unwrapped
    maze = game.maze
    distances = maze_distances(maze)
    actions = range(env.action_space.n)
    rng = make_rng([seed, EVALUATE_STREAM])
    wins, lengths, endgame_steps, closer, endgame_moves = [], [], [], 0, 0
    deaths, avoidable, certain, eating, on_start, food_at_death = 0, 0, 0, 0, 0, []
    for _ in range(games):
        obs, info = env.reset(seed=episode_seed(rng, held_out=True))
        steps_in_endgame, done = 0, False
        while not done:
            state = game._state
            action = choose_action(agent, obs, info, greedy=True)
            moves = [int(maze.next_cell[state.pacman][a]) for a in actions
                     if info.get("action_mask") is None or info["action_mask"][a]]
            safe_exists = any(not reachable_by_a_ghost(maze, state, cell) for cell in moves)
            onto_certain = certain_ghost(maze, state, int(maze.next_cell[state.pacman][action]))
            if 0 < state.food_left <= endgame_food:
                steps_in_endgame += 1
                endgame_moves += 1
                target = int(maze.next_cell[state.pacman][action])
                closer += food_distance(distances, state, target) < food_distance(
                    distances, state, state.pacman)
            score, food_left, scared = state.score, state.food_left, list(state.scared)
            obs, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
            if game._state.loss:
                deaths += 1
                avoidable += safe_exists
                certain += safe_exists and onto_certain
                if ghosts_eaten(game._state, score, food_left) > 0:
                    eating += 1
                    on_start += caught_on_its_start(maze, game._state, scared)
                food_at_death.append(int(game._state.food_left))
        wins.append(bool(game._state.win))
        lengths.append(int(game._state.steps))
        endgame_steps.append(steps_in_endgame)
    won = np.array(wins)
    per_game = np.array(endgame_steps, dtype=float)
    return {
        "games": games, "win_rate": float(won.mean()), "length_mean": float(np.mean(lengths)),
        "endgame": {
            "food_left_at_most": endgame_food,
            "moves_per_won_game": float(per_game[won].mean()) if won.any() else None,
            "moves_per_lost_game": float(per_game[~won].mean()) if (~won).any() else None,
            "share_closer_to_food": closer / endgame_moves if endgame_moves else None,
        },
        "deaths": {"count": deaths, "with_a_safe_move": avoidable,
                   "onto_a_certain_ghost": certain, "eating_a_ghost": eating,
                   "eating_a_ghost_on_its_start": on_start,
                   "food_left": sorted(food_at_death)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.games < 1:
        parser.error(f"--games must be >= 1, got {args.games}")
    if args.endgame_food < 1:
        parser.error(f"--endgame-food must be >= 1, got {args.endgame_food}")
    if args.planner is not None and not 1 <= args.planner <= 4:
        parser.error(f"--planner DEPTH must be 1 to 4 (3 is the ladder's), got {args.planner}")
    try:
        run = load_run(args.run_dir).acting_with(**acting_overrides(args))
        env = run.make_env()
        if not hasattr(env.unwrapped, "maze"):
            parser.error(f"{run.env_id} is not a PacGrid environment: nothing to diagnose")
        if args.planner is None:
            agent, meta = run.load_agent(env, args.checkpoint)
            player = {"checkpoint": loaded_kind(meta, args.checkpoint)}
        elif not isinstance(env.unwrapped.ghost_behaviour, str):
            parser.error("--planner models the named ghost behaviours (random, directional, "
                         "arcade), not this run's own ghost function")
        else:
            agent = PlannerAgent(env, args.planner, run.seed)
            player = {"player": f"planner, depth {args.planner}"}
    except (FileNotFoundError, ValueError) as err:  # incl. UsageError, CheckpointError
        parser.error(str(err))
    try:
        result = diagnose(env, agent, args.games, run.seed, args.endgame_food)
    finally:
        env.close()
    print(json.dumps({"run_dir": str(run.run_dir), **player, **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
