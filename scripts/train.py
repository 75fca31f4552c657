"""Train an agent on any Gymnasium environment with discrete actions.

    python scripts/train.py --algo qlearning --env CliffWalking-v1 --total-steps 20000
    python scripts/train.py --algo dqn --env CartPole-v1 --seed 1 --learning-rate 0.0005
    python scripts/train.py --resume runs/CartPole-v1-dqn-1-20260101-120000 --total-steps 80000
    python scripts/train.py --config runs/CartPole-v1-dqn-1-20260101-120000/config.json --seed 3

Writes the run folder (rl.run: the resolved configuration, the metrics, the last and the best
checkpoint and the learning curve) and prints where. Every field of the algorithm's config
dataclass is a flag (`--algo NAME --help` lists them); values come from, in increasing
priority: the dataclass defaults, the algorithm's preset for the environment id, the command
line. With --config, a new run starts from another run's config.json instead (its algorithm,
environment, env kwargs, agent and loop settings), and the flags given override those.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python scripts/train.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import envs  # noqa: F401 - registers the PacGrid environments with Gymnasium
from agents.registry import (
    ALGOS,
    Algo,
    Run,
    UsageError,
    load_algo,
    load_config_file,
    load_run,
    new_run,
    preset_for,
    resume_run,
    train_run,
)
from rl import hints
from rl import run as run_folder
from rl.config import ArgumentParser, add_dataclass_args, given_fields, json_object
from rl.loop import LoopConfig, NonFiniteMetricError, describe_evaluation


def describe_os_error(err: OSError) -> str:
    """One line about a failed write: what, where, and what to do."""
    if err.strerror is None:  # already a sentence (e.g. rl.loop's failed checkpoint)
        return str(err)
    return (f"cannot write {err.filename}: {err.strerror}. Choose a writable --run-dir, or free "
            "disk space")


def build_parser(algo: Algo | None, algo_name: str | None, env_id: str | None = None,
                 env_kwargs: dict[str, Any] | None = None) -> argparse.ArgumentParser:
    """The parser of train.py; with `algo`, its hyperparameters as flags, whose help shows the
    preset values of `env_id` (with `env_kwargs`: and its variant) where it has a preset."""
    parser = ArgumentParser(
        prog="train.py",
        description=__doc__,
        epilog="Add --algo NAME --help to list that algorithm's hyperparameters.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--algo", choices=list(ALGOS), help="learning algorithm")
    parser.add_argument("--env", dest="env_id", metavar="ID",
                        help="Gymnasium environment id, e.g. CartPole-v1 or PacGrid/Small-v1")
    parser.add_argument("--env-kwargs", type=json_object, metavar="JSON", default=None,
                        help='extra gym.make arguments, e.g. \'{"ghosts": "directional"}\'')
    parser.add_argument("--run-dir", type=Path, default=None,
                        help="output folder (default: runs/<env>-<algo>-<seed>-<time>)")
    parser.add_argument("--resume", dest="resume_dir", type=Path, metavar="RUN_DIR", default=None,
                        help="continue the run in RUN_DIR from its last checkpoint")
    parser.add_argument("--config", dest="config_file", type=Path, metavar="CONFIG_JSON",
                        default=None,
                        help=f"start a new run with the settings of another run's "
                             f"{run_folder.CONFIG_NAME} (algorithm, env, env kwargs, agent and "
                             "loop settings; its run folder will do too); the flags "
                             "given here override them. Naming the file lets its env id "
                             "'module:Id' import its module")
    parser.add_argument("--allow-import", action="store_true",
                        help="with --resume: let the run's env id 'module:Id' import its module")
    parser.add_argument("--fit-schedules", action="store_true",
                        help="scale the preset's linear schedules (ε, α, learning rate) by "
                             "--total-steps / the preset's total_steps, so that they end where "
                             "they end in the preset's run (schedules given as flags are kept)")
    preset = preset_for(algo, env_id, env_kwargs) if algo is not None and env_id else None
    preset_name = env_id or ""
    if preset and env_kwargs and preset != preset_for(algo, env_id):
        preset_name += " " + json.dumps(env_kwargs)
    loop_group = parser.add_argument_group("training loop (LoopConfig)")
    add_dataclass_args(loop_group, LoopConfig, exclude=["resume"], preset=preset,
                       preset_name=preset_name)
    if algo is not None:
        loop_fields = {f.name for f in dataclasses.fields(LoopConfig)}
        title = f"{algo_name} hyperparameters ({algo.config_cls.__name__})"
        if preset:
            title += f", with the {preset_name} preset"
        group = parser.add_argument_group(title)
        add_dataclass_args(group, algo.config_cls, exclude=loop_fields | set(algo.fixed),
                           preset=preset, preset_name=preset_name)
    return parser


def check_resume_flags(args: argparse.Namespace, stored: Run) -> None:
    """Only training-loop flags may change when resuming: the rest is the run's config.json."""
    changed = sorted(given_fields(stored.algo.config_cls, args))
    if "seed" in given_fields(LoopConfig, args):
        changed.append("seed")
    if args.env_id is not None and args.env_id != stored.env_id:
        changed.append("env")
    if args.algo is not None and args.algo != stored.algo_name:
        changed.append("algo")
    if args.env_kwargs is not None or args.run_dir is not None:
        changed.append("env-kwargs/run-dir")
    if args.fit_schedules:
        changed.append("fit-schedules")
    if changed:
        flags = ", ".join("--" + name.replace("_", "-") for name in changed)
        raise UsageError(
            f"{flags} cannot change when resuming (the run continues with its recorded config); "
            "only the training-loop flags such as --total-steps can"
        )


