"""The training loop shared by every agent: a small core, with logs, evaluation and checkpoints
as add-ons around it.

The core, `run_steps`, is the whole of reinforcement learning's outer loop:

    for each environment step:
        action = agent.act(obs)                       # the agent explores
        next_obs, reward, terminated, truncated = env.step(action)
        metrics = agent.observe(obs, action, ...)     # the agent stores / learns
        every add-on's after_step(state, report)

It steps a list of environments in lockstep (one list entry per environment; with one
environment it is the plain loop above), counts every environment step in `LoopState.step`,
and reports each step to the add-ons. `train` adds the add-ons of a run folder:

    MetricsLog     episode rows, and every `log_every` steps the mean agent metrics (metrics.csv)
    Evaluation     every `eval_every` steps, greedy episodes on `eval_env`
    BestCheckpoint (called by Evaluation) after an evaluation that beats every earlier one,
                   the agent as the run's best checkpoint
    Checkpoints    at an episode end, every `checkpoint_every` steps, a checkpoint (rl.checkpoint)
    ProgressBar    a tqdm bar with steps/s, the recent return and the last evaluation

Exact resume. Every episode starts with `env.reset(seed=episode_seed(rng))`, and checkpoints are
only taken at episode ends, so the state of a run at a checkpoint is fully described by the
agent's `state_dict()` (which includes its own rng) and the `LoopState` (counters, the loop
rng's state, the number of metrics.csv rows); no environment state has to be saved. Resuming
restores those, drops the metrics.csv rows written after the checkpoint, and replays the same
steps as the run that was interrupted. The final checkpoint at `total_steps` may fall inside an
episode (its `episode_boundary` is then false): extending a finished run starts a fresh episode
there (an interrupted run, resumed, does not have that difference). The best evaluation so far
is part of the LoopState too: a best checkpoint written after the last checkpoint is written
again when the resumed run replays that evaluation.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
from tqdm import tqdm

from rl import run
from rl.checkpoint import (
    CheckpointError,
    NonFiniteStateError,
    check_agent_meta,
    check_full,
    load_agent,
    load_checkpoint_meta,
    save_agent,
)
from rl.config import from_json, to_json
from rl.evaluate import evaluate
from rl.logging import EVAL_RETURN, CsvLogger, make_tensorboard_writer, read_rows
from rl.memory import keep_freed_memory
from rl.protocol import Agent, choose_action
from rl.seeding import episode_seed, make_rng, rng_state, set_rng_state

_EVAL_STREAM = 1  # evaluation seeds come from make_rng([seed, _EVAL_STREAM, step])
_RECENT_EPISODES = 20  # episodes averaged in the progress bar's "return"
# What a non-finite loss or parameter usually means; a non-finite ε or α is a config error instead.
LEARNING_ADVICE = "Try a lower learning rate, gradient-norm clipping, or a smaller reward scale."
_LEARNED_METRICS = ("loss", "q_mean", "td_error")


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
    # Continue from the run folder's checkpoint instead of starting a fresh run.
    resume: bool = False
    # Environments stepped in lockstep (the agent picks all their actions in one batched
    # forward pass); total_steps and every interval count the steps of all of them.
    num_envs: int = 1
    # Stop early once a greedy evaluation's mean return reaches this (none: never).
    stop_at_return: float | None = None
    # Stop early once a greedy evaluation's win rate (Pac-Man: info["win"]) reaches this.
    stop_at_win_rate: float | None = None

    def __post_init__(self) -> None:
        if self.total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {self.total_steps}")
        if self.eval_episodes < 1:
            raise ValueError(f"eval_episodes must be >= 1, got {self.eval_episodes}")
        if self.num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {self.num_envs}")
        for name in ("eval_every", "checkpoint_every", "log_every"):
            value = getattr(self, name)
            if value < 0:
                raise ValueError(f"{name} must be >= 0 steps (0 disables), got {value}")


@dataclass
class LoopState:
    """Where the loop is; saved in every checkpoint as one JSON dict and restored as a whole."""

    # Environment steps done (over all environments).
    step: int = 0
    # Episodes finished.
    episode: int = 0
    # Seconds of training so far (over every resumed part).
    elapsed_s: float = 0.0
    # Step of the last greedy evaluation (-1: none yet).
    last_eval_step: int = -1
    # Sums and counts of each agent metric since the last metrics row (averaged when written).
    metric_sums: dict[str, float] = field(default_factory=dict)
    metric_counts: dict[str, int] = field(default_factory=dict)
    # Rows of metrics.csv that belong to this state (a resume drops the rows after them).
    csv_rows: int = 0
    # Whether every environment was between episodes (false for a final checkpoint mid-episode).
    episode_boundary: bool = True
    # State of the loop's rng, which draws the episode seeds (filled when saved).
    rng_state: dict | None = None
    # The best evaluation so far, saved as the best checkpoint (BestCheckpoint): step, episode,
    # episodes, return_mean, return_std (and win_rate, mean_score); None before the first.
    best: dict | None = None

    def __post_init__(self) -> None:
        """Refuse a state that no run reaches (read from a checkpoint edited by hand, say):
        resuming from it would cut metrics.csv at a wrong row."""
        for name in ("step", "episode", "csv_rows"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.last_eval_step < -1 or self.last_eval_step > self.step:
            raise ValueError(f"last_eval_step must be in [-1, step], got {self.last_eval_step}")
        if self.elapsed_s < 0:
            raise ValueError(f"elapsed_s must be >= 0, got {self.elapsed_s}")
        sums, counts = self.metric_sums, self.metric_counts
        if not (isinstance(sums, dict) and isinstance(counts, dict) and sums.keys() == counts.keys()
                and all(isinstance(v, int | float) and math.isfinite(v) for v in sums.values())
                and all(isinstance(v, int) and v >= 1 for v in counts.values())):
            raise ValueError(f"metric_sums {sums!r} / metric_counts {counts!r} do not match")
        if self.rng_state is not None and not isinstance(self.rng_state, dict):
            raise ValueError(f"rng_state must be a dict, got {self.rng_state!r}")
        if self.best is not None and not _is_evaluation_record(self.best, self.step):
            raise ValueError(f"best must be an evaluation record with a step in [0, step] and a "
                             f"finite return_mean, got {self.best!r}")


def _is_evaluation_record(record: Any, step: int) -> bool:
    """Whether `record` is what BestCheckpoint records of an evaluation at or before `step`."""
    if not isinstance(record, dict) or not isinstance(record.get("step"), int):
        return False
    ranked = [record.get(key) for key in ("return_mean", "win_rate") if key in record]
    return (0 <= record["step"] <= step and "return_mean" in record
            and all(isinstance(v, int | float) and math.isfinite(v) for v in ranked))


class NonFiniteMetricError(FloatingPointError):
    """An agent metric (e.g. the loss) became NaN or infinite: training diverged."""


@dataclass
class History:
    """What a run logged: every metrics.csv row (non-empty cells as floats) and the counters."""

    rows: list[dict[str, float]]
    steps: int
    episodes: int
    elapsed_s: float
    # Why training stopped before total_steps (a target reached), else None.
    stopped_early: str | None = None
    # The evaluation saved as the best checkpoint (LoopState.best), None if there was none.
    best: dict | None = None

    @property
    def episode_returns(self) -> list[float]:
        return [row["episode_return"] for row in self.rows if "episode_return" in row]

    @property
    def evaluations(self) -> list[dict[str, float]]:
        return [row for row in self.rows if EVAL_RETURN in row]


# --- the core -------------------------------------------------------------------------------------


@dataclass
class StepReport:
    """What the core tells the add-ons after one environment step."""

    # The agent's metrics of this step (e.g. {"loss": ...}; often empty).
    metrics: dict[str, float]
    # (return, length) of the episode that this step ended, else None.
    episode_end: tuple[float, int] | None
    # The env's info dict of this step.
    info: dict[str, Any]


class AddOn(Protocol):
    """Something that runs after every environment step (logging, evaluation, checkpoints)."""

    def after_step(self, state: LoopState, report: StepReport) -> None: ...


def run_steps(
    envs: Sequence[gym.Env],
    agent: Agent,
    rng: np.random.Generator,
    state: LoopState,
    total_steps: int,
    add_ons: Sequence[AddOn] = (),
    hold_resets: Callable[[LoopState], bool] | None = None,
    stop: Callable[[LoopState], bool] | None = None,
) -> None:
    """Step `envs` in lockstep with `agent` until `state.step` reaches `total_steps`.

    Every episode starts with `env.reset(seed=episode_seed(rng))`. Each environment step counts
    one in `state.step`, is observed by the agent, and is reported to every add-on in order.
    With several environments the agent chooses all their actions at once (`act_batch`, one
    batched forward pass) and learns from each one's steps (`observe(..., env_index=i)`); while
    `hold_resets(state)` is true, an environment whose episode ended waits instead of starting a
    new one, so that all of them reach an episode end together (a checkpoint needs that).
    `stop(state)`, asked after each step's add-ons, ends the loop early when it is true.
    """
    batched = len(envs) > 1
    masked = bool(getattr(agent, "uses_action_masks", False))  # info["action_mask"] to the agent
    obs: list[Any] = [None] * len(envs)  # None: that env is between episodes
    infos: list[dict[str, Any]] = [{} for _ in envs]  # the info of each env's current obs
    returns, lengths = [0.0] * len(envs), [0] * len(envs)
    while state.step < total_steps:
        holding = hold_resets is not None and hold_resets(state)
        for i, env in enumerate(envs):
            if obs[i] is None and not holding:
                obs[i], infos[i] = env.reset(seed=episode_seed(rng))
                returns[i], lengths[i] = 0.0, 0
        active = [i for i, o in enumerate(obs) if o is not None]
        if not batched:
            actions = [choose_action(agent, obs[0], infos[0])]
        else:
            masks = {"masks": [infos[i].get("action_mask") for i in active]} if masked else {}
            chosen = agent.act_batch([obs[i] for i in active], **masks)
            actions = dict(zip(active, chosen, strict=True))
        for i in active:
            if state.step >= total_steps:
                break
            next_obs, reward, terminated, truncated, info = envs[i].step(actions[i])
            transition = (obs[i], actions[i], reward, next_obs, terminated, truncated)
            extra: dict[str, Any] = {"env_index": i} if batched else {}
            if masked:
                extra.update(mask=infos[i].get("action_mask"), next_mask=info.get("action_mask"))
            metrics = agent.observe(*transition, **extra)
            infos[i] = info
            state.step += 1
            returns[i] += reward
            lengths[i] += 1
            episode_end = None
            if terminated or truncated:
                state.episode += 1
                episode_end = (float(np.asarray(returns[i]).item()), lengths[i])
                obs[i] = None
            else:
                obs[i] = next_obs
            state.episode_boundary = all(o is None for o in obs)
            report = StepReport(metrics, episode_end, info)
            for add_on in add_ons:
                add_on.after_step(state, report)
            if stop is not None and stop(state):
                return


# --- the add-ons of a run folder ------------------------------------------------------------------


class Recorder:
    """metrics.csv (plus TensorBoard when installed) and the rows of this run in memory.

    TensorBoard gets each metric under a group: `eval/…` for the greedy evaluations
    (`eval_return_mean` becomes `eval/return_mean`), `train/…` for everything else
    (`train/episode_return`, `train/loss`, `train/epsilon`). The step is TensorBoard's x axis,
    and the episode counter and wall time are not curves anyone reads, so they stay in the CSV.
    """

    NOT_SCALARS = ("step", "episode", "time_s")

    def __init__(self, run_dir: Path, state: LoopState, resume: bool) -> None:
        path = run.metrics_path(run_dir)
        self.logger = CsvLogger(path, keep_rows=state.csv_rows if resume else None)
        self.rows: list[dict[str, float]] = read_rows(path) if resume else []
        self.tensorboard = make_tensorboard_writer(run_dir, purge_step=state.step or None)
        self.started = time.perf_counter() - state.elapsed_s

    def log(self, state: LoopState, row: dict[str, Any]) -> None:
        row = {"step": state.step, **row, "time_s": round(time.perf_counter() - self.started, 3)}
        self.logger.log(row)
        self.rows.append({k: float(v) for k, v in row.items()})
        if self.tensorboard is not None:
            for key, value in row.items():
                if key not in self.NOT_SCALARS:
                    self.tensorboard.add_scalar(self.tensorboard_tag(key), value, state.step)

    @staticmethod
    def tensorboard_tag(key: str) -> str:
        """The grouped TensorBoard tag of a metrics.csv column."""
        if key.startswith("eval_"):
            return "eval/" + key.removeprefix("eval_")
        return "train/" + key

    def close(self) -> None:
        self.logger.close()
        if self.tensorboard is not None:
            self.tensorboard.close()


class MetricsLog:
    """Episode rows, and every `log_every` steps the mean of each agent metric since the last."""

    def __init__(self, recorder: Recorder, log_every: int, run_dir: Path) -> None:
        self.recorder, self.log_every, self.run_dir = recorder, log_every, run_dir

    def after_step(self, state: LoopState, report: StepReport) -> None:
        for key, value in report.metrics.items():
            value = float(value)
            if not math.isfinite(value):
                advice = LEARNING_ADVICE if key in _LEARNED_METRICS else (
                    f"{key!r} comes from the agent's config, not from learning: check that "
                    "setting (a schedule's start and end values)")
                raise diverged(f"agent metric {key!r} is {value}", state.step, state, self.run_dir,
                               advice)
            state.metric_sums[key] = state.metric_sums.get(key, 0.0) + value
            state.metric_counts[key] = state.metric_counts.get(key, 0) + 1
        if report.episode_end is not None:
            episode_return, length = report.episode_end
            self.recorder.log(state, {"episode": state.episode, "episode_return": episode_return,
                                      "episode_length": length})
        if self.log_every and state.step % self.log_every == 0:
            self.write_means(state)

    def write_means(self, state: LoopState) -> None:
        if state.metric_counts:
            means = {k: state.metric_sums[k] / state.metric_counts[k] for k in state.metric_sums}
            self.recorder.log(state, {"episode": state.episode, **means})
            state.metric_sums, state.metric_counts = {}, {}


class Evaluation:
    """Every `cfg.eval_every` steps: `cfg.eval_episodes` greedy episodes on `env`; each result
    goes to `best`, which keeps the agent when it is the run's best evaluation so far."""

    def __init__(self, env: gym.Env | Sequence[gym.Env], agent: Agent, cfg: LoopConfig,
                 recorder: Recorder, best: BestCheckpoint | None = None) -> None:
        self.env, self.agent, self.cfg, self.recorder = env, agent, cfg, recorder
        self.best = best
        means = [r[EVAL_RETURN] for r in recorder.rows if EVAL_RETURN in r]
        self.last_mean = means[-1] if means else None  # shown in the progress bar
        self.target_reached: str | None = None  # what the last evaluation reached, if a target

    def reached(self, state: LoopState) -> bool:
        """Whether the last evaluation reached --stop-at-return or --stop-at-win-rate."""
        return self.target_reached is not None

    def after_step(self, state: LoopState, report: StepReport) -> None:
        if self.cfg.eval_every and state.step % self.cfg.eval_every == 0:
            self.run(state)

    def run(self, state: LoopState) -> None:
        eval_rng = make_rng([self.cfg.seed, _EVAL_STREAM, state.step])
        result = evaluate(self.env, self.agent, self.cfg.eval_episodes, eval_rng)
        state.last_eval_step = state.step
        extra = {f"eval_{k}": v for k, v in result.items() if k in ("win_rate", "mean_score")}
        self.recorder.log(state, {
            "episode": state.episode,
            EVAL_RETURN: result["return_mean"],
            "eval_return_std": result["return_std"],
            "eval_length_mean": result["length_mean"],
            **extra,
        })
        self.last_mean = result["return_mean"]
        if self.best is not None:
            self.best.consider(state, result)
        cfg = self.cfg
        if cfg.stop_at_return is not None and result["return_mean"] >= cfg.stop_at_return:
            self.target_reached = (f"mean greedy return {result['return_mean']:g} reached "
                                   f"--stop-at-return {cfg.stop_at_return:g}")
        win_rate = result.get("win_rate")
        if cfg.stop_at_win_rate is not None and win_rate is not None \
                and win_rate >= cfg.stop_at_win_rate:
            self.target_reached = (f"greedy win rate {win_rate:g} reached --stop-at-win-rate "
                                   f"{cfg.stop_at_win_rate:g}")


