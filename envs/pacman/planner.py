"""Players that know the rules: an expectimax planner (the yardstick) and a ghost-blind floor.

The planner answers "how well can a player do on this layout, with these ghosts, when it sees
the whole state and knows exactly how the ghosts choose their moves?". At every step it looks
`depth` Pac-Man moves ahead; after each move every combination of ghost moves is weighed by its
exact probability (``ghosts.move_probabilities``). A position at the horizon is worth its score
minus ``food_weight`` times the maze distance to the nearest food; a finished game is worth its
final score. Ties between equally good moves are broken at random.

The floor player walks to the nearest food and ignores the ghosts: a layout where it wins often
asks nothing of a learner.

Two things keep the planner fast enough to calibrate whole layout ladders, and neither changes
a value it computes (tests compare it with the plain search, ``Planner(..., fast=False)``):

- Ghost outcomes are expanded one ghost at a time from the state after Pac-Man's move (the
  plain search replays the whole step once per prefix of ghost choices).
- A ghost too far away to reach Pac-Man within the look-ahead cannot change any value, so only
  one of its moves is followed (random and directional ghosts, whose choices depend on nobody
  else's), and positions met twice in one search are valued once (a table keyed by the state).
"""

from __future__ import annotations

import functools
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from envs.pacman import game
from envs.pacman.game import NUM_ACTIONS, STOP, GameState, GhostPolicy, Maze
from envs.pacman.ghosts import get_ghost_policy, move_probabilities
from envs.pacman.layout import load_layout

UNREACHABLE = 10**6  # maze distance between cells with no path between them


def maze_distances(maze: Maze) -> np.ndarray:
    """(cells, cells) int32 array of shortest-path lengths between open cells (BFS from each)."""
    cells = maze.height * maze.width
    distances = np.full((cells, cells), UNREACHABLE, dtype=np.int32)
    walls = maze.layout.walls.reshape(-1)
    for source in np.flatnonzero(~walls):
        row = distances[source]
        row[source] = 0
        frontier = deque([int(source)])
        while frontier:
            cell = frontier.popleft()
            for neighbour in maze.next_cell[cell][1:]:
                if row[neighbour] == UNREACHABLE:
                    row[neighbour] = row[cell] + 1
                    frontier.append(neighbour)
    return distances


