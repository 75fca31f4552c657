"""A Pac-Man player that knows the rules: depth-limited expectimax over the true game model.

    python scripts/pacman_planner.py --layout small --depth 3 --games 100
    python scripts/pacman_planner.py --layout medium --ghosts directional --depth 2

It is not a learning agent. It answers "how well can a player do on this layout, with these
ghosts, when it sees the whole state and knows exactly how the ghosts choose their moves?", a
yardstick for what a learning agent can be asked to reach. At every step it looks `depth`
Pac-Man moves ahead; after each move every possible combination of ghost moves is weighed by
its exact probability (envs.pacman.ghosts.move_probabilities). A position at the horizon is
worth its score minus `food_weight` times the maze distance to the nearest food; a finished
game is worth its final score.

Prints ONE JSON object: win rate, mean score and steps, and the settings. Game g is seeded
with seed + g, so the same settings give the same result.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections import deque
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm import tqdm

if __package__ in (None, ""):  # run as `python scripts/pacman_planner.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from envs.pacman.game import NUM_ACTIONS, GameState, Maze, step
from envs.pacman.ghosts import get_ghost_policy, move_probabilities
from envs.pacman.layout import LayoutError, load_layout
from rl.config import add_dataclass_args, from_args


@dataclasses.dataclass
class PlannerConfig:
    """Settings of a planner evaluation."""

    # Built-in layout name (tiny, small, medium, classic) or a path to a .lay file.
    layout: str = "small"
    # Ghost behaviour: random, directional or arcade.
    ghosts: Literal["random", "directional", "arcade"] = "random"
    # Pac-Man moves looked ahead at each step (the cost grows about tenfold per level).
    depth: int = 3
    # Games played.
    games: int = 100
    # Seed of the first game; game g uses seed + g.
    seed: int = 0
    # Weight of the distance to the nearest food in the value of an unfinished position.
    food_weight: float = 2.0
    # A game still running after this many steps counts as not won.
    max_steps: int = 1000
    # Show a progress bar over the games (on stderr).
    progress: bool = True

    def __post_init__(self) -> None:
        if self.depth < 1 or self.games < 1 or self.max_steps < 1:
            raise ValueError(f"--depth, --games and --max-steps must be at least 1, got "
                             f"{self.depth}, {self.games} and {self.max_steps}")


class Planner:
    """Expectimax over Pac-Man's moves (max) and the ghosts' moves (expectation)."""

    def __init__(self, maze: Maze, ghosts: str, depth: int, food_weight: float) -> None:
        self.maze, self.ghosts = maze, ghosts
        self.depth, self.food_weight = depth, food_weight

    def moves(self, state: GameState) -> list[int]:
        """Pac-Man's actions that lead somewhere, plus STOP (waiting can dodge a ghost)."""
        here = self.maze.next_cell[state.pacman]
        return [action for action in range(NUM_ACTIONS) if action == 0 or here[action] != here[0]]

    def act(self, state: GameState, rng: np.random.Generator) -> int:
        """The best action now (ties broken at random)."""
        actions = self.moves(state)
        values = np.array([self.expected(state, action, self.depth) for action in actions])
        best = np.flatnonzero(values >= values.max() - 1e-9)
        return actions[int(rng.choice(best))]

    def expected(self, state: GameState, action: int, depth: int) -> float:
        """Mean value after Pac-Man plays `action` and the ghosts answer."""
        return sum(p * self.value(after, depth - 1) for p, after in self.outcomes(state, action))

    def value(self, state: GameState, depth: int) -> float:
        if state.done:
            return float(state.score)
        if depth == 0:
            return state.score - self.food_weight * self.food_distance(state)
        return max(self.expected(state, action, depth) for action in self.moves(state))

    def outcomes(self, state: GameState, action: int) -> list[tuple[float, GameState]]:
        """Every (probability, next state) that `action` can lead to.

        The step is replayed with the ghosts' choices fixed one ghost at a time: a ghost's
        options (and, for the directional ghost, their chances) are only known once the
        ghosts before it have moved, and the game may end before the later ones move at all.
        """
        results: list[tuple[float, GameState]] = []
        pending = [((), 1.0)]
        while pending:
            choices, probability = pending.pop()
            asked: list[tuple[float, ...]] = []

            def policy(maze, now, index, options, rng, choices=choices, asked=asked):
                if index < len(choices):
                    return options[choices[index]]
                if not asked:  # the first undecided ghost: branch on its options later
                    asked.append(move_probabilities(self.ghosts, maze, now, index, options))
                return options[0]

            after = state.copy()
            step(self.maze, after, action, policy, None)
            if not asked:
                results.append((probability, after))
                continue
            pending += [((*choices, i), probability * p)
                        for i, p in enumerate(asked[0]) if p > 0.0]
        return results

    def food_distance(self, state: GameState) -> int:
        """Moves from Pac-Man to the nearest food (breadth-first search), 0 when none is left."""
        next_cell, food = self.maze.next_cell, state.food
        seen, frontier = {state.pacman: 0}, deque([state.pacman])
        while frontier:
            cell = frontier.popleft()
            if food[cell]:
                return seen[cell]
            for neighbour in next_cell[cell][1:]:
                if neighbour not in seen:
                    seen[neighbour] = seen[cell] + 1
                    frontier.append(neighbour)
        return 0


def play(maze: Maze, cfg: PlannerConfig, seed: int) -> GameState:
    """One game with the planner in charge; returns the final state."""
    planner = Planner(maze, cfg.ghosts, cfg.depth, cfg.food_weight)
    ghost_policy = get_ghost_policy(cfg.ghosts)
    ghost_rng, tie_rng = np.random.default_rng([seed, 0]), np.random.default_rng([seed, 1])
    state = GameState(maze)
    while not state.done and state.steps < cfg.max_steps:
        step(maze, state, planner.act(state, tie_rng), ghost_policy, ghost_rng)
    return state


def evaluate(cfg: PlannerConfig) -> dict:
    maze = Maze(load_layout(cfg.layout))
    start = time.perf_counter()
    finals = [play(maze, cfg, cfg.seed + game)
              for game in tqdm(range(cfg.games), desc="games", disable=not cfg.progress)]
    return {
        "layout": cfg.layout, "ghosts": cfg.ghosts, "depth": cfg.depth, "games": cfg.games,
        "win_rate": sum(final.win for final in finals) / cfg.games,
        "mean_score": float(np.mean([final.score for final in finals])),
        "mean_steps": float(np.mean([final.steps for final in finals])),
        "unfinished": sum(not final.done for final in finals),
        "food_weight": cfg.food_weight, "seed": cfg.seed,
        "seconds": round(time.perf_counter() - start, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pacman_planner.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataclass_args(parser, PlannerConfig)
    args = parser.parse_args(argv)
    try:
        cfg = from_args(PlannerConfig, args)
        result = evaluate(cfg)
    except (ValueError, LayoutError) as err:
        print(f"pacman_planner.py: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
