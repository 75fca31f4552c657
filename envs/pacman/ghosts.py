"""Ghost behaviours. Each picks one of the moves the rules allow (no turning back unless stuck).

- ``random``: uniform over the allowed moves.
- ``directional``: with probability 0.8 a move that brings the ghost closest to Pac-Man
  (farthest when scared), otherwise uniform.
- ``arcade``: the four personalities of the arcade game, by ghost number modulo 4: the chaser
  targets Pac-Man's cell, the ambusher 4 cells ahead of Pac-Man, the flanker the point that
  mirrors the chaser through the cell 2 ahead of Pac-Man, the shy one chases from afar but heads
  for its corner when within 8 cells. They alternate scatter phases (each heads for its own
  corner) and chase phases on a schedule counted in moves, and wander at random when scared.
  A ghost takes the allowed move whose next cell is nearest its target in straight-line
  distance, breaking ties north, west, south, east as the arcade does.

All randomness comes from the ``rng`` passed in (the environment's ``np_random``).
"""

from __future__ import annotations

import numpy as np

from envs.pacman.game import DELTAS, GameState, GhostPolicy, Maze

DIRECTIONAL_PROBABILITY = 0.8  # chance a directional ghost takes one of its best moves
# Arcade phase lengths in ghost moves: scatter, chase, scatter, chase, ...; chase forever after.
ARCADE_PHASES = (7, 20, 7, 20, 5, 20, 5)
SHY_RADIUS = 8  # the shy ghost gives up the chase within this many cells (straight line)
AMBUSH_AHEAD = 4
FLANK_AHEAD = 2

Options = tuple[tuple[int, int], ...]


def random_ghost(
    maze: Maze, state: GameState, index: int, options: Options, rng: np.random.Generator
) -> tuple[int, int]:
    """Uniform over the allowed moves."""
    if len(options) == 1:
        return options[0]
    return options[int(rng.random() * len(options))]


def directional_ghost(
    maze: Maze, state: GameState, index: int, options: Options, rng: np.random.Generator
) -> tuple[int, int]:
    """Towards Pac-Man (away when scared) with probability 0.8, else uniform."""
    if len(options) == 1:
        return options[0]
    if rng.random() >= DIRECTIONAL_PROBABILITY:
        return options[int(rng.random() * len(options))]
    best_options = directional_best(maze, state, index, options)
    if len(best_options) == 1:
        return best_options[0]
    return best_options[int(rng.random() * len(best_options))]


def directional_best(maze: Maze, state: GameState, index: int, options: Options) -> Options:
    """The options that bring ghost `index` nearest Pac-Man (farthest when scared)."""
    pac_row, pac_col = maze.coords[state.pacman]
    distances = []
    for _, cell in options:
        row, col = maze.coords[cell]
        distances.append(abs(row - pac_row) + abs(col - pac_col))
    best = max(distances) if state.scared[index] else min(distances)
    return tuple(option for option, d in zip(options, distances, strict=True) if d == best)


def arcade_ghost(
    maze: Maze, state: GameState, index: int, options: Options, rng: np.random.Generator
) -> tuple[int, int]:
    """The arcade personalities: chaser, ambusher, flanker, shy (by ghost number modulo 4)."""
    if state.scared[index]:
        return random_ghost(maze, state, index, options, rng)
    if len(options) == 1:
        return options[0]
    target_row, target_col = arcade_target(maze, state, index)
    best, best_distance = options[0], None
    for option in options:
        row, col = maze.coords[option[1]]
        distance = (row - target_row) ** 2 + (col - target_col) ** 2
        if best_distance is None or distance < best_distance:
            best, best_distance = option, distance
    return best


def arcade_in_scatter(move: int) -> bool:
    """Whether arcade ghosts are in a scatter phase on their `move`-th move (0-based)."""
    scatter = True
    for length in ARCADE_PHASES:
        if move < length:
            return scatter
        move -= length
        scatter = not scatter
    return False


