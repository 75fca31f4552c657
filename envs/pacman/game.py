"""Game rules: a state object and the functions that advance it. No pygame, no Gymnasium.

Scoring follows the well-known teaching version of Pac-Man: -1 per time step, +10 per food,
+200 per scared ghost eaten, +500 for clearing the board (win), -500 when caught (loss).

Cells are numbered ``row * width + column`` so that a move is one list look-up; ``Maze`` holds
everything about the geometry that can be computed once per layout.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum

import numpy as np

from envs.pacman.layout import Layout

TIME_PENALTY = 1
FOOD_REWARD = 10
GHOST_REWARD = 200
WIN_REWARD = 500
LOSS_PENALTY = 500
SCARED_TIME = 40  # ghost moves a capsule keeps every ghost scared


class Action(IntEnum):
    """Pac-Man's moves; ghosts use the same directions (never STOP)."""

    STOP = 0
    NORTH = 1
    SOUTH = 2
    EAST = 3
    WEST = 4


NUM_ACTIONS = len(Action)
STOP = int(Action.STOP)  # plain int: compared on every step
DELTAS = ((0, 0), (-1, 0), (1, 0), (0, 1), (0, -1))  # (d_row, d_col) per action
REVERSE = (Action.STOP, Action.SOUTH, Action.NORTH, Action.WEST, Action.EAST)
# The arcade breaks ties between equally good ghost moves in this order.
GHOST_DIRECTIONS = (Action.NORTH, Action.WEST, Action.SOUTH, Action.EAST)


class Maze:
    """The geometry of a layout, precomputed so that the rules only do look-ups."""

    def __init__(self, layout: Layout):
        self.layout = layout
        self.height, self.width = layout.height, layout.width
        height, width = self.height, self.width
        walls = layout.walls
        # next_cell[cell][action]: where that action leads; a wall leaves Pac-Man in place.
        self.next_cell: list[tuple[int, ...]] = []
        self.coords: list[tuple[int, int]] = [divmod(cell, width) for cell in range(height * width)]
        # ghost_moves[cell][last direction]: the (direction, next cell) options of a ghost, in
        # tie-break order. Ghosts never turn back unless it is the only way (a dead end).
        self.ghost_moves: list[tuple[tuple[tuple[int, int], ...], ...]] = []
        legal = np.zeros((height * width, NUM_ACTIONS), dtype=np.uint8)
        for r in range(height):
            for c in range(width):
                cell = r * width + c
                targets = []
                for action, (dr, dc) in enumerate(DELTAS):
                    nr, nc = r + dr, c + dc
                    open_cell = 0 <= nr < height and 0 <= nc < width and not walls[nr, nc]
                    targets.append(nr * width + nc if open_cell and not walls[r, c] else cell)
                    legal[cell, action] = open_cell or action == Action.STOP
                self.next_cell.append(tuple(targets))
                exits = tuple((int(d), targets[d]) for d in GHOST_DIRECTIONS if targets[d] != cell)
                options = []
                for last in Action:
                    forward = tuple(move for move in exits if move[0] != REVERSE[last])
                    options.append(forward or exits)
                self.ghost_moves.append(tuple(options))
        legal.flags.writeable = False  # the environment hands out copies
        self.legal_masks = list(legal)
        self.pacman_start = self.cell_of(*layout.pacman_start)
        self.ghost_starts = [self.cell_of(r, c) for r, c in layout.ghost_starts]
        self.start_food = bytearray(layout.food.reshape(-1).astype(np.uint8).tobytes())
        self.start_capsules = bytearray(layout.capsules.reshape(-1).astype(np.uint8).tobytes())

    def cell_of(self, row: int, column: int) -> int:
        return row * self.width + column

    def row_col(self, cell: int) -> tuple[int, int]:
        return self.coords[cell]


