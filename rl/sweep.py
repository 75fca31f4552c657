"""Sweeps: a grid of training configurations x seeds, each trial an ordinary run folder.

    cfg = SweepConfig(name="cliff", base={"algo": "qlearning", "env": "CliffWalking-v1"},
                      grid={"gamma": [0.9, 0.99]}, seeds=[0, 1, 2])
    plan = prepare(cfg)                       # which trials are done, which to resume or start
    for result in run_trials(plan.to_run):    # a local process pool, or Ray tasks
        print(describe(result, ...))

Each trial is one call of the training function `entry(run_dir, settings, resume)` (by default
`agents.registry.train_settings`, what scripts/train.py runs), writing its own folder
`<out>/<sweep>/<configuration>/seed=<seed>/` (e.g. `runs/cliff/gamma=0.9/seed=1/`). Grid and
base keys are the training flags' names written with underscores; their values go to the
configs as they are. Preparing a sweep again skips the trials that finished (their `trial.json`
says "done"), resumes the interrupted ones from their checkpoints and retries the failed ones.
rl.trials runs the trials; rl.sweep_report aggregates them. scripts/sweep.py is the command line.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

try:
    import tomllib  # Python 3.11+
except ModuleNotFoundError:  # Python 3.10: JSON sweep files only
    tomllib = None

from fileio import write_json
from rl import stats
from rl.logging import EVAL_RETURN, EVAL_WIN_RATE
from rl.run import checkpoint_path, metrics_path
from rl.trials import MARKER, Trial, TrialResult, run_local, run_ray

DEFAULT_ENTRY = "agents.registry:train_settings"
# Flags the sweep sets itself for every trial; a sweep file must not set them.
RESERVED = {"seed", "run_dir", "resume"}
SPEC_FILE = "sweep.json"  # the resolved sweep, written into the sweep folder


class SweepError(ValueError):
    """A sweep that cannot run or be reported as asked; the message says what to change."""


@dataclass
class SweepConfig:
    """What to run: a base training config, a grid of values to vary, and seeds."""

    # Name of the sweep; its trials go to <out>/<name>/.
    name: str = "sweep"
    # Training settings shared by every trial, e.g. {"algo": "qlearning", "env": "FrozenLake-v1"}.
    base: dict[str, Any] = field(default_factory=dict)
    # Flags to vary, each with a list of values; every combination is one configuration.
    grid: dict[str, list] = field(default_factory=dict)
    # Named configurations, each a table of settings over the base (an ablation: "preset": {},
    # "no_dueling": {"dueling": false}); with a grid too, every variant meets every grid point.
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Training seeds; each configuration runs once per seed.
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    # The training function, "module:function", called as function(run_dir, settings, resume).
    entry: str = DEFAULT_ENTRY
    # Folder that holds the sweep's folder.
    out: str = "runs"


# --- the sweep file -----------------------------------------------------------------------------


def load_sweep_file(path: str | Path) -> SweepConfig:
    """Read a sweep file (.toml or .json) of SweepConfig fields; its name defaults to the stem."""
    path = Path(path)
    if not path.is_file():
        raise SweepError(f"sweep file {path} does not exist")
    if path.suffix not in (".toml", ".json"):
        raise SweepError(f"sweep file {path} must end in .toml or .json")
    if path.suffix == ".toml" and tomllib is None:
        raise SweepError("TOML sweep files need Python 3.11+: write the sweep as JSON")
    try:
        if path.suffix == ".toml":
            with open(path, "rb") as f:
                data = tomllib.load(f)
        else:
            data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:  # TOMLDecodeError and JSONDecodeError
        raise SweepError(f"sweep file {path} is not valid {path.suffix[1:]}: {err}") from None
    if not isinstance(data, dict):
        raise SweepError(f"sweep file {path} must hold a table/object at the top level")
    data.setdefault("name", path.stem)
    known = {f.name for f in dataclasses.fields(SweepConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SweepError(
            f"unknown sweep file key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    cfg = SweepConfig(**data)
    if isinstance(cfg.base, dict) and isinstance(cfg.grid, dict):  # `total-steps` = total_steps
        cfg.base = {key.replace("-", "_"): value for key, value in cfg.base.items()}
        cfg.grid = {key.replace("-", "_"): value for key, value in cfg.grid.items()}
    if isinstance(cfg.variants, dict):
        cfg.variants = {name: {key.replace("-", "_"): value for key, value in settings.items()}
                        if isinstance(settings, dict) else settings
                        for name, settings in cfg.variants.items()}
    return cfg


def check_config(cfg: SweepConfig) -> None:
    """Reject sweep configs that cannot run, saying what to change."""
    if not re.fullmatch(r"[A-Za-z0-9._+=-]+", cfg.name):
        raise SweepError(f"sweep name {cfg.name!r} may only use letters, digits and . _ + = -")
    if not isinstance(cfg.base, dict) or not isinstance(cfg.grid, dict):
        raise SweepError("'base' and 'grid' must be tables (TOML) or objects (JSON)")
    for key, values in cfg.grid.items():
        if not isinstance(values, list) or not values:
            raise SweepError(f"grid entry {key!r} must be a non-empty list, got {values!r}")
    clash = (set(cfg.base) | set(cfg.grid)) & RESERVED
    if clash:
        raise SweepError(
            f"the sweep sets {', '.join(sorted(clash))} itself: remove it from base/grid "
            "(list the seeds under 'seeds')"
        )
    both = set(cfg.base) & set(cfg.grid)
    if both:
        raise SweepError(f"{', '.join(sorted(both))} is in both base and grid: keep one")
    if not isinstance(cfg.variants, dict):
        raise SweepError("'variants' must be a table of named tables (TOML) or an object (JSON)")
    for name, settings in cfg.variants.items():
        if not re.fullmatch(r"[A-Za-z0-9._+-]+", name):
            raise SweepError(f"variant name {name!r} may only use letters, digits and . _ + -")
        if not isinstance(settings, dict):
            raise SweepError(f"variant {name!r} must be a table of settings, got {settings!r}")
        clash = set(settings) & (RESERVED | set(cfg.grid))
        if clash:
            raise SweepError(f"variant {name!r} sets {', '.join(sorted(clash))}, which the "
                             "sweep or its grid sets: remove it from the variant")
    if not cfg.seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in cfg.seeds):
        raise SweepError(f"seeds must be a non-empty list of integers, got {cfg.seeds!r}")
    if len(set(cfg.seeds)) != len(cfg.seeds):
        raise SweepError(f"seeds must be distinct, got {cfg.seeds!r}")


# --- trials -------------------------------------------------------------------------------------


def sweep_folder(cfg: SweepConfig) -> Path:
    """The folder of the sweep's trials: <out>/<name>, absolute."""
    return Path(cfg.out).resolve() / cfg.name


