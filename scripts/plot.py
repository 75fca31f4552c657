"""Plot learning curves of one or several runs into a PNG.

    python scripts/plot.py runs/CartPole-v1-dqn-* --out runs/cartpole_dqn.png

Runs of the same algorithm on the same environment (several seeds) are drawn as their mean
with a shaded ± std band; different algorithms get one curve each, in the same colour in every
panel. Left: training-episode returns (moving average); right: greedy evaluation returns (and
the win rate, for the Pac-Man game). Runs of different environments get one row each.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as `python scripts/plot.py`: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rl.plotting import plot_learning_curves
from rl.run import curve_path


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
    parser.add_argument("--title", default=None,
                        help="figure title (default: the env id, or how many runs for several)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.smooth < 1:
        parser.error(f"--smooth must be >= 1, got {args.smooth}")
    out = args.out
    if out is None:
        one = len(args.run_dirs) == 1
        out = curve_path(args.run_dirs[0]) if one else Path("runs/learning_curves.png")
    try:
        path = plot_learning_curves(args.run_dirs, out, smooth_episodes=args.smooth,
                                    title=args.title)
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    print(f"wrote {path} ({len(args.run_dirs)} run(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
