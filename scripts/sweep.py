"""Run a grid of configurations x seeds, locally or on Ray; report them with confidence intervals.

    python scripts/sweep.py run examples/sweeps/frozenlake_alpha.toml
    python scripts/sweep.py run --name cliff --base algo=qlearning --base env=CliffWalking-v1 \\
        --base total_steps=5000 --grid gamma=0.9,0.99 --seeds 0 1 2
    python scripts/sweep.py run my_sweep.toml --backend ray --address auto
    python scripts/sweep.py report runs/frozenlake-alpha
    python scripts/sweep.py archive runs/frozenlake-alpha docs/data/frozenlake-alpha

Each trial is one ordinary training run, a call of `agents.registry.train_settings`, writing its
own folder `runs/<sweep>/<configuration>/seed=<seed>/` (e.g. `runs/cliff/gamma=0.9/seed=1/`), so
the plot and watch scripts work on it as on any run. Grid and base keys are the training flags'
names written with underscores (`learning_rate = [1e-3, 3e-4]`, `env = "CartPole-v1"`); their
values go to the configs as they are (a schedule as its JSON object, or a number). An ablation
is a sweep file's `[variants.<name>]` tables, each a configuration of settings over the base
(`[variants.preset]` empty, `[variants.no-dueling]` with `dueling = false`, ...): see
examples/sweeps/small_v1_ablation.json.

Rerunning a sweep skips the trials that finished (their `trial.json` says "done"), resumes the
interrupted ones from their checkpoints, and retries the failed ones. A failing trial is reported
with its error; the others go on.

`report` gives, per configuration, the final and best greedy evaluation score over seeds (the
win rate where every run reports wins, as the Pac-Man game does, else the return; `--metric`
chooses) as mean, median and interquartile mean with stratified bootstrap 95% confidence
intervals (rl.stats), in a Markdown table (report.md), plus learning curves with bands
(learning_curves.png, with `--reference LABEL=SCORE` level lines such as the planner's win rate)
and performance profiles (performance_profile.png). A report needs only each trial's trial.json
and metrics.csv (and the sweep's spec): a finished sweep's folder without its checkpoints
still reports, and copied back under runs/ it lets a rerun skip the trials it holds: `archive`
copies just that (sweep.json; each finished trial's trial.json, config.json and the evaluation
rows of its metrics.csv), small enough to keep with the code while a long sweep goes on
elsewhere.

The sweep itself is rl.sweep (plan, run) and rl.sweep_report (report); this script parses the
flags, calls them and prints what happens and where it wrote.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

if __package__ in (None, ""):  # run as `python scripts/sweep.py`: make the packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.registry import settings_warnings
from rl import hints, sweep
from rl.sweep import DEFAULT_ENTRY, SweepConfig, SweepError
from rl.sweep_report import METRICS, archive, write_report


def parse_value(text: str) -> Any:
    """A command-line value: JSON when it parses (numbers, true/false, lists), else the text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _split_assignment(text: str, option: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise SweepError(f"{option} takes KEY=VALUE, got {text!r}")
    return key.strip().replace("-", "_"), value


def config_from_args(args: argparse.Namespace) -> SweepConfig:
    """The sweep file (if any), then the command line on top of it."""
    cfg = sweep.load_sweep_file(args.sweep_file) if args.sweep_file else SweepConfig()
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
    sweep.check_config(cfg)
    return cfg


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    plan = sweep.prepare(cfg)  # it may refuse the sweep before writing anything
    trials, to_run = plan.trials, plan.to_run
    print(
        f"sweep {cfg.name}: {len(trials)} trials ({len(trials) // len(cfg.seeds)} configurations"
        f" x {len(cfg.seeds)} seeds); {len(plan.finished)} already done, {plan.resuming} to "
        f"resume, {len(to_run) - plan.resuming} to start; backend {args.backend}"
    )
    if cfg.entry == DEFAULT_ENTRY:  # said once here, not only in every trial's train.log
        said = set()
        for trial in trials:
            for warning in settings_warnings(trial.settings):
                if warning not in said:
                    said.add(warning)
                    print(f"warning: {trial.config_name}: {warning}", file=sys.stderr)
    run_dirs = {trial.name: Path(trial.run_dir) for trial in trials}
    results = sweep.run_trials(to_run, args.backend, args.workers, args.address,
                               args.cpus_per_trial)
    failed = []
    try:
        with tqdm(total=len(trials), initial=len(plan.finished), desc=cfg.name,
                  unit="trial") as bar:
            for result in results if to_run else ():
                tqdm.write(sweep.describe(result, run_dirs[result.name]))
                if result.status != "done":
                    failed.append(result)
                bar.update()
    except KeyboardInterrupt:
        results.close()  # stops the backend's workers now, not at interpreter exit
        print(f"\ninterrupted: rerun the same command to resume the sweep in {plan.sweep_dir}")
        return 130
    print(f"wrote {len(trials)} trial folders under {plan.sweep_dir}")
    if failed:
        print(f"{len(failed)} trial(s) failed (their train.log says more); rerun to retry them:")
        for result in failed:
            print(f"  {result.name}: {result.error}")
        return 1
    print(f"report: {hints.command('sweep.py', 'report', plan.sweep_dir)}")
    return 0


def archive_sweep(args: argparse.Namespace) -> int:
    copied = archive(args.sweep_dir, args.dest)
    print(f"copied {len(copied)} finished trial(s) of {args.sweep_dir} into {args.dest}: what a "
          "report reads, without checkpoints")
    print(f"to go on elsewhere: copy {args.dest} to runs/{Path(args.sweep_dir).name} and rerun the "
          "sweep; finished trials are skipped")
    return 0


def report(args: argparse.Namespace) -> int:
    text, written = write_report(args.sweep_dir, args.reps, args.confidence, args.bootstrap_seed,
                                 args.metric, args.reference)
    print(text)
    for path in written:
        print(f"wrote {path}")
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
        description="Per configuration: final and best greedy score (the win rate where the "
                    "env reports wins, else the return), mean/median/IQM with stratified "
                    "bootstrap CIs; learning curves; performance profiles.",
    )
    report_parser.add_argument("sweep_dir", help="the sweep's folder, e.g. runs/NAME")
    report_parser.add_argument("--reps", type=_positive_int, default=2000,
                               help="bootstrap resamples (default 2000)")
    report_parser.add_argument("--confidence", type=float, default=0.95,
                               help="confidence level of the intervals (default 0.95)")
    report_parser.add_argument("--bootstrap-seed", type=int, default=0,
                               help="seed of the bootstrap's generator (default 0)")
    report_parser.add_argument("--metric", choices=sorted(METRICS),
                               help="what to score runs by (default: win_rate when every run "
                                    "reports wins, else return)")
    report_parser.add_argument("--reference", action="append", default=[], type=_reference,
                               metavar="LABEL=SCORE",
                               help="a level line on the learning curves, named in the table, "
                                    "e.g. --reference 'planner, depth 3=0.97' (repeatable)")
    report_parser.set_defaults(handler=report)

    archive_parser = commands.add_parser(
        "archive", help="copy what a report needs of a sweep (no checkpoints) into a folder",
        description="Copy the sweep's spec and, for each finished trial, its marker, its run "
                    "config and the evaluation rows of its metrics: a small folder that reports "
                    "like the sweep and, copied back under runs/, lets a rerun skip those trials.",
    )
    archive_parser.add_argument("sweep_dir", help="the sweep's folder, e.g. runs/NAME")
    archive_parser.add_argument("dest", help="the folder to copy into")
    archive_parser.set_defaults(handler=archive_sweep)
    return parser


def _reference(text: str) -> tuple[str, float]:
    label, sep, score = text.rpartition("=")
    try:
        if not sep or not label.strip():
            raise ValueError
        return label.strip(), float(score)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be LABEL=SCORE with a number after the last '=', e.g. 'planner=0.97', "
            f"got {text!r}") from None


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
    except SweepError as err:  # the sweep's own usage errors: argparse's status, 2
        print(f"sweep.py: error: {err}", file=sys.stderr)
        return 2
    except SystemExit as exit_:
        if isinstance(exit_.code, str):  # rl.trials.run_ray without Ray installed
            print(f"sweep.py: error: {exit_.code}", file=sys.stderr)
            return 2
        raise
    except OSError as err:  # e.g. a read-only --out
        print(f"sweep.py: error: cannot write {err.filename}: {err.strerror or err}. Choose a "
              "writable --out folder", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