def arcade_target(maze: Maze, state: GameState, index: int) -> tuple[int, int]:
    """The cell (possibly outside the maze) that arcade ghost `index` heads for now."""
    height, width = maze.height, maze.width
    personality = index % 4
    corners = ((0, width - 1), (0, 0), (height - 1, width - 1), (height - 1, 0))
    corner = corners[personality]
    # state.steps was already counted for this step when the ghosts move.
    if arcade_in_scatter(state.steps - 1):
        return corner
    pac_row, pac_col = maze.coords[state.pacman]
    d_row, d_col = DELTAS[state.pacman_dir]
    if personality == 0:  # chaser
        return pac_row, pac_col
    if personality == 1:  # ambusher
        return pac_row + AMBUSH_AHEAD * d_row, pac_col + AMBUSH_AHEAD * d_col
    if personality == 2:  # flanker: mirror the chaser through the cell ahead of Pac-Man
        pivot_row, pivot_col = pac_row + FLANK_AHEAD * d_row, pac_col + FLANK_AHEAD * d_col
        chaser_row, chaser_col = maze.coords[state.ghosts[0]]
        return 2 * pivot_row - chaser_row, 2 * pivot_col - chaser_col
    row, col = maze.coords[state.ghosts[index]]  # shy
    if (row - pac_row) ** 2 + (col - pac_col) ** 2 > SHY_RADIUS**2:
        return pac_row, pac_col
    return corner


def move_probabilities(
    name: str, maze: Maze, state: GameState, index: int, options: Options
) -> tuple[float, ...]:
    """The chance that ghost `index` takes each of `options` under the behaviour `name`.

    The policies above draw from exactly these distributions; a planner that looks ahead
    (scripts/pacman_planner.py) weighs the ghosts' moves with them.
    """
    count = len(options)
    if count == 1:
        return (1.0,)
    uniform = (1.0 / count,) * count
    if name == "random" or (name == "arcade" and state.scared[index]):
        return uniform
    if name == "directional":
        best = directional_best(maze, state, index, options)
        chase = DIRECTIONAL_PROBABILITY / len(best)
        return tuple((1.0 - DIRECTIONAL_PROBABILITY) / count + chase * (option in best)
                     for option in options)
    if name == "arcade":  # deterministic when not scared: no random numbers are drawn
        chosen = arcade_ghost(maze, state, index, options, None)
        return tuple(float(option == chosen) for option in options)
    raise ValueError(f"no move probabilities for ghost behaviour {name!r}; "
                     f"choose one of {', '.join(GHOST_POLICIES)}")


GHOST_POLICIES: dict[str, GhostPolicy] = {
    "random": random_ghost,
    "directional": directional_ghost,
    "arcade": arcade_ghost,
}


def get_ghost_policy(name: str | GhostPolicy) -> GhostPolicy:
    """The behaviour called `name` (a callable with the GhostPolicy signature is used as is)."""
    if callable(name):
        return _checked(name)
    try:
        return GHOST_POLICIES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown ghost behaviour {name!r}; choose one of {', '.join(GHOST_POLICIES)} "
            "or pass a function (maze, state, index, options, rng) -> (direction, cell)"
        ) from None


def _checked(policy: GhostPolicy) -> GhostPolicy:
    """A user's ghost policy, whose every move is checked to be one of the legal `options`: a
    wrong return value is reported by name, not as a TypeError deep in the game rules."""

    def checked(maze: Maze, state: GameState, index: int, options: Options,
                rng: np.random.Generator) -> tuple[int, int]:
        move = policy(maze, state, index, options, rng)
        try:
            legal = tuple(move) in options
        except TypeError:  # not a pair at all
            legal = False
        if not legal:
            name = getattr(policy, "__name__", repr(policy))
            raise ValueError(
                f"ghost policy {name} returned {move!r} for ghost {index}; it must return one "
                f"of the legal moves it was given, (direction, cell) pairs: {options}"
            )
        return tuple(move)

    checked.__name__ = getattr(policy, "__name__", "checked")
    return checked
