"""What a person sees: frames scaled to a readable size, with captions and the agent's Q-values
beside them, shown in a window or collected for a GIF (scripts/watch.py and scripts/play.py).

pygame is imported when a `FrameComposer` or `Viewer` is made, never by importing this module.
Frames are RGB arrays (height, width, 3) of uint8 as `env.render()` returns in "rgb_array"
mode, so the same composed frame goes to the window and to the GIF.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Sequence

import numpy as np

# The largest window: a 1280x800 display less its title bar and panel.
MAX_WINDOW = (1280, 740)
# The narrowest board worth watching: the tiny layout (168 px at 24 px a cell) is scaled up.
MIN_BOARD_WIDTH = 480
CAPTION_LINE = 22  # pixels per caption line
PANEL_ROW = 30  # pixels per action in the Q-value panel
PANEL_WIDTH = 220  # the Q-value panel beside the board
BACKGROUND = (16, 16, 24)
TEXT = (235, 235, 235)
DIM_TEXT = (150, 150, 160)
BAR = (90, 110, 200)
CHOSEN_BAR = (255, 220, 0)


def fit_zoom(width: int, height: int, extra: tuple[int, int] = (0, 0),
             min_width: int = MIN_BOARD_WIDTH, max_size: tuple[int, int] = MAX_WINDOW) -> float:
    """The scale of a (width, height) frame: a whole factor that makes it at least `min_width`
    wide, reduced where the frame plus `extra` (panel width, caption height) would not fit
    `max_size`."""
    zoom = max(1, math.ceil(min_width / width))  # whole factors keep the pixels crisp
    limit = min((max_size[0] - extra[0]) / width, (max_size[1] - extra[1]) / height)
    return float(zoom) if zoom <= limit else max(limit, 0.1)


def has_display() -> bool:
    """False when pygame cannot open a window (headless machines, tests)."""
    if os.environ.get("SDL_VIDEODRIVER") in ("dummy", "offscreen"):
        return False
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def _import_pygame():
    import pygame

    if not pygame.font.get_init():
        pygame.font.init()
    return pygame


class FrameComposer:
    """Builds the picture of one moment: the scaled frame, a Q-value panel beside it (when
    `action_names` is given), caption lines under it and an optional banner across it."""

    def __init__(self, zoom: float, action_names: Sequence[str] | None = None,
                 caption_lines: int = 1):
        if not 0 < zoom < math.inf:
            raise ValueError(f"zoom must be a positive number, got {zoom}")
        self.pygame = _import_pygame()
        self.zoom = zoom
        self.action_names = list(action_names) if action_names is not None else None
        self.caption_lines = caption_lines
        self.font = self.pygame.font.Font(None, CAPTION_LINE)
        self.banner_font = self.pygame.font.Font(None, 56)

    def scaled(self, frame: np.ndarray):
        """The frame as a pygame surface, scaled by `zoom`."""
        pygame = self.pygame
        surface = pygame.surfarray.make_surface(np.ascontiguousarray(frame).transpose(1, 0, 2))
        size = (round(frame.shape[1] * self.zoom), round(frame.shape[0] * self.zoom))
        if self.zoom >= 1:
            return pygame.transform.scale(surface, size)  # nearest neighbour: crisp tiles
        return pygame.transform.smoothscale(surface, size)

    def compose(self, frame: np.ndarray, caption: Sequence[str] = (),
                q_values: np.ndarray | None = None, chosen: int | None = None,
                banner: str | None = None) -> np.ndarray:
        """The composed picture as an RGB array (height, width, 3) of uint8."""
        return self._to_array(self.compose_surface(frame, caption, q_values, chosen, banner))

    def compose_surface(self, frame: np.ndarray, caption: Sequence[str] = (),
                        q_values: np.ndarray | None = None, chosen: int | None = None,
                        banner: str | None = None):
        pygame = self.pygame
        board = self.scaled(frame)
        panel = PANEL_WIDTH if self.action_names is not None else 0
        lines = max(self.caption_lines, len(caption))
        width = board.get_width() + panel
        height = board.get_height() + lines * CAPTION_LINE + (6 if lines else 0)
        surface = pygame.Surface((width, height))
        surface.fill(BACKGROUND)
        surface.blit(board, (0, 0))
        if banner:
            self._draw_banner(surface, banner, board.get_width(), board.get_height())
        for number, line in enumerate(caption):
            text = self.font.render(line, True, TEXT)
            surface.blit(text, (6, board.get_height() + 4 + number * CAPTION_LINE))
        if self.action_names is not None:
            self._draw_q_panel(surface, board.get_width(), q_values, chosen)
        return surface

    def _draw_banner(self, surface, banner: str, width: int, height: int) -> None:
        text = self.banner_font.render(banner, True, CHOSEN_BAR)
        if text.get_width() > width - 8:  # a narrow board: shrink the text to fit
            scale = (width - 8) / text.get_width()
            text = self.pygame.transform.smoothscale(
                text, (int(text.get_width() * scale), int(text.get_height() * scale)))
        box = self.pygame.Surface((text.get_width() + 16, text.get_height() + 12))
        box.set_alpha(200)
        box.fill((0, 0, 0))
        x, y = (width - box.get_width()) // 2, (height - box.get_height()) // 2
        surface.blit(box, (x, y))
        surface.blit(text, (x + 8, y + 6))

    def _draw_q_panel(self, surface, left: int, q_values: np.ndarray | None,
                      chosen: int | None) -> None:
        """One row per action: its name, a bar from the lowest Q-value to the highest, and the
        value; the chosen action's bar in yellow, marked with '>'."""
        pygame, font = self.pygame, self.font
        x = left + 10
        surface.blit(font.render("Q-values (greedy)", True, TEXT), (x, 8))
        if q_values is None:
            surface.blit(font.render("(episode over)", True, DIM_TEXT), (x, 8 + CAPTION_LINE))
            return
        q_values = np.asarray(q_values, dtype=np.float64)
        low, high = float(q_values.min()), float(q_values.max())
        span = high - low if high > low else 1.0
        bar_left, bar_room = x + 80, PANEL_WIDTH - 80 - 76
        for action, (name, value) in enumerate(zip(self.action_names, q_values, strict=True)):
            y = 12 + CAPTION_LINE + action * PANEL_ROW
            is_chosen = action == chosen
            marker = ">" if is_chosen else " "
            colour = CHOSEN_BAR if is_chosen else TEXT
            surface.blit(font.render(f"{marker}{name[:7]}", True, colour), (x, y))
            length = 4 + round((bar_room - 4) * (value - low) / span)
            pygame.draw.rect(surface, CHOSEN_BAR if is_chosen else BAR,
                             (bar_left, y + 2, length, CAPTION_LINE - 8))
            number = font.render(f"{value:+.3g}", True, colour)  # right-aligned in the panel
            surface.blit(number, (max(bar_left + bar_room + 4, left + PANEL_WIDTH - 4
                                      - number.get_width()), y))
        if chosen is not None:
            y = 12 + CAPTION_LINE + len(self.action_names) * PANEL_ROW + 6
            surface.blit(font.render(f"chosen: {self.action_names[chosen]}", True, CHOSEN_BAR),
                         (x, y))

    def _to_array(self, surface) -> np.ndarray:
        # surfarray indexes pixels as (x, y); images are (row, column).
        return np.ascontiguousarray(self.pygame.surfarray.array3d(surface).transpose(1, 0, 2))