class Planner:
    """Expectimax over Pac-Man's moves (max) and the ghosts' moves (expectation)."""

    def __init__(self, maze: Maze, ghosts: str, depth: int, food_weight: float = 2.0,
                 fast: bool = True) -> None:
        self.maze, self.ghosts = maze, ghosts
        self.depth, self.food_weight, self.fast = depth, food_weight, fast
        self.distances = maze_distances(maze)
        # Arcade ghosts read each other's cells and the clock: no ghost may be skipped, and the
        # clock and Pac-Man's heading are part of a position.
        self.independent_ghosts = ghosts in ("random", "directional")
        self._memo: dict[tuple, float] = {}

    def moves(self, state: GameState) -> list[int]:
        """Pac-Man's actions that lead somewhere, plus STOP (waiting can dodge a ghost)."""
        here = self.maze.next_cell[state.pacman]
        return [action for action in range(NUM_ACTIONS) if action == 0 or here[action] != here[0]]

    def act(self, state: GameState, rng: np.random.Generator) -> int:
        """The best action now (ties broken at random)."""
        self._memo.clear()
        actions = self.moves(state)
        values = np.array([self.expected(state, action, self.depth) for action in actions])
        best = np.flatnonzero(values >= values.max() - 1e-9)
        return actions[int(rng.choice(best))]

    def expected(self, state: GameState, action: int, depth: int) -> float:
        """Mean value after Pac-Man plays `action` and the ghosts answer."""
        return sum(p * self.value(after, depth - 1)
                   for p, after in self.outcomes(state, action, depth))

    def value(self, state: GameState, depth: int) -> float:
        if state.done:
            return float(state.score)
        if depth == 0:
            return state.score - self.food_weight * self.food_distance(state)
        if not self.fast:
            return max(self.expected(state, action, depth) for action in self.moves(state))
        # Values below a position grow with its score and depend on nothing else it did before.
        key = self._key(state, depth)
        relative = self._memo.get(key)
        if relative is None:
            best = max(self.expected(state, action, depth) for action in self.moves(state))
            relative = self._memo[key] = best - state.score
        return state.score + relative

    def _key(self, state: GameState, depth: int) -> tuple:
        key = (depth, state.pacman, *state.ghosts, *state.ghost_dirs, *state.scared,
               state.food_left, bytes(state.food), bytes(state.capsules))
        if not self.independent_ghosts:
            key += (state.pacman_dir, min(state.steps, 10**4))
        return key

    def outcomes(self, state: GameState, action: int,
                 depth: int = 1) -> list[tuple[float, GameState]]:
        """(probability, next state) pairs that `action` can lead to, `depth` moves from the end.

        With ``fast`` a ghost that cannot reach Pac-Man within `depth` moves is given one move
        (its choice changes no value within the horizon), so the pairs then describe the
        values, not every next state.
        """
        if not self.fast:
            return self._outcomes_by_replay(state, action)
        after = self._pacman_moves(state, action)
        if after.done:
            return [(1.0, after)]
        results: list[tuple[float, GameState]] = []
        self._ghosts_move(after, 0, 1.0, depth, results)
        return results

    def _pacman_moves(self, state: GameState, action: int) -> GameState:
        """The state after Pac-Man's half of a step (the first half of ``game.step``).

        Food and capsules are shared with `state` and copied only when Pac-Man eats one, since
        the ghosts' half of the step never changes them.
        """
        maze = self.maze
        after = GameState.__new__(GameState)
        after.food, after.capsules, after.food_left = state.food, state.capsules, state.food_left
        after.ghosts, after.ghost_dirs = list(state.ghosts), list(state.ghost_dirs)
        after.scared, after.win, after.loss = list(state.scared), state.win, state.loss
        after.steps, after.score = state.steps + 1, state.score - game.TIME_PENALTY
        after.pacman_dir = action if action != STOP else state.pacman_dir
        pacman = after.pacman = maze.next_cell[state.pacman][action]
        if state.food[pacman]:
            after.food = bytearray(state.food)
            after.food[pacman] = 0
            after.food_left -= 1
            after.score += game.FOOD_REWARD
            if after.food_left == 0:
                after.score += game.WIN_REWARD
                after.win = True
                return after
        if state.capsules[pacman]:
            after.capsules = bytearray(state.capsules)
            after.capsules[pacman] = 0
            after.scared = [game.SCARED_TIME] * len(after.ghosts)
        for index in range(len(after.ghosts)):
            if after.ghosts[index] == pacman:
                game._collide(maze, after, index)
                if after.loss:
                    break
        return after

    def _ghosts_move(self, state: GameState, index: int, probability: float, depth: int,
                     results: list[tuple[float, GameState]]) -> None:
        """Branch on ghost `index`'s moves, then on the later ghosts' (a step's second half)."""
        if index == len(state.ghosts):
            results.append((probability, state))
            return
        maze = self.maze
        options = maze.ghost_moves[state.ghosts[index]][state.ghost_dirs[index]]
        # Pac-Man has `depth` - 1 moves left after this step and the ghost `depth` moves: a ghost
        # farther than their sum can meet him in none of them.
        if (self.independent_ghosts and len(options) > 1
                and self.distances[state.ghosts[index], state.pacman] > 2 * depth):
            options, chances = options[:1], (1.0,)
        else:
            chances = move_probabilities(self.ghosts, maze, state, index, options)
        last = len(options) - 1
        for choice, ((direction, cell), chance) in enumerate(zip(options, chances, strict=True)):
            if chance == 0.0:
                continue
            branch = state if choice == last else _copy_ghosts(state)
            branch.ghost_dirs[index] = direction
            branch.ghosts[index] = cell
            if cell == branch.pacman:
                game._collide(maze, branch, index)
                if branch.loss:
                    results.append((probability * chance, branch))
                    continue
            if branch.scared[index] > 0:
                branch.scared[index] -= 1
            self._ghosts_move(branch, index + 1, probability * chance, depth, results)

    def _outcomes_by_replay(self, state: GameState, action: int) -> list[tuple[float, GameState]]:
        """The plain expansion: replay ``game.step`` with the ghosts' choices fixed one at a time.

        A ghost's options (and, for the directional ghost, their chances) are only known once the
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
            game.step(self.maze, after, action, policy, None)
            if not asked:
                results.append((probability, after))
                continue
            pending += [((*choices, i), probability * p)
                        for i, p in enumerate(asked[0]) if p > 0.0]
        return results

    def food_distance(self, state: GameState) -> int:
        """Moves from Pac-Man to the nearest food, 0 when none is left."""
        return food_distance(self.distances, state, state.pacman)


def food_distance(distances: np.ndarray, state: GameState, cell: int) -> int:
    """Moves from `cell` to the nearest food of `state` (maze_distances), 0 when none is left."""
    if state.food_left == 0:
        return 0
    food = np.frombuffer(state.food, dtype=np.uint8).astype(bool)
    return int(distances[cell][food].min())


def _copy_ghosts(state: GameState) -> GameState:
    """A copy whose ghost lists are its own; food and capsules stay shared (ghosts never eat)."""
    other = GameState.__new__(GameState)
    for name in ("pacman", "pacman_dir", "food_left", "score", "steps", "win", "loss"):
        setattr(other, name, getattr(state, name))
    other.food, other.capsules = state.food, state.capsules
    other.ghosts, other.ghost_dirs = list(state.ghosts), list(state.ghost_dirs)
    other.scared = list(state.scared)
    return other


class FoodWalker:
    """The floor: walks a shortest path to the nearest food and never looks at a ghost."""

    def __init__(self, maze: Maze) -> None:
        self.maze = maze
        self.distances = maze_distances(maze)

    def act(self, state: GameState, rng: np.random.Generator) -> int:
        food = np.flatnonzero(np.frombuffer(state.food, dtype=np.uint8))
        to_food = self.distances[:, food]  # (cells, foods)
        here = self.maze.next_cell[state.pacman]
        steps = [to_food[here[action]].min() if here[action] != here[0] else UNREACHABLE
                 for action in range(NUM_ACTIONS)]
        best = np.flatnonzero(np.array(steps) == min(steps))
        return int(rng.choice(best))


@dataclass
class GameResult:
    """How one game ended."""

    win: bool
    score: int
    steps: int
    done: bool


def play_game(maze: Maze, player: Planner | FoodWalker, ghosts: str | GhostPolicy, seed: int,
              max_steps: int) -> GameResult:
    """One game with `player` in charge, ghosts drawn from ``rng([seed, 0])``."""
    ghost_policy = get_ghost_policy(ghosts)
    ghost_rng, tie_rng = np.random.default_rng([seed, 0]), np.random.default_rng([seed, 1])
    state = GameState(maze)
    while not state.done and state.steps < max_steps:
        game.step(maze, state, player.act(state, tie_rng), ghost_policy, ghost_rng)
    return GameResult(state.win, state.score, state.steps, state.done)


PLAYERS = ("planner", "floor")


def make_player(name: str, maze: Maze, ghosts: str, depth: int,
                food_weight: float) -> Planner | FoodWalker:
    """The player called `name`: ``planner`` (expectimax) or ``floor`` (the ghost-blind walker)."""
    if name == "planner":
        return Planner(maze, ghosts, depth, food_weight)
    if name == "floor":
        return FoodWalker(maze)
    raise ValueError(f"unknown player {name!r}; choose one of {', '.join(PLAYERS)}")


def play_games(layout: str, ghosts: str, player: str, seeds: list[int], max_steps: int,
               depth: int = 3, food_weight: float = 2.0) -> list[GameResult]:
    """Games on `layout` (a name or path), one per seed (picklable arguments, for workers)."""
    maze = Maze(load_layout(layout))
    chosen = make_player(player, maze, ghosts, depth, food_weight)
    return [play_game(maze, chosen, ghosts, seed, max_steps) for seed in seeds]


def play_many(layout: str, ghosts: str, player: str, games: int, max_steps: int, *,
              seed: int = 0, depth: int = 3, food_weight: float = 2.0, workers: int = 1,
              progress: bool = False) -> dict:
    """Games seeded seed, seed + 1, ... (in `workers` processes), summarised as a JSON-able dict.

    The result does not depend on `workers`: game g always uses seed + g.
    """
    seeds = [[seed + game] for game in range(games)]  # one game per task
    play = functools.partial(play_games, layout, ghosts, player, max_steps=max_steps,
                             depth=depth, food_weight=food_weight)
    start = time.perf_counter()
    results: list[GameResult] = []
    with tqdm(total=games, desc=f"{player} {layout} {ghosts}", disable=not progress) as bar, \
            (ProcessPoolExecutor(workers) if workers > 1 else nullcontext()) as pool:
        for chunk in (pool.map(play, seeds) if pool else map(play, seeds)):
            results += chunk
            bar.update()
    return {
        "layout": layout, "ghosts": ghosts, "player": player,
        "depth": depth if player == "planner" else None, "games": games,
        "win_rate": sum(result.win for result in results) / games,
        "mean_score": float(np.mean([result.score for result in results])),
        "mean_steps": float(np.mean([result.steps for result in results])),
        "unfinished": sum(not result.done for result in results),
        "max_steps": max_steps, "food_weight": food_weight, "seed": seed,
        "seconds": round(time.perf_counter() - start, 1),
    }
