"""Train an agent on any Gymnasium environment with discrete actions.

    python scripts/train.py --algo qlearning --env CliffWalking-v1 --total-steps 20000
    python scripts/train.py --algo dqn --env CartPole-v1 --seed 1 --learning-rate 0.0005
    python scripts/train.py --resume runs/CartPole-v1-dqn-1-20260101-120000 --total-steps 80000

Writes run_dir/config.json (the resolved configuration), metrics.csv, checkpoint.npz and
learning_curve.png, and prints where. Every field of the algorithm's config dataclass is a flag
(`--algo NAME --help` lists them); values come from, in increasing priority: the dataclass
defaults, the algorithm's preset for the environment id, the command line.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import importlib.metadata
import json
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python scripts/train.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gymnasium as gym
import numpy as np

import envs  # noqa: F401 - registers the PacGrid environments with Gymnasium
from nets.io import write_json
from rl.checkpoint import load_checkpoint_meta
from rl.config import add_dataclass_args, from_json, given_fields, to_json
from rl.loop import (
    CHECKPOINT_NAME,
    METRICS_NAME,
    LoopConfig,
    NonFiniteMetricError,
    load_agent_state,
    train,
)
from rl.plotting import plot_learning_curves
from rl.protocol import Agent
from rl.seeding import make_rng

CONFIG_NAME = "config.json"
CURVE_NAME = "learning_curve.png"
AGENT_STREAM = 0  # the agent's rng is make_rng([seed, AGENT_STREAM]); the loop's is make_rng(seed)


@dataclasses.dataclass(frozen=True)
class Algo:
    """How this script builds one algorithm."""

    # The algorithm's config dataclass (its fields become flags).
    config_cls: type
    # factory(env, config, rng) -> agent
    make_agent: Callable[[gym.Env, Any, np.random.Generator], Agent]
    # Config overrides per environment id (agent fields and/or LoopConfig fields).
    presets: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    # Config fields decided by the algorithm's name, not by flags (e.g. method="sarsa").
    fixed: dict[str, Any] = dataclasses.field(default_factory=dict)
    # Wrappers the agent needs around a made env (e.g. frame stacking): wrap_env(env, config).
    wrap_env: Callable[[gym.Env, Any], gym.Env] | None = None


def _tabular(method: str) -> Algo:
    from agents import q_learning

    def make_agent(env, config, rng):
        return q_learning.QLearningAgent(env.observation_space, env.action_space, config, rng)

    return Algo(
        q_learning.QLearningConfig,
        make_agent,
        presets=getattr(q_learning, "presets", {}),
        fixed={"method": method},
    )


def _dqn() -> Algo:
    from agents import dqn

    def make_agent(env, config, rng):
        return dqn.DQNAgent(env.observation_space, env.action_space, config, rng)

    return Algo(dqn.DQNConfig, make_agent, presets=dqn.presets, wrap_env=dqn.wrap_env)


# name -> loader; agents are imported only when their algorithm is asked for.
ALGOS: dict[str, Callable[[], Algo]] = {
    "qlearning": lambda: _tabular("qlearning"),
    "sarsa": lambda: _tabular("sarsa"),
    "expected_sarsa": lambda: _tabular("expected_sarsa"),
    "dqn": _dqn,
}


class UsageError(Exception):
    """A bad command-line value; main() reports it the argparse way (exit status 2)."""


def load_algo(name: str) -> Algo:
    """The registry entry `name`, imported now."""
    if name not in ALGOS:
        raise UsageError(f"unknown algorithm {name!r}; choose one of {', '.join(ALGOS)}")
    try:
        return ALGOS[name]()
    except ImportError as err:
        raise UsageError(f"algorithm {name!r} is not available here: {err}") from None


def preset_key(env_id: str) -> str:
    """Presets are keyed by the plain id: "envs:PacGrid/Small-v0" -> "PacGrid/Small-v0"."""
    return env_id.split(":", 1)[1] if ":" in env_id else env_id


def make_env(
    env_id: str, env_kwargs: dict[str, Any], algo: Algo, config: Any, render_mode: str | None = None
) -> gym.Env:
    """gym.make the environment (plus the algorithm's wrappers); bad ids raise UsageError."""
    kwargs = dict(env_kwargs)
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    try:
        env = gym.make(env_id, **kwargs)
    except (gym.error.Error, ModuleNotFoundError) as err:
        raise UsageError(
            f"cannot make environment {env_id!r}: {err}. Use a registered Gymnasium id such as "
            "CartPole-v1, FrozenLake-v1 or PacGrid/Small-v0, or 'module:Id' to import the "
            "module that registers it"
        ) from None
    except TypeError as err:
        raise UsageError(f"environment {env_id!r} rejected its arguments {kwargs}: {err}") from None
    return algo.wrap_env(env, config) if algo.wrap_env is not None else env


def default_run_dir(env_id: str, algo: str, seed: int) -> Path:
    """runs/<env>-<algo>-<seed>-<YYYYmmdd-HHMMSS>, with '/' and ':' made filename-safe."""
    safe_env = env_id.replace("/", "_").replace(":", "_")
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{safe_env}-{algo}-{seed}-{stamp}"


def versions() -> dict[str, str]:
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



@dataclasses.dataclass
class Run:
    """A run folder's configuration, rebuilt from its config.json."""

    run_dir: Path
    algo_name: str
    algo: Algo
    env_id: str
    env_kwargs: dict[str, Any]
    seed: int
    agent_config: Any
    loop_config: LoopConfig

    def make_env(self, render_mode: str | None = None) -> gym.Env:
        return make_env(self.env_id, self.env_kwargs, self.algo, self.agent_config, render_mode)

    def make_agent(self, env: gym.Env) -> Agent:
        """A fresh, untrained agent for this run's config."""
        rng = make_rng([self.seed, AGENT_STREAM])
        return self.algo.make_agent(env, self.agent_config, rng)

    def load_agent(self, env: gym.Env) -> tuple[Agent, dict]:
        """The trained agent from checkpoint.npz, and the checkpoint's metadata."""
        path = self.run_dir / CHECKPOINT_NAME
        if not path.is_file():
            raise FileNotFoundError(f"{self.run_dir} has no {CHECKPOINT_NAME}; train it first")
        agent = self.make_agent(env)
        return agent, load_agent_state(path, agent)


def load_run(run_dir: str | Path) -> Run:
    """Read run_dir/config.json; raises FileNotFoundError/ValueError with what is wrong."""
    run_dir = Path(run_dir)
    config_path = run_dir / CONFIG_NAME
    if not config_path.is_file():
        raise FileNotFoundError(
            f"{run_dir} has no {CONFIG_NAME}: is it a run folder written by scripts/train.py?"
        )
    try:
        config = json.loads(config_path.read_text())
        algo_name = config["algo"]
        algo = load_algo(algo_name)
        return Run(
            run_dir=run_dir,
            algo_name=algo_name,
            algo=algo,
            env_id=config["env_id"],
            env_kwargs=config.get("env_kwargs", {}),
            seed=int(config["seed"]),
            agent_config=from_json(algo.config_cls, config["agent"]),
            loop_config=from_json(LoopConfig, config["loop"]),
        )
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, UsageError) as err:
        raise ValueError(f"{config_path} is not a valid run config: {err}") from None