class Viewer:
    """A pygame window that shows surfaces or RGB arrays and reports what the person does.

    `poll()` returns "quit" (Esc, Q or the window's close button), "pause" (Space or P), "key"
    (any other key) or None. `get_events` replaces `pygame.event.get` (tests script it).
    """

    def __init__(self, title: str, get_events: Callable[[], list] | None = None):
        pygame = _import_pygame()
        self.pygame = pygame
        pygame.display.init()
        pygame.display.set_caption(title)
        self.get_events = get_events or (lambda: pygame.event.get())
        self.screen = None

    def show(self, picture) -> None:
        """Show a pygame surface or an RGB array; the window takes the picture's size."""
        pygame = self.pygame
        if isinstance(picture, np.ndarray):
            picture = pygame.surfarray.make_surface(picture.transpose(1, 0, 2))
        if self.screen is None or self.screen.get_size() != picture.get_size():
            self.screen = pygame.display.set_mode(picture.get_size())
        self.screen.blit(picture, (0, 0))
        pygame.display.flip()

    def poll(self) -> str | None:
        """What the person asked for since the last call (the most urgent first)."""
        pygame = self.pygame
        asked = set()
        for event in self.get_events():
            if event.type == pygame.QUIT:
                asked.add("quit")
            elif event.type == pygame.KEYDOWN:
                if event.key in (pygame.K_ESCAPE, pygame.K_q):
                    asked.add("quit")
                elif event.key in (pygame.K_SPACE, pygame.K_p):
                    asked.add("pause")
                else:
                    asked.add("key")
        return next((what for what in ("quit", "pause", "key") if what in asked), None)

    def wait(self, seconds: float, until_key: bool = False) -> str | None:
        """Wait `seconds` (forever when math.inf) while the window stays responsive.

        Returns "quit" at once when asked; with `until_key`, any other key ends the wait too
        (returned as "key"). Space/P pauses until pressed again.
        """
        pygame = self.pygame
        end = pygame.time.get_ticks() + (seconds * 1000 if seconds < math.inf else math.inf)
        paused = False
        while True:
            asked = self.poll()
            if asked == "quit":
                return "quit"
            if asked == "pause":
                paused = not paused
            elif asked == "key" and (until_key or paused):
                if until_key:
                    return "key"
                paused = False
            if not paused and pygame.time.get_ticks() >= end:
                return None
            pygame.time.wait(10)

    def close(self) -> None:
        self.pygame.display.quit()