def evaluation_rank(result: dict[str, Any]) -> tuple[float, ...]:
    """What makes one greedy evaluation better than another, for the best checkpoint.

    Where the env reports wins (the Pac-Man game) the win rate, then the mean return between
    equal win rates: winning is the task, and the return tells apart two agents that win as
    often (one clears the board faster, or eats the ghosts). Elsewhere the mean return.
    """
    if "win_rate" in result:
        return (result["win_rate"], result["return_mean"])
    return (result["return_mean"],)


class BestCheckpoint:
    """After each evaluation that ranks above every earlier one of the run (`evaluation_rank`;
    an equal one keeps the earlier), the agent as the run's best checkpoint.

    It holds only what acting needs (rl.checkpoint: `acting_only`), written without touching
    the training state: evaluations fall in the middle of episodes, where a full state_dict
    of some agents has side effects (the DQN stores the steps it holds back). The evaluation
    that made it the best is recorded in its metadata and in `LoopState.best`, so a resumed run
    compares with it; a line says so. These evaluations play the loop's evaluation seeds,
    never the held-out ones of the final evaluation (rl.seeding), which would flatter the best.
    """

    def __init__(self, run_dir: Path, agent: Agent, env: gym.Env) -> None:
        self.path = run.checkpoint_path(run_dir, "best")
        self.agent, self.env = agent, env

    def consider(self, state: LoopState, result: dict[str, Any]) -> None:
        if state.best is not None and evaluation_rank(result) <= evaluation_rank(state.best):
            return
        keys = ("episodes", "return_mean", "return_std", "win_rate", "mean_score")
        record = {"step": state.step, "episode": state.episode,
                  **{key: result[key] for key in keys if key in result}}
        try:
            save_agent(self.path, self.agent, self.env, acting_only=True, best=record)
        except OSError as err:  # atomic_write left the previous best as it was
            raise OSError(
                f"cannot write the best checkpoint {self.path} at step {state.step} "
                f"({err.strerror or err}). Free disk space (or fix the folder's permissions) "
                f"and resume: --resume {self.path.parent}"
            ) from err
        state.best = record
        tqdm.write(f"step {state.step:,}: best evaluation so far ({describe_evaluation(record)})"
                   f", saved as {self.path}")


