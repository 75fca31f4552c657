"""The algorithms by name, and runs built from them.

What scripts/train.py, the sweep (rl.sweep) and the evaluation scripts share:

    new_run(algo, env_id, values)   layer dataclass defaults < preset < values into a new run
                                    (the preset of the id, with its variants for the env kwargs)
    load_config_file(path)          another run's config.json, to start a new run like it
                                    (new_run(..., base=config): its configs replace the preset)
    load_run(run_dir)               the run of a folder, rebuilt from its config.json
    resume_run(run_dir, values)     the same with new training-loop values (e.g. total_steps)
    train_run(run)                  train it: config.json, metrics.csv, checkpoints, the curve
    train_settings(run_dir, ...)    all of that from a dict of settings (one sweep trial)

The run folder itself (file names, config.json, the checks) belongs to rl.run.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from fileio import CheckpointError
from rl import run as run_folder
from rl.checkpoint import load_agent, load_weights
from rl.config import acting_only_fields, from_args, from_json, given_fields, to_json
from rl.loop import History, LoopConfig, NonFiniteMetricError, check_checkpoint, train
from rl.plotting import plot_learning_curves
from rl.protocol import Agent
from rl.run import RunConfig
from rl.schedules import Linear
from rl.seeding import make_rng

AGENT_STREAM = 0  # the agent's rng is make_rng([seed, AGENT_STREAM]); the loop's is make_rng(seed)
LOOP_FIELDS = frozenset(f.name for f in dataclasses.fields(LoopConfig))
# Greedy evaluations of an agent that acts in batches (act_batch) play this many games side by
# side, one forward pass for all: the same games in a fraction of the time.
EVAL_ENVS = 10


class UsageError(ValueError):
    """A bad algorithm, environment or value; scripts report it the argparse way (exit 2)."""


@dataclass(frozen=True)
class Algo:
    """How to build one algorithm."""

    # The algorithm's config dataclass (its fields become flags).
    config_cls: type
    # factory(env, config, rng) -> agent
    make_agent: Callable[[gym.Env, Any, np.random.Generator], Agent]
    # Config overrides per environment id (agent fields and/or LoopConfig fields).
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Config fields decided by the algorithm's name, not by flags (e.g. method="sarsa").
    fixed: dict[str, Any] = field(default_factory=dict)
    # Wrappers the agent needs around a made env (e.g. frame stacking):
    # wrap_env(env, config, training), training=True for the envs it learns in.
    wrap_env: Callable[[gym.Env, Any, bool], gym.Env] | None = None
    # Per environment id, (env kwargs, overrides) pairs: the overrides are layered over the
    # id's preset when the env is made with those kwargs (e.g. chasing ghosts on Medium-v1).
    variants: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = field(
        default_factory=dict)


def _tabular(method: str) -> Algo:
    from agents import q_learning

    def make_agent(env, config, rng):
        return q_learning.QLearningAgent(env.observation_space, env.action_space, config, rng)

    return Algo(q_learning.QLearningConfig, make_agent, presets=q_learning.presets,
                fixed={"method": method})


def _dqn() -> Algo:
    from agents import dqn, dqn_presets

    def make_agent(env, config, rng):
        return dqn.DQNAgent(env.observation_space, env.action_space, config, rng,
                            symmetries=dqn.env_symmetries(env, config),
                            fixed_planes=dqn.env_fixed_planes(env, config))

    return Algo(dqn.DQNConfig, make_agent, presets=dqn_presets.presets,
                variants=dqn_presets.variants, wrap_env=dqn.wrap_env)


# name -> loader; agents are imported only when their algorithm is asked for.
ALGOS: dict[str, Callable[[], Algo]] = {
    "qlearning": lambda: _tabular("qlearning"),
    "sarsa": lambda: _tabular("sarsa"),
    "expected_sarsa": lambda: _tabular("expected_sarsa"),
    "dqn": _dqn,
}


def load_algo(name: str) -> Algo:
    """The registry entry `name`, imported now."""
    if name not in ALGOS:
        raise UsageError(f"unknown algorithm {name!r}; choose one of {', '.join(ALGOS)}")
    try:
        return ALGOS[name]()
    except ImportError as err:
        raise UsageError(f"algorithm {name!r} is not available here: {err}") from None


def preset_key(env_id: str) -> str:
    """Presets are keyed by the plain id: "envs:PacGrid/Small-v1" -> "PacGrid/Small-v1"."""
    return env_id.split(":", 1)[1] if ":" in env_id else env_id


def preset_for(algo: Algo, env_id: str, env_kwargs: Mapping[str, Any] | None = None
               ) -> dict[str, Any]:
    """The preset of `env_id`, with every variant whose env kwargs `env_kwargs` has (same
    values) layered over it in order; {} for an id without one."""
    key, given = preset_key(env_id), env_kwargs or {}
    preset = dict(algo.presets.get(key, {}))
    for kwargs, overrides in algo.variants.get(key, ()):
        if all(name in given and given[name] == value for name, value in kwargs.items()):
            preset.update(overrides)
    return preset


def make_env(env_id: str, env_kwargs: Mapping[str, Any], algo: Algo, config: Any,
             render_mode: str | None = None, training: bool = False) -> gym.Env:
    """gym.make the environment (plus the algorithm's wrappers, `training` for an env the agent
    learns in rather than one it is evaluated or watched in); bad ids raise UsageError."""
    kwargs = dict(env_kwargs)
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    if ":" not in env_id and env_id not in gym.registry:
        # Not registered in this process (a sweep's worker starts as a fresh interpreter that
        # never ran a script's `import envs`): the project's own env modules register their ids.
        for module in sorted(TRUSTED_ENV_MODULES):
            importlib.import_module(module)
    try:
        env = gym.make(env_id, **kwargs)
    except (gym.error.Error, ModuleNotFoundError) as err:
        raise UsageError(
            f"cannot make environment {env_id!r}: {err}. Use a registered Gymnasium id such as "
            "CartPole-v1, FrozenLake-v1 or PacGrid/Small-v1, or 'module:Id' to import the "
            "module that registers it"
        ) from None
    except (TypeError, ValueError, FileNotFoundError) as err:  # e.g. a bad layout file
        raise UsageError(f"environment {env_id!r} rejected its arguments {kwargs}: {err}") from None
    if algo.wrap_env is None:
        return env
    try:
        return algo.wrap_env(env, config, training)
    except ValueError as err:  # e.g. food shaping asked of an env that is not PacGrid
        env.close()
        raise UsageError(f"environment {env_id!r}: {err}") from None


@dataclass
class Run:
    """A run folder's configuration: config.json, with its agent and loop configs built."""

    run_dir: Path
    # What config.json holds (rl.run.RunConfig).
    config: RunConfig
    algo: Algo
    agent_config: Any
    loop_config: LoopConfig

    @property
    def algo_name(self) -> str:
        return self.config.algo

    @property
    def env_id(self) -> str:
        return self.config.env_id

    @property
    def seed(self) -> int:
        return self.config.seed

    def make_env(self, render_mode: str | None = None, training: bool = False) -> gym.Env:
        return make_env(self.env_id, self.config.env_kwargs, self.algo, self.agent_config,
                        render_mode, training)

    def acting_with(self, **settings: Any) -> Run:
        """This run with settings of how its trained agent acts changed (the agent config's
        `acting_only_fields`, e.g. DQNConfig.mirror_greedy): what evaluate.py and watch.py
        override. Settings that would change the parameters are refused."""
        allowed = acting_only_fields(self.agent_config)
        refused = sorted(set(settings) - allowed)
        if refused:
            raise UsageError(f"{', '.join(refused)} is not an acting setting of the "
                             f"{self.algo_name} agent (those are: "
                             f"{', '.join(sorted(allowed)) or 'none'})")
        agent_config = dataclasses.replace(self.agent_config, **settings)
        return dataclasses.replace(self, agent_config=agent_config)

    def make_agent(self, env: gym.Env) -> Agent:
        """A fresh, untrained agent for this run's config."""
        return self.algo.make_agent(env, self.agent_config, make_rng([self.seed, AGENT_STREAM]))

    def load_agent(self, env: gym.Env, kind: str = "last") -> tuple[Agent, dict]:
        """The trained agent of the run's `kind` ("last" or "best") checkpoint, and its metadata.

        A folder that holds a best checkpoint but no last one (a model shipped for watching,
        a folder of config.json and best.npz) gives its best for "last". Refuses a checkpoint of
        another environment (id, kwargs, spaces) or config.
        """
        path = run_folder.checkpoint_path(self.run_dir, kind)
        best = run_folder.checkpoint_path(self.run_dir, "best")
        if kind == "last" and not path.is_file() and best.is_file():
            path = best
        if not path.is_file() and kind == "best":
            raise FileNotFoundError(
                f"{self.run_dir} has no {path.name}: training writes it after its first greedy "
                "evaluation, which this run did not reach (or it was trained before best "
                "checkpoints were kept); use --checkpoint last")
        if not path.is_file():
            raise FileNotFoundError(f"{self.run_dir} has no {path.name}; train it first")
        agent = self.make_agent(env)
        return agent, load_agent(path, agent, env)