def json_object(text: str) -> dict:
    """argparse type for --env-kwargs: a JSON object."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON ({err.msg}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object such as {{}}, got {text!r}")
    return value


def build_parser(algo: Algo | None, algo_name: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="train.py",
        description=__doc__,
        epilog="Add --algo NAME --help to list that algorithm's hyperparameters.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--algo", choices=list(ALGOS), help="learning algorithm")
    parser.add_argument("--env", dest="env_id", metavar="ID",
                        help="Gymnasium environment id, e.g. CartPole-v1 or PacGrid/Small-v0")
    parser.add_argument("--env-kwargs", type=json_object, metavar="JSON", default=None,
                        help='extra gym.make arguments, e.g. \'{"ghosts": "directional"}\'')
    parser.add_argument("--run-dir", type=Path, default=None,
                        help="output folder (default: runs/<env>-<algo>-<seed>-<time>)")
    parser.add_argument("--resume", dest="resume_dir", type=Path, metavar="RUN_DIR", default=None,
                        help="continue the run in RUN_DIR from its checkpoint.npz")
    loop_group = parser.add_argument_group("training loop (LoopConfig)")
    add_dataclass_args(loop_group, LoopConfig, exclude=["resume"])
    if algo is not None:
        loop_fields = {f.name for f in dataclasses.fields(LoopConfig)}
        title = f"{algo_name} hyperparameters ({algo.config_cls.__name__})"
        group = parser.add_argument_group(title)
        add_dataclass_args(group, algo.config_cls, exclude=loop_fields | set(algo.fixed))
    return parser


def resolve_new_run(args: argparse.Namespace, algo: Algo, argv: list[str]) -> tuple[Run, dict]:
    """Layer defaults < preset < flags into the configs of a new run."""
    if args.env_id is None:
        raise UsageError("--env ID is required (or --resume RUN_DIR)")
    preset = dict(algo.presets.get(preset_key(args.env_id), {}))
    loop_names = {f.name for f in dataclasses.fields(LoopConfig)}
    agent_names = {f.name for f in dataclasses.fields(algo.config_cls)}
    loop_values = {**{k: v for k, v in preset.items() if k in loop_names},
                   **given_fields(LoopConfig, args)}
    loop_config = from_json(LoopConfig, loop_values)
    agent_values = {k: v for k, v in preset.items() if k not in loop_names}
    agent_values.update(given_fields(algo.config_cls, args))
    # A field both configs have (e.g. a seed) takes the loop's resolved value.
    agent_values.update({k: getattr(loop_config, k) for k in agent_names & loop_names})
    agent_values.update(algo.fixed)
    agent_config = from_json(algo.config_cls, agent_values)
    run_dir = args.run_dir or default_run_dir(args.env_id, args.algo, loop_config.seed)
    run = Run(run_dir, args.algo, algo, args.env_id, args.env_kwargs or {}, loop_config.seed,
              agent_config, loop_config)
    config = {
        "algo": args.algo,
        "env_id": args.env_id,
        "env_kwargs": run.env_kwargs,
        "seed": run.seed,
        "loop": to_json(dataclasses.replace(loop_config, resume=False)),
        "agent": to_json(agent_config),
        "preset": preset,
        "versions": versions(),
        "command": ["scripts/train.py", *argv],
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    return run, config


def resolve_resume(args: argparse.Namespace, run: Run) -> tuple[Run, dict]:
    """The stored run, with the loop settings the user changed (e.g. a larger --total-steps)."""
    config = json.loads((run.run_dir / CONFIG_NAME).read_text())
    if not (run.run_dir / CHECKPOINT_NAME).is_file():
        raise UsageError(f"cannot resume {run.run_dir}: it has no {CHECKPOINT_NAME}")
    changed = sorted(given_fields(run.algo.config_cls, args))
    if "seed" in given_fields(LoopConfig, args):
        changed.append("seed")
    if args.env_id is not None and args.env_id != run.env_id:
        changed.append("env")
    if args.algo is not None and args.algo != run.algo_name:
        changed.append("algo")
    if args.env_kwargs is not None or args.run_dir is not None:
        changed.append("env-kwargs/run-dir")
    if changed:
        flags = ", ".join("--" + name.replace("_", "-") for name in changed)
        raise UsageError(
            f"{flags} cannot change when resuming (the run continues with its config.json); "
            "only the training-loop flags such as --total-steps can"
        )
    loop_values = {**to_json(run.loop_config), **given_fields(LoopConfig, args)}
    run.loop_config = from_json(LoopConfig, loop_values)
    done = load_checkpoint_meta(run.run_dir / CHECKPOINT_NAME)["loop"]["step"]
    if done > run.loop_config.total_steps:
        raise UsageError(
            f"{run.run_dir} has trained {done} steps already; pass a --total-steps of at least that"
        )
    config["loop"] = to_json(run.loop_config)
    config.setdefault("resumed", []).append(
        dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    )
    return run, config


def prepare(argv: list[str]) -> tuple[Run, dict, bool, argparse.ArgumentParser]:
    """Parse the command line into a run (new or resumed) and its config.json contents.

    Parsing happens in two passes: the first finds --algo (or the algorithm of the run to
    resume), so the second parser can offer that algorithm's hyperparameters as flags.
    """
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--algo")
    first.add_argument("--resume", type=Path)
    known, _ = first.parse_known_args(argv)
    plain = build_parser(None, None)
    try:
        stored = load_run(known.resume) if known.resume is not None else None
        algo_name = stored.algo_name if stored is not None else known.algo
        algo = load_algo(algo_name) if algo_name is not None else None
    except (FileNotFoundError, ValueError, UsageError) as err:
        plain.error(str(err))
    parser = build_parser(algo, algo_name)
    args = parser.parse_args(argv)
    try:
        if stored is not None:
            run, config = resolve_resume(args, stored)
        elif algo is None:
            raise UsageError(f"--algo is required; choose one of {', '.join(ALGOS)}")
        else:
            run, config = resolve_new_run(args, algo, argv)
            if (run.run_dir / CHECKPOINT_NAME).exists():
                raise UsageError(f"{run.run_dir} already holds a run; resume it with "
                                 f"--resume {run.run_dir}")
            if (run.run_dir / METRICS_NAME).exists():
                raise UsageError(f"{run.run_dir} holds the metrics of a run that never wrote a "
                                 "checkpoint; delete that folder or choose another --run-dir")
    except (UsageError, ValueError, TypeError) as err:
        parser.error(str(err))
    return run, config, stored is not None, parser


def main(argv: list[str] | None = None) -> int:
    run, config, resuming, parser = prepare(list(sys.argv[1:] if argv is None else argv))
    try:
        env, eval_env = run.make_env(), run.make_env()
        agent = run.make_agent(env)  # agents check their config and the env's spaces
    except (UsageError, ValueError, TypeError) as err:
        parser.error(str(err))
    run.run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run.run_dir / CONFIG_NAME, config)
    loop_config = dataclasses.replace(run.loop_config, resume=resuming)
    print(f"training {run.algo_name} on {run.env_id} (seed {run.seed}) into {run.run_dir}")
    status = 0
    try:
        history = train(env, agent, loop_config, run.run_dir, eval_env=eval_env)
        summary = {"steps": history.steps, "episodes": history.episodes,
                   "elapsed_s": round(history.elapsed_s, 1)}
        if history.evaluations:
            last = history.evaluations[-1]
            summary.update({k: v for k, v in last.items() if k.startswith("eval_")})
        print(json.dumps(summary))
    except NonFiniteMetricError as err:
        print(f"error: {err}", file=sys.stderr)
        status = 1  # still plot what was logged: the curve shows where it diverged
    except (FileExistsError, FileNotFoundError, ValueError) as err:  # incl. CheckpointError
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\ninterrupted; continue with: python scripts/train.py --resume {run.run_dir}",
              file=sys.stderr)
        return 130
    finally:
        env.close()
        eval_env.close()
    written = [name for name in (CONFIG_NAME, METRICS_NAME, CHECKPOINT_NAME)
               if (run.run_dir / name).exists()]
    try:
        plot_learning_curves([run.run_dir], run.run_dir / CURVE_NAME)
        written.append(CURVE_NAME)
    except ValueError as err:  # e.g. no episode finished within a tiny budget
        print(f"no learning curve: {err}", file=sys.stderr)
    print(f"wrote {', '.join(written)} in {run.run_dir}")
    return status


if __name__ == "__main__":
    sys.exit(main())
