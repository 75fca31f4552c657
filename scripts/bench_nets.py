"""Benchmark: milliseconds per training step of nets models, side by side with PyTorch.

Times one training step (forward + loss + backward + Adam update) of
  - SimpleConvNet at batch 100 on 1x28x28 images (nets.zoo.simple_conv_net),
  - DeepConvNet at batch 100 on 1x28x28 images (nets.zoo.deep_conv_net),
  - the DQN-sized CNN at batch 32 on a 6x11x20 grid: two 3x3 convolutions of 32 and 64
    channels with padding 1, a dense layer of 256 and 5 outputs (a stress size: its dense
    layer has 3.6 million weights),
plus the forward latency of one observation through the DQN CNN (action selection).

When PyTorch can be imported (it is not a dependency of this project), identical architectures
are timed in PyTorch on the CPU in the same run, with as many threads as numpy's BLAS uses,
interleaving the two step by step so that both see the same machine load. Each network then
gets `ratio_vs_torch` = our time / PyTorch's time (lower is better) and
`max_abs_diff_vs_torch`, the largest difference between the two models' outputs after copying
our weights into PyTorch's (a check that the architectures really are identical).

Prints ONE JSON object on stdout (and writes it to --out when given). Times are medians.
Usage: `python scripts/bench_nets.py` with a Python that also has torch for the ratios.
Threads: numpy's BLAS takes its count from OPENBLAS_NUM_THREADS (or OMP_NUM_THREADS, or
MKL_NUM_THREADS for MKL), else one thread per CPU; threadpoolctl (the `bench` extra) reads the
count the library really uses, and lets --threads set it. PyTorch gets the same count. The JSON
records both (`numpy_threads`, `torch_threads`); when they differ the ratios are null and
`ratio_note` says why: a two-thread PyTorch against a one-thread numpy flatters neither. On a
busy 2-core machine two threads of each wait on each other and every figure gets several times
slower, so compare one-thread runs there (OPENBLAS_NUM_THREADS=1); the JSON records the load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as `python scripts/bench_nets.py`: make packages importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import nets
from fileio import write_json
from nets import zoo
from rl.config import add_dataclass_args, from_args


@dataclass
class BenchConfig:
    """What to time and how often."""

    # Timed training steps per network; the median is reported.
    repeats: int = 30
    # Untimed steps before timing (fills caches and the allocator, wakes BLAS threads).
    warmup: int = 5
    # Smoke run: 3 repeats and 1 warmup step (figures are then rough).
    quick: bool = False
    # Time PyTorch too when it can be imported.
    torch: bool = True
    # Threads for both libraries (0 = as many as numpy's BLAS uses); numpy's BLAS can only be
    # set with threadpoolctl installed, else the ratios are left out when the counts differ.
    threads: int = 0
    # Seed of the random weights, inputs and targets.
    seed: int = 0
    # Also write the JSON object to this file.
    out: str | None = None

    def __post_init__(self) -> None:
        if self.repeats < 1 or self.warmup < 0 or self.threads < 0:
            raise ValueError(
                f"need --repeats >= 1, --warmup >= 0, --threads >= 0; got {self.repeats}, "
                f"{self.warmup}, {self.threads}"
            )
        if self.quick:
            self.repeats, self.warmup = 3, 1


def dqn_cnn(
    input_shape: tuple[int, int, int] = (6, 11, 20), num_actions: int = 5,
    rng: np.random.Generator | None = None,
) -> nets.Sequential:
    """The DQN-sized CNN of the benchmark: conv 3x3 32 -> conv 3x3 64 -> dense 256 -> actions."""
    channels, height, width = input_shape
    return nets.Sequential(
        [
            ("conv1", nets.Conv2D(channels, 32, 3, padding=1, rng=rng)),
            ("relu1", nets.ReLU()),
            ("conv2", nets.Conv2D(32, 64, 3, padding=1, rng=rng)),
            ("relu2", nets.ReLU()),
            ("flatten", nets.Flatten()),
            ("fc1", nets.Dense(64 * height * width, 256, rng=rng)),
            ("relu3", nets.ReLU()),
            ("fc2", nets.Dense(256, num_actions, rng=rng)),
        ],
        input_grad=False,
    )


@dataclass
class Network:
    """One benchmarked network: how to build it in nets and in PyTorch, and its data."""

    build: Callable[[np.random.Generator], nets.Sequential]
    build_torch: Callable[[], Any]
    input_shape: tuple[int, int, int]
    batch: int
    loss: str  # "cross_entropy" on class labels or "huber" on Q-value targets
    outputs: int
    act_latency: bool = False  # also time the forward pass of a single observation


def _classifier(builder: Callable[..., nets.Sequential]) -> Callable[[np.random.Generator],
                                                                     nets.Sequential]:
    def build(rng: np.random.Generator) -> nets.Sequential:
        model = builder(rng=rng)
        model.input_grad = False  # the data needs no gradient (PyTorch skips it too)
        return model

    return build


def torch_simple_conv_net() -> Any:
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 30, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(30 * 12 * 12, 100), nn.ReLU(), nn.Linear(100, 10),
    )


def torch_deep_conv_net() -> Any:
    from torch import nn

    layers: list[Any] = []
    in_channels = 1
    for out_channels, second_padding in ((16, 1), (32, 2), (64, 1)):
        layers += [
            nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=second_padding), nn.ReLU(),
            nn.MaxPool2d(2),
        ]
        in_channels = out_channels
    layers += [nn.Flatten(), nn.Linear(64 * 4 * 4, 50), nn.ReLU(), nn.Dropout(0.5),
               nn.Linear(50, 10)]
    return nn.Sequential(*layers)


def torch_dqn_cnn() -> Any:
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(6, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(64 * 11 * 20, 256), nn.ReLU(), nn.Linear(256, 5),
    )


NETWORKS: dict[str, Network] = {
    "simple_conv_net": Network(_classifier(zoo.simple_conv_net), torch_simple_conv_net,
                               (1, 28, 28), 100, "cross_entropy", 10),
    "deep_conv_net": Network(_classifier(zoo.deep_conv_net), torch_deep_conv_net,
                             (1, 28, 28), 100, "cross_entropy", 10),
    "dqn_cnn": Network(lambda rng: dqn_cnn(rng=rng), torch_dqn_cnn,
                       (6, 11, 20), 32, "huber", 5, act_latency=True),
}


# Environment variables that set a BLAS library's thread count when it loads, in the order it
# reads them: the first one holding a positive number wins.
THREAD_VARIABLES = {
    "openblas": ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"),
    "mkl": ("MKL_NUM_THREADS", "OMP_NUM_THREADS"),
    "blis": ("BLIS_NUM_THREADS", "OMP_NUM_THREADS"),
    "accelerate": ("VECLIB_MAXIMUM_THREADS",),
}


def cpu_count() -> int:
    """CPUs this process may run on (what OpenBLAS counts on Linux)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def numpy_blas_name() -> str:
    """The BLAS numpy was built with, lower case ("scipy-openblas"), or "" if numpy won't say."""
    try:
        return str(np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"]).lower()
    except (TypeError, KeyError, AttributeError):  # an older numpy, another build: guess
        return ""


def threads_from_environment(environ: Mapping[str, str], cpus: int,
                             blas: str = "openblas") -> tuple[int, str]:
    """numpy's BLAS thread count as the library reads it from the environment at load time.

    blas: a name containing a key of THREAD_VARIABLES; any other checks all their variables.
    A value counts as OpenBLAS reads it: its leading integer ("4,2", an OpenMP list, is 4),
    and 0, negative or unreadable values count as unset. Capped at `cpus`, as OpenBLAS caps
    it; with nothing set the library starts one thread per CPU.
    Returns (threads, where the count came from).
    """
    names = next((names for key, names in THREAD_VARIABLES.items() if key in blas), None)
    if names is None:
        names = tuple(dict.fromkeys(name for group in THREAD_VARIABLES.values()
                                    for name in group))
    for name in names:
        raw = environ.get(name, "")
        try:
            value = int(raw.split(",")[0].strip())
        except ValueError:
            continue
        if value > 0:
            return min(value, cpus), f"{name}={raw}"
    return cpus, "the CPU count (no thread variable set)"


def blas_info() -> dict[str, Any]:
    """numpy's BLAS library, kernel and thread count (threadpoolctl, else the environment)."""
    info: dict[str, Any] = {
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE"),
    }
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threads, source = threads_from_environment(os.environ, cpu_count(), numpy_blas_name())
        info.update(threads=threads, threads_from=f"{source}; threadpoolctl not installed")
        return info
    for pool in threadpool_info():
        if pool.get("user_api") == "blas" and "numpy" in pool.get("filepath", ""):
            info.update(library=pool.get("internal_api"), version=pool.get("version"),
                        kernel=pool.get("architecture"), threads=pool.get("num_threads"),
                        threads_from="threadpoolctl")
            return info
    threads, source = threads_from_environment(os.environ, cpu_count(), numpy_blas_name())
    info.update(threads=threads, threads_from=f"{source}; threadpoolctl found no numpy BLAS")
    return info


def set_blas_threads(threads: int) -> bool:
    """Limit numpy's BLAS to `threads` threads from now on; False without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return False
    threadpool_limits(limits=threads, user_api="blas")
    return True


def ratio_note(numpy_threads: int, torch_threads: int) -> str | None:
    """Why no speed ratio can be given, or None when both libraries use the same threads."""
    if numpy_threads == torch_threads:
        return None
    return (f"no ratios: numpy's BLAS uses {numpy_threads} thread(s) and PyTorch "
            f"{torch_threads}; set OPENBLAS_NUM_THREADS, or install threadpoolctl and pass "
            f"--threads")


class OurStep:
    """One nets training step, and the single-observation forward pass."""

    def __init__(self, net: Network, rng: np.random.Generator) -> None:
        self.model = net.build(rng)
        self.x = rng.standard_normal((net.batch, *net.input_shape)).astype(np.float32)
        if net.loss == "cross_entropy":
            self.loss = nets.losses.SoftmaxCrossEntropy()
            self.target = rng.integers(0, net.outputs, net.batch)
        else:
            self.loss = nets.losses.Huber(delta=1.0)
            self.target = rng.standard_normal((net.batch, net.outputs)).astype(np.float32)
        self.optimizer = nets.optim.Adam(lr=1e-4)
        self.obs = self.x[:1].copy()

    def train_step(self) -> None:
        self.loss.forward(self.model.forward(self.x, train=True), self.target)
        self.model.backward(self.loss.backward())
        self.optimizer.update(self.model.trainable_params(), self.model.trainable_grads())

    def act(self) -> int:
        return int(np.argmax(self.model.forward(self.obs)))


class TorchStep:
    """The same step in PyTorch, starting from a copy of our model's weights."""

    def __init__(self, net: Network, ours: OurStep) -> None:
        import torch

        self.torch = torch
        self.model = net.build_torch()
        copy_weights(ours.model, self.model)
        self.x = torch.from_numpy(ours.x)
        self.target = torch.from_numpy(np.asarray(ours.target))
        functional = torch.nn.functional
        self.loss = (functional.cross_entropy if net.loss == "cross_entropy"
                     else lambda pred, target: functional.huber_loss(pred, target, delta=1.0))
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-4)
        self.obs = torch.from_numpy(ours.obs)

    def train_step(self) -> None:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        self.loss(self.model(self.x), self.target).backward()
        self.optimizer.step()

    def act(self) -> int:
        self.model.eval()
        with self.torch.inference_mode():
            return int(self.model(self.obs).argmax())


