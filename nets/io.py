"""Saving and loading: .npz archives of arrays plus JSON metadata, written atomically.

The JSON text is stored inside the archive as a 0-d unicode array under the key "__meta__",
so one file carries both. Loading uses allow_pickle=False: a file can never run code.
"""

import json
import math
import os
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from nets.errors import CheckpointError
from nets.module import Model, build

__all__ = ["CheckpointError", "atomic_write", "load", "load_arrays", "save", "save_arrays",
           "write_json"]

META_KEY = "__meta__"
MODEL_FORMAT = "nets-model-v1"


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


def save_arrays(path: str | Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
    """Atomically write `arrays` and JSON-able `meta` to `path` (exactly that name)."""
    path = Path(path)
    if META_KEY in arrays:
        raise ValueError(f"array name {META_KEY!r} is reserved for the metadata")
    try:
        meta_text = json.dumps(meta)
    except TypeError as error:
        raise TypeError(f"metadata for {path} is not JSON-serialisable: {error}") from None
    with atomic_write(path) as file:
        np.savez(file, **{META_KEY: np.array(meta_text)}, **arrays)
    return path


def load_arrays(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a file written by `save_arrays`: (arrays, meta). Raises CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    with open(path, "rb") as file:
        magic = file.read(4)
    if magic[:2] != b"PK":  # every zip archive, hence every .npz, starts with "PK"
        kind = "a single .npy array" if magic[:4] == b"\x93NUM" else "not a zip archive"
        raise CheckpointError(f"{path}: not an .npz file ({kind}); was it written by nets.io?")
    _check_member_sizes(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}  # read all: detects truncation
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as error:
        raise CheckpointError(
            f"{path}: not a readable .npz archive (truncated, corrupt or holding pickled "
            f"objects): {error}"
        ) from None
    if META_KEY not in arrays:
        raise CheckpointError(f"{path}: no {META_KEY!r} entry; not written by nets.io")
    try:
        meta = json.loads(str(arrays.pop(META_KEY)))
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path}: metadata is not valid JSON: {error}") from None
    return arrays, meta


def _check_member_sizes(path: Path) -> None:
    """Raise CheckpointError for an array whose .npy header claims more bytes than its member
    holds: NumPy would try to allocate what the header says (10**12 elements) before noticing."""
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read_header(member)
                claimed = math.prod(shape) * dtype.itemsize
                if claimed > info.file_size:
                    raise CheckpointError(
                        f"{path}: array {info.filename!r} claims shape {shape} ({claimed:,} "
                        f"bytes) but holds {info.file_size:,} bytes: the file is corrupt"
                    )
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        if isinstance(error, CheckpointError):
            raise
        raise CheckpointError(
            f"{path}: not a readable .npz archive (truncated, corrupt or holding pickled "
            f"objects): {error}"
        ) from None


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
