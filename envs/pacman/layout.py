"""Layouts: the classic Pac-Man text format parsed into walls, food, capsules and start cells.

Characters: ``%`` wall, ``.`` food, ``o`` power capsule, ``P`` Pac-Man start, ``G`` ghost start
(the digits ``1``-``4`` also mark ghost starts and fix the ghosts' order), space empty.
The width is the first row's, as in the classic reader: other rows may differ in trailing
whitespace, and a longer row is cut to that width when what lies past it is wall (files in the
wild rely on this); a shorter row, or one running on in anything but wall, is refused. The
border must be wall, there must be exactly one ``P``, and every food, capsule and ghost start
must be reachable from Pac-Man's start.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LAYOUT_DIR = Path(__file__).resolve().parent / "layouts"
LAYOUT_SUFFIX = ".lay"
ALLOWED_CHARS = "%.oPG1234 "


class LayoutError(ValueError):
    """A layout that cannot be used; the message names the source, line and column."""

    def __init__(self, source: str, line: int | None, column: int | None, problem: str):
        self.source = source
        self.line = line
        self.column = column
        self.problem = problem
        where = source
        if line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column {column}"
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class Layout:
    """A parsed maze. Cells are (row, column) with row 0 at the top (north)."""

    name: str
    walls: np.ndarray  # (H, W) bool, True where a wall stands
    food: np.ndarray  # (H, W) bool, True where a food pellet lies at the start
    capsules: np.ndarray  # (H, W) bool, True where a power capsule lies at the start
    pacman_start: tuple[int, int]
    ghost_starts: tuple[tuple[int, int], ...]  # in ghost order (digit first, then reading order)

    @property
    def height(self) -> int:
        return int(self.walls.shape[0])

    @property
    def width(self) -> int:
        return int(self.walls.shape[1])

    @property
    def num_ghosts(self) -> int:
        return len(self.ghost_starts)

    def to_text(self) -> str:
        """The layout written back in the text format (ghosts as ``G``)."""
        rows = []
        for r in range(self.height):
            row = []
            for c in range(self.width):
                if self.walls[r, c]:
                    row.append("%")
                elif (r, c) == self.pacman_start:
                    row.append("P")
                elif (r, c) in self.ghost_starts:
                    row.append("G")
                elif self.capsules[r, c]:
                    row.append("o")
                elif self.food[r, c]:
                    row.append(".")
                else:
                    row.append(" ")
            rows.append("".join(row))
        return "\n".join(rows) + "\n"


def available_layouts() -> list[str]:
    """Names of the layouts that ship with the package."""
    return sorted(path.stem for path in LAYOUT_DIR.glob("*" + LAYOUT_SUFFIX))


def load_layout(name_or_path: str | Path) -> Layout:
    """Load a built-in layout by name (``"small"``) or any layout file by path."""
    path = Path(name_or_path)
    looks_like_path = path.suffix != "" or len(path.parts) > 1
    if not looks_like_path:
        builtin = LAYOUT_DIR / (str(name_or_path) + LAYOUT_SUFFIX)
        if builtin.is_file():
            return parse_layout(builtin.read_text(encoding="utf-8"), name=str(name_or_path))
        if not path.is_file():
            raise ValueError(
                f"unknown layout {str(name_or_path)!r}: built-in layouts are "
                f"{', '.join(available_layouts())}, or pass the path of a {LAYOUT_SUFFIX} file"
            )
    if path.is_dir():
        raise ValueError(f"layout {str(path)!r} is a folder: pass the path of a {LAYOUT_SUFFIX} "
                         "file in it")
    if path.exists() and not path.is_file():
        raise ValueError(f"layout {str(path)!r} is not a regular file (a device or a pipe): "
                         f"pass the path of a {LAYOUT_SUFFIX} file")
    if not path.is_file():
        raise FileNotFoundError(
            f"layout file {str(path)!r} does not exist; built-in layouts are "
            f"{', '.join(available_layouts())}"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise LayoutError(str(path), None, None, f"not a text file (byte {err.start} is not "
                          "UTF-8): a layout is text in the classic format ('%' wall, '.' food, "
                          "'P' Pac-Man, 'G' ghost)") from None
    return parse_layout(text, name=str(path))


def parse_layout(text: str, name: str = "<string>") -> Layout:
    """Parse layout text; ``name`` is used in error messages (usually the file name)."""
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise LayoutError(name, None, None, "the layout is empty")
    width = len(lines[0])
    for number, line in enumerate(lines, start=1):
        if not line:
            raise LayoutError(name, number, 1, "empty row inside the layout")
        if len(line) > width and set(line[width:]) == {"%"}:
            # The classic reader takes the width from the first row and ignores what lies past
            # it; files in the wild rely on that (a bottom wall one character longer, say).
            line = lines[number - 1] = line[:width]
        if len(line) != width:
            raise LayoutError(
                name,
                number,
                min(len(line), width) + 1,
                f"row is {len(line)} characters wide but the first row is {width} "
                "(rows may differ in trailing spaces, or run longer in walls '%' only)",
            )
        for column, char in enumerate(line, start=1):
            if char not in ALLOWED_CHARS:
                raise LayoutError(
                    name,
                    number,
                    column,
                    f"unknown character {char!r} (allowed: '%' wall, '.' food, 'o' capsule, "
                    "'P' Pac-Man, 'G' or '1'-'4' ghost, ' ' empty)",
                )
    height = len(lines)
    grid = np.array([list(line) for line in lines])
    walls = grid == "%"
    for r in range(height):
        for c in range(width):
            on_border = r in (0, height - 1) or c in (0, width - 1)
            if on_border and not walls[r, c]:
                raise LayoutError(
                    name, r + 1, c + 1, f"the border must be wall '%', found {grid[r, c]!r}"
                )

    pacman_cells = list(zip(*np.nonzero(grid == "P"), strict=True))
    if not pacman_cells:
        raise LayoutError(name, None, None, "no Pac-Man start 'P' in the layout")
    if len(pacman_cells) > 1:
        r, c = pacman_cells[1]
        raise LayoutError(
            name, int(r) + 1, int(c) + 1, "a second Pac-Man start 'P' (exactly one is allowed)"
        )
    pacman_start = (int(pacman_cells[0][0]), int(pacman_cells[0][1]))

    # 'G' sorts before the digits; within a mark, reading order.
    ghost_cells = []
    for order, mark in enumerate("G1234"):
        rows, cols = np.nonzero(grid == mark)
        ghost_cells += [(order, int(r), int(c)) for r, c in zip(rows, cols, strict=True)]
    ghost_starts = tuple((r, c) for _, r, c in sorted(ghost_cells))

    food = grid == "."
    capsules = grid == "o"
    _check_reachable(name, walls, pacman_start, food | capsules | np.isin(grid, list("G1234")))
    return Layout(name, walls, food, capsules, pacman_start, ghost_starts)


def _check_reachable(name: str, walls: np.ndarray, start: tuple[int, int], targets: np.ndarray):
    """Raise on the first target cell (reading order) that Pac-Man cannot walk to."""
    seen = np.zeros_like(walls)
    seen[start] = True
    frontier = deque([start])
    while frontier:
        r, c = frontier.popleft()
        for nr, nc in ((r - 1, c), (r + 1, c), (r, c + 1), (r, c - 1)):
            if not walls[nr, nc] and not seen[nr, nc]:
                seen[nr, nc] = True
                frontier.append((nr, nc))
    unreachable = np.argwhere(targets & ~seen)
    if len(unreachable):
        r, c = unreachable[0]
        raise LayoutError(
            name, int(r) + 1, int(c) + 1, "this cell cannot be reached from Pac-Man's start"
        )
