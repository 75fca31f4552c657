"""The Markov grid observation of the ``-v1`` ids: every hidden field the rules read, as 0/1 planes.

The 6-channel grid of ``-v0`` (walls, food, capsules, Pac-Man, ghosts, scared ghosts) leaves out
what decides the ghosts' next moves: which way each ghost is heading (ghosts may not turn back),
how many scared moves are left, and which ghost is which (an eaten ghost returns to its own
start). Two positions that look the same could then have different futures. This observation is
Markov in the strict sense that ``decode`` rebuilds, from one observation and the layout, every
field that ``game.step`` and the ghost behaviours read.

Channels of ``encode`` for a layout with G ghosts (all 0/1, so the replay buffer can bit-pack
them; a "moves left" number in one uint8 plane would cost 8x):

====================  =====  ==========================================================
channel               count  1 where
====================  =====  ==========================================================
walls                 1      a wall stands
food                  1      food lies
capsules              1      a power capsule lies
pacman                1      Pac-Man is
ghost k               G      ghost k is (one plane per ghost: its identity)
ghost k came from     G      the cell ghost k left on its last move, i.e. its heading;
                             empty while it may leave any way (at the start, after
                             being eaten)
ghost k scared        G      ghost k is, while it is scared
scared bit b          6      everywhere, when bit b of the scared moves left is set
                             (every scared ghost has the same count: a capsule sets all
                             to 40, an eaten ghost drops to 0; only the last observation
                             of a lost game, caught mid-move, may differ)
====================  =====  ==========================================================

With ``arcade`` ghosts (and with a ghost function of your own, which may read anything) the
arcade's extra inputs follow:

====================  =====  ==========================================================
pacman heading d      4      Pac-Man's cell, when his last asked-for move was d (north,
                             south, east, west); none before his first move
clock bit b           7      everywhere, when bit b of min(steps, 84) is set: the
                             scatter/chase schedule (``ARCADE_PHASES``) ends after 84
                             moves, so later steps need not be told apart
====================  =====  ==========================================================

Bit-packed in the replay buffer, a transition costs ceil(H·W·C / 8) bytes of frame plus 16 of
action, reward and flags: 366 bytes on Small-v1 (21×7, 3 ghosts, 19 planes), 461 on Medium-v1
(17×11, 3 ghosts), 1,130 on Classic-v1 (27×15, 4 ghosts, 22 planes); the 6-channel grid of
Medium-v0 (20×11) cost 181.

Nothing the rules read is left out; the score and the step count beyond the clock are not read
by them (the time limit is a wrapper's business, and truncation is not the end of the task).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.pacman.game import DELTAS, REVERSE, SCARED_TIME, STOP, GameState, Maze
from envs.pacman.ghosts import ARCADE_PHASES

BASE_CHANNELS = ("walls", "food", "capsules", "pacman")
SCARED_BITS = max(SCARED_TIME, 1).bit_length()  # 6 bits count 0..40
ARCADE_CLOCK = sum(ARCADE_PHASES)  # 84: the schedule is over after this many moves
CLOCK_BITS = ARCADE_CLOCK.bit_length()  # 7
HEADINGS = ("north", "south", "east", "west")  # Action 1..4


def channel_names(num_ghosts: int, arcade: bool) -> tuple[str, ...]:
    """The name of every channel, in order."""
    names = list(BASE_CHANNELS)
    names += [f"ghost{k}" for k in range(num_ghosts)]
    names += [f"ghost{k}_came_from" for k in range(num_ghosts)]
    names += [f"ghost{k}_scared" for k in range(num_ghosts)]
    names += [f"scared_bit{b}" for b in range(SCARED_BITS)]
    if arcade:
        names += [f"pacman_heading_{name}" for name in HEADINGS]
        names += [f"clock_bit{b}" for b in range(CLOCK_BITS)]
    return tuple(names)


class MarkovEncoder:
    """Builds the observation of a state; one per maze (it keeps the static planes)."""

    def __init__(self, maze: Maze, arcade: bool):
        self.maze, self.arcade = maze, arcade
        self.num_ghosts = len(maze.ghost_starts)
        self.names = channel_names(self.num_ghosts, arcade)
        self.shape = (maze.height, maze.width, len(self.names))
        g = self.num_ghosts
        self.ghost, self.came_from, self.scared = 4, 4 + g, 4 + 2 * g
        self.scared_bits = 4 + 3 * g
        self.heading = self.scared_bits + SCARED_BITS
        self.clock_bits = self.heading + len(HEADINGS)
        self._empty = np.zeros((maze.height * maze.width, len(self.names)), dtype=np.uint8)
        self._empty[:, 0] = maze.layout.walls.reshape(-1)

    def encode(self, state: GameState) -> np.ndarray:
        """The (H, W, C) uint8 observation of `state`."""
        maze = self.maze
        cells = self._empty.copy()
        cells[:, 1] = np.frombuffer(state.food, dtype=np.uint8)
        cells[:, 2] = np.frombuffer(state.capsules, dtype=np.uint8)
        cells[state.pacman, 3] = 1
        for k, (cell, heading, scared) in enumerate(
                zip(state.ghosts, state.ghost_dirs, state.scared, strict=True)):
            cells[cell, self.ghost + k] = 1
            if heading != STOP:
                cells[maze.next_cell[cell][REVERSE[heading]], self.came_from + k] = 1
            if scared:
                cells[cell, self.scared + k] = 1
        _set_bits(cells, self.scared_bits, SCARED_BITS, max(state.scared, default=0))
        if self.arcade:
            if state.pacman_dir != STOP:
                cells[state.pacman, self.heading + state.pacman_dir - 1] = 1
            _set_bits(cells, self.clock_bits, CLOCK_BITS, min(state.steps, ARCADE_CLOCK))
        return cells.reshape(self.shape)


def _set_bits(cells: np.ndarray, first: int, count: int, value: int) -> None:
    for bit in range(count):
        if value >> bit & 1:
            cells[:, first + bit] = 1


@dataclass
class DecodedState:
    """What ``decode`` recovers: every field of ``GameState`` that the rules read.

    ``pacman_dir`` and ``clock`` (``min(steps, 84)``) are None when the observation has no
    arcade planes (random and directional ghosts read neither).
    """

    pacman: int
    food: bytes
    capsules: bytes
    ghosts: list[int]
    ghost_dirs: list[int]
    scared: list[int]
    pacman_dir: int | None
    clock: int | None

    @classmethod
    def of(cls, state: GameState, arcade: bool) -> DecodedState:
        """The same fields read straight from a true state (what a decode must equal)."""
        return cls(state.pacman, bytes(state.food), bytes(state.capsules), list(state.ghosts),
                   list(state.ghost_dirs), list(state.scared),
                   state.pacman_dir if arcade else None,
                   min(state.steps, ARCADE_CLOCK) if arcade else None)


def decode(obs: np.ndarray, maze: Maze) -> DecodedState:
    """Rebuild the state that `obs` (from ``MarkovEncoder.encode``) was made of."""
    num_ghosts = len(maze.ghost_starts)
    arcade = obs.shape[-1] == len(channel_names(num_ghosts, True))
    encoder = MarkovEncoder(maze, arcade)
    if obs.shape != encoder.shape:
        raise ValueError(f"observation of shape {obs.shape} does not fit this layout: expected "
                         f"{encoder.shape} (or the arcade variant)")
    cells = obs.reshape(-1, obs.shape[-1])
    ghosts, ghost_dirs, scared = [], [], []
    timer = _get_bits(cells, encoder.scared_bits, SCARED_BITS)
    for k in range(num_ghosts):
        cell = int(np.flatnonzero(cells[:, encoder.ghost + k])[0])
        ghosts.append(cell)
        came_from = np.flatnonzero(cells[:, encoder.came_from + k])
        heading = STOP if len(came_from) == 0 else _direction(maze, int(came_from[0]), cell)
        ghost_dirs.append(heading)
        scared.append(timer if cells[cell, encoder.scared + k] else 0)
    pacman = int(np.flatnonzero(cells[:, 3])[0])
    pacman_dir = clock = None
    if arcade:
        heading = np.flatnonzero(cells[pacman, encoder.heading:encoder.heading + len(HEADINGS)])
        pacman_dir = int(heading[0]) + 1 if len(heading) else STOP
        clock = _get_bits(cells, encoder.clock_bits, CLOCK_BITS)
    return DecodedState(pacman, cells[:, 1].tobytes(), cells[:, 2].tobytes(), ghosts, ghost_dirs,
                        scared, pacman_dir, clock)


def _get_bits(cells: np.ndarray, first: int, count: int) -> int:
    return sum(int(cells[0, first + bit]) << bit for bit in range(count))


def _direction(maze: Maze, start: int, end: int) -> int:
    """The move that leads from cell `start` to the neighbouring cell `end`."""
    (start_row, start_col), (end_row, end_col) = maze.row_col(start), maze.row_col(end)
    return DELTAS.index((end_row - start_row, end_col - start_col))
