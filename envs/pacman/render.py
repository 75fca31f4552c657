"""Drawing the game: text for ``ansi``, a pygame surface for ``rgb_array`` and ``human``.

pygame is imported only when a ``Renderer`` or ``Window`` is created, so the rules and the
environment without rendering never load it. Frames are drawn offscreen into a surface; the
``human`` window only shows that surface.
"""

from __future__ import annotations

import math

import numpy as np

from envs.pacman.game import Action, GameState, Maze
from envs.pacman.layout import Layout

BACKGROUND = (0, 0, 0)
WALL_EDGE = (33, 33, 222)
WALL_FILL = (8, 8, 56)
FOOD = (255, 184, 151)
PACMAN = (255, 255, 0)
GHOST_COLOURS = ((255, 0, 0), (255, 184, 255), (0, 255, 255), (255, 184, 82))  # by number % 4
SCARED_GHOST = (33, 33, 255)
SCARED_FLASH = (222, 222, 255)  # a scared ghost flashes white in its last moves
SCARED_FLASH_MOVES = 6
EYE_WHITE = (255, 255, 255)
PUPIL = (20, 20, 140)
TEXT = (255, 255, 255)
# Pac-Man's mouth opening (half-angle in degrees), cycled step by step.
MOUTH_ANGLES = (8, 30, 48, 30)
FACING_DEGREES = {
    Action.STOP: 0.0,
    Action.EAST: 0.0,
    Action.NORTH: 90.0,
    Action.WEST: 180.0,
    Action.SOUTH: 270.0,
}
ANSI_PACMAN = {
    Action.STOP: "<",
    Action.EAST: "<",
    Action.WEST: ">",
    Action.NORTH: "v",
    Action.SOUTH: "^",
}


def status_bar_height(tile_size: int) -> int:
    return max(tile_size, 14)


def frame_shape(layout: Layout, tile_size: int) -> tuple[int, int, int]:
    """(height, width, 3) of a rendered frame: the maze plus a status bar with the score."""
    return (layout.height * tile_size + status_bar_height(tile_size), layout.width * tile_size, 3)


def ansi(maze: Maze, state: GameState) -> str:
    """The game as text in the layout alphabet, Pac-Man as its open mouth, scared ghosts as g."""
    layout = maze.layout
    chars = np.full((maze.height, maze.width), " ")
    chars[layout.walls] = "%"
    food = np.frombuffer(bytes(state.food), dtype=np.uint8).reshape(maze.height, maze.width)
    capsules = np.frombuffer(bytes(state.capsules), dtype=np.uint8)
    chars[food == 1] = "."
    chars[capsules.reshape(maze.height, maze.width) == 1] = "o"
    for cell, scared in zip(state.ghosts, state.scared, strict=True):
        chars[maze.coords[cell]] = "g" if scared else "G"
    chars[maze.coords[state.pacman]] = ANSI_PACMAN[Action(state.pacman_dir)]
    rows = ["".join(row) for row in chars]
    status = f"score {state.score}  food {state.food_left}"
    if state.win:
        status += "  YOU WIN"
    elif state.loss:
        status += "  GAME OVER"
    return "\n".join([*rows, status]) + "\n"


def _import_pygame():
    import pygame

    return pygame


