"""A sweep's report: per configuration, the final and best greedy score over seeds.

The score is the greedy evaluation's win rate where every run reports one (the Pac-Man game),
else its return (`METRICS`; `write_report(metric=...)` chooses). Mean, median and interquartile
mean with stratified bootstrap confidence intervals (rl.stats), in a Markdown table (report.md)
and as JSON (report.json), plus learning curves with bands (learning_curves.png) and
performance profiles (performance_profile.png), all written into the sweep's folder by
`write_report`.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from fileio import write_json
from rl import stats
from rl.logging import EVAL_RETURN, EVAL_WIN_RATE
from rl.run import config_path, metrics_path
from rl.seeding import make_rng
from rl.sweep import SPEC_FILE, SweepConfig, SweepError, expand, read_eval_curve, read_marker
from rl.trials import MARKER

REPORT_FILES = ("report.md", "report.json", "learning_curves.png", "performance_profile.png")


@dataclass(frozen=True)
class Metric:
    """A score the report can rank runs by: a column of the runs' evaluation rows."""

    column: str  # in metrics.csv
    label: str  # what the tables and axes call it


METRICS = {
    "return": Metric(EVAL_RETURN, "greedy evaluation return"),
    "win_rate": Metric(EVAL_WIN_RATE, "greedy win rate"),
}


@dataclass
class TrialScores:
    """A finished trial's evaluation curve."""

    name: str  # trial name
    config_name: str  # its configuration
    seed: int  # its seed
    steps: np.ndarray  # env steps of the evaluations
    scores: np.ndarray  # the metric (say the mean greedy return) at each evaluation
    wall_s: float  # training time in seconds


def trial_markers(sweep_dir: Path) -> dict[str, tuple[Path, dict]]:
    """The sweep's trial markers by trial name: (run folder, marker), whatever their status."""
    markers = {}
    for path in sorted(sweep_dir.rglob(MARKER)):
        marker = read_marker(path.parent)
        if isinstance(marker, dict) and {"name", "status", "config_name"} <= set(marker):
            markers[marker["name"]] = (path.parent, marker)
    return markers


def default_metric(sweep_dir: Path) -> str:
    """"win_rate" when every finished run's metrics.csv has a win-rate column, else "return"."""
    done = [run_dir for run_dir, marker in trial_markers(sweep_dir).values()
            if marker["status"] == "done"]

    def has_wins(run_dir: Path) -> bool:
        try:
            with open(metrics_path(run_dir), newline="") as f:
                return METRICS["win_rate"].column in (csv.DictReader(f).fieldnames or [])
        except OSError:
            return False

    return "win_rate" if done and all(has_wins(run_dir) for run_dir in done) else "return"


def collect(sweep_dir: Path, metric: Metric = METRICS["return"]
            ) -> tuple[list[TrialScores], list[dict], list[str]]:
    """Finished trials with their curves of `metric`, failed/unreadable trials, and
    configurations in order."""
    expected: list[str] = []
    spec_path = sweep_dir / SPEC_FILE
    if spec_path.is_file():
        spec = json.loads(spec_path.read_text())
        spec["out"] = str(sweep_dir.parent)  # the folder may have moved since the sweep ran
        expected = [trial.name for trial in expand(SweepConfig(**spec))]
    markers = trial_markers(sweep_dir)
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
            steps, scores = read_eval_curve(run_dir, metric.column)
        except (OSError, ValueError) as err:
            problems.append({**marker, "status": "unreadable", "error": str(err)})
            continue
        finished.append(
            TrialScores(name, marker["config_name"], marker["seed"], steps, scores,
                        marker["wall_s"])
        )
    configs = list(dict.fromkeys(name.rsplit("/seed=", 1)[0] for name in expected))
    configs += sorted({t.config_name for t in finished} - set(configs))
    return finished, problems, configs


