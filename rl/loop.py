"""The training loop shared by every agent: act, step, observe, evaluate, log, checkpoint.

One loop, step-based, for any agent that follows `rl.protocol.Agent`:

    for each environment step:
        action = agent.act(obs)                       # the agent explores
        next_obs, reward, terminated, truncated = env.step(action)
        metrics = agent.observe(obs, action, ...)     # the agent stores / learns
        every `log_every` steps: a row of averaged agent metrics
        every `eval_every` steps: greedy evaluation on `eval_env`
        at an episode end, every `checkpoint_every` steps: a checkpoint

Exact resume. Every episode starts with `env.reset(seed=episode_seed(rng))`, and checkpoints are
only taken at episode ends, so the state of a run at a checkpoint is fully described by the
agent's `state_dict()` (which includes its own rng), the loop's counters and the loop rng's
state; no environment state has to be saved. Resuming restores those, drops the metrics.csv
rows written after the checkpoint, and replays the same steps as the run that was interrupted.
The final checkpoint at `total_steps` may fall inside an episode: extending a finished run
starts a fresh episode there (an interrupted run, resumed, does not have that difference).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import RecordEpisodeStatistics
from tqdm import tqdm

from rl.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from rl.evaluate import evaluate
from rl.logging import CsvLogger, make_tensorboard_writer, read_rows
from rl.protocol import Agent
from rl.seeding import episode_seed, make_rng, rng_state, set_rng_state

CHECKPOINT_NAME = "checkpoint.npz"
METRICS_NAME = "metrics.csv"
_EVAL_STREAM = 1  # evaluation seeds come from make_rng([seed, _EVAL_STREAM, step])
_RECENT_EPISODES = 20  # episodes averaged in the progress bar's "return"


@dataclass
class LoopConfig:
    """How long to train and how often to evaluate, log and checkpoint (all in env steps)."""

    # Environment steps to train for.
    total_steps: int = 100_000
    # Steps between greedy evaluations on the eval env (0: only once, at the end).
    eval_every: int = 10_000
    # Greedy episodes per evaluation.
    eval_episodes: int = 10
    # Steps between checkpoints, taken at the next episode end (0: only at the end of training).
    checkpoint_every: int = 10_000
    # Steps between rows of averaged agent metrics (loss, epsilon, ...) in metrics.csv.
    log_every: int = 1_000
    # Seed of the loop's rng (the episode seeds) and of the evaluation episodes.
    seed: int = 0
    # Show a tqdm progress bar with steps/s and the recent episode return.
    progress: bool = True
    # Continue from run_dir/checkpoint.npz instead of starting a fresh run.
    resume: bool = False

    def __post_init__(self) -> None:
        if self.total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {self.total_steps}")
        if self.eval_episodes < 1:
            raise ValueError(f"eval_episodes must be >= 1, got {self.eval_episodes}")
        for name in ("eval_every", "checkpoint_every", "log_every"):
            value = getattr(self, name)
            if value < 0:
                raise ValueError(f"{name} must be >= 0 steps (0 disables), got {value}")


class NonFiniteMetricError(FloatingPointError):
    """An agent metric (e.g. the loss) became NaN or infinite: training diverged."""


@dataclass
class History:
    """What a run logged: every metrics.csv row (non-empty cells as floats) and the counters."""

    rows: list[dict[str, float]]
    steps: int
    episodes: int
    elapsed_s: float

    @property
    def episode_returns(self) -> list[float]:
        return [row["episode_return"] for row in self.rows if "episode_return" in row]

    @property
    def evaluations(self) -> list[dict[str, float]]:
        return [row for row in self.rows if "eval_return_mean" in row]


@dataclass
class _LoopState:
    """The loop's counters; saved in every checkpoint's metadata."""

    step: int = 0
    episode: int = 0
    elapsed_s: float = 0.0
    last_eval_step: int = -1
    last_checkpoint_step: int | None = None
    # Sums and counts of each agent metric since the last metrics row (averaged when written).
    metric_sums: dict[str, float] = field(default_factory=dict)
    metric_counts: dict[str, int] = field(default_factory=dict)


def train(
    env: gym.Env,
    agent: Agent,
    cfg: LoopConfig,
    run_dir: str | Path,
    eval_env: gym.Env | None = None,
    rng: np.random.Generator | None = None,
) -> History:
    """Train `agent` on `env` for `cfg.total_steps` steps; logs and checkpoints under `run_dir`.

    `rng` draws the episode seeds (default `make_rng(cfg.seed)`); on resume its state is
    restored from the checkpoint. Without `eval_env` there is no greedy evaluation. Raises
    NonFiniteMetricError if an agent metric becomes NaN/Inf (the last checkpoint is kept).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    rng = rng if rng is not None else make_rng(cfg.seed)
    env = _with_episode_statistics(env)
    checkpoint_path = run_dir / CHECKPOINT_NAME
    metrics_path = run_dir / METRICS_NAME

    if cfg.resume:
        state, csv_rows = _restore(checkpoint_path, agent, rng, env)
        if state.step > cfg.total_steps:
            raise ValueError(
                f"{checkpoint_path} is at step {state.step}, beyond total_steps "
                f"{cfg.total_steps}; resume with a larger total_steps (--total-steps)"
            )
        logger = CsvLogger(metrics_path, keep_rows=csv_rows)
        rows = read_rows(metrics_path)
    else:
        if checkpoint_path.exists():
            raise FileExistsError(
                f"{checkpoint_path} already exists: resume that run (resume=True / --resume "
                f"{run_dir}) or choose another run directory"
            )
        if metrics_path.exists():
            raise FileExistsError(
                f"{metrics_path} already exists (from a run that wrote no checkpoint): delete it "
                "or choose another run directory"
            )
        state, logger, rows = _LoopState(), CsvLogger(metrics_path), []

    tensorboard = make_tensorboard_writer(run_dir, purge_step=state.step or None)
    recent_returns: list[float] = [r["episode_return"] for r in rows if "episode_return" in r]
    recent_returns = recent_returns[-_RECENT_EPISODES:]
    bar = tqdm(
        total=cfg.total_steps,
        initial=state.step,
        unit="step",
        disable=not cfg.progress,
        dynamic_ncols=True,
    )
    evaluations = [r["eval_return_mean"] for r in rows if "eval_return_mean" in r]
    last_eval_mean = evaluations[-1] if evaluations else None  # shown in the progress bar
    started = time.perf_counter() - state.elapsed_s
    last_postfix = 0.0

    def log(row: dict[str, Any]) -> None:
        row = {"step": state.step, **row, "time_s": round(time.perf_counter() - started, 3)}
        logger.log(row)
        rows.append({k: float(v) for k, v in row.items()})
        if tensorboard is not None:
            for key, value in row.items():
                if key != "step":
                    tensorboard.add_scalar(key, value, state.step)

    def run_evaluation() -> None:
        nonlocal last_eval_mean
        eval_rng = make_rng([cfg.seed, _EVAL_STREAM, state.step])
        result = evaluate(eval_env, agent, cfg.eval_episodes, eval_rng)
        state.last_eval_step = state.step
        extra = {f"eval_{k}": v for k, v in result.items() if k in ("win_rate", "mean_score")}
        log(
            {
                "episode": state.episode,
                "eval_return_mean": result["return_mean"],
                "eval_return_std": result["return_std"],
                "eval_length_mean": result["length_mean"],
                **extra,
            }
        )
        last_eval_mean = result["return_mean"]
        bar.set_postfix(_postfix(recent_returns, last_eval_mean), refresh=False)

    def write_metric_means() -> None:
        if state.metric_counts:
            means = {k: state.metric_sums[k] / state.metric_counts[k] for k in state.metric_sums}
            log({"episode": state.episode, **means})
            state.metric_sums, state.metric_counts = {}, {}

    def checkpoint(episode_boundary: bool) -> None:
        state.elapsed_s = time.perf_counter() - started
        logger.flush()
        _save(checkpoint_path, agent, rng, env, state, logger.rows_written, episode_boundary)
        state.last_checkpoint_step = state.step

    obs = None
    try:
        while state.step < cfg.total_steps:
            if obs is None:
                obs, _ = env.reset(seed=episode_seed(rng))
            action = agent.act(obs)
            next_obs, reward, terminated, truncated, info = env.step(action)
            try:
                metrics = agent.observe(obs, action, reward, next_obs, terminated, truncated)
            except FloatingPointError as err:
                what = f"the agent raised {type(err).__name__}: {err}"
                raise _diverged(what, state.step + 1, state, run_dir) from err
            state.step += 1
            bar.update(1)
            for key, value in metrics.items():
                value = float(value)
                if not math.isfinite(value):
                    what = f"agent metric {key!r} is {value}"
                    raise _diverged(what, state.step, state, run_dir)
                state.metric_sums[key] = state.metric_sums.get(key, 0.0) + value
                state.metric_counts[key] = state.metric_counts.get(key, 0) + 1
            obs = next_obs

            if terminated or truncated:
                state.episode += 1
                stats = info["episode"]  # filled by RecordEpisodeStatistics at the episode end
                episode_return = float(np.asarray(stats["r"]).item())
                log(
                    {
                        "episode": state.episode,
                        "episode_return": episode_return,
                        "episode_length": int(np.asarray(stats["l"]).item()),
                    }
                )
                recent_returns = [*recent_returns[-_RECENT_EPISODES + 1 :], episode_return]
                obs = None
                now = time.perf_counter()
                if now - last_postfix > 0.5:  # refreshing the bar every episode costs time
                    bar.set_postfix(_postfix(recent_returns, last_eval_mean), refresh=False)
                    last_postfix = now
            if cfg.log_every and state.step % cfg.log_every == 0:
                write_metric_means()
            if eval_env is not None and cfg.eval_every and state.step % cfg.eval_every == 0:
                run_evaluation()
            if (
                obs is None
                and cfg.checkpoint_every
                and state.step - (state.last_checkpoint_step or 0) >= cfg.checkpoint_every
            ):
                checkpoint(episode_boundary=True)

        if eval_env is not None and state.last_eval_step != state.step:
            run_evaluation()
        write_metric_means()
        if state.last_checkpoint_step != state.step:
            checkpoint(episode_boundary=obs is None)
    finally:
        bar.close()
        logger.close()
        if tensorboard is not None:
            tensorboard.close()
    return History(rows, state.step, state.episode, time.perf_counter() - started)


