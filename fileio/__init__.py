"""Plain file I/O shared by every package: atomic writes, JSON, .npz archives with JSON metadata.

It imports nothing of the project, so `nets` (model files), `rl` (checkpoints, logs, plots,
run folders) and `supervised` (downloads, training histories) all build on it.

- `fileio.atomic`: `atomic_write` (a temporary file renamed over the target) and `write_json`
- `fileio.archive`: `save_arrays` / `load_arrays` (arrays plus JSON metadata in one .npz,
  loaded with allow_pickle=False) and `CheckpointError`, raised for a file that cannot be used
"""

from fileio.archive import META_KEY, CheckpointError, load_arrays, save_arrays
from fileio.atomic import atomic_write, write_json

__all__ = ["META_KEY", "CheckpointError", "atomic_write", "load_arrays", "save_arrays",
           "write_json"]
