"""The Pac-Man-like grid game: layouts, rules, ghosts, rendering and the Gymnasium env."""

from envs.pacman.env import CHANNEL_NAMES, PacmanEnv, grid_from_state
from envs.pacman.game import Action, GameState, Maze
from envs.pacman.ghosts import GHOST_POLICIES
from envs.pacman.layout import Layout, LayoutError, available_layouts, load_layout, parse_layout

__all__ = [
    "CHANNEL_NAMES",
    "GHOST_POLICIES",
    "Action",
    "GameState",
    "Layout",
    "LayoutError",
    "Maze",
    "PacmanEnv",
    "available_layouts",
    "grid_from_state",
    "load_layout",
    "parse_layout",
]