def _postfix(recent_returns: list[float], eval_mean: float | None) -> dict[str, str]:
    postfix = {}
    if recent_returns:
        postfix["return"] = f"{np.mean(recent_returns):.3g}"
    if eval_mean is not None:
        postfix["eval"] = f"{eval_mean:.3g}"
    return postfix


def _diverged(what: str, step: int, state: _LoopState, run_dir: Path) -> NonFiniteMetricError:
    if state.last_checkpoint_step is None:
        kept = "no checkpoint had been written yet"
    else:
        kept = (
            f"the last good checkpoint (step {state.last_checkpoint_step}) is kept in "
            f"{run_dir / CHECKPOINT_NAME}"
        )
    return NonFiniteMetricError(
        f"training diverged at step {step} (episode {state.episode + 1}): {what}. "
        f"Training stopped; {kept}. Try a lower learning rate, gradient-norm clipping, or a "
        "smaller reward scale."
    )


def _with_episode_statistics(env: gym.Env) -> gym.Env:
    """Wrap `env` in RecordEpisodeStatistics unless it already is."""
    inner = env
    while isinstance(inner, gym.Wrapper):
        if isinstance(inner, RecordEpisodeStatistics):
            return env
        inner = inner.env
    return RecordEpisodeStatistics(env)


def _env_id(env: gym.Env) -> str | None:
    return env.spec.id if env.spec is not None else None