def add_acting_options(parser: argparse.ArgumentParser) -> None:
    """The options of scripts that load a trained agent (evaluate.py, watch.py, ...) to change
    how it acts (the agent config's acting-only fields); see `acting_overrides`."""
    parser.add_argument("--mirror-greedy", action=argparse.BooleanOptionalAction, default=None,
                        help="act on the mean of each state's and its mirror image's Q-values "
                             "(DQN on PacGrid Small-v1 / Medium-v1; default: as the run was "
                             "configured)")


def acting_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The acting settings given on the command line, for Run.acting_with."""
    return {} if args.mirror_greedy is None else {"mirror_greedy": args.mirror_greedy}


# run_warnings speaks up when a run is shorter than this fraction of a schedule's duration.
SCHEDULE_CUT_WARNING = 0.8
# Agent fields whose schedule runs on the clock of gradient updates, not environment steps.
UPDATE_CLOCK_FIELDS = frozenset({"learning_rate"})


def expected_updates(agent_config: Any, total_steps: int) -> int | None:
    """Gradient updates an agent with `learning_starts` and `train_freq` makes in `total_steps`
    environment steps (None for an agent that updates every step, as the tabular ones)."""
    learning_starts = getattr(agent_config, "learning_starts", None)
    if learning_starts is None:
        return None
    gradient_steps = getattr(agent_config, "gradient_steps", 1)
    return max(0, total_steps - learning_starts) // agent_config.train_freq * gradient_steps


def schedule_length(agent_config: Any, name: str, total_steps: int) -> tuple[int, str]:
    """How long field `name`'s schedule can run in this run: (count, "steps" or "updates")."""
    updates = expected_updates(agent_config, total_steps)
    if name in UPDATE_CLOCK_FIELDS and updates is not None:
        return updates, "updates"
    return total_steps, "steps"