class Renderer:
    """Draws game states of one layout into an offscreen pygame surface."""

    def __init__(self, layout: Layout, tile_size: int = 24):
        if tile_size < 4:
            raise ValueError(f"tile_size must be at least 4 pixels, got {tile_size}")
        pygame = _import_pygame()
        self.pygame = pygame
        self.tile = tile_size
        height, width, _ = frame_shape(layout, tile_size)
        self.surface = pygame.Surface((width, height))
        self.maze_surface = pygame.Surface((width, height))
        self.maze_surface.fill(BACKGROUND)
        _draw_walls(pygame, self.maze_surface, layout.walls, tile_size)
        if not pygame.font.get_init():
            pygame.font.init()
        self.font = pygame.font.Font(None, int(status_bar_height(tile_size) * 0.9))
        self.maze_top = layout.height * tile_size

    def draw(self, maze: Maze, state: GameState) -> object:
        """Draw `state` and return the surface (reused: copy it to keep it)."""
        pygame, surface, tile = self.pygame, self.surface, self.tile
        surface.blit(self.maze_surface, (0, 0))
        width = maze.width
        food_radius = max(1, tile // 10)
        capsule_radius = max(2, tile // 3 - (state.steps % 2) * max(1, tile // 12))
        for cell, present in enumerate(state.food):
            if present:
                row, col = divmod(cell, width)
                centre = (col * tile + tile // 2, row * tile + tile // 2)
                pygame.draw.circle(surface, FOOD, centre, food_radius)
        for cell, present in enumerate(state.capsules):
            if present:
                row, col = divmod(cell, width)
                centre = (col * tile + tile // 2, row * tile + tile // 2)
                pygame.draw.circle(surface, FOOD, centre, capsule_radius)
        self._draw_pacman(maze, state)
        for index, cell in enumerate(state.ghosts):
            self._draw_ghost(maze, state, index, cell)
        self._draw_status(state)
        return surface

    def rgb_array(self, maze: Maze, state: GameState) -> np.ndarray:
        """The frame as a (height, width, 3) uint8 array."""
        surface = self.draw(maze, state)
        # surfarray indexes pixels as (x, y); images are (row, column).
        return np.ascontiguousarray(self.pygame.surfarray.array3d(surface).transpose(1, 0, 2))

    def _draw_pacman(self, maze: Maze, state: GameState) -> None:
        tile = self.tile
        row, col = maze.coords[state.pacman]
        cx, cy = col * tile + tile / 2, row * tile + tile / 2
        radius = tile / 2 - max(1, tile // 12)
        mouth = 0 if state.done else MOUTH_ANGLES[state.steps % len(MOUTH_ANGLES)]
        facing = FACING_DEGREES[Action(state.pacman_dir)]
        points = [(cx, cy)]
        for k in range(25):  # the body: an arc from one lip round to the other
            angle = math.radians(facing + mouth + (360 - 2 * mouth) * k / 24)
            points.append((cx + radius * math.cos(angle), cy - radius * math.sin(angle)))
        self.pygame.draw.polygon(self.surface, PACMAN, points)

    def _draw_ghost(self, maze: Maze, state: GameState, index: int, cell: int) -> None:
        pygame, surface, tile = self.pygame, self.surface, self.tile
        row, col = maze.coords[cell]
        left, top = col * tile, row * tile
        margin = max(1, tile // 12)
        radius = tile / 2 - margin
        cx, head_y = left + tile / 2, top + margin + radius
        bottom = top + tile - margin
        scared = state.scared[index]
        if scared:
            flashing = scared <= SCARED_FLASH_MOVES and scared % 2 == 1
            colour = SCARED_FLASH if flashing else SCARED_GHOST
        else:
            colour = GHOST_COLOURS[index % len(GHOST_COLOURS)]
        # Body: a half disc (traced right to left) on a rectangle whose hem (traced left to
        # right) zigzags into three feet.
        outline = []
        for k in range(13):
            angle = math.pi * k / 12
            outline.append((cx + radius * math.cos(angle), head_y - radius * math.sin(angle)))
        feet = 3
        for k in range(2 * feet + 1):
            x = cx - radius + 2 * radius * k / (2 * feet)
            outline.append((x, bottom if k % 2 == 0 else bottom - radius / 3))
        pygame.draw.polygon(surface, colour, outline)
        eye_dx, eye_y, eye_radius = radius * 0.4, head_y - radius * 0.1, max(1.0, radius * 0.3)
        if scared:
            face = (255, 184, 151) if colour == SCARED_GHOST else (255, 0, 0)
            for side in (-1, 1):
                pygame.draw.circle(surface, face, (cx + side * eye_dx, eye_y), eye_radius / 2)
            return
        d_row, d_col = {1: (-1, 0), 2: (1, 0), 3: (0, 1), 4: (0, -1)}.get(
            state.ghost_dirs[index], (0, 0)
        )
        for side in (-1, 1):
            eye = (cx + side * eye_dx, eye_y)
            pygame.draw.circle(surface, EYE_WHITE, eye, eye_radius)
            pupil = (eye[0] + d_col * eye_radius * 0.45, eye[1] + d_row * eye_radius * 0.45)
            pygame.draw.circle(surface, PUPIL, pupil, eye_radius * 0.5)

    def _draw_status(self, state: GameState) -> None:
        left = f"SCORE {state.score}"
        # The result replaces the food counter: on narrow layouts both would not fit the bar.
        if state.win:
            right = "YOU WIN!"
        elif state.loss:
            right = "GAME OVER"
        else:
            right = f"FOOD {state.food_left}"
        texts = [self.font.render(left, True, TEXT), self.font.render(right, True, TEXT)]
        margin, width = self.tile // 2, self.surface.get_width()
        room = width - 3 * margin  # both margins and a gap between the two texts
        needed = texts[0].get_width() + texts[1].get_width()
        if needed > room:  # a narrow layout (tiny): shrink the text rather than overlap it
            scale = room / needed
            texts = [self.pygame.transform.smoothscale(
                text, (int(text.get_width() * scale), int(text.get_height() * scale)))
                for text in texts]
        bar = status_bar_height(self.tile)
        for text, x in zip(texts, (margin, width - texts[1].get_width() - margin), strict=True):
            self.surface.blit(text, (x, self.maze_top + (bar - text.get_height()) // 2))


def _draw_walls(pygame, surface, walls: np.ndarray, tile: int) -> None:
    """Walls as blocks inset from the corridors: a bright edge around a dark fill."""
    edge = max(1, tile // 12)
    _draw_wall_shape(pygame, surface, walls, tile, inset=tile // 4, colour=WALL_EDGE)
    _draw_wall_shape(pygame, surface, walls, tile, inset=tile // 4 + edge, colour=WALL_FILL)


def _draw_wall_shape(pygame, surface, walls: np.ndarray, tile: int, inset: int, colour) -> None:
    """Fill every wall cell except a margin of `inset` pixels along the open cells around it.

    Each wall cell draws its centre square plus bridges towards neighbouring walls, so joined
    walls form one smooth block; cells outside the grid count as wall.
    """
    height, width = walls.shape

    def is_wall(r: int, c: int) -> bool:
        return not (0 <= r < height and 0 <= c < width) or bool(walls[r, c])

    inner = tile - 2 * inset
    for r in range(height):
        for c in range(width):
            if not walls[r, c]:
                continue
            x, y = c * tile, r * tile
            north, south = is_wall(r - 1, c), is_wall(r + 1, c)
            west, east = is_wall(r, c - 1), is_wall(r, c + 1)
            rects = [(x + inset, y + inset, inner, inner)]
            if north:
                rects.append((x + inset, y, inner, inset))
            if south:
                rects.append((x + inset, y + tile - inset, inner, inset))
            if west:
                rects.append((x, y + inset, inset, inner))
            if east:
                rects.append((x + tile - inset, y + inset, inset, inner))
            corners = (
                (north and west and is_wall(r - 1, c - 1), x, y),
                (north and east and is_wall(r - 1, c + 1), x + tile - inset, y),
                (south and west and is_wall(r + 1, c - 1), x, y + tile - inset),
                (south and east and is_wall(r + 1, c + 1), x + tile - inset, y + tile - inset),
            )
            rects += [(cx, cy, inset, inset) for filled, cx, cy in corners if filled]
            for rect in rects:
                pygame.draw.rect(surface, colour, rect)


class Window:
    """The ``human`` display: a pygame window showing rendered surfaces at a fixed rate."""

    def __init__(self, size: tuple[int, int], title: str):
        pygame = _import_pygame()
        self.pygame = pygame
        pygame.display.init()
        self.screen = pygame.display.set_mode(size)
        pygame.display.set_caption(title)
        self.clock = pygame.time.Clock()

    def show(self, surface, fps: float) -> None:
        self.screen.blit(surface, (0, 0))
        # Let the window manager know we are alive; the events stay queued for a player.
        self.pygame.event.pump()
        self.pygame.display.flip()
        self.clock.tick(fps)

    def close(self) -> None:
        self.pygame.display.quit()
