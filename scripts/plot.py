"""Plot learning curves of one or several runs into a PNG.

    python scripts/plot.py runs/CartPole-v1-dqn-* --out runs/cartpole_dqn.png
    python scripts/plot.py runs/PacGrid-Small-v1-dqn-* --reference PacGrid/Small-v1=0.92
    python scripts/plot.py runs/a runs/b runs/c --label preset --label preset --label "no PER"

Runs of the same algorithm on the same environment (several seeds) are drawn as their mean
with a shaded ± std band; different algorithms get one curve each, in the same colour in every
panel. Left: training-episode returns (moving average); right: greedy evaluation returns (and
the win rate, for the Pac-Man game, where --reference draws a yardstick such as the planner's
win rate as a dashed line). Runs of different environments get one row each. --label names
each run's curve instead of its algorithm, so that runs of one algorithm with different
settings are told apart (runs with the same label are averaged). Runs averaged into one curve
that end at different steps are cut to the shortest, with a warning naming them.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

if __package__ in (None, ""):  # run as `python scripts/plot.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rl.plotting import plot_learning_curves
from rl.run import curve_path


def reference(text: str) -> tuple[str, float]:
    """ENV_ID=RATE -> (env id, win rate in [0, 1]), for --reference."""
    env_id, _, rate = text.rpartition("=")
    try:
        value = float(rate)
    except ValueError:
        value = float("nan")
    if not env_id or not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"wants ENV_ID=RATE with a win rate in [0, 1], e.g. "
                                         f"PacGrid/Small-v1=0.92; got {text!r}")
    return env_id, value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plot.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR",
                        help="folders written by train.py")
    parser.add_argument("--out", type=Path, default=None, metavar="PNG",
                        help="output image (default: the run's learning curve for one run, "
                        "runs/learning_curves.png for several)")
    parser.add_argument("--smooth", type=int, default=20,
                        help="episodes in the moving average of training returns (default: 20)")
    parser.add_argument("--reference", action="append", default=[], metavar="ENV_ID=RATE",
                        type=reference,
                        help="draw a dashed win-rate line for that environment's row, e.g. "
                        "PacGrid/Small-v1=0.92 (what scripts/pacman_planner.py wins there); "
                        "repeat for several environments")
    parser.add_argument("--reference-label", default="planner",
                        help="legend label of the --reference lines (default: planner)")
    parser.add_argument("--label", action="append", default=None, metavar="NAME",
                        help="the curve a run belongs to, once per run in the order of the runs "
                        "(default: the run's algorithm); runs with the same label are averaged")
    parser.add_argument("--title", default=None,
                        help="figure title (default: the env id, or how many runs for several)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.smooth < 1:
        parser.error(f"--smooth must be >= 1, got {args.smooth}")
    if args.label is not None and len(args.label) != len(args.run_dirs):
        parser.error(f"--label given {len(args.label)} times for {len(args.run_dirs)} runs: "
                     "give it once per run, in the order of the runs, or not at all")
    out = args.out
    if out is None:
        one = len(args.run_dirs) == 1
        out = curve_path(args.run_dirs[0]) if one else Path("runs/learning_curves.png")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            path = plot_learning_curves(args.run_dirs, out, smooth_episodes=args.smooth,
                                        title=args.title, win_rate_references=dict(args.reference),
                                        reference_label=args.reference_label, labels=args.label)
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    print(f"wrote {path} ({len(args.run_dirs)} run(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
