"""Model files: a model's parameters and buffers with its architecture, in one .npz archive.

The archive is written and read by `fileio.save_arrays` / `fileio.load_arrays` (atomic writes,
JSON metadata, no pickle): loading a model file never runs code.
"""

from pathlib import Path
from typing import Any

from fileio import CheckpointError, load_arrays, save_arrays
from nets.module import Model, build

__all__ = ["load", "save"]

MODEL_FORMAT = "nets-model-v1"


def save(path: str | Path, model: Model, extra: dict[str, Any] | None = None) -> Path:
    """Save a model's parameters and buffers with its architecture (config) and `extra`."""
    meta = {"format": MODEL_FORMAT, "config": model.config(), "extra": extra or {}}
    return save_arrays(path, model.state_dict(), meta)


def load(path: str | Path) -> tuple[Model, dict[str, Any]]:
    """Rebuild a model from a file written by `save`: (model, extra)."""
    arrays, meta = load_arrays(path)
    if meta.get("format") != MODEL_FORMAT or "config" not in meta:
        raise CheckpointError(f"{path}: not a model file (format {meta.get('format')!r})")
    try:
        model = build(meta["config"])
    except (TypeError, ValueError, KeyError) as error:
        raise CheckpointError(f"{path}: cannot rebuild the architecture: {error}") from None
    try:
        model.load_state_dict(arrays, strict=True)
    except CheckpointError as error:
        raise CheckpointError(f"{path}: {error}") from None
    return model, meta.get("extra", {})