def value_label(value: Any) -> str:
    """A short, filesystem-safe label of a grid value for folder names."""
    if isinstance(value, bool) or value is None:
        text = json.dumps(value)
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, list | tuple):
        text = "-".join(value_label(item) for item in value)
    elif isinstance(value, dict):  # a schedule such as {"kind": "linear", "start": 1, ...}
        text = "-".join(value_label(item) for item in value.values())
    else:
        text = str(value)
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", text)


def expand(cfg: SweepConfig) -> list[Trial]:
    """Every (configuration, seed) of the sweep: variants in file order, each over the grid."""
    sweep_dir = sweep_folder(cfg)
    keys = list(cfg.grid)
    base = dict(cfg.base)
    if cfg.entry == DEFAULT_ENTRY and "progress" not in cfg.base and "progress" not in cfg.grid:
        base["progress"] = False  # trials log to files: no per-trial progress bars
    trials = []
    variants = cfg.variants or {"": {}}
    for (variant, overrides), values in itertools.product(
            variants.items(), itertools.product(*(cfg.grid[key] for key in keys))):
        params = dict(zip(keys, values, strict=True))
        labels = [variant] if variant else []
        labels += [f"{key}={value_label(v)}" for key, v in params.items()]
        config_name = ",".join(labels) or "base"
        for seed in cfg.seeds:
            name = f"{config_name}/seed={seed}"
            trials.append(
                Trial(
                    name=name,
                    config_name=config_name,
                    params={**overrides, **params},
                    seed=seed,
                    settings={**base, **overrides, **params, "seed": seed},
                    run_dir=str(sweep_dir / name),
                    entry=cfg.entry,
                )
            )
    names = [trial.name for trial in trials]
    if len(set(names)) != len(names):
        raise SweepError("two grid values give the same folder name: make the values distinct")
    return trials