def mean_curve_with_band(
    curves: Sequence[TrialScores], rng: np.random.Generator, reps: int, confidence: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Steps, mean score over seeds, and the bootstrap CI of that mean at each step.

    Seeds may have evaluated at slightly different steps, so each curve is interpolated onto
    the steps of all of them, within the range every seed covers.
    """
    start = max(c.steps[0] for c in curves)
    stop = min(c.steps[-1] for c in curves)
    steps = np.unique(np.concatenate([c.steps for c in curves]))
    steps = steps[(steps >= start) & (steps <= stop)]
    matrix = np.stack([np.interp(steps, c.steps, c.scores) for c in curves])  # (seeds, steps)
    # Resample whole seeds (curves), so each resample is a set of real learning curves.
    resampled = matrix[rng.integers(0, len(curves), size=(reps, len(curves)))]
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(resampled.mean(axis=1), [tail, 100.0 - tail], axis=0)
    return steps, matrix.mean(axis=0), low, high


def plot_learning_curves(
    groups: dict[str, list[TrialScores]], out_png: Path, rng: np.random.Generator,
    reps: int, confidence: float, title: str, metric: Metric = METRICS["return"],
    references: Sequence[tuple[str, float]] = (),
) -> None:
    """Each configuration's mean curve with its band; each reference (say a planner's win
    rate) as a dashed level line."""
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    for config_name, curves in groups.items():
        steps, mean, low, high = mean_curve_with_band(curves, rng, reps, confidence)
        (line,) = ax.plot(steps, mean, label=f"{config_name} (n={len(curves)})")
        ax.fill_between(steps, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    for i, (label, value) in enumerate(references):
        ax.axhline(value, color="black", linestyle=("--", ":", "-.")[i % 3], linewidth=1,
                   label=label)
    ax.set_xlabel("environment steps")
    ax.set_ylabel(metric.label)
    _finish(fig, ax, f"{title}: mean over seeds, {confidence:.0%} bootstrap CI", out_png)


def plot_performance_profiles(
    scores: dict[str, np.ndarray], out_png: Path, rng: np.random.Generator,
    reps: int, confidence: float, title: str, metric: Metric = METRICS["return"],
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
    ax.set_xlabel(f"final {metric.label} τ")
    ax.set_ylabel("fraction of runs scoring > τ")
    ax.set_ylim(-0.02, 1.02)
    _finish(fig, ax, f"{title}: performance profiles, {confidence:.0%} bootstrap CI", out_png)


def _finish(fig: Figure, ax, title: str, out_png: Path) -> None:
    """Title, grid and legend of a report plot; then save it."""
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)


def markdown_report(
    sweep_name: str, summaries: dict[str, dict[str, dict[str, stats.Estimate]]],
    finished: list[TrialScores], problems: list[dict], reps: int, confidence: float,
    metric: Metric = METRICS["return"], references: Sequence[tuple[str, float]] = (),
) -> str:
    """The report as Markdown: one row per configuration, then one per trial."""
    total = len(finished) + len(problems)
    lines = [
        f"# Sweep {sweep_name}: {len(finished)} of {total} trials finished",
        "",
        f"Scores are each evaluation's {metric.label} (`{metric.column}` in each run's "
        "metrics): "
        "*final* is a run's last evaluation, *best* its highest. Each cell is the statistic over "
        f"seeds with its {confidence:.0%} stratified bootstrap confidence interval "
        f"({reps} resamples). IQM: interquartile mean.",
        *[f"Reference, {label}: {stats.short(value)}." for label, value in references],
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
            f"| {t.name} | done | {stats.short(t.scores[-1])} | {stats.short(t.scores.max())} "
            f"| {t.steps[-1]} "
            f"| {t.wall_s:.1f} |"
        )
    for problem in problems:
        error = str(problem.get("error", "")).replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {problem['name']} | {problem['status']}: {error} | | | | |")
    return "\n".join(lines) + "\n"


def write_report(sweep_dir: str | Path, reps: int = 2000, confidence: float = 0.95,
                 bootstrap_seed: int = 0, metric: str | None = None,
                 references: Sequence[tuple[str, float]] = ()) -> tuple[str, list[Path]]:
    """Write the report of the sweep in `sweep_dir` into it: (the Markdown text, the files).

    reps: bootstrap resamples (a quarter of them for the bands of the plots); confidence: the
    level of the intervals; bootstrap_seed: the seed of the bootstrap's generator; metric: a
    key of METRICS (None: `default_metric`); references: (label, score) level lines drawn
    with the learning curves and named in the table (say the planner's win rate).
    """
    sweep_dir = Path(sweep_dir)
    if not 0.0 < confidence < 1.0:
        raise SweepError(f"--confidence must be between 0 and 1 (e.g. 0.95), got {confidence}")
    if not sweep_dir.is_dir():
        raise SweepError(f"{sweep_dir} is not a folder: pass the sweep's folder, e.g. runs/NAME")
    if metric is None:
        metric = default_metric(sweep_dir)
    if metric not in METRICS:
        raise SweepError(f"--metric must be one of {', '.join(METRICS)}, got {metric!r}")
    scored = METRICS[metric]
    finished, problems, configs = collect(sweep_dir, scored)
    if not finished:
        raise SweepError(f"no finished trials under {sweep_dir}: run the sweep first")
    rng = make_rng(bootstrap_seed)
    groups = {c: [t for t in finished if t.config_name == c] for c in configs}
    groups = {c: curves for c, curves in groups.items() if curves}
    summaries = {}
    for config_name, curves in groups.items():
        final = np.array([t.scores[-1] for t in curves])
        best = np.array([t.scores.max() for t in curves])
        summaries[config_name] = {
            "final": stats.summarize(final, rng, reps, confidence),
            "best": stats.summarize(best, rng, reps, confidence),
        }
    text = markdown_report(sweep_dir.name, summaries, finished, problems, reps, confidence,
                           scored, references)
    (sweep_dir / "report.md").write_text(text)
    write_json(
        sweep_dir / "report.json",
        {c: {kind: {stat: dataclasses.asdict(e) for stat, e in by_stat.items()}
             for kind, by_stat in summary.items()} for c, summary in summaries.items()},
    )
    plot_learning_curves(groups, sweep_dir / "learning_curves.png", rng, reps // 4 or 1,
                         confidence, sweep_dir.name, scored, references)
    finals = {c: np.array([t.scores[-1] for t in curves]) for c, curves in groups.items()}
    plot_performance_profiles(finals, sweep_dir / "performance_profile.png", rng,
                              reps // 4 or 1, confidence, sweep_dir.name, scored)
    return text, [sweep_dir / name for name in REPORT_FILES]


def archive(sweep_dir: str | Path, dest: str | Path) -> list[str]:
    """Copy what a report reads of the sweep in `sweep_dir` into `dest`: sweep.json and, for each
    finished trial, its trial.json, config.json and the evaluation rows of its metrics.csv (no
    checkpoints, no per-episode rows). The copy reports like the sweep (`write_report`) and,
    put back under runs/, lets a rerun on another machine skip those trials. Returns the names
    of the trials copied."""
    sweep_dir, dest = Path(sweep_dir), Path(dest)
    if not (sweep_dir / SPEC_FILE).is_file():
        raise SweepError(f"{sweep_dir} has no {SPEC_FILE}: pass a sweep's folder, e.g. runs/NAME")
    if dest.resolve() == sweep_dir.resolve():
        raise SweepError("the archive must go to another folder than the sweep's own")
    copied = []
    for run_dir, marker in trial_markers(sweep_dir).values():
        if marker["status"] != "done":
            continue
        out = dest / run_dir.relative_to(sweep_dir)
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run_dir / MARKER, out / MARKER)
        shutil.copyfile(config_path(run_dir), config_path(out))
        with open(metrics_path(run_dir), newline="") as f, \
                open(metrics_path(out), "w", newline="") as g:
            reader = csv.DictReader(f)
            writer = csv.DictWriter(g, fieldnames=reader.fieldnames or [])
            writer.writeheader()
            writer.writerows(row for row in reader if row.get(EVAL_RETURN))
        copied.append(marker["name"])
    shutil.copyfile(sweep_dir / SPEC_FILE, dest / SPEC_FILE)
    return copied
