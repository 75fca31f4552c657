"""The commands that scripts print as hints, written so that they work as printed.

A bare `python` is often not the interpreter with the project's dependencies (`make demo`
installs them into .venv), so a hint names the interpreter running now, relative to the current
folder where that is shorter, and the script by its path from here.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"  # rl/ lies beside scripts/
EXAMPLES = SCRIPTS.parent / "examples"


def short_path(path: str | Path) -> str:
    """`path` relative to the current folder when it lies below it, else absolute."""
    path = Path(os.path.abspath(path))  # abspath, not resolve: keep a venv's python link
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def command(script: str, *args: str | Path) -> str:
    """The shell command that runs scripts/`script` with `args` using this interpreter."""
    python = short_path(sys.executable)
    if os.sep not in python:  # "python" alone would be looked up on PATH
        python = os.path.join(".", python)
    return shlex.join([python, short_path(SCRIPTS / script), *map(str, args)])
