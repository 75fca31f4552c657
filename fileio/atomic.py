"""Atomic writes: a temporary file beside the target, renamed over it when complete."""

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["atomic_write", "write_json"]


@contextmanager
def atomic_write(path: str | Path, mode: str = "wb", **open_kwargs: Any) -> Iterator[IO]:
    """Open a temporary file beside `path` for writing; rename it over `path` on success.

    A crash or an exception leaves either the old file or the new one, never half of one, and
    no temporary file behind. The result is readable by everyone (mkstemp makes it 0600).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, mode, **open_kwargs) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_json(path: str | Path, data: Any) -> Path:
    """Write `data` as indented JSON, atomically; NumPy numbers/arrays and paths are converted."""
    with atomic_write(path, "w") as file:
        json.dump(data, file, indent=2, default=_plain_json)
        file.write("\n")
    return Path(path)


def _plain_json(value: Any) -> Any:
    """NumPy scalars and arrays, and paths, as plain JSON values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