def prepare(argv: list[str]) -> tuple[Run, bool, argparse.ArgumentParser]:
    """Parse the command line into a run (new or resumed).

    Parsing happens in two passes: the first finds --algo (or the algorithm of the run to
    resume), so the second parser can offer that algorithm's hyperparameters as flags.
    """
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--algo")
    first.add_argument("--resume", type=Path)
    first.add_argument("--config", type=Path)
    first.add_argument("--allow-import", action="store_true")
    first.add_argument("--env")
    first.add_argument("--env-kwargs")
    known, _ = first.parse_known_args(argv)
    plain = build_parser(None, None)
    try:
        if known.resume is not None and known.config is not None:
            raise UsageError("--config starts a new run and --resume continues one: give one")
        stored = (load_run(known.resume, known.allow_import) if known.resume is not None
                  else None)
        base = load_config_file(known.config) if known.config is not None else None
        if base is not None and known.algo is not None and known.algo != base.algo:
            raise UsageError(f"--algo {known.algo}: the run config {known.config} is of "
                             f"{base.algo}, whose agent settings another algorithm cannot take; "
                             f"leave out --algo (or use --algo {known.algo} --env ... instead)")
        algo_name = (stored.algo_name if stored is not None
                     else base.algo if base is not None else known.algo)
        algo = load_algo(algo_name) if algo_name is not None else None
    except (FileNotFoundError, ValueError) as err:
        plain.error(str(err))
    try:  # for the preset shown in --help; the second pass reports a malformed value
        env_kwargs = json_object(known.env_kwargs) if known.env_kwargs is not None else None
    except (argparse.ArgumentTypeError, ValueError):
        env_kwargs = None
    parser = build_parser(algo, algo_name, known.env if stored is None else None, env_kwargs)
    args = parser.parse_args(argv)
    try:
        if stored is not None:
            check_resume_flags(args, stored)
            run = resume_run(stored.run_dir, args, allow_import=args.allow_import)
        elif base is not None:  # the config's settings < the flags given
            run = new_run(base.algo, args.env_id or base.env_id, args,
                          env_kwargs=(args.env_kwargs if args.env_kwargs is not None
                                      else base.env_kwargs),
                          run_dir=args.run_dir, command=["scripts/train.py", *argv],
                          fit=args.fit_schedules, base=base)
            run_folder.check_fresh(run.run_dir)
        elif algo is None:
            raise UsageError(f"--algo is required (choose one of {', '.join(ALGOS)}), or --config "
                             "CONFIG_JSON to start from another run's settings")
        elif args.env_id is None:
            raise UsageError("--env ID is required (or --resume RUN_DIR)")
        else:
            # The flags given (and only those: argparse.SUPPRESS) override the preset.
            run = new_run(args.algo, args.env_id, args, env_kwargs=args.env_kwargs,
                          run_dir=args.run_dir, command=["scripts/train.py", *argv],
                          fit=args.fit_schedules)
            run_folder.check_fresh(run.run_dir)
    except (ValueError, TypeError) as err:  # UsageError, RunFolderError, bad config values
        parser.error(str(err))
    return run, stored is not None, parser


def main(argv: list[str] | None = None) -> int:
    run, resuming, parser = prepare(list(sys.argv[1:] if argv is None else argv))
    print(f"training {run.algo_name} on {run.env_id} (seed {run.seed}) into {run.run_dir}")
    status = 0
    try:
        history = train_run(run, resume=resuming)
        summary = {"steps": history.steps, "episodes": history.episodes,
                   "elapsed_s": round(history.elapsed_s, 1)}
        if history.evaluations:
            last = history.evaluations[-1]
            summary.update({k: v for k, v in last.items() if k.startswith("eval_")})
        if history.best is not None:
            summary["best_step"] = history.best["step"]
        if history.stopped_early:
            print(f"stopped at step {history.steps:,}: {history.stopped_early}")
        print(json.dumps(summary))
    except UsageError as err:  # e.g. the agent refused the environment's spaces
        parser.error(str(err))
    except NonFiniteMetricError as err:
        print(f"error: {err}", file=sys.stderr)
        status = 1  # the curve of what was logged is plotted: it shows where it diverged
    except (FileExistsError, FileNotFoundError, TypeError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)  # incl. CheckpointError
        return 1
    except OSError as err:  # a read-only folder, a full disk
        print(f"error: {describe_os_error(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted; continue with: {hints.command('train.py', '--resume', run.run_dir)}",
              file=sys.stderr)
        return 130
    paths = [run_folder.config_path(run.run_dir), run_folder.metrics_path(run.run_dir),
             *(run_folder.checkpoint_path(run.run_dir, kind) for kind in ("last", "best")),
             run_folder.curve_path(run.run_dir)]
    written = [path.name for path in paths if path.exists()]
    print(f"wrote {', '.join(written)} in {run.run_dir}")
    if status == 0 and history.best is not None:
        print(f"best checkpoint: step {history.best['step']:,} "
              f"({describe_evaluation(history.best)}); watch it with "
              f"{hints.command('watch.py', run.run_dir, '--checkpoint', 'best')}")
    return status


if __name__ == "__main__":
    sys.exit(main())