def describe_evaluation(result: dict[str, Any]) -> str:
    """An evaluation as a line says it: "win rate 0.9, mean return 412 over 10 episodes"."""
    parts = [f"win rate {result['win_rate']:.3g}"] if "win_rate" in result else []
    episodes = result["episodes"]
    parts.append(f"mean return {result['return_mean']:.4g} over {episodes} "
                 f"episode{'s' if episodes != 1 else ''}")
    return ", ".join(parts)


class Checkpoints:
    """At the first episode end `every` steps after the last checkpoint: save agent and loop."""

    def __init__(self, run_dir: Path, agent: Agent, env: gym.Env, rng: np.random.Generator,
                 recorder: Recorder, every: int, last_step: int | None) -> None:
        self.path = run.checkpoint_path(run_dir)
        self.agent, self.env, self.rng, self.recorder = agent, env, rng, recorder
        self.every = every
        self.last_step = last_step  # None: no checkpoint written yet

    def due(self, state: LoopState) -> bool:
        """Whether a checkpoint is wanted at the next moment every env is between episodes."""
        return bool(self.every) and state.step - (self.last_step or 0) >= self.every

    def after_step(self, state: LoopState, report: StepReport) -> None:
        if state.episode_boundary and self.due(state):
            self.save(state)

    def save(self, state: LoopState) -> None:
        state.elapsed_s = time.perf_counter() - self.recorder.started
        self.recorder.logger.flush()
        state.csv_rows = self.recorder.logger.rows_written
        state.rng_state = rng_state(self.rng)
        try:
            save_agent(self.path, self.agent, self.env, loop=to_json(state))
        except OSError as err:  # disk full, permissions: atomic_write left the old file as it was
            kept = (f"the previous checkpoint (step {self.last_step}) is intact"
                    if self.last_step is not None else "no checkpoint had been written yet")
            raise OSError(
                f"cannot write the checkpoint {self.path} at step {state.step} "
                f"({err.strerror or err}); {kept}. Free disk space (or fix the folder's "
                f"permissions) and resume: --resume {self.path.parent}"
            ) from err
        self.last_step = state.step


