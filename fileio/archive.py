""".npz archives of arrays plus JSON metadata, written atomically, read without pickle.

The JSON text is stored inside the archive as a 0-d unicode array under the key "__meta__",
so one file carries both. Loading uses allow_pickle=False: a file can never run code.
"""

import json
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from fileio.atomic import atomic_write

__all__ = ["META_KEY", "CheckpointError", "load_arrays", "save_arrays"]

META_KEY = "__meta__"


class CheckpointError(ValueError):
    """A saved file or state dict cannot be used: missing, corrupt, or not matching the model."""


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
        raise CheckpointError(
            f"{path}: not an .npz file ({kind}); was it written by fileio.save_arrays?"
        )
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
        raise CheckpointError(f"{path}: no {META_KEY!r} entry; not written by fileio.save_arrays")
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