def _save(
    path: Path,
    agent: Agent,
    rng: np.random.Generator,
    env: gym.Env,
    state: _LoopState,
    csv_rows: int,
    episode_boundary: bool,
) -> None:
    arrays, agent_meta = agent.state_dict()
    meta = {
        "agent_class": type(agent).__name__,
        "env_id": _env_id(env),
        "agent": agent_meta,
        "loop": {
            "step": state.step,
            "episode": state.episode,
            "elapsed_s": state.elapsed_s,
            "last_eval_step": state.last_eval_step,
            "metric_sums": state.metric_sums,
            "metric_counts": state.metric_counts,
            "csv_rows": csv_rows,
            "episode_boundary": episode_boundary,
            "rng_state": rng_state(rng),
        },
    }
    save_checkpoint(path, {f"agent/{name}": value for name, value in arrays.items()}, meta)


def load_agent_state(path: str | Path, agent: Agent) -> dict:
    """Load the agent part of a loop checkpoint into `agent`; returns the checkpoint's meta."""
    path = Path(path)
    arrays, meta = load_checkpoint(path)
    if not isinstance(meta, dict) or "agent" not in meta or "loop" not in meta:
        raise CheckpointError(f"{path} is not a training-loop checkpoint (no agent/loop metadata)")
    expected = type(agent).__name__
    if meta.get("agent_class") != expected:
        raise CheckpointError(
            f"{path} holds a {meta.get('agent_class')} agent, but a {expected} is loading it"
        )
    agent_arrays = {
        name.removeprefix("agent/"): value
        for name, value in arrays.items()
        if name.startswith("agent/")
    }
    try:
        agent.load_state_dict(agent_arrays, meta["agent"])
    except (ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path} does not fit this agent: {err}") from None
    return meta


def _restore(
    path: Path, agent: Agent, rng: np.random.Generator, env: gym.Env
) -> tuple[_LoopState, int]:
    if not path.is_file():
        raise FileNotFoundError(
            f"cannot resume: no checkpoint at {path}; start a fresh run instead"
        )
    meta = load_agent_state(path, agent)
    saved_env, env_id = meta.get("env_id"), _env_id(env)
    if saved_env is not None and env_id is not None and saved_env != env_id:
        raise CheckpointError(f"{path} was trained on {saved_env}, not on {env_id}")
    loop = meta["loop"]
    try:
        set_rng_state(rng, loop["rng_state"])
        state = _LoopState(
            step=int(loop["step"]),
            episode=int(loop["episode"]),
            elapsed_s=float(loop["elapsed_s"]),
            last_eval_step=int(loop["last_eval_step"]),
            last_checkpoint_step=int(loop["step"]),
            metric_sums={k: float(v) for k, v in loop["metric_sums"].items()},
            metric_counts={k: int(v) for k, v in loop["metric_counts"].items()},
        )
        return state, int(loop["csv_rows"])
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path} has incomplete loop metadata: {err!r}") from None
