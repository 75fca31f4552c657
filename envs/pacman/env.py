"""The Gymnasium environment that ties layout, rules, ghosts and rendering together."""

from __future__ import annotations

import math
import operator
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.pacman import game, planner
from envs.pacman.game import NUM_ACTIONS, Action, GameState, GhostPolicy, Maze
from envs.pacman.ghosts import get_ghost_policy
from envs.pacman.layout import Layout, available_layouts, load_layout
from envs.pacman.observation import MarkovEncoder
from envs.pacman.render import Renderer, Window, ansi, frame_shape

# Channels of the grid observation.
WALLS, FOOD, CAPSULES, PACMAN, GHOSTS, SCARED_GHOSTS = range(6)
CHANNEL_NAMES = ("walls", "food", "capsules", "pacman", "ghosts", "scared_ghosts")
OBS_TYPES = ("grid", "markov", "rgb")


# A rendered frame larger than this is a mistake (tile_size=10**5), not a picture.
MAX_FRAME_BYTES = 64 * 2**20
# Ghost behaviours that treat east and west, and north and south, alike (the arcade ones break
# ties north, west, south, east and aim ahead of Pac-Man, so their mirrored game is another game).
MIRROR_GHOSTS = ("random", "directional")

class PacmanEnv(gym.Env[np.ndarray, int]):
    """A Pac-Man-like grid game after the well-known teaching version of the arcade game.

    ## Description

    Pac-Man walks a maze eating food while ghosts hunt him. Eating a power capsule scares
    every ghost for 40 moves, and a scared ghost can be eaten (it goes back to its start).
    Each time step Pac-Man moves one cell (a move into a wall leaves him in place), then every
    ghost moves one cell. Pac-Man is caught when a ghost steps onto his cell, when he steps onto
    a ghost's, or when the two swap cells. Mazes come from text layouts (``layout=`` a built-in
    name such as ``"small"`` or a path to a ``.lay`` file); ghosts behave as ``ghosts=``
    ``"random"``, ``"directional"`` or ``"arcade"`` (see ``envs.pacman.ghosts``), or as any
    function with the ``GhostPolicy`` signature.

    ## Action Space

    ``Discrete(5)``: 0 stop, 1 north, 2 south, 3 east, 4 west (``Action``;
    ``get_action_meanings()`` names them). Anything else raises ``ValueError``.

    ## Observation Space

    ``obs_type="markov"`` (the ``-v1`` ids): ``Box(0, 1, (H, W, C), uint8)`` for an H x W
    layout, 0/1 planes from which every hidden field the rules read can be rebuilt (each
    ghost's identity, heading and scared moves left; for arcade ghosts also Pac-Man's heading
    and the phase clock). C = 4 + 3 G + 6 for G ghosts (+ 11 with arcade ghosts or a ghost
    function); ``envs.pacman.observation`` lists the channels and ``decode`` reads them back.
    ``obs_type="grid"`` (the ``-v0`` ids): ``Box(0, 1, (H, W, 6), uint8)`` with channels walls,
    food, capsules, Pac-Man, ghosts, scared ghosts (1 where present). It hides the ghosts'
    headings, identities and scared timers, so it is not Markov; kept for old runs.
    ``obs_type="rgb"``: the rendered frame, ``Box(0, 255, (H * tile_size + bar, W * tile_size,
    3), uint8)`` where ``bar`` is the status bar showing the score.

    ## Rewards

    The reward is the change of score: -1 every time step, +10 per food, +200 per scared
    ghost eaten, +500 for eating the last food, -500 when caught.

    ## Starting State

    Pac-Man and each ghost on their starts, all the food and capsules in place, score 0.
    ``reset(options={"food_share": s})`` keeps a random share ``s`` in (0, 1] of the food (at
    least one pellet), drawn with the env's generator: a game that starts partly eaten, such as
    the DQN's ``--partial-food`` trains on.

    ## Episode End

    Terminated when the last food is eaten (``info["win"]``) or a ghost catches Pac-Man
    (``info["loss"]``). Truncated by the ``TimeLimit`` wrapper after ``max_episode_steps``.
    ``info`` also holds ``"score"``, ``"food_left"`` and ``"action_mask"`` (uint8 (5,), 1 for
    stop and for each move not into a wall).

    ## Rendering

    ``render_mode="human"`` shows a pygame window at ``metadata["render_fps"]`` steps per second
    (``render_fps=`` changes it), ``"rgb_array"`` returns the same frame as an array, ``"ansi"``
    returns text. ``tile_size`` is the number of pixels per maze cell.
    """

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": ["human", "rgb_array", "ansi"],
        "render_fps": 10,
    }

    def __init__(
        self,
        layout: str | Path | Layout | None = "small",
        render_mode: str | None = None,
        ghosts: str | GhostPolicy = "random",
        obs_type: str = "grid",
        tile_size: int = 24,
        render_fps: float | None = None,
    ):
        if layout is None:
            raise ValueError(
                "PacGrid/Custom needs layout=<name or path of a .lay file>; built-in layouts: "
                + ", ".join(available_layouts())
            )
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"unknown render_mode {render_mode!r}; choose None or one of "
                + ", ".join(self.metadata["render_modes"])
            )
        if obs_type not in OBS_TYPES:
            raise ValueError(f"unknown obs_type {obs_type!r}; choose one of {', '.join(OBS_TYPES)}")
        if not isinstance(tile_size, int) or tile_size < 4:
            raise ValueError(f"tile_size must be an integer of at least 4, got {tile_size!r}")
        if render_fps is not None:  # this instance only: the class keeps the default
            if not isinstance(render_fps, int | float) or not 0 < render_fps < math.inf:
                raise ValueError(f"render_fps must be a positive number, got {render_fps!r}")
            self.metadata = {**self.metadata, "render_fps": render_fps}
        self.layout = layout if isinstance(layout, Layout) else load_layout(layout)
        if not self.layout.food.any():  # the game is won by eating all food; capsules do not count
            raise ValueError(f"layout {self.layout.name!r} has no food '.', so the game could "
                             "never be won: add at least one '.'")
        frame_bytes = math.prod(frame_shape(self.layout, tile_size))
        if frame_bytes > MAX_FRAME_BYTES:  # the renderer precomputes several frames of this size
            raise ValueError(
                f"tile_size {tile_size} makes each frame of this layout "
                f"{frame_shape(self.layout, tile_size)}, {frame_bytes:,} bytes (at most "
                f"{MAX_FRAME_BYTES:,}): use a smaller tile_size (default 24)")
        self.maze = Maze(self.layout)
        self.ghost_behaviour = ghosts
        self._ghost_policy = get_ghost_policy(ghosts)
        self.render_mode = render_mode
        self.obs_type = obs_type
        self.tile_size = tile_size

        self.action_space = spaces.Discrete(NUM_ACTIONS)
        height, width = self.layout.height, self.layout.width
        self._markov = None
        if obs_type == "markov":
            self._markov = MarkovEncoder(self.maze, arcade=ghosts == "arcade" or callable(ghosts))
            self.observation_space = spaces.Box(0, 1, self._markov.shape, np.uint8)
        elif obs_type == "grid":
            self.observation_space = spaces.Box(0, 1, (height, width, 6), np.uint8)
        else:
            self.observation_space = spaces.Box(
                0, 255, frame_shape(self.layout, tile_size), np.uint8
            )
        # The grid observation is kept up to date in place; step() hands out copies.
        self._start_grid = np.zeros((height, width, 6), dtype=np.uint8)
        self._start_grid[..., WALLS] = self.layout.walls
        self._start_grid[..., FOOD] = self.layout.food
        self._start_grid[..., CAPSULES] = self.layout.capsules
        self._start_grid.reshape(-1, 6)[self.maze.pacman_start, PACMAN] = 1
        self._start_grid.reshape(-1, 6)[self.maze.ghost_starts, GHOSTS] = 1
        self._grid = self._start_grid.copy()
        self._cells = self._grid.reshape(-1, 6)  # a view: row `cell` holds that cell's channels

        self._state: GameState | None = None
        self._distances: np.ndarray | None = None  # maze distances, for food_distance()
        self._renderer = None
        self._window = None

    # ------------------------------------------------------------------ Gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._state = GameState(self.maze)
        np.copyto(self._grid, self._start_grid)
        share = (options or {}).get("food_share")
        if share is not None:
            self._thin_food(share)
        if self.render_mode == "human":
            self.render()
        return self._observation(), self._info()

    def _thin_food(self, share: Any) -> None:
        """Keep `share` of the layout's food (at least one pellet), the pellets chosen at random
        by the env's generator: reset(options={"food_share": share}) starts a game partly
        eaten, the score still at 0."""
        if (isinstance(share, bool) or not isinstance(share, (int, float))
                or not 0.0 < share <= 1.0):
            raise ValueError(f"reset option food_share must be a number in (0, 1] (the share of "
                             f"the food a game starts with), got {share!r}")
        state = self._state
        cells = np.flatnonzero(np.frombuffer(bytes(state.food), dtype=np.uint8))
        keep = max(1, round(share * len(cells)))
        gone = self.np_random.permutation(cells)[keep:]
        for cell in gone:
            state.food[cell] = 0
        state.food_left -= len(gone)
        self._cells[gone, FOOD] = 0

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        action = self._check_action(action)
        state = self._state
        if state is None or state.done:
            raise RuntimeError(
                "step() called before reset() or after the episode ended; call reset() first"
            )
        old_pacman = state.pacman
        old_ghosts = state.ghosts.copy()
        reward = game.step(self.maze, state, action, self._ghost_policy, self.np_random)
        if self.obs_type == "grid":
            self._update_grid(old_pacman, old_ghosts)
        if self.render_mode == "human":
            self.render()
        return self._observation(), float(reward), state.done, False, self._info()

    def render(self) -> np.ndarray | str | None:
        if self.render_mode is None:
            gym.logger.warn(
                "render() called without a render_mode; pass render_mode='rgb_array', 'human' "
                "or 'ansi' to gym.make"
            )
            return None
        if self._state is None:
            raise RuntimeError("render() called before reset(); call reset() first")
        if self.render_mode == "ansi":
            return ansi(self.maze, self._state)
        if self.render_mode == "rgb_array":
            return self._get_renderer().rgb_array(self.maze, self._state)
        surface = self._get_renderer().draw(self.maze, self._state)
        if self._window is None:
            self._window = Window(surface.get_size(), f"PacGrid: {self.layout.name}")
        self._window.show(surface, self.metadata["render_fps"])
        return None

    def close(self) -> None:
        if self._window is not None:
            self._window.close()
            self._window = None
        self._renderer = None

    # ------------------------------------------------------------------ helpers

    def get_action_meanings(self) -> list[str]:
        return [action.name for action in Action]

    @property
    def state(self) -> GameState:
        """The live game state (read it, do not change it)."""
        if self._state is None:
            raise RuntimeError("no game yet: call reset() first")
        return self._state

    def food_distance(self) -> int:
        """Moves from Pac-Man to the nearest food along the maze (0 when none is left)."""
        if self._distances is None:  # all pairs of cells, once per env (147 x 147 on Small)
            self._distances = planner.maze_distances(self.maze)
        return planner.food_distance(self._distances, self.state, self.state.pacman)

    def mirror(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The rules' left-right symmetry as (channel_order, action_order), or None.

        When the walls and the set of ghost starts read the same mirrored and the ghosts treat
        east and west alike (random, directional), every move from a mirrored state leads where
        the mirrored move from the state itself leads, mirrored, with the same reward and odds.
        An observation `obs` (H, W, C) of a state then becomes that of the mirrored state as
        ``obs[..., ::-1, :][..., channel_order]``, and action `a` taken there becomes
        ``action_order[a]`` (east and west swap); both orders are their own inverses. Ghost k of
        the mirrored game is the one that starts where ghost k's start mirrors to, so the Markov
        observation swaps those ghosts' planes (an eaten ghost returns to its own start).
        Food, capsules and Pac-Man's start need not be symmetric: they are state, not rules. A
        mirrored state may start no game of this env, but a mirrored transition is a true one
        and a state's values are its mirror image's, which is what the DQN's --mirror-augment
        (training on mirrored transitions) and --mirror-greedy (acting on a state's and its
        mirror image's mean Q-values) need. None for the pixel observation, the arcade ghosts,
        a ghost function of your own, or lopsided walls or ghost starts.
        """
        return self._symmetry(axis=1, swapped=(Action.EAST, Action.WEST))

    def flip(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The rules' up-down symmetry as (channel_order, action_order), or None: as mirror(),
        for ``obs[..., ::-1, :, :][..., channel_order]`` (north and south swap).

        As there, only the rules must read the same upside down (walls, ghost starts, ghosts
        that treat north and south alike), not the food or Pac-Man's start: Medium-v1 starts him
        on its bottom row and still flips. The DQN's --updown-flip adds it to the mirror.
        """
        return self._symmetry(axis=0, swapped=(Action.NORTH, Action.SOUTH))

    def _symmetry(self, axis: int, swapped: tuple[Action, Action]
                  ) -> tuple[np.ndarray, np.ndarray] | None:
        """(channel_order, action_order) of the board reflected along `axis` (0: rows, upside
        down; 1: columns, left to right), which swaps the two moves `swapped`; None unless the
        walls, the set of ghost starts and the ghosts' behaviour read the same reflected, or
        for pixels."""
        layout = self.layout
        if (self.obs_type == "rgb" or self.ghost_behaviour not in MIRROR_GHOSTS
                or not np.array_equal(layout.walls, np.flip(layout.walls, axis))):
            return None
        size = (layout.height, layout.width)[axis]

        def image(cell: tuple[int, int]) -> tuple[int, int]:
            row, col = cell
            return (size - 1 - row, col) if axis == 0 else (row, size - 1 - col)

        starts = list(layout.ghost_starts)
        if sorted(map(image, starts)) != sorted(starts):
            return None
        action_order = np.arange(NUM_ACTIONS)
        action_order[list(swapped)] = swapped[::-1]
        channel_order = np.arange(self.observation_space.shape[-1])
        if self._markov is not None:  # one plane per ghost in three groups: swap partners
            partner = [starts.index(image(start)) for start in starts]
            for first in (self._markov.ghost, self._markov.came_from, self._markov.scared):
                channel_order[first:first + len(starts)] = np.add(partner, first)
        return channel_order, action_order

    def fixed_planes(self) -> np.ndarray | None:
        """What every observation of this layout has in common but leaves out, as (H, W, K) 0/1
        planes: where each ghost returns when eaten (its start), one plane per ghost for the
        Markov observation (it tells the ghosts apart), one for them all for the 6-channel grid.
        None for the pixel observation or a layout without ghosts. The DQN's --fixed-planes adds
        them to the grid it reads.
        """
        layout = self.layout
        starts = list(layout.ghost_starts)
        if self.obs_type == "rgb" or not starts:
            return None
        planes = np.zeros((layout.height, layout.width, len(starts)), dtype=np.uint8)
        for k, (row, col) in enumerate(starts):
            planes[row, col, k] = 1
        return planes if self._markov is not None else planes.max(axis=2, keepdims=True)

    def _check_action(self, action: Any) -> int:
        try:
            index = operator.index(action)
        except TypeError:
            index = None
        if index is None or not 0 <= index < NUM_ACTIONS:
            raise ValueError(
                f"invalid action {action!r}: expected an integer in [0, {NUM_ACTIONS}) "
                f"({', '.join(f'{a.value} {a.name.lower()}' for a in Action)})"
            )
        return index

    def _update_grid(self, old_pacman: int, old_ghosts: list[int]) -> None:
        """Change the few cells of the grid observation that this step can have changed."""
        cells, state = self._cells, self._state
        cells[old_pacman, PACMAN] = 0
        for cell in old_ghosts:
            cells[cell, GHOSTS] = 0
            cells[cell, SCARED_GHOSTS] = 0
        pacman = state.pacman
        # Food and capsules only ever disappear under Pac-Man.
        cells[pacman, FOOD] = state.food[pacman]
        cells[pacman, CAPSULES] = state.capsules[pacman]
        cells[pacman, PACMAN] = 1
        for cell, scared in zip(state.ghosts, state.scared, strict=True):
            cells[cell, SCARED_GHOSTS if scared else GHOSTS] = 1

    def _observation(self) -> np.ndarray:
        if self._markov is not None:
            return self._markov.encode(self._state)
        if self.obs_type == "grid":
            return self._grid.copy()
        return self._get_renderer().rgb_array(self.maze, self._state)

    def _info(self) -> dict[str, Any]:
        state = self._state
        return {
            "score": state.score,
            "food_left": state.food_left,
            "win": state.win,
            "loss": state.loss,
            "action_mask": self.maze.legal_masks[state.pacman].copy(),
        }

    def _get_renderer(self) -> Renderer:
        if self._renderer is None:  # the first frame asked for loads pygame
            self._renderer = Renderer(self.layout, self.tile_size)
        return self._renderer


def grid_from_state(maze: Maze, state: GameState) -> np.ndarray:
    """The grid observation built from scratch (the reference the incremental update must match)."""
    height, width = maze.height, maze.width
    grid = np.zeros((height * width, 6), dtype=np.uint8)
    grid[:, WALLS] = maze.layout.walls.reshape(-1)
    grid[:, FOOD] = np.frombuffer(bytes(state.food), dtype=np.uint8)
    grid[:, CAPSULES] = np.frombuffer(bytes(state.capsules), dtype=np.uint8)
    grid[state.pacman, PACMAN] = 1
    for cell, scared in zip(state.ghosts, state.scared, strict=True):
        grid[cell, SCARED_GHOSTS if scared else GHOSTS] = 1
    return grid.reshape(height, width, 6)
