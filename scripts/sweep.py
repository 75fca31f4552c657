"""Run a grid of configurations x seeds, locally or on Ray; report them with confidence intervals.

    python scripts/sweep.py run examples/sweeps/frozenlake_alpha.toml
    python scripts/sweep.py run --name cliff --base algo=qlearning --base env=CliffWalking-v1 \\
        --base total_steps=5000 --grid gamma=0.9,0.99 --seeds 0 1 2
    python scripts/sweep.py run my_sweep.toml --backend ray --address auto
    python scripts/sweep.py report runs/frozenlake-alpha

Each trial is one ordinary training run, a call of `agents.registry.train_settings`, writing its
own folder `runs/<sweep>/<configuration>/seed=<seed>/` (e.g. `runs/cliff/gamma=0.9/seed=1/`), so
the plot and watch scripts work on it as on any run. Grid and base keys are the training flags'
names written with underscores (`learning_rate = [1e-3, 3e-4]`, `env = "CartPole-v1"`); their
values go to the configs as they are (a schedule as its JSON object, or a number).

Rerunning a sweep skips the trials that finished (their `trial.json` says "done"), resumes the
interrupted ones from their checkpoints, and retries the failed ones. A failing trial is reported
with its error; the others go on.

`report` gives, per configuration, the final and best greedy evaluation return over seeds as
mean, median and interquartile mean with stratified bootstrap 95% confidence intervals
(rl.stats), in a Markdown table (report.md), plus learning curves with bands
(learning_curves.png) and performance profiles (performance_profile.png).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import itertools
import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from tqdm import tqdm

try:
    import tomllib  # Python 3.11+
except ModuleNotFoundError:  # Python 3.10: JSON sweep files only
    tomllib = None

if __package__ in (None, ""):  # run as `python scripts/sweep.py`: make `scripts.*` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.registry import settings_warnings
from fileio import write_json
from rl import hints, stats
from rl.run import checkpoint_path, metrics_path
from rl.seeding import make_rng
from rl.trials import MARKER, Trial, TrialResult, run_local, run_ray

DEFAULT_ENTRY = "agents.registry:train_settings"
# Flags the sweep sets itself for every trial; a sweep file must not set them.
RESERVED = {"seed", "run_dir", "resume"}
SPEC_FILE = "sweep.json"  # the resolved sweep, written into the sweep folder


@dataclass
class SweepConfig:
    """What to run: a base training config, a grid of values to vary, and seeds."""

    # Name of the sweep; its trials go to <out>/<name>/.
    name: str = "sweep"
    # Training settings shared by every trial, e.g. {"algo": "qlearning", "env": "FrozenLake-v1"}.
    base: dict[str, Any] = field(default_factory=dict)
    # Flags to vary, each with a list of values; every combination is one configuration.
    grid: dict[str, list] = field(default_factory=dict)
    # Training seeds; each configuration runs once per seed.
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    # The training function, "module:function", called as function(run_dir, settings, resume).
    entry: str = DEFAULT_ENTRY
    # Folder that holds the sweep's folder.
    out: str = "runs"


# --- the sweep file and the command line --------------------------------------------------------


def load_sweep_file(path: Path) -> dict[str, Any]:
    """Read a sweep file (.toml or .json) into a dict of SweepConfig fields."""
    if not path.is_file():
        raise SystemExit(f"sweep file {path} does not exist")
    try:
        if path.suffix == ".toml":
            if tomllib is None:
                raise SystemExit("TOML sweep files need Python 3.11+: write the sweep as JSON")
            with open(path, "rb") as f:
                data = tomllib.load(f)
        elif path.suffix == ".json":
            data = json.loads(path.read_text())
        else:
            raise SystemExit(f"sweep file {path} must end in .toml or .json")
    except (ValueError, UnicodeDecodeError) as err:  # TOMLDecodeError and JSONDecodeError
        raise SystemExit(f"sweep file {path} is not valid {path.suffix[1:]}: {err}") from None
    if not isinstance(data, dict):
        raise SystemExit(f"sweep file {path} must hold a table/object at the top level")
    data.setdefault("name", path.stem)
    return data


def parse_value(text: str) -> Any:
    """A command-line value: JSON when it parses (numbers, true/false, lists), else the text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _split_assignment(text: str, option: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise SystemExit(f"{option} takes KEY=VALUE, got {text!r}")
    return key.strip().replace("-", "_"), value


def check_config(cfg: SweepConfig) -> None:
    """Reject sweep configs that cannot run, saying what to change."""
    if not re.fullmatch(r"[A-Za-z0-9._+=-]+", cfg.name):
        raise SystemExit(f"sweep name {cfg.name!r} may only use letters, digits and . _ + = -")
    if not isinstance(cfg.base, dict) or not isinstance(cfg.grid, dict):
        raise SystemExit("'base' and 'grid' must be tables (TOML) or objects (JSON)")
    for key, values in cfg.grid.items():
        if not isinstance(values, list) or not values:
            raise SystemExit(f"grid entry {key!r} must be a non-empty list, got {values!r}")
    clash = (set(cfg.base) | set(cfg.grid)) & RESERVED
    if clash:
        raise SystemExit(
            f"the sweep sets {', '.join(sorted(clash))} itself: remove it from base/grid "
            "(list the seeds under 'seeds')"
        )
    both = set(cfg.base) & set(cfg.grid)
    if both:
        raise SystemExit(f"{', '.join(sorted(both))} is in both base and grid: keep one")
    if not cfg.seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in cfg.seeds):
        raise SystemExit(f"seeds must be a non-empty list of integers, got {cfg.seeds!r}")
    if len(set(cfg.seeds)) != len(cfg.seeds):
        raise SystemExit(f"seeds must be distinct, got {cfg.seeds!r}")


