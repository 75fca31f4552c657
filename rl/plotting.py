"""Learning curves of one or several runs: mean over seeds with a shaded band.

Runs with the same algorithm and environment (read from each run's config.json), or the same
label where labels are given, form one curve: several seeds give their mean and a band of ± one
standard deviation across seeds; where the runs of a curve end at different steps, the curve
covers only the steps all of them reached, and a warning names the runs that end early. A
single run shows its curve; on the evaluation panel its band is the spread over the evaluation
episodes instead. Each environment gets its own row of panels, since returns of different
environments are not comparable. Uses matplotlib's object API (no pyplot), so it never needs a
display.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from fileio import atomic_write
from rl.logging import EVAL_RETURN, EVAL_WIN_RATE, read_metrics
from rl.run import CONFIG_NAME, metrics_path, read_config

_GRID_POINTS = 200  # x positions at which several runs' curves are averaged
_SHORT_RUN = 0.95  # a run that ends before this share of its curve's longest run is named


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average; the first points average over what exists so far."""
    if window <= 1 or len(values) == 0:
        return np.asarray(values, dtype=np.float64)
    cumulative = np.cumsum(np.insert(np.asarray(values, dtype=np.float64), 0, 0.0))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - window, 0)
    return (cumulative[ends] - cumulative[starts]) / (ends - starts)


def _run_label(run_dir: Path) -> tuple[str, str]:
    """(algorithm, env id) from config.json, or the folder name when there is none."""
    try:
        config = read_config(run_dir)
    except (FileNotFoundError, ValueError):
        return run_dir.name, ""
    return config.algo, config.env_id


def _mean_band(curves: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, ...]:
    """Mean and std of several (x, y) curves over the x range they share.

    Curves logged at the same steps (evaluations of same-config seeds) are averaged point by
    point; otherwise they are interpolated onto an even grid of the shared range.
    """
    if len(curves) == 1:
        x, y = curves[0]
        return x, y, np.zeros_like(y)
    first_x = curves[0][0]
    if all(len(x) == len(first_x) and np.array_equal(x, first_x) for x, _ in curves):
        ys = np.stack([y for _, y in curves])
        return first_x, ys.mean(axis=0), ys.std(axis=0)
    low = max(x[0] for x, _ in curves)
    high = min(x[-1] for x, _ in curves)
    grid = np.linspace(low, high, _GRID_POINTS) if high > low else np.array([low])
    ys = np.stack([np.interp(grid, x, y) for x, y in curves])
    return grid, ys.mean(axis=0), ys.std(axis=0)


def _warn_if_some_end_early(key: tuple[str, str], runs: list[dict[str, np.ndarray]]) -> None:
    """Warn when the runs of one curve end at different steps: their mean stops at the first."""
    steps = [metrics.get("step") for metrics in runs]
    ends = [float(np.nanmax(step)) for step in steps if step is not None and len(step)]
    if len(ends) < 2:
        return
    longest = max(ends)
    short = sorted(end for end in ends if end < _SHORT_RUN * longest)
    if short:
        name, env = key
        at = ", ".join(f"{end:,.0f}" for end in short)
        warnings.warn(
            f"{name} on {env or 'its environment'}: {len(short)} of {len(ends)} runs end "
            f"before step {longest:,.0f} (at {at}), so their mean curve stops at step "
            f"{min(ends):,.0f}; plot the longer runs alone, or give each run its own label, "
            "to see their whole length", UserWarning, stacklevel=3)


def _has(groups: dict, column: str) -> bool:
    return any(
        np.isfinite(metrics[column]).any()
        for runs in groups.values()
        for metrics in runs
        if column in metrics
    )


def _draw(
    axis,
    groups: dict[tuple[str, str], list[dict[str, np.ndarray]]],
    label,
    colour,
    column: str,
    smooth_window: int = 1,
    spread_column: str | None = None,
    markers: bool = False,
) -> int:
    """One curve (mean ± std band over runs) of `column` per group; returns how many it drew.

    `colour(key)` gives each group its colour, so a group looks the same in every panel.
    """
    drawn = 0
    for key, runs in groups.items():
        curves, spreads = [], []
        for metrics in runs:
            values = metrics.get(column)
            rows = np.isfinite(values) if values is not None else None
            if rows is None or not rows.any():
                continue
            curves.append((metrics["step"][rows], smooth(values[rows], smooth_window)))
            if spread_column in metrics:
                spreads.append(metrics[spread_column][rows])
        if not curves:
            continue
        x, mean, std = _mean_band(curves)
        if len(curves) == 1 and spreads:
            std = spreads[0]  # one run: show the spread over its evaluation episodes
        style = {"marker": "o", "markersize": 3} if markers else {}
        axis.plot(x, mean, label=label(key, len(curves)), color=colour(key), **style)
        if np.any(std > 0):
            axis.fill_between(x, mean - std, mean + std, color=colour(key), alpha=0.2)
        drawn += 1
    axis.set_xlabel("environment step")
    axis.grid(alpha=0.3)
    if drawn:
        axis.legend(loc="best", fontsize="small")
    return drawn