def fit_schedules(agent_config: Any, preset: Mapping[str, Any], total_steps: int,
                  given: set[str]) -> Any:
    """`agent_config` with every linear schedule not in `given` stretched or shrunk by
    total_steps / the preset's total_steps, so that the preset's schedules end where they end
    in the preset's run (--fit-schedules)."""
    budget = preset.get("total_steps", LoopConfig().total_steps)
    factor = total_steps / budget
    changes = {}
    for f in dataclasses.fields(agent_config):
        value = getattr(agent_config, f.name)
        if f.name not in given and isinstance(value, Linear):
            changes[f.name] = dataclasses.replace(value, duration=round(value.duration * factor))
    return dataclasses.replace(agent_config, **changes)


def run_warnings(run: Run) -> list[str]:
    """What would make this run learn nothing, or less than it seems: said before it starts.

    An agent that waits `learning_starts` steps beyond the run makes no update; a schedule
    longer than the run stops part way (ε still high at the end, say).
    """
    config, total = run.agent_config, run.loop_config.total_steps
    found = []
    learning_starts = getattr(config, "learning_starts", None)
    if learning_starts is not None and learning_starts >= total:
        found.append(
            f"learning_starts {learning_starts:,} >= total_steps {total:,}: the "
            f"{run.algo_name} agent makes no update in this run, so it learns nothing. Lower "
            f"--learning-starts (e.g. --learning-starts {max(1, total // 10)}) or raise "
            "--total-steps"
        )
        return found  # the schedules do not matter then
    for f in dataclasses.fields(config):
        schedule = getattr(config, f.name)
        if not isinstance(schedule, Linear):
            continue
        if f.name.startswith("priority_") and not getattr(config, "prioritized", False):
            continue  # not used without prioritized replay
        length, clock = schedule_length(config, f.name, total)
        # A schedule cut short by a few percent (the presets count updates roughly) still
        # ends near its end value; one cut by a fifth or more does not.
        if length < SCHEDULE_CUT_WARNING * schedule.duration:
            found.append(
                f"{f.name}'s schedule runs {schedule.duration:,} {clock}, "
                f"{schedule.duration - length:,} more than this run's {length:,}: it ends at "
                f"{schedule(length):.3g} instead of {schedule.end:g}. Pass --fit-schedules (in a "
                "sweep: --base fit_schedules=true) to "
                "scale the preset's schedules to --total-steps, or set the schedule "
                f"(--{f.name.replace('_', '-')})"
            )
    return found