def copy_weights(model: nets.Sequential, torch_model: Any) -> None:
    """Copy nets parameters into the PyTorch model, in order (Dense W is stored transposed)."""
    import torch

    ours = [value for _, value in model.named_params()]
    theirs = list(torch_model.parameters())
    if [v.size for v in ours] != [p.numel() for p in theirs]:
        raise ValueError("the nets and PyTorch models of the benchmark have different parameters")
    with torch.no_grad():
        for value, param in zip(ours, theirs, strict=True):
            array = value.T if value.ndim == 2 else value
            param.copy_(torch.from_numpy(np.ascontiguousarray(array)).reshape(param.shape))


def median_ms(samples: list[float]) -> float:
    return round(1e3 * statistics.median(samples), 3)


def time_pair(ours: Callable[[], Any], theirs: Callable[[], Any] | None, cfg: BenchConfig,
              repeats: int) -> tuple[float, float | None]:
    """Median seconds of `ours` and `theirs`, timed alternately after warm-up."""
    for _ in range(cfg.warmup):
        ours()
        if theirs is not None:
            theirs()
    our_times, their_times = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        ours()
        our_times.append(time.perf_counter() - start)
        if theirs is not None:
            start = time.perf_counter()
            theirs()
            their_times.append(time.perf_counter() - start)
    return statistics.median(our_times), (statistics.median(their_times) if their_times else None)