class GameState:
    """Everything that changes during an episode."""

    __slots__ = (
        "capsules",
        "food",
        "food_left",
        "ghost_dirs",
        "ghosts",
        "loss",
        "pacman",
        "pacman_dir",
        "scared",
        "score",
        "steps",
        "win",
    )

    def __init__(self, maze: Maze):
        self.pacman = maze.pacman_start
        self.pacman_dir = STOP  # last direction asked for (drawing, ambushing ghosts)
        self.ghosts = list(maze.ghost_starts)
        self.ghost_dirs = [STOP] * len(self.ghosts)  # STOP: may leave any way
        self.scared = [0] * len(self.ghosts)  # scared moves left per ghost
        self.food = bytearray(maze.start_food)  # 1 where food lies, per cell
        self.food_left = sum(self.food)
        self.capsules = bytearray(maze.start_capsules)
        self.score = 0
        self.steps = 0
        self.win = False
        self.loss = False

    @property
    def done(self) -> bool:
        return self.win or self.loss

    def copy(self) -> GameState:
        """An independent copy (for looking ahead without touching the real game)."""
        other = GameState.__new__(GameState)
        for name in ("pacman", "pacman_dir", "food_left", "score", "steps", "win", "loss"):
            setattr(other, name, getattr(self, name))
        other.ghosts, other.ghost_dirs = list(self.ghosts), list(self.ghost_dirs)
        other.scared = list(self.scared)
        other.food, other.capsules = bytearray(self.food), bytearray(self.capsules)
        return other


# A ghost behaviour picks one of the (direction, cell) options for ghost number `index`.
GhostPolicy = Callable[
    [Maze, GameState, int, tuple[tuple[int, int], ...], np.random.Generator], tuple[int, int]
]


def step(
    maze: Maze, state: GameState, action: int, policy: GhostPolicy, rng: np.random.Generator
) -> int:
    """Advance one time step in place and return the reward (the change of score).

    Pac-Man moves first, then each ghost in turn. A collision counts when Pac-Man steps onto a
    ghost (which is also how two of them swapping cells is caught) or a ghost steps onto Pac-Man.
    A scared ghost is eaten and returns to its start (where, should Pac-Man stand on it, it
    catches him); an unscared one ends the game. Eating the last food wins before any ghost moves.
    """
    score_before = state.score
    state.steps += 1
    state.score -= TIME_PENALTY
    if action != STOP:
        state.pacman_dir = action
    pacman = maze.next_cell[state.pacman][action]
    state.pacman = pacman

    if state.food[pacman]:
        state.food[pacman] = 0
        state.food_left -= 1
        state.score += FOOD_REWARD
        if state.food_left == 0:
            state.score += WIN_REWARD
            state.win = True
            return state.score - score_before
    if state.capsules[pacman]:
        state.capsules[pacman] = 0
        state.scared = [SCARED_TIME] * len(state.ghosts)

    ghosts = state.ghosts
    for index in range(len(ghosts)):
        if ghosts[index] == pacman:
            _collide(maze, state, index)
            if state.loss:
                return state.score - score_before

    scared = state.scared
    ghost_dirs = state.ghost_dirs
    for index in range(len(ghosts)):
        options = maze.ghost_moves[ghosts[index]][ghost_dirs[index]]
        direction, cell = policy(maze, state, index, options, rng)
        ghost_dirs[index] = direction
        ghosts[index] = cell
        if cell == pacman:
            _collide(maze, state, index)
            if state.loss:
                return state.score - score_before
        if scared[index] > 0:
            scared[index] -= 1
    return state.score - score_before


def _collide(maze: Maze, state: GameState, index: int) -> None:
    """Pac-Man and ghost `index` share a cell: the ghost is eaten if scared, else Pac-Man is."""
    if state.scared[index] > 0:
        state.score += GHOST_REWARD
        state.ghosts[index] = maze.ghost_starts[index]
        state.ghost_dirs[index] = STOP
        state.scared[index] = 0
        if state.ghosts[index] == state.pacman:  # sent home onto Pac-Man: arriving catches him
            _collide(maze, state, index)
    else:
        state.score -= LOSS_PENALTY
        state.loss = True