def new_run(
    algo_name: str,
    env_id: str,
    values: Mapping[str, Any] | Any = None,
    env_kwargs: Mapping[str, Any] | None = None,
    run_dir: str | Path | None = None,
    command: Sequence[str] = (),
    fit: bool = False,
    base: RunConfig | None = None,
) -> Run:
    """A new run: dataclass defaults < the preset of (algo, env) < `values`, for both configs.

    `values` maps config fields (the agent's or LoopConfig's) to values: parsed flags (an
    argparse Namespace holding only the flags given; other entries are ignored) or a dict
    such as a sweep's (where an unknown key is an error). `fit` scales the linear schedules
    that `values` does not set to the run's total_steps (see fit_schedules). `base`, another
    run's config (load_config_file), takes the place of the preset: the new run starts from
    its agent and loop configs (and `fit` scales from its total_steps).
    """
    algo = load_algo(algo_name)
    agent_fields = {f.name for f in dataclasses.fields(algo.config_cls)}
    if values is None:
        values = {}
    elif not isinstance(values, Mapping):
        values = given_fields(algo.config_cls, values) | given_fields(LoopConfig, values)
    unknown = sorted(set(values) - agent_fields - LOOP_FIELDS)
    if unknown:
        raise UsageError(f"unknown setting(s) {', '.join(unknown)} for {algo_name}")
    preset = preset_for(algo, env_id, env_kwargs)
    if base is not None:
        preset = {**base.loop, **base.agent}
    loop_config = from_args(LoopConfig, values, base=preset)
    agent_config = from_args(algo.config_cls, {**values, **algo.fixed}, base=preset)
    if fit:
        agent_config = fit_schedules(agent_config, preset, loop_config.total_steps, set(values))
    run_dir = Path(run_dir or run_folder.default_run_dir(env_id, algo_name, loop_config.seed))
    config = RunConfig(
        algo=algo_name, env_id=env_id, env_kwargs=dict(env_kwargs or {}), seed=loop_config.seed,
        agent=to_json(agent_config), loop=to_json(dataclasses.replace(loop_config, resume=False)),
        preset=base.preset if base is not None else {
            k: v.config() if hasattr(v, "config") else v for k, v in preset.items()},
        versions=run_folder.versions(), command=list(command), created=run_folder.now(),
    )
    return Run(run_dir, config, algo, agent_config, loop_config)


# Modules that an env id "module:Id" may import without the user's consent: the project's own.
TRUSTED_ENV_MODULES = frozenset({"envs"})


