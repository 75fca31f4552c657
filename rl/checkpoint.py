"""Atomic checkpoints: a dict of arrays plus JSON metadata in one .npz file.

The metadata is stored as the UTF-8 bytes of a JSON document (a uint8 array named `__meta__`),
so loading never unpickles anything (`np.load(..., allow_pickle=False)`). A save writes a
temporary file in the same folder and renames it over the old one (`os.replace` is atomic on
one filesystem), so a run killed at any moment leaves either the old or the new checkpoint,
never a half-written one.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

FORMAT = "rl-checkpoint"
VERSION = 1
_META_KEY = "__meta__"


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt, truncated, or does not match what loads it."""


def save_checkpoint(path: str | Path, arrays: dict[str, np.ndarray], meta: dict) -> Path:
    """Write `arrays` and JSON-able `meta` to `path` atomically; returns the path."""
    path = Path(path)
    bad = [name for name in arrays if name.startswith("__")]
    if bad:
        raise ValueError(f"array names starting with '__' are reserved: {bad}")
    try:
        meta_bytes = json.dumps({"format": FORMAT, "version": VERSION, "meta": meta}).encode()
    except TypeError as err:
        raise TypeError(f"checkpoint metadata for {path} is not JSON-able: {err}") from None
    payload = {name: np.asarray(value) for name, value in arrays.items()}
    object_arrays = [name for name, value in payload.items() if value.dtype == object]
    if object_arrays:
        raise TypeError(
            f"arrays {object_arrays} have dtype object, which cannot be loaded without pickle; "
            "store numbers, or put the values in the JSON metadata"
        )
    payload[_META_KEY] = np.frombuffer(meta_bytes, dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **payload)
            f.flush()
            os.fsync(f.fileno())  # the data is on disk before the rename makes it visible
        os.chmod(tmp_name, 0o644)  # mkstemp makes it private (0600); a checkpoint is not secret
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """Read a file written by `save_checkpoint`: (arrays, meta). Never unpickles."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}  # reads (and CRC-checks) all now
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as err:
        raise CheckpointError(
            f"{path} is not a readable checkpoint (truncated or corrupt?): {err}. "
            "Delete it and train again, or restore it from a copy."
        ) from None
    if _META_KEY not in arrays:
        raise CheckpointError(
            f"{path} has no {_META_KEY} entry: it was not written by rl.checkpoint"
        )
    try:
        header = json.loads(arrays.pop(_META_KEY).tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path} has corrupt metadata: {err}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an {FORMAT} file (format tag missing or wrong)")
    if header.get("version") != VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {header.get('version')}, "
            f"this code reads version {VERSION}"
        )
    return arrays, header["meta"]