def config_from_args(args: argparse.Namespace) -> SweepConfig:
    """The sweep file (if any), then the command line on top of it."""
    data = load_sweep_file(Path(args.sweep_file)) if args.sweep_file else {}
    known = {f.name for f in dataclasses.fields(SweepConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SystemExit(
            f"unknown sweep file key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    cfg = SweepConfig(**data)
    if isinstance(cfg.base, dict) and isinstance(cfg.grid, dict):  # `total-steps` = total_steps
        cfg.base = {key.replace("-", "_"): value for key, value in cfg.base.items()}
        cfg.grid = {key.replace("-", "_"): value for key, value in cfg.grid.items()}
    for text in args.base:
        key, value = _split_assignment(text, "--base")
        cfg.base[key] = parse_value(value)
    for text in args.grid:
        key, value = _split_assignment(text, "--grid")
        values = parse_value(value) if value.startswith("[") else None
        cfg.grid[key] = values if isinstance(values, list) else [
            parse_value(item) for item in value.split(",")
        ]
    for name in ("name", "seeds", "entry", "out"):
        if getattr(args, name) is not None:
            setattr(cfg, name, getattr(args, name))
    check_config(cfg)
    return cfg


# --- trials -------------------------------------------------------------------------------------


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
    """Every (configuration, seed) of the sweep, configurations in grid order."""
    sweep_dir = Path(cfg.out).resolve() / cfg.name
    keys = list(cfg.grid)
    base = dict(cfg.base)
    if cfg.entry == DEFAULT_ENTRY and "progress" not in cfg.base and "progress" not in cfg.grid:
        base["progress"] = False  # trials log to files: no per-trial progress bars
    trials = []
    for values in itertools.product(*(cfg.grid[key] for key in keys)):
        params = dict(zip(keys, values, strict=True))
        config_name = ",".join(f"{key}={value_label(v)}" for key, v in params.items()) or "base"
        for seed in cfg.seeds:
            name = f"{config_name}/seed={seed}"
            trials.append(
                Trial(
                    name=name,
                    config_name=config_name,
                    params=params,
                    seed=seed,
                    settings={**base, **params, "seed": seed},
                    run_dir=str(sweep_dir / name),
                    entry=cfg.entry,
                )
            )
    names = [trial.name for trial in trials]
    if len(set(names)) != len(names):
        raise SystemExit("two grid values give the same folder name: make the values distinct")
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
                raise SystemExit(
                    f"{run_dir} finished with different settings ({marker.get('settings')}) "
                    f"than this sweep asks for ({trial.settings}): give the sweep a new --name, "
                    "or delete that folder to rerun it"
                )
            finished.append(trial)
        else:
            to_run.append((trial, checkpoint_path(run_dir).is_file()))
    return finished, to_run


# --- reading results ----------------------------------------------------------------------------


def read_eval_curve(run_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """(steps, greedy returns) of the evaluation rows of a run's metrics.csv."""
    path = metrics_path(run_dir)
    steps, returns = [], []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"step", "eval_return_mean"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path} has no column(s) {', '.join(sorted(missing))}")
        for row in reader:
            if row["eval_return_mean"] not in ("", None):
                steps.append(int(float(row["step"])))
                returns.append(float(row["eval_return_mean"]))
    if not steps:
        raise ValueError(f"{path} has no evaluation rows: train with a nonzero --eval-every")
    return np.asarray(steps), np.asarray(returns)


def describe(result: TrialResult, run_dir: Path) -> str:
    """The one line printed when a trial finishes."""
    if result.status != "done":
        return f"FAILED  {result.name}: {result.error}"
    resumed = ", resumed" if result.resumed else ""
    try:
        _, returns = read_eval_curve(run_dir)
        scores = f"final {stats.short(returns[-1])}  best {stats.short(returns.max())}"
    except (OSError, ValueError) as err:
        scores = f"(no scores: {err})"
    return f"done    {result.name}  {scores}  ({result.wall_s:.1f} s{resumed})"


# --- run ----------------------------------------------------------------------------------------


def usable_cores() -> int:
    """Cores this process may run on (a container or taskset may allow fewer than exist)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    trials = expand(cfg)
    sweep_dir = Path(cfg.out).resolve() / cfg.name
    finished, to_run = plan(trials)  # before writing anything: it may refuse the sweep
    sweep_dir.mkdir(parents=True, exist_ok=True)
    write_json(sweep_dir / SPEC_FILE, dataclasses.asdict(cfg))
    resuming = sum(resume for _, resume in to_run)
    print(
        f"sweep {cfg.name}: {len(trials)} trials ({len(trials) // len(cfg.seeds)} configurations"
        f" x {len(cfg.seeds)} seeds); {len(finished)} already done, {resuming} to resume, "
        f"{len(to_run) - resuming} to start; backend {args.backend}"
    )
    if cfg.entry == DEFAULT_ENTRY:  # said once here, not only in every trial's train.log
        said = set()
        for trial in trials:
            for warning in settings_warnings(trial.settings):
                if warning not in said:
                    said.add(warning)
                    print(f"warning: {trial.config_name}: {warning}", file=sys.stderr)
    run_dirs = {trial.name: trial.run_dir for trial in trials}
    workers = min(args.workers or usable_cores(), max(len(to_run), 1))
    # Both backends are generators: nothing starts until the loop below asks for results.
    if args.backend == "local":
        results = run_local(to_run, workers)
    else:
        results = run_ray(to_run, args.address, args.cpus_per_trial, num_cpus=args.workers)
    failed = []
    try:
        with tqdm(total=len(trials), initial=len(finished), desc=cfg.name, unit="trial") as bar:
            for result in results if to_run else ():
                tqdm.write(describe(result, Path(run_dirs[result.name])))
                if result.status != "done":
                    failed.append(result)
                bar.update()
    except KeyboardInterrupt:
        results.close()  # stops the backend's workers now, not at interpreter exit
        print(f"\ninterrupted: rerun the same command to resume the sweep in {sweep_dir}")
        return 130
    print(f"wrote {len(trials)} trial folders under {sweep_dir}")
    if failed:
        print(f"{len(failed)} trial(s) failed (their train.log says more); rerun to retry them:")
        for result in failed:
            print(f"  {result.name}: {result.error}")
        return 1
    print(f"report: {hints.command('sweep.py', 'report', sweep_dir)}")
    return 0


# --- report -------------------------------------------------------------------------------------


@dataclass
class TrialScores:
    """A finished trial's evaluation curve."""

    name: str  # trial name
    config_name: str  # its configuration
    seed: int  # its seed
    steps: np.ndarray  # env steps of the evaluations
    returns: np.ndarray  # mean greedy return at each evaluation
    wall_s: float  # training time in seconds


def collect(sweep_dir: Path) -> tuple[list[TrialScores], list[dict], list[str]]:
    """Finished trials with their curves, failed/unreadable trials, and configurations in order."""
    expected: list[str] = []
    spec_path = sweep_dir / SPEC_FILE
    if spec_path.is_file():
        spec = json.loads(spec_path.read_text())
        spec["out"] = str(sweep_dir.parent)  # the folder may have moved since the sweep ran
        expected = [trial.name for trial in expand(SweepConfig(**spec))]
    markers = {}
    for path in sorted(sweep_dir.rglob(MARKER)):
        marker = read_marker(path.parent)
        if isinstance(marker, dict) and {"name", "status", "config_name"} <= set(marker):
            markers[marker["name"]] = (path.parent, marker)
    finished, problems = [], []
    for name in expected + sorted(set(markers) - set(expected)):
        if name not in markers:
            problems.append({"name": name, "status": "not run", "error": "no trial.json"})
            continue
        run_dir, marker = markers[name]
        if marker["status"] != "done":
            problems.append(marker)
            continue
        try:
            steps, returns = read_eval_curve(run_dir)
        except (OSError, ValueError) as err:
            problems.append({**marker, "status": "unreadable", "error": str(err)})
            continue
        finished.append(
            TrialScores(name, marker["config_name"], marker["seed"], steps, returns,
                        marker["wall_s"])
        )
    configs = list(dict.fromkeys(name.rsplit("/seed=", 1)[0] for name in expected))
    configs += sorted({t.config_name for t in finished} - set(configs))
    return finished, problems, configs


def mean_curve_with_band(
    curves: Sequence[TrialScores], rng: np.random.Generator, reps: int, confidence: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Steps, mean return over seeds, and the bootstrap CI of that mean at each step.

    Seeds may have evaluated at slightly different steps, so each curve is interpolated onto
    the steps of all of them, within the range every seed covers.
    """
    start = max(c.steps[0] for c in curves)
    stop = min(c.steps[-1] for c in curves)
    steps = np.unique(np.concatenate([c.steps for c in curves]))
    steps = steps[(steps >= start) & (steps <= stop)]
    matrix = np.stack([np.interp(steps, c.steps, c.returns) for c in curves])  # (seeds, steps)
    # Resample whole seeds (curves), so each resample is a set of real learning curves.
    resampled = matrix[rng.integers(0, len(curves), size=(reps, len(curves)))]
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(resampled.mean(axis=1), [tail, 100.0 - tail], axis=0)
    return steps, matrix.mean(axis=0), low, high


def plot_learning_curves(
    groups: dict[str, list[TrialScores]], out_png: Path, rng: np.random.Generator,
    reps: int, confidence: float, title: str,
) -> None:
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    for config_name, curves in groups.items():
        steps, mean, low, high = mean_curve_with_band(curves, rng, reps, confidence)
        (line,) = ax.plot(steps, mean, label=f"{config_name} (n={len(curves)})")
        ax.fill_between(steps, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("greedy evaluation return")
    ax.set_title(f"{title}: mean over seeds, {confidence:.0%} bootstrap CI")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)


def plot_performance_profiles(
    scores: dict[str, np.ndarray], out_png: Path, rng: np.random.Generator,
    reps: int, confidence: float, title: str,
) -> None:
    every = np.concatenate(list(scores.values()))
    margin = 0.05 * (every.max() - every.min()) or 0.5
    taus = np.linspace(every.min() - margin, every.max() + margin, 201)
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    for config_name, final in scores.items():
        profile = stats.performance_profile(final, taus)
        low, high = stats.performance_profile_ci(final, taus, rng, reps, confidence)
        (line,) = ax.step(taus, profile, where="post", label=f"{config_name} (n={len(final)})")
        ax.fill_between(taus, low, high, step="post", color=line.get_color(), alpha=0.2,
                        linewidth=0)
    ax.set_xlabel("final greedy return τ")
    ax.set_ylabel("fraction of runs with return > τ")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{title}: performance profiles, {confidence:.0%} bootstrap CI")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)


def markdown_report(
    sweep_name: str, summaries: dict[str, dict[str, dict[str, stats.Estimate]]],
    finished: list[TrialScores], problems: list[dict], reps: int, confidence: float,
) -> str:
    """The report as Markdown: one row per configuration, then one per trial."""
    total = len(finished) + len(problems)
    lines = [
        f"# Sweep {sweep_name}: {len(finished)} of {total} trials finished",
        "",
        "Scores are greedy evaluation returns (`eval_return_mean` in each run's metrics): "
        "*final* is a run's last evaluation, *best* its highest. Each cell is the statistic over "
        f"seeds with its {confidence:.0%} stratified bootstrap confidence interval "
        f"({reps} resamples). IQM: interquartile mean.",
        "",
        "| configuration | runs | final mean | final median | final IQM "
        "| best mean | best median | best IQM |",
        "|---|---:|---|---|---|---|---|---|",
    ]
    for config_name, summary in summaries.items():
        runs = sum(t.config_name == config_name for t in finished)
        estimates = [summary[kind][stat] for kind in ("final", "best")
                     for stat in ("mean", "median", "iqm")]
        # One run has no spread to resample: show its score alone, not a [x, x] interval.
        cells = [str(e) if runs > 1 else stats.short(e.value) for e in estimates]
        lines.append(f"| {config_name} | {runs} | " + " | ".join(cells) + " |")
    if any(sum(t.config_name == c for t in finished) == 1 for c in summaries):
        lines += ["", "A configuration with a single run has no confidence interval."]
    lines += ["", "## Trials", "", "| trial | status | final | best | last step | wall s |",
              "|---|---|---:|---:|---:|---:|"]
    for t in finished:
        lines.append(
            f"| {t.name} | done | {stats.short(t.returns[-1])} | {stats.short(t.returns.max())} "
            f"| {t.steps[-1]} "
            f"| {t.wall_s:.1f} |"
        )
    for problem in problems:
        error = str(problem.get("error", "")).replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {problem['name']} | {problem['status']}: {error} | | | | |")
    return "\n".join(lines) + "\n"


def report(args: argparse.Namespace) -> int:
    sweep_dir = Path(args.sweep_dir)
    if not 0.0 < args.confidence < 1.0:
        raise SystemExit(f"--confidence must be between 0 and 1 (e.g. 0.95), got {args.confidence}")
    if not sweep_dir.is_dir():
        raise SystemExit(f"{sweep_dir} is not a folder: pass the sweep's folder, e.g. runs/NAME")
    finished, problems, configs = collect(sweep_dir)
    if not finished:
        raise SystemExit(f"no finished trials under {sweep_dir}: run the sweep first")
    rng = make_rng(args.bootstrap_seed)
    groups = {c: [t for t in finished if t.config_name == c] for c in configs}
    groups = {c: curves for c, curves in groups.items() if curves}
    summaries = {}
    for config_name, curves in groups.items():
        final = np.array([t.returns[-1] for t in curves])
        best = np.array([t.returns.max() for t in curves])
        summaries[config_name] = {
            "final": stats.summarize(final, rng, args.reps, args.confidence),
            "best": stats.summarize(best, rng, args.reps, args.confidence),
        }
    text = markdown_report(sweep_dir.name, summaries, finished, problems, args.reps,
                           args.confidence)
    (sweep_dir / "report.md").write_text(text)
    write_json(
        sweep_dir / "report.json",
        {c: {kind: {stat: dataclasses.asdict(e) for stat, e in by_stat.items()}
             for kind, by_stat in summary.items()} for c, summary in summaries.items()},
    )
    plot_learning_curves(groups, sweep_dir / "learning_curves.png", rng, args.reps // 4 or 1,
                         args.confidence, sweep_dir.name)
    finals = {c: np.array([t.returns[-1] for t in curves]) for c, curves in groups.items()}
    plot_performance_profiles(finals, sweep_dir / "performance_profile.png", rng,
                              args.reps // 4 or 1, args.confidence, sweep_dir.name)
    print(text)
    for name in ("report.md", "report.json", "learning_curves.png", "performance_profile.png"):
        print(f"wrote {sweep_dir / name}")
    return 0


# --- command line -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sweep.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run_parser = commands.add_parser(
        "run", help="run (or resume) a sweep",
        description="Run every configuration x seed of a sweep; rerun to resume it.",
    )
    run_parser.add_argument("sweep_file", nargs="?", help="sweep file (.toml or .json)")
    run_parser.add_argument("--name", help="sweep name (default: the file's name key or stem)")
    run_parser.add_argument("--base", action="append", default=[], metavar="KEY=VALUE",
                            help="training setting shared by all trials, e.g. total_steps=5000")
    run_parser.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                            help="setting to vary, e.g. alpha=0.05,0.1 or 'hidden=[[64],[64,64]]'")
    run_parser.add_argument("--seeds", type=int, nargs="+", help="training seeds (default 0 1 2)")
    run_parser.add_argument("--entry", help=f"training function (default {DEFAULT_ENTRY})")
    run_parser.add_argument("--out", help="folder that holds the sweep folder (default runs)")
    run_parser.add_argument("--backend", choices=("local", "ray"), default="local",
                            help="local process pool (default) or Ray tasks")
    run_parser.add_argument("--workers", type=_positive_int,
                            help="local: processes (default: one per core); ray without "
                                 "--address: CPUs of the local Ray instance")
    run_parser.add_argument("--address",
                            help="ray: address of a running cluster (e.g. auto or "
                                 "ray://host:10001); default: start a local Ray instance")
    run_parser.add_argument("--cpus-per-trial", type=_positive_float, default=1.0,
                            help="ray: CPUs each trial asks for (default 1)")
    run_parser.set_defaults(handler=run)

    report_parser = commands.add_parser(
        "report", help="aggregate a sweep's results",
        description="Per configuration: final and best greedy return, mean/median/IQM with "
                    "stratified bootstrap CIs; learning curves; performance profiles.",
    )
    report_parser.add_argument("sweep_dir", help="the sweep's folder, e.g. runs/NAME")
    report_parser.add_argument("--reps", type=_positive_int, default=2000,
                               help="bootstrap resamples (default 2000)")
    report_parser.add_argument("--confidence", type=float, default=0.95,
                               help="confidence level of the intervals (default 0.95)")
    report_parser.add_argument("--bootstrap-seed", type=int, default=0,
                               help="seed of the bootstrap's generator (default 0)")
    report_parser.set_defaults(handler=report)
    return parser


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except SystemExit as exit_:
        if isinstance(exit_.code, str):  # the sweep's own usage errors: argparse's status, 2
            print(f"sweep.py: error: {exit_.code}", file=sys.stderr)
            return 2
        raise
    except OSError as err:  # e.g. a read-only --out
        print(f"sweep.py: error: cannot write {err.filename}: {err.strerror or err}. Choose a "
              "writable --out folder", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