def bench_network(net: Network, cfg: BenchConfig, use_torch: bool,
                  comparable: bool = True) -> dict[str, Any]:
    """Times of one network; PyTorch's too when use_torch, and their ratios when comparable
    (both libraries on the same number of threads), else null ratios."""
    rng = np.random.default_rng(cfg.seed)
    ours = OurStep(net, rng)
    result: dict[str, Any] = {"batch": net.batch, "input_shape": list(net.input_shape),
                              "params": ours.model.num_params()}
    theirs = TorchStep(net, ours) if use_torch else None
    if theirs is not None:
        with theirs.torch.inference_mode():
            expected = theirs.model.eval()(theirs.x).numpy()
        result["max_abs_diff_vs_torch"] = float(np.max(np.abs(ours.model.predict(ours.x)
                                                              - expected)))
    ours_s, theirs_s = time_pair(ours.train_step, theirs and theirs.train_step, cfg, cfg.repeats)
    result["train_step_ms"] = round(1e3 * ours_s, 3)
    if theirs_s is not None:
        result["torch_train_step_ms"] = round(1e3 * theirs_s, 3)
        result["ratio_vs_torch"] = round(ours_s / theirs_s, 3) if comparable else None
    if net.act_latency:
        # One forward pass is short: time it 20 times as often for a stable median.
        ours_s, theirs_s = time_pair(ours.act, theirs and theirs.act, cfg, 20 * cfg.repeats)
        result["act_latency_us"] = round(1e6 * ours_s, 1)
        if theirs_s is not None:
            result["torch_act_latency_us"] = round(1e6 * theirs_s, 1)
            result["act_ratio_vs_torch"] = round(ours_s / theirs_s, 3) if comparable else None
    return result


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench_nets.py", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_dataclass_args(parser, BenchConfig)
    parser.add_argument("--networks", nargs="*", choices=sorted(NETWORKS),
                        default=list(NETWORKS), help="which networks to time (default: all)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = from_args(BenchConfig, args)
    except ValueError as err:
        print(f"bench_nets.py: {err}", file=sys.stderr)
        return 2
    use_torch = cfg.torch and torch_available()
    if cfg.threads:
        set_blas_threads(cfg.threads)
    blas = blas_info()
    numpy_threads = int(blas["threads"])
    # The load average tells whether other processes shared the CPU during the run: both
    # frameworks slow down then, multi-threaded BLAS/OpenMP most (threads wait for each other).
    report: dict[str, Any] = {"numpy": np.__version__, "blas": blas,
                              "numpy_threads": numpy_threads, "repeats": cfg.repeats,
                              "warmup": cfg.warmup, "load_average_before": os.getloadavg()[0]}
    comparable = True
    if use_torch:
        import torch

        torch.set_num_threads(cfg.threads or numpy_threads)
        torch_threads = torch.get_num_threads()
        report.update(torch=torch.__version__, torch_threads=torch_threads)
        note = ratio_note(numpy_threads, torch_threads)
        if note is not None:
            comparable = False
            report["ratio_note"] = note
            print(f"bench_nets.py: {note}", file=sys.stderr)
    else:
        report["torch"] = None
    report["networks"] = {name: bench_network(NETWORKS[name], cfg, use_torch, comparable)
                          for name in args.networks}
    report["load_average_after"] = os.getloadavg()[0]
    text = json.dumps(report)
    print(text)
    if cfg.out:
        write_json(cfg.out, report)
        print(f"bench_nets.py: wrote {cfg.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