class ProgressBar:
    """tqdm bar over the steps, with the recent training return and the last evaluation."""

    def __init__(self, cfg: LoopConfig, state: LoopState, recorder: Recorder,
                 evaluation: Evaluation | None) -> None:
        self.bar = tqdm(total=cfg.total_steps, initial=state.step, unit="step",
                        disable=not cfg.progress, dynamic_ncols=True)
        returns = [r["episode_return"] for r in recorder.rows if "episode_return" in r]
        self.recent = returns[-_RECENT_EPISODES:]
        self.evaluation = evaluation
        self.last_refresh = 0.0

    def after_step(self, state: LoopState, report: StepReport) -> None:
        self.bar.update(1)
        if report.episode_end is not None:
            self.recent = [*self.recent[-_RECENT_EPISODES + 1:], report.episode_end[0]]
        now = time.perf_counter()
        if now - self.last_refresh > 0.5:  # refreshing the bar every step costs time
            postfix = {"return": f"{np.mean(self.recent):.3g}"} if self.recent else {}
            if self.evaluation is not None and self.evaluation.last_mean is not None:
                postfix["eval"] = f"{self.evaluation.last_mean:.3g}"
            self.bar.set_postfix(postfix, refresh=False)
            self.last_refresh = now

    def close(self) -> None:
        self.bar.close()