def check_env_import(env_id: str, where: Path, allow_import: bool) -> None:
    """Raise UsageError if `env_id`, read from a file rather than typed by the user, would import
    a module other than the project's: gym.make("mod:Id") runs mod's code, so a run folder from
    someone else could run anything on this machine."""
    module = env_id.split(":", 1)[0] if ":" in env_id else None
    if module is not None and module not in TRUSTED_ENV_MODULES and not allow_import:
        raise UsageError(
            f"{where} names the environment {env_id!r}, which imports the module {module!r} "
            "(running its code) when the environment is made. If you trust that run folder, "
            "pass --allow-import"
        )


def load_config_file(path: str | Path) -> RunConfig:
    """The run config in the file `path` (a run's config.json; a run folder stands for its
    config.json), checked as load_run checks it: a known algorithm, valid agent and loop configs.

    Raises FileNotFoundError or ValueError naming the file. The env id's module ("module:Id") is
    not refused: naming the file is consent to what it imports (train.py --config).
    """
    path = Path(path)
    config = run_folder.read_config(path) if path.is_dir() else run_folder.read_config_file(path)
    _build_configs(config, run_folder.config_path(path) if path.is_dir() else path)
    return config


def _build_configs(config: RunConfig, path: Path) -> tuple[Algo, Any, LoopConfig]:
    """The algorithm of `config` and its agent and loop configs, built; ValueError naming `path`."""
    try:
        algo = load_algo(config.algo)
        return algo, from_json(algo.config_cls, config.agent), from_json(LoopConfig, config.loop)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path} is not a valid run config: {err}") from None


def load_run(run_dir: str | Path, allow_import: bool = False) -> Run:
    """The run of `run_dir`, from its config.json; raises FileNotFoundError or ValueError.

    An env id naming a module to import ("module:Id") other than the project's `envs` is
    refused unless `allow_import` (see check_env_import).
    """
    run_dir = Path(run_dir)
    config = run_folder.read_config(run_dir)  # checks the types of its fields
    check_env_import(config.env_id, run_folder.config_path(run_dir), allow_import)
    algo, agent_config, loop_config = _build_configs(config, run_folder.config_path(run_dir))
    return Run(run_dir, config, algo, agent_config, loop_config)


def resume_run(run_dir: str | Path, loop_values: Mapping[str, Any] | Any = None,
               allow_import: bool = False) -> Run:
    """The run of `run_dir` with new training-loop values, checked to be resumable."""
    run = load_run(run_dir, allow_import)
    run.loop_config = from_args(LoopConfig, loop_values or {}, base=run.config.loop)
    run_folder.check_resumable(run.run_dir, run.loop_config.total_steps)
    run.config.loop = to_json(run.loop_config)
    run.config.resumed.append(run_folder.now())
    return run


def train_run(run: Run, resume: bool = False) -> History:
    """Train `run` to its total_steps (continuing its checkpoint when `resume`).

    Writes config.json, metrics.csv, the checkpoints and learning_curve.png into its folder.
    Raises NonFiniteMetricError when training diverged (after plotting what was logged).
    """
    if not resume:
        run_folder.check_fresh(run.run_dir)  # before config.json could overwrite another run's
    envs = [run.make_env(training=True) for _ in range(run.loop_config.num_envs)]
    eval_envs = [run.make_env()]
    try:
        try:
            agent = run.make_agent(envs[0])  # agents check their config and the env's spaces
        except (TypeError, ValueError, MemoryError) as err:  # MemoryError: a too-large buffer
            raise UsageError(str(err)) from None
        if len(envs) > 1 and not hasattr(agent, "act_batch"):
            raise UsageError(f"--num-envs {len(envs)}: the {run.algo_name} agent acts in one "
                             "environment at a time; use --num-envs 1 (or --algo dqn)")
        if hasattr(agent, "act_batch"):  # evaluation games side by side, one forward pass
            side_by_side = min(EVAL_ENVS, run.loop_config.eval_episodes)
            eval_envs += [run.make_env() for _ in range(side_by_side - 1)]
        if resume:  # refuse a checkpoint of another env, config or a bad state: before any write
            check_checkpoint(run_folder.checkpoint_path(run.run_dir), agent, envs[0])
        elif getattr(run.agent_config, "init_from", None):
            start_from(agent, run.agent_config.init_from, envs[0])
        for warning in run_warnings(run):  # once the run is sure to start
            print(f"warning: {warning}", file=sys.stderr)
        with run_folder.lock(run.run_dir):  # config.json too is written by the one writer
            run_folder.write_config(run.run_dir, run.config)
            loop_config = dataclasses.replace(run.loop_config, resume=resume)
            history = train(envs, agent, loop_config, run.run_dir, eval_env=eval_envs)
    except NonFiniteMetricError:
        _plot(run.run_dir)  # the curve shows where it diverged
        raise
    finally:
        for env in [*envs, *eval_envs]:
            env.close()
    _plot(run.run_dir)
    return history


