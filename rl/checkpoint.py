"""Checkpoints: one format for every agent, written and read only here.

A checkpoint is one .npz file: the agent's arrays (names prefixed "agent/") plus JSON metadata.
The file itself is written and read by `fileio.save_arrays` / `fileio.load_arrays`: a
temporary file in the same folder renamed over the old one (so a run killed at any moment
leaves either the old or the new checkpoint, never a half-written one), metadata as JSON inside
the archive, loading with `allow_pickle=False`: loading a checkpoint never runs code.

The metadata of format version 2 (`save_agent` writes it, `load_agent` reads it):

    agent        the agent's class name, e.g. "DQNAgent"
    config       the agent's config dataclass as JSON (rl.config.to_json), or None
    env          the environment it was trained on: id, kwargs (as given to gym.make, without
                 render_mode), observation_space and action_space (their repr)
    agent_state  the agent's own state_dict() metadata (counters, its rng state, ...)
    loop         the training loop's state (rl.loop.LoopState as JSON, including the loop rng's
                 state), or None for an agent saved outside the loop
    acting_only  true for a checkpoint that holds only what acting needs (below); absent or
                 false for a full one
    best         for a best checkpoint, the evaluation that made it the best: step, episode,
                 episodes, return_mean, return_std (and win_rate, mean_score where the env
                 reports them); absent otherwise

A run folder keeps its last checkpoint and, beside it, its best one (rl.run, rl.loop). The last
is full: the agent's whole `state_dict()` (optimizer, replay buffer, rng) and the loop's state,
all that resuming needs. The best is acting-only: the agent's `acting_state_dict()` (network
weights or table), no loop state. Both load for acting (evaluate, watch); resuming refuses an
acting-only one (`check_full`). Version 1 files (written before the env record existed)
are upgraded on reading: their env is known by id only. Any other version is refused with a
message naming it.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from fileio import META_KEY, CheckpointError, load_arrays, save_arrays
from rl.config import acting_only_fields, to_json
from rl.protocol import Agent

__all__ = [
    "CheckpointError",
    "NonFiniteStateError",
    "check_agent_meta",
    "check_env",
    "check_full",
    "env_record",
    "load_agent",
    "load_checkpoint",
    "load_checkpoint_meta",
    "non_finite",
    "save_agent",
    "save_checkpoint",
]

FORMAT = "rl-checkpoint"
VERSION = 2
_AGENT_PREFIX = "agent/"


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
    version = header.get("version")
    if version == 1 and isinstance(header.get("meta"), dict):
        return _upgrade_v1(header["meta"])
    if version != VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {version}, "
            f"this code reads versions 1 and {VERSION}"
        )
    return header["meta"]


def _upgrade_v1(meta: dict) -> dict:
    """Version 1 metadata (the training loop's own) in the version 2 layout.

    Version 1 had the agent's config inside the agent's metadata and the env as an id only.
    """
    agent_state = dict(meta.get("agent") or {})
    config = agent_state.pop("config", None)
    for old_key in ("agent", "format_version"):
        agent_state.pop(old_key, None)
    return {
        "agent": meta.get("agent_class"),
        "config": config,
        "env": {"id": meta.get("env_id"), "kwargs": None, "observation_space": None,
                "action_space": None},
        "agent_state": agent_state,
        "loop": meta.get("loop"),
    }


def non_finite(arrays: dict[str, np.ndarray]) -> list[str]:
    """Names of the floating-point (or complex) arrays that hold a NaN or an infinity, each with
    how many of its values do, e.g. "q/fc1.W (4096 of 4096 values)"."""
    bad = []
    for name, value in arrays.items():
        value = np.asarray(value)
        if value.dtype.kind in "fc":
            count = int(value.size - np.count_nonzero(np.isfinite(value)))
            if count:
                bad.append(f"{name} ({count} of {value.size} values)")
    return bad


# --- agents: the one schema ----------------------------------------------------------------------


def env_record(env: gym.Env) -> dict[str, Any]:
    """What a checkpoint records of its environment: id, gym.make kwargs and the spaces."""
    spec = env.spec
    kwargs = None
    if spec is not None:
        # render_mode only decides how the env is shown (watch.py asks for another one).
        plain = {k: v for k, v in spec.kwargs.items() if k != "render_mode"}
        kwargs = json.loads(json.dumps(plain, default=repr))
    return {
        "id": spec.id if spec is not None else None,
        "kwargs": kwargs,
        "observation_space": repr(env.observation_space),
        "action_space": repr(env.action_space),
    }


def check_env(path: str | Path, saved: dict | None, env: gym.Env) -> None:
    """Raise CheckpointError if `env` is not the environment the checkpoint at `path` recorded.

    Fields that either side does not know (a version 1 file, an env without a spec) are skipped.
    """
    if not saved:
        return
    current = env_record(env)
    differences = [
        f"{key} {saved[key]!r} (here: {current[key]!r})"
        for key in ("id", "kwargs", "observation_space", "action_space")
        if saved.get(key) is not None and current[key] is not None and saved[key] != current[key]
    ]
    if differences:
        raise CheckpointError(
            f"{path} was trained on another environment: {'; '.join(differences)}. Use the "
            "environment of the run's config"
        )


class NonFiniteStateError(FloatingPointError):
    """An agent's state (parameters, Q-table, optimizer state) holds NaN or infinite values."""


def save_agent(path: str | Path, agent: Agent, env: gym.Env, loop: dict | None = None,
               acting_only: bool = False, best: dict | None = None) -> Path:
    """Write `agent` (and the training loop's state `loop`, if any) in the one checkpoint format.

    `acting_only` saves only what acting needs (the agent's `acting_state_dict()`, where it has
    one) and no loop state: the best checkpoint, whose evaluation record `best` goes in the
    metadata. Raises NonFiniteStateError, writing nothing, if any of the agent's arrays holds a
    NaN or an infinity: a diverged agent must never replace a good checkpoint.
    """
    if acting_only and loop is not None:
        raise ValueError("an acting-only checkpoint holds no loop state (it cannot be resumed)")
    acting_state_dict = getattr(agent, "acting_state_dict", None)
    if acting_only and acting_state_dict is not None:
        arrays, agent_state = acting_state_dict()
    else:
        arrays, agent_state = agent.state_dict()
    bad = non_finite(arrays)
    if bad:
        raise NonFiniteStateError(
            f"the agent's state is not finite: {', '.join(bad)}; not saved to {path}"
        )
    config = getattr(agent, "config", None)
    meta = {
        "agent": type(agent).__name__,
        "config": to_json(config) if dataclasses.is_dataclass(config) else None,
        "env": env_record(env),
        "agent_state": agent_state,
        "loop": loop,
        "acting_only": acting_only,
    }
    if best is not None:
        meta["best"] = best
    named = {_AGENT_PREFIX + name: value for name, value in arrays.items()}
    return save_checkpoint(path, named, meta)


def _config_defaults(config_cls: type) -> dict[str, Any]:
    """The JSON form of a config dataclass's defaults ({} when it has required fields)."""
    try:
        return to_json(config_cls())
    except TypeError:
        return {}


def check_full(path: str | Path, meta: Any) -> None:
    """Raise CheckpointError if the checkpoint at `path` (its metadata `meta`) is acting-only: it
    lacks the optimizer, replay buffer and loop state that resuming continues from."""
    if isinstance(meta, dict) and meta.get("acting_only"):
        record = meta.get("best") if isinstance(meta.get("best"), dict) else {}
        which = "acting-only"
        if "step" in record:
            which = f"the best checkpoint (step {record['step']})"
        raise CheckpointError(
            f"{path} is {which}: it holds only what acting needs (the network weights or "
            "table), not the optimizer, replay buffer and loop state that training continues "
            "from, so it cannot be resumed. Evaluate or watch it (--checkpoint best), and "
            "resume from the run's last checkpoint"
        )


def check_agent_meta(path: str | Path, meta: Any, agent: Agent, env: gym.Env | None) -> None:
    """Raise CheckpointError unless `meta` (a checkpoint's metadata) fits `agent` and `env`: the
    same agent class and config, and (when `env` is given) the same environment."""
    if not isinstance(meta, dict) or "agent" not in meta or not isinstance(
            meta.get("agent_state"), dict):
        raise CheckpointError(f"{path} is not an agent checkpoint (no agent metadata)")
    expected = type(agent).__name__
    if meta["agent"] != expected:
        raise CheckpointError(
            f"{path} holds a {meta['agent']} agent, but a {expected} is loading it"
        )
    config = getattr(agent, "config", None)
    if meta.get("config") is not None and not isinstance(meta["config"], dict):
        raise CheckpointError(f"{path} has a malformed config record: {meta['config']!r}")
    if meta.get("config") is not None and dataclasses.is_dataclass(config):
        mine, saved = to_json(config), dict(meta["config"])
        # A field added to the config after the checkpoint was written had its default then.
        for name, default in _config_defaults(type(config)).items():
            saved.setdefault(name, default)
        # Settings of how a trained agent acts (e.g. DQNConfig.mirror_greedy) may differ.
        acting_only = acting_only_fields(config)
        changed = sorted(k for k in mine.keys() | saved.keys()
                         if mine.get(k) != saved.get(k) and k not in acting_only)
        if changed:
            raise CheckpointError(
                f"{path} was trained with another {type(config).__name__}: {', '.join(changed)} "
                "differ; build the agent from the run's config"
            )
    if env is not None:
        saved_env = meta.get("env")
        if saved_env is not None and not isinstance(saved_env, dict):
            raise CheckpointError(f"{path} has a malformed env record: {saved_env!r}")
        check_env(path, saved_env, env)


def loaded_kind(meta: dict, asked: str) -> str:
    """Which checkpoint a load gave, from its metadata: "best" for a best checkpoint without the
    loop's state (a folder holding only best.npz, a shipped model, gives it when "last" is
    asked), else the kind that was asked for."""
    return "best" if meta.get("best") and not meta.get("loop") else asked


def agent_arrays(path: Path, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The agent's arrays of a checkpoint (`path`, read as `arrays`), by their agent names;
    raises CheckpointError if any is non-finite (a diverged run) or complex (not save_agent's)."""
    agent_arrays = {name.removeprefix(_AGENT_PREFIX): value for name, value in arrays.items()
                    if name.startswith(_AGENT_PREFIX)}
    bad = non_finite(agent_arrays)
    if bad:
        raise CheckpointError(
            f"{path} holds non-finite values in {', '.join(bad)}: it was written by a run that "
            "diverged. Use another checkpoint, or train again with a lower learning rate"
        )
    complex_arrays = [name for name, value in agent_arrays.items() if value.dtype.kind == "c"]
    if complex_arrays:
        raise CheckpointError(
            f"{path} holds complex-valued arrays {', '.join(complex_arrays)}; an agent's arrays "
            "are real numbers: this file was not written by save_agent"
        )
    return agent_arrays


def load_weights(path: str | Path, agent: Agent, env: gym.Env) -> dict:
    """Start `agent` from the network of the checkpoint at `path` (its `load_weights`): another
    run's trained agent of the same class and network, on an environment with the same spaces
    (its id and kwargs may differ: another ghost behaviour, say). Returns the metadata.

    Refuses, with a CheckpointError naming the file, what `load_agent` refuses (another agent
    class, non-finite values) and a checkpoint of other spaces or another network.
    """
    path = Path(path)
    arrays, meta = load_checkpoint(path)
    if not isinstance(meta, dict) or not isinstance(meta.get("agent_state"), dict):
        raise CheckpointError(f"{path} is not an agent checkpoint (no agent metadata)")
    load = getattr(agent, "load_weights", None)
    if meta.get("agent") != type(agent).__name__ or load is None:
        raise CheckpointError(
            f"{path} holds a {meta.get('agent')} agent: a {type(agent).__name__} can start only "
            "from its own kind's network")
    saved_env = meta.get("env") if isinstance(meta.get("env"), dict) else {}
    current = env_record(env)
    differences = [f"{key} {saved_env[key]} (here: {current[key]})"
                   for key in ("observation_space", "action_space")
                   if saved_env.get(key) is not None and saved_env[key] != current[key]]
    if differences:
        raise CheckpointError(f"{path} was trained on other spaces: {'; '.join(differences)}")
    try:
        load(agent_arrays(path, arrays), meta["agent_state"])
    except (ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path} cannot start this agent: {err}") from None
    return meta


def load_agent(path: str | Path, agent: Agent, env: gym.Env | None = None) -> dict:
    """Load a checkpoint into `agent` (built with the same config); returns its metadata.

    Refuses, with a CheckpointError naming the file, a checkpoint of another agent class, of
    another config, or (when `env` is given) of another environment.
    """
    path = Path(path)
    arrays, meta = load_checkpoint(path)
    check_agent_meta(path, meta, agent, env)
    try:
        agent.load_state_dict(agent_arrays(path, arrays), meta["agent_state"])
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as err:
        raise CheckpointError(f"{path} does not fit this agent: {err}") from None
    return meta