def learning_curves_figure(
    run_dirs: Sequence[str | Path],
    smooth_episodes: int = 20,
    title: str | None = None,
    win_rate_references: Mapping[str, float] | None = None,
    reference_label: str = "planner",
    labels: Sequence[str] | None = None,
) -> Figure:
    """The figure `plot_learning_curves` saves: one row of panels per environment.

    Columns: training-episode returns (smoothed), greedy evaluation returns and, when any run
    logged it, the greedy win rate; a row whose runs lack a column leaves that panel empty.
    `win_rate_references` maps an env id to a win rate drawn as a dashed line, labelled
    `reference_label`, in that row's win-rate panel (e.g. what scripts/pacman_planner.py wins).
    Runs of different environments never share an axis (their returns are not comparable),
    and an algorithm keeps one colour in every panel and row. `labels`, one per run, replace
    the algorithm as the name that groups runs into a curve (e.g. "preset" and "no PER" for
    runs of one algorithm with different settings).
    """
    if not run_dirs:
        raise ValueError("plot_learning_curves needs at least one run directory")
    if labels is not None and len(labels) != len(run_dirs):
        raise ValueError(f"{len(labels)} labels for {len(run_dirs)} runs: give one label per "
                         "run, in the order of the runs, or none")
    groups: dict[tuple[str, str], list[dict[str, np.ndarray]]] = {}
    for i, run_dir in enumerate(map(Path, run_dirs)):
        path = metrics_path(run_dir)
        if not path.is_file():
            raise FileNotFoundError(
                f"{run_dir} has no {path.name}; is it a run folder written by scripts/train.py?"
            )
        algo, env_id = _run_label(run_dir)
        key = (labels[i] if labels is not None else algo, env_id)
        groups.setdefault(key, []).append(read_metrics(path))
    for key, runs in groups.items():
        _warn_if_some_end_early(key, runs)
    has_episodes = _has(groups, "episode_return")
    has_eval = _has(groups, EVAL_RETURN)
    has_wins = _has(groups, EVAL_WIN_RATE)
    if not has_episodes and not has_eval:
        raise ValueError(f"nothing logged yet in {', '.join(map(str, run_dirs))}")
    references = dict(win_rate_references or {})
    unknown = sorted(set(references) - {env for _, env in groups})
    if unknown:
        raise ValueError(f"a win-rate reference names {', '.join(unknown)}, which none of the "
                         f"runs trained on; give the runs' env ids (env_id in their {CONFIG_NAME})")

    envs = list(dict.fromkeys(env for _, env in groups))  # in the order the runs were given
    names = list(dict.fromkeys(name for name, _ in groups))  # algorithms, or the labels
    cycle = [f"C{i}" for i in range(10)]  # matplotlib's default colour cycle, by name

    def colour(key: tuple[str, str]) -> str:
        return cycle[names.index(key[0]) % len(cycle)]

    def label(key: tuple[str, str], n_runs: int) -> str:
        return f"{key[0]} ({n_runs} runs, mean ± std)" if n_runs > 1 else key[0]

    panels = 1 + has_eval + has_wins
    figure = Figure(figsize=(1.0 + 5.0 * panels, 0.6 + 3.8 * len(envs)), layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.subplots(len(envs), panels, squeeze=False)
    for env, row in zip(envs, grid, strict=True):
        env_groups = {key: runs for key, runs in groups.items() if key[1] == env}
        prefix = f"{env or 'unknown environment'}: " if len(envs) > 1 else ""
        axes = list(row)
        train_axis = axes.pop(0)
        if not _draw(train_axis, env_groups, label, colour, "episode_return",
                     smooth_window=smooth_episodes):
            train_axis.text(0.5, 0.5, "no episode finished yet", ha="center",
                            transform=train_axis.transAxes)
        train_axis.set_title(f"{prefix}training episodes (moving average of {smooth_episodes})")
        train_axis.set_ylabel("episode return")
        if has_eval:
            eval_axis = axes.pop(0)
            _draw(eval_axis, env_groups, label, colour, EVAL_RETURN,
                  spread_column="eval_return_std", markers=True)
            eval_axis.set_title(f"{prefix}greedy evaluation (mean return ± std)")
            eval_axis.set_ylabel("evaluation return")
        if has_wins:
            win_axis = axes.pop(0)
            if _draw(win_axis, env_groups, label, colour, EVAL_WIN_RATE, markers=True):
                win_axis.set_title(f"{prefix}greedy evaluation (win rate)")
                win_axis.set_ylabel("win rate")
                win_axis.set_ylim(-0.02, 1.02)
                if env in references:
                    win_axis.axhline(references[env], color="0.3", linestyle="--",
                                     label=f"{reference_label} ({references[env]:.2f})")
                    win_axis.legend(fontsize="small", loc="lower right")
            else:
                win_axis.set_axis_off()  # this environment has no win rate to show
    if title is None:
        one_env = len(envs) == 1 and envs[0]
        title = envs[0] if one_env else f"Learning curves of {len(run_dirs)} runs"
    figure.suptitle(title)
    return figure


def plot_learning_curves(
    run_dirs: Sequence[str | Path],
    out_png: str | Path,
    smooth_episodes: int = 20,
    title: str | None = None,
    win_rate_references: Mapping[str, float] | None = None,
    reference_label: str = "planner",
    labels: Sequence[str] | None = None,
) -> Path:
    """Write a PNG of training-episode returns (smoothed), greedy evaluation returns and, for
    the Pac-Man game, the greedy win rate; see `learning_curves_figure`.

    x is the environment step; runs with the same algo and env are averaged with a ± std band.
    """
    figure = learning_curves_figure(run_dirs, smooth_episodes, title, win_rate_references,
                                    reference_label, labels)
    out_png = Path(out_png)
    with atomic_write(out_png) as f:
        figure.savefig(f, format="png", dpi=110)
    return out_png