def start_from(agent: Agent, source: str, env: gym.Env) -> None:
    """Load the network of `source` (--init-from: a run folder, its best checkpoint or else its
    last one, or a checkpoint file) into the new `agent`; bad sources raise UsageError."""
    path = Path(source)
    if path.is_dir():
        best, last = (run_folder.checkpoint_path(path, kind) for kind in ("best", "last"))
        path = best if best.is_file() else last
    if not path.is_file():
        raise UsageError(f"--init-from {source}: no such checkpoint; give a run folder written "
                         "by train.py or one of its checkpoint files")
    try:
        meta = load_weights(path, agent, env)
    except CheckpointError as err:
        raise UsageError(f"--init-from: {err}") from None
    step = meta.get("loop", {}).get("step") if isinstance(meta.get("loop"), dict) else None
    step = step if step is not None else (meta.get("best") or {}).get("step")
    print(f"starting from the network of {path}" + (f" (step {step:,})" if step else ""),
          file=sys.stderr)


def _plot(run_dir: Path) -> None:
    try:
        plot_learning_curves([run_dir], run_folder.curve_path(run_dir))
    except (FileNotFoundError, ValueError) as err:  # e.g. no episode finished in a tiny budget
        print(f"no learning curve: {err}", file=sys.stderr)


def settings_warnings(settings: Mapping[str, Any]) -> list[str]:
    """run_warnings of the run that train_settings would start (a sweep says them once, up
    front, rather than in every trial's train.log); [] when the settings make no valid run."""
    settings = dict(settings)
    algo, env_id = settings.pop("algo", None), settings.pop("env", None)
    settings.pop("env_kwargs", None)
    fit = bool(settings.pop("fit_schedules", False))
    if algo is None or env_id is None:
        return []
    try:
        return run_warnings(new_run(algo, env_id, settings, fit=fit))
    except (TypeError, ValueError):  # the trials report it, each in its own log
        return []


def train_settings(run_dir: str | Path, settings: Mapping[str, Any], resume: bool) -> History:
    """Train one run from a dict of settings: "algo", "env", optional "env_kwargs", and config
    fields (agent or loop, "seed" included). Resuming keeps the run's config.json and takes only
    the training-loop settings. This is the function a sweep calls for each trial."""
    settings = dict(settings)
    if resume:
        # The sweep's settings name the env the user asked for: importing it needs no consent.
        typed = run_folder.read_config(run_dir).env_id == settings.get("env")
        run = resume_run(run_dir, {k: v for k, v in settings.items() if k in LOOP_FIELDS},
                         allow_import=typed)
    else:
        algo, env_id = settings.pop("algo", None), settings.pop("env", None)
        if algo is None or env_id is None:
            raise UsageError("a run needs the settings 'algo' and 'env'")
        env_kwargs = settings.pop("env_kwargs", None)
        fit = bool(settings.pop("fit_schedules", False))
        run = new_run(algo, env_id, settings, env_kwargs=env_kwargs, run_dir=run_dir,
                      command=["train_settings", json.dumps(dict(settings), default=repr)],
                      fit=fit)
    return train_run(run, resume)