def read_marker(run_dir: Path) -> dict | None:
    """The trial.json of a run folder, or None when there is none or it is unreadable."""
    try:
        return json.loads((run_dir / MARKER).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def plan(trials: Sequence[Trial]) -> tuple[list[Trial], list[tuple[Trial, bool]]]:
    """Split trials into finished ones (skipped) and (trial, resume) pairs still to run."""
    finished, to_run = [], []
    for trial in trials:
        run_dir = Path(trial.run_dir)
        marker = read_marker(run_dir)
        if marker is not None and marker.get("status") == "done":
            if marker.get("settings") != json.loads(json.dumps(trial.settings)):
                raise SweepError(
                    f"{run_dir} finished with different settings ({marker.get('settings')}) "
                    f"than this sweep asks for ({trial.settings}): give the sweep a new --name, "
                    "or delete that folder to rerun it"
                )
            finished.append(trial)
        else:
            to_run.append((trial, checkpoint_path(run_dir).is_file()))
    return finished, to_run


@dataclass
class SweepPlan:
    """A prepared sweep: its folder, all its trials, and what is left to do."""

    sweep_dir: Path  # <out>/<name>, holding sweep.json and the trial folders
    trials: list[Trial]  # every (configuration, seed)
    finished: list[Trial]  # done in an earlier run of the sweep: skipped
    to_run: list[tuple[Trial, bool]]  # (trial, resume from its checkpoint) still to run

    @property
    def resuming(self) -> int:
        return sum(resume for _, resume in self.to_run)


def prepare(cfg: SweepConfig) -> SweepPlan:
    """Check the sweep, plan its trials, then create its folder and write sweep.json there.

    The plan comes first: a sweep that would overwrite finished trials run with other settings
    is refused before anything is written.
    """
    check_config(cfg)
    trials = expand(cfg)
    finished, to_run = plan(trials)
    sweep_dir = sweep_folder(cfg)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    write_json(sweep_dir / SPEC_FILE, dataclasses.asdict(cfg))
    return SweepPlan(sweep_dir, trials, finished, to_run)


def usable_cores() -> int:
    """Cores this process may run on (a container or taskset may allow fewer than exist)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def run_trials(
    to_run: Sequence[tuple[Trial, bool]], backend: str = "local", workers: int | None = None,
    address: str | None = None, cpus_per_trial: float = 1.0,
) -> Iterator[TrialResult]:
    """Run (trial, resume) pairs on a backend; yield their results as they finish.

    local: a pool of `workers` processes (default one per usable core, at most one per trial).
    ray: Ray tasks of `cpus_per_trial` CPUs each, on the cluster at `address` or on a local Ray
    instance with `workers` CPUs. Nothing starts until the caller asks for the first result.
    """
    if backend == "local":
        return run_local(to_run, min(workers or usable_cores(), max(len(to_run), 1)))
    if backend == "ray":
        return run_ray(to_run, address, cpus_per_trial, num_cpus=workers)
    raise SweepError(f"backend must be local or ray, got {backend!r}")


# --- a trial's scores ---------------------------------------------------------------------------


def read_eval_curves(run_dir: Path, columns: Sequence[str] = (EVAL_RETURN,)
                     ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(steps, {column: values}) of the evaluation rows of a run's metrics.csv, read once: the
    greedy returns, and other evaluation columns (say eval_win_rate). Raises ValueError if a
    column is missing or there is no evaluation row."""
    path = metrics_path(run_dir)
    steps: list[int] = []
    values: dict[str, list[float]] = {column: [] for column in columns}
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"step", *columns} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path} has no column(s) {', '.join(sorted(missing))}")
        for row in reader:
            if all(row[column] not in ("", None) for column in columns):
                steps.append(int(float(row["step"])))
                for column in columns:
                    values[column].append(float(row[column]))
    if not steps:
        raise ValueError(f"{path} has no evaluation rows: train with a nonzero --eval-every")
    return np.asarray(steps), {column: np.asarray(v) for column, v in values.items()}


def read_eval_curve(run_dir: Path, column: str = EVAL_RETURN
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of one evaluation column of a run's metrics.csv (read_eval_curves)."""
    steps, values = read_eval_curves(run_dir, (column,))
    return steps, values[column]


def describe(result: TrialResult, run_dir: Path) -> str:
    """The one line that says how a finished trial went."""
    if result.status != "done":
        return f"FAILED  {result.name}: {result.error}"
    resumed = ", resumed" if result.resumed else ""
    try:
        try:  # where the env reports wins (the Pac-Man game), the win rates too
            _, curves = read_eval_curves(run_dir, (EVAL_RETURN, EVAL_WIN_RATE))
        except ValueError:
            _, curves = read_eval_curves(run_dir)
        returns, wins = curves[EVAL_RETURN], curves.get(EVAL_WIN_RATE)
        scores = f"final {stats.short(returns[-1])}  best {stats.short(returns.max())}"
        if wins is not None:
            scores += f"  (win rate final {stats.short(wins[-1])}  best {stats.short(wins.max())})"
    except (OSError, ValueError) as err:
        scores = f"(no scores: {err})"
    return f"done    {result.name}  {scores}  ({result.wall_s:.1f} s{resumed})"
