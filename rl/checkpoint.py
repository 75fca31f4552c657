"""Atomic checkpoints: a dict of arrays plus JSON metadata in one .npz file.

The file itself is written and read by `nets.io.save_arrays` / `nets.io.load_arrays`: a
temporary file in the same folder renamed over the old one (so a run killed at any moment
leaves either the old or the new checkpoint, never a half-written one), metadata as JSON inside
the archive, loading with `allow_pickle=False`. This module adds a format tag and version to
the metadata, refuses arrays that would need pickle, and names the file in every error.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from nets.errors import CheckpointError
from nets.io import META_KEY, load_arrays, save_arrays

__all__ = ["CheckpointError", "load_checkpoint", "load_checkpoint_meta", "save_checkpoint"]

FORMAT = "rl-checkpoint"
VERSION = 1


def save_checkpoint(path: str | Path, arrays: dict[str, np.ndarray], meta: dict) -> Path:
    """Write `arrays` and JSON-able `meta` to `path` atomically; returns the path."""
    path = Path(path)
    bad = [name for name in arrays if name.startswith("__")]
    if bad:
        raise ValueError(f"array names starting with '__' are reserved: {bad}")
    payload = {name: np.asarray(value) for name, value in arrays.items()}
    object_arrays = [name for name, value in payload.items() if value.dtype == object]
    if object_arrays:
        raise TypeError(
            f"arrays {object_arrays} have dtype object, which cannot be loaded without pickle; "
            "store numbers, or put the values in the JSON metadata"
        )
    save_arrays(path, payload, {"format": FORMAT, "version": VERSION, "meta": meta})
    return path


def load_checkpoint(path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """Read a file written by `save_checkpoint`: (arrays, meta). Never unpickles."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    arrays, header = load_arrays(path)
    return arrays, _check_header(path, header)


def load_checkpoint_meta(path: str | Path) -> dict:
    """Only the metadata of a checkpoint, without reading its arrays (a replay buffer can be
    hundreds of MB); the arrays are checked when the checkpoint is loaded in full."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:  # members are read on access only
            header = json.loads(str(archive[META_KEY]))
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"{path}: cannot read the checkpoint metadata: {err}") from None
    return _check_header(path, header)


def _check_header(path: Path, header: dict) -> dict:
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an {FORMAT} file (format tag missing or wrong)")
    if header.get("version") != VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {header.get('version')}, "
            f"this code reads version {VERSION}"
        )
    return header["meta"]