# --- training a run folder ------------------------------------------------------------------------


def _one_writer(train_function: Callable[..., History]) -> Callable[..., History]:
    """`train` holds its run folder's lock (rl.run.lock) from its first look at the folder to its
    last write, so that a second writer is refused before it reads or cuts anything."""

    @functools.wraps(train_function)
    def locked(env: gym.Env, agent: Agent, cfg: LoopConfig, run_dir: str | Path,
               *args: Any, **kwargs: Any) -> History:
        with run.lock(run_dir):
            return train_function(env, agent, cfg, run_dir, *args, **kwargs)

    return locked


@_one_writer
def train(
    env: gym.Env | Sequence[gym.Env],
    agent: Agent,
    cfg: LoopConfig,
    run_dir: str | Path,
    eval_env: gym.Env | Sequence[gym.Env] | None = None,
    rng: np.random.Generator | None = None,
) -> History:
    """Train `agent` on `env` for `cfg.total_steps` steps; logs and checkpoints under `run_dir`.

    `env` may be a list of environments, stepped in lockstep (see `run_steps`).

    `rng` draws the episode seeds (default `make_rng(cfg.seed)`); on resume its state is
    restored from the checkpoint. Without `eval_env` there is no greedy evaluation; a list of
    eval envs plays the evaluation's games side by side (rl.evaluate.evaluate). Holds the
    run folder's lock (rl.run.lock) throughout: a second writer is refused. Raises
    NonFiniteMetricError if an agent metric, or the agent's state, becomes NaN/Inf (the last
    checkpoint, always a finite one, is kept).
    """
    keep_freed_memory()  # (a step's arrays reuse the last step's memory: rl.memory)
    run_dir = Path(run_dir)
    envs = [env] if isinstance(env, gym.Env) else list(env)
    env = envs[0]  # the one recorded in checkpoints (all are made alike)
    rng = rng if rng is not None else make_rng(cfg.seed)
    if cfg.resume:
        run.check_resumable(run_dir, cfg.total_steps)
        state = restore(run.checkpoint_path(run_dir), agent, rng, env)
    else:
        run.check_fresh(run_dir)
        state = LoopState()
    run_dir.mkdir(parents=True, exist_ok=True)

    recorder = Recorder(run_dir, state, cfg.resume)
    metrics = MetricsLog(recorder, cfg.log_every, run_dir)
    evaluation = None
    if eval_env is not None:
        best = BestCheckpoint(run_dir, agent, env)
        evaluation = Evaluation(eval_env, agent, cfg, recorder, best)
    checkpoints = Checkpoints(run_dir, agent, env, rng, recorder, cfg.checkpoint_every,
                              last_step=state.step if cfg.resume else None)
    progress = ProgressBar(cfg, state, recorder, evaluation)
    add_ons = [a for a in (metrics, evaluation, checkpoints, progress) if a is not None]
    try:
        try:
            targets = cfg.stop_at_return is not None or cfg.stop_at_win_rate is not None
            stop = evaluation.reached if evaluation is not None and targets else None
            run_steps(envs, agent, rng, state, cfg.total_steps, add_ons,
                      hold_resets=checkpoints.due, stop=stop)
            if evaluation is not None and state.last_eval_step != state.step:
                evaluation.run(state)
            metrics.write_means(state)
            if checkpoints.last_step != state.step:
                checkpoints.save(state)
        except FloatingPointError as err:
            if isinstance(err, NonFiniteMetricError):
                raise
            if isinstance(err, NonFiniteStateError):  # found when checkpointing: after the step
                raise diverged(str(err), state.step, state, run_dir) from err
            # The agent's own message says what went non-finite and what to try.
            what = f"the agent raised {type(err).__name__}: {err}"
            raise diverged(what, state.step + 1, state, run_dir, advice="") from err
    finally:
        progress.close()
        recorder.close()
    stopped = evaluation.target_reached if evaluation is not None else None
    if state.step >= cfg.total_steps:
        stopped = None
    return History(recorder.rows, state.step, state.episode,
                   time.perf_counter() - recorder.started, stopped_early=stopped, best=state.best)


