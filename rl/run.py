"""The run folder: what is in it, and how a run is created, loaded and resumed.

    runs/<name>/
        config.json          the resolved configuration (RunConfig), written when a run starts
        metrics.csv          one row per episode, metrics mean and evaluation (rl.logging)
        checkpoint.npz       the last checkpoint (rl.checkpoint): all that resuming needs
        best.npz             the best checkpoint by greedy evaluation (rl.loop): for acting only
        learning_curve.png   the plot of metrics.csv (rl.plotting)
        .lock                held by the one process that writes the folder (`lock`)

This module is the only one that spells those file names. The training loop (rl.loop) asks it
whether a folder may hold a fresh run (`check_fresh`) or be resumed (`check_resumable`);
scripts and the algorithm registry (agents.registry) read and write config.json through it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import importlib.metadata
import json
import os
import platform
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no flock; the folder is then not protected against two writers
    fcntl = None

import numpy as np

from fileio import write_json
from rl.checkpoint import CheckpointError, check_full, load_checkpoint_meta

CONFIG_NAME = "config.json"
METRICS_NAME = "metrics.csv"
CURVE_NAME = "learning_curve.png"
LOCK_NAME = ".lock"
# Checkpoints by kind: the last one (resume, evaluate) and, beside it, the best one.
CHECKPOINT_NAMES = {"last": "checkpoint.npz", "best": "best.npz"}


def config_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / CONFIG_NAME


def metrics_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / METRICS_NAME


def curve_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / CURVE_NAME


def checkpoint_path(run_dir: str | Path, kind: str = "last") -> Path:
    """The run's "last" (default) or "best" checkpoint file."""
    if kind not in CHECKPOINT_NAMES:
        kinds = ", ".join(CHECKPOINT_NAMES)
        raise ValueError(f"checkpoint kind must be one of {kinds}, got {kind!r}")
    return Path(run_dir) / CHECKPOINT_NAMES[kind]


class RunFolderError(ValueError):
    """A folder cannot be used as asked: a fresh run over an old one, or a resume without one."""


# --- one writer at a time -------------------------------------------------------------------------

_held: dict[Path, int] = {}  # run folders this process has locked, and how deeply


@contextlib.contextmanager
def lock(run_dir: str | Path) -> Iterator[None]:
    """Hold the run folder's lock while writing it; RunFolderError if another process holds it.

    Two writers (a sweep's orphaned worker and its rerun, or one run resumed twice at once)
    would interleave their metrics rows and checkpoints. The lock is an flock on `.lock`, which
    the operating system releases when its holder dies, even by `kill -9`: no stale lock to
    clean up. The holder writes its pid into the file, for the message of the one refused.
    Nested use in one process is allowed (train_run holds it around rl.loop.train, which takes
    it too). On taking the lock, temporary files that a killed writer left are removed.
    """
    run_dir = Path(run_dir)
    key = run_dir.resolve()
    if key in _held or fcntl is None:
        _held[key] = _held.get(key, 0) + 1
        try:
            yield
        finally:
            _held[key] -= 1
            if not _held[key]:
                del _held[key]
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    file = open(run_dir / LOCK_NAME, "a+")
    try:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip() or "another process"
            raise RunFolderError(
                f"{run_dir} is being written by {holder}: a run folder has one writer at a "
                "time. Wait for that run to finish, or stop it and resume this one"
            ) from None
        file.truncate(0)
        file.write(f"process {os.getpid()} (since {now()})\n")
        file.flush()
        remove_temp_files(run_dir)
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]
            file.truncate(0)  # no holder any more
    finally:
        file.close()  # closing releases the flock


def remove_temp_files(run_dir: str | Path) -> list[Path]:
    """Delete the temporary files (fileio.atomic_write's `.NAME.*.tmp`) that a writer killed in
    the middle of writing left in `run_dir`; call only while holding the folder's lock."""
    removed = sorted(Path(run_dir).glob(".?*.*.tmp"))
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


# --- the checks -----------------------------------------------------------------------------------


