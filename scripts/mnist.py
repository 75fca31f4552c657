"""The experiments of *Deep Learning from Scratch* on MNIST / Fashion-MNIST, one subcommand each.

Every demo trains nets models on the real dataset, writes PNG plots and a metrics.json into its
output folder (default: a new folder for each run, runs/mnist/<demo>-<data>-<seed>-<time>), and
prints where. Quick try:
`python scripts/mnist.py convnet --data fashion --epochs 1`. Tiny runs: add `--subset 2000`.

Data: the four IDX files are looked for in --data-dir, then ~/.cache/rlsandbox/<mnist|fashion>
($XDG_CACHE_HOME respected), then (Fashion-MNIST) /usr/share/datasets/fashion-mnist, which
`sudo apt-get install dataset-fashion-mnist` fills; otherwise they are downloaded once (into
--data-dir if given, else the cache) and checked against their SHA-256.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as `python scripts/mnist.py`: make `scripts` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nets.errors import NonFiniteLossError
from rl.config import add_dataclass_args, from_args, to_json
from scripts.mnist_demos import DEMOS
from scripts.mnist_demos.common import Outputs, new_run_folder
from supervised.datasets import DatasetError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mnist.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `mnist.py DEMO --help` for a demo's flags and their defaults.",
    )
    subparsers = parser.add_subparsers(dest="demo", metavar="DEMO", required=True,
                                       title="demos")
    for name, demo in DEMOS.items():
        sub = subparsers.add_parser(
            name, help=demo.HELP, description=demo.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add_dataclass_args(sub, demo.Config, exclude=getattr(demo, "EXCLUDE", ()))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    demo = DEMOS[args.demo]
    try:
        cfg = from_args(demo.Config, args)
    except ValueError as err:
        print(f"mnist.py {args.demo}: {err}", file=sys.stderr)
        return 2
    outputs = Outputs(Path(cfg.out) if cfg.out else new_run_folder(args.demo, cfg))
    start = time.perf_counter()
    try:
        metrics = demo.run(cfg, outputs)
    except DatasetError as err:
        print(f"mnist.py {args.demo}: {err}", file=sys.stderr)
        return 2
    except NonFiniteLossError as err:
        print(f"mnist.py {args.demo}: {err}", file=sys.stderr)
        return 1
    metrics = {"demo": args.demo, "config": to_json(cfg),
               "wall_seconds": round(time.perf_counter() - start, 2), **metrics}
    outputs.json("metrics.json", metrics)
    print(f"\n{args.demo}: wrote to {outputs.folder}/")
    for path in outputs.files:
        print(f"  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