def diverged(what: str, step: int, state: LoopState, run_dir: Path,
             advice: str = LEARNING_ADVICE) -> NonFiniteMetricError:
    """The error that stops a diverged run, saying which checkpoint is kept.

    Every checkpoint written is finite (rl.checkpoint.save_agent refuses any other), so the one
    kept is a good one.
    """
    path = run.checkpoint_path(run_dir)
    last_checkpoint = _checkpoint_step(path)
    if last_checkpoint is None:
        kept = "no checkpoint had been written yet"
    else:
        kept = f"the last good checkpoint (step {last_checkpoint}) is kept in {path}"
    return NonFiniteMetricError(
        f"training diverged at step {step} (episode {state.episode + 1}): {what.rstrip('.')}. "
        f"Training stopped; {kept}. {advice}".rstrip()
    )


def _checkpoint_step(path: Path) -> int | None:
    try:
        return int(load_checkpoint_meta(path)["loop"]["step"])
    except (FileNotFoundError, CheckpointError, KeyError, TypeError):
        return None


def check_checkpoint(path: Path, agent: Agent, env: gym.Env) -> LoopState:
    """The loop state of the checkpoint at `path`, checked without reading its arrays.

    Raises CheckpointError if it is of another agent, config or environment, or if its loop
    state is malformed: what a resume must know before it writes or truncates any file.
    """
    meta = load_checkpoint_meta(path)
    check_agent_meta(path, meta, agent, env)
    return _loop_state(path, meta)


def _loop_state(path: Path, meta: dict) -> LoopState:
    check_full(path, meta)
    if not isinstance(meta.get("loop"), dict):
        raise CheckpointError(f"{path} holds an agent without training-loop state: cannot resume")
    try:
        return from_json(LoopState, meta["loop"])
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(
            f"{path} has invalid training-loop metadata ({err}): it cannot be resumed. Use "
            "another checkpoint or start a fresh run"
        ) from None


def restore(path: Path, agent: Agent, rng: np.random.Generator, env: gym.Env) -> LoopState:
    """Load the agent from the checkpoint at `path`, set `rng`'s state; returns the LoopState."""
    check_full(path, load_checkpoint_meta(path))  # before the agent is touched
    meta = load_agent(path, agent, env)
    state = _loop_state(path, meta)
    try:
        set_rng_state(rng, state.rng_state)
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path} has an invalid loop rng state: {err!r}") from None
    return state