def check_fresh(run_dir: str | Path) -> None:
    """Raise RunFolderError if `run_dir` already holds a run (a fresh run must not overwrite it)."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunFolderError(f"{run_dir} is a file, not a folder: choose another run folder")
    if checkpoint_path(run_dir).exists():
        raise RunFolderError(
            f"{run_dir} already holds a run: resume it (--resume {run_dir}) or choose another "
            "run folder"
        )
    if metrics_path(run_dir).exists():
        raise RunFolderError(
            f"{run_dir} holds the {METRICS_NAME} of a run that never wrote a checkpoint: delete "
            "that folder or choose another run folder"
        )


def check_resumable(run_dir: str | Path, total_steps: int) -> int:
    """The step that the run in `run_dir` reached; raises RunFolderError if it cannot go on to
    `total_steps` (no checkpoint, or more steps done already)."""
    path = checkpoint_path(run_dir)
    if not path.is_file():
        raise RunFolderError(
            f"cannot resume {run_dir}: it has no {path.name}; start a fresh run instead"
        )
    meta = load_checkpoint_meta(path)
    check_full(path, meta)
    loop = meta.get("loop") if isinstance(meta, dict) else None
    step = loop.get("step") if isinstance(loop, dict) else None
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise CheckpointError(
            f"{path} has no valid training-loop state (loop.step is {step!r}): it cannot be "
            "resumed; start a fresh run (its agent can still be evaluated)"
        )
    if step > total_steps:
        raise RunFolderError(
            f"{path} is at step {step}, beyond total_steps {total_steps}: resume with a "
            "--total-steps of at least that"
        )
    return step


# --- config.json ----------------------------------------------------------------------------------


@dataclass
class RunConfig:
    """What config.json holds: enough to rebuild the run's environment and agent."""

    # Algorithm name in the registry (agents.registry), e.g. "dqn" or "sarsa".
    algo: str
    # Gymnasium id, e.g. "CartPole-v1", or "module:Id" to import the module that registers it.
    env_id: str
    # Extra gym.make arguments.
    env_kwargs: dict[str, Any]
    # The run's seed (the loop's rng; the agent's rng is a stream of it).
    seed: int
    # The agent's config dataclass as JSON (rl.config.to_json).
    agent: dict[str, Any]
    # The training loop's config (rl.loop.LoopConfig) as JSON.
    loop: dict[str, Any]
    # The preset of (algo, env) that the agent and loop configs were layered on.
    preset: dict[str, Any] = field(default_factory=dict)
    # Where it ran: versions of Python and the main libraries, the command, the times.
    versions: dict[str, str] = field(default_factory=dict)
    command: list[str] = field(default_factory=list)
    created: str = ""
    resumed: list[str] = field(default_factory=list)


def read_config(run_dir: str | Path) -> RunConfig:
    """Read run_dir/config.json; raises FileNotFoundError / ValueError saying what is wrong."""
    path = config_path(run_dir)
    if not path.is_file():
        raise FileNotFoundError(
            f"{run_dir} has no {CONFIG_NAME}: is it a run folder written by scripts/train.py?"
        )
    return read_config_file(path)


# The types of config.json's fields that the rest of the code relies on.
_CONFIG_TYPES = {"algo": str, "env_id": str, "env_kwargs": dict, "seed": int, "agent": dict,
                 "loop": dict}


def read_config_file(path: str | Path) -> RunConfig:
    """Read a run config written by `write_config` from the file `path` (a run's config.json,
    wherever it lies); raises FileNotFoundError / ValueError saying what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no run config at {path}: name a run's {CONFIG_NAME}")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:  # ValueError: bad JSON or bytes that are not UTF-8
        raise ValueError(f"{path} is not a valid run config: {err}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a valid run config: it holds a JSON "
                         f"{type(data).__name__}, not an object")
    known = {f.name for f in dataclasses.fields(RunConfig)}
    try:
        config = RunConfig(**{k: v for k, v in data.items() if k in known})
    except TypeError as err:  # a required field missing
        raise ValueError(f"{path} is not a valid run config: {err}") from None
    for name, kind in _CONFIG_TYPES.items():
        value = getattr(config, name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(f"{path} is not a valid run config: {name} must be a JSON "
                             f"{'object' if kind is dict else kind.__name__}, got {value!r}")
    return config


def write_config(run_dir: str | Path, config: RunConfig) -> Path:
    """Create the run folder if needed and write its config.json (atomically)."""
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    return write_json(config_path(run_dir), dataclasses.asdict(config))


def now() -> str:
    """The current UTC time as config.json records it."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def stamped_name(*parts: object) -> str:
    """The parts and the local time joined by '-', with '/' and ':' made filename-safe:
    stamped_name("PacGrid/Tiny-v1", "dqn", 0) is "PacGrid_Tiny-v1-dqn-0-YYYYmmdd-HHMMSS"."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return "-".join(str(part).replace("/", "_").replace(":", "_") for part in (*parts, stamp))


def default_run_dir(env_id: str, algo: str, seed: int) -> Path:
    """runs/<env>-<algo>-<seed>-<YYYYmmdd-HHMMSS>, with '/' and ':' made filename-safe."""
    return Path("runs") / stamped_name(env_id, algo, seed)


def versions() -> dict[str, str]:
    """Versions of Python, NumPy, Gymnasium and this project, for config.json."""
    import gymnasium as gym

    def version(package: str) -> str:
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "gymnasium": gym.__version__,
        "rlsandbox": version("rlsandbox"),
    }
