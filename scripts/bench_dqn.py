"""Benchmark: speed of full DQN training, ours against Stable-Baselines3 when it is installed.

Prints ONE JSON object. For each workload (CartPole-v1 with a 256-256 MLP and batch 64;
PacGrid/Small-v1 with the CNN and batch 32) it measures, for the same step budget:

- env steps per second of full training: acting (ε-greedy), storing, and one gradient update
  every 4 steps after `learning_starts`, timed from the first step to the last;
- milliseconds per gradient update (the update alone, on a filled buffer);
- microseconds per batch-1 greedy action.

When torch and stable-baselines3 import (they are not dependencies of this project; e.g. run
this script with a venv that has both), SB3's DQN runs the same workloads with the same network
sizes and hyperparameters in the same process, and `speedup_vs_sb3` = ours / SB3 steps per
second is reported (higher is better), plus `update_speedup_vs_sb3` for the update alone.
Our DQN runs with Double DQN (its default), which costs one network forward per update more
than SB3's DQN, which has no Double DQN; `--no-double-dqn` compares the same algorithm. The
libraries alternate for `--repeats` rounds and each one's best round counts. Both run on one
thread by default (OPENBLAS_NUM_THREADS=1, torch.set_num_threads(1)): on a small shared CPU,
extra BLAS threads mostly fight each other.
"""

from __future__ import annotations

import os

# One BLAS thread: faster for these small matrices, and fair on a shared 2-core machine.
# (Set before NumPy loads; torch keeps its own default thread count, reported in the JSON.)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import platform
import sys
import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

import envs  # noqa: F401  (registers the PacGrid ids)
from agents.dqn import DQNAgent, DQNConfig
from rl import schedules
from rl.loop import LoopState, run_steps
from rl.seeding import make_rng


@dataclass
class Workload:
    """One benchmark case."""

    # Gymnasium id.
    env_id: str
    # Hidden layer widths (the MLP, or the dense layer after the CNN).
    hidden: tuple[int, ...]
    # Minibatch size.
    batch_size: int
    # Convolution channels of the CNN encoder (unused for vector observations).
    conv_channels: tuple[int, ...] = (16, 32)
    # Convolution strides.
    conv_strides: tuple[int, ...] = (1, 2)


WORKLOADS = {
    "cartpole": Workload("CartPole-v1", hidden=(256, 256), batch_size=64),
    "pacgrid_small": Workload("PacGrid/Small-v1", hidden=(128,), batch_size=32),
}
LEARNING_STARTS = 1_000
TRAIN_FREQ = 4
LEARNING_RATE = 1e-3
TARGET_UPDATE_ENV_STEPS = 1_000  # SB3 counts its interval in env steps; ours counts updates
GAMMA = 0.99


def ours(workload: Workload, steps: int, seed: int, double_dqn: bool = True) -> dict[str, float]:
    """Steps/s of our DQN, time per update and batch-1 action latency."""
    env = gym.make(workload.env_id)
    config = DQNConfig(
        hidden=workload.hidden, batch_size=workload.batch_size,
        conv_channels=workload.conv_channels,
        conv_strides=workload.conv_strides, buffer_size=max(steps, 2 * LEARNING_STARTS),
        learning_starts=LEARNING_STARTS, train_freq=TRAIN_FREQ, gamma=GAMMA,
        learning_rate=schedules.constant(LEARNING_RATE),
        target_update_interval=TARGET_UPDATE_ENV_STEPS // TRAIN_FREQ,
        epsilon=schedules.linear(1.0, 0.05, steps // 2), double_dqn=double_dqn,
    )
    agent = DQNAgent(env.observation_space, env.action_space, config, np.random.default_rng(seed))
    start = time.perf_counter()
    run_steps([env], agent, make_rng(seed), LoopState(), steps)  # the training loop's core
    elapsed = time.perf_counter() - start
    obs, _ = env.reset(seed=seed)
    update_s = _time_per_call(agent.update, 200)
    act_s = _time_per_call(lambda: agent.act(obs, greedy=True), 2000)
    return {"steps_per_s": steps / elapsed, "update_ms": 1e3 * update_s, "act_us": 1e6 * act_s,
            "params": agent.q_net.num_params()}


def _time_per_call(fn, calls: int) -> float:
    fn()  # warm caches
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def sb3(workload: Workload, steps: int, seed: int, threads: int) -> dict[str, float] | None:
    """The same workload with Stable-Baselines3's DQN, or None when it is not installed."""
    try:
        import torch
        from stable_baselines3 import DQN
        from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
    except ImportError:
        return None
    if threads > 0:
        torch.set_num_threads(threads)

    class SmallCnn(BaseFeaturesExtractor):
        """Our CNN encoder in torch: 3x3 convs (padding 1), flatten, one dense layer + ReLU."""

        def __init__(self, observation_space: gym.spaces.Box, hidden: int) -> None:
            super().__init__(observation_space, features_dim=hidden)
            height, width, channels = observation_space.shape
            layers: list[torch.nn.Module] = []
            for out_channels, stride in zip(workload.conv_channels, workload.conv_strides,
                                            strict=True):
                layers += [torch.nn.Conv2d(channels, out_channels, 3, stride, 1),
                           torch.nn.ReLU()]
                channels = out_channels
                height, width = (height - 1) // stride + 1, (width - 1) // stride + 1
            self.net = torch.nn.Sequential(*layers, torch.nn.Flatten(),
                                           torch.nn.Linear(channels * height * width, hidden),
                                           torch.nn.ReLU())

        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            return self.net(obs.permute(0, 3, 1, 2))

    env = gym.make(workload.env_id)
    if len(env.observation_space.shape) == 3:
        policy_kwargs = {"features_extractor_class": SmallCnn, "net_arch": [],
                         "normalize_images": False,
                         "features_extractor_kwargs": {"hidden": workload.hidden[0]}}
    else:
        policy_kwargs = {"net_arch": list(workload.hidden)}
    model = DQN(
        "MlpPolicy", env, learning_rate=LEARNING_RATE, buffer_size=max(steps, 2 * LEARNING_STARTS),
        learning_starts=LEARNING_STARTS, batch_size=workload.batch_size, gamma=GAMMA,
        train_freq=TRAIN_FREQ, gradient_steps=1, target_update_interval=TARGET_UPDATE_ENV_STEPS,
        exploration_fraction=0.5, exploration_final_eps=0.05, policy_kwargs=policy_kwargs,
        seed=seed, device="cpu", verbose=0,
    )
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    elapsed = time.perf_counter() - start
    obs, _ = env.reset(seed=seed)
    update_s = _time_per_call(lambda: model.train(gradient_steps=1, batch_size=workload.batch_size),
                              200)
    act_s = _time_per_call(lambda: model.predict(obs, deterministic=True), 2000)
    return {"steps_per_s": steps / elapsed, "update_ms": 1e3 * update_s, "act_us": 1e6 * act_s,
            "torch": torch.__version__, "torch_threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10_000,
                        help="environment steps of training per workload and library "
                             "(default: 10000; the first 1000 only act and store)")
    parser.add_argument("--workloads", nargs="*", choices=sorted(WORKLOADS),
                        default=sorted(WORKLOADS), help="which cases to run (default: all)")
    parser.add_argument("--no-sb3", action="store_true",
                        help="skip Stable-Baselines3 even when it is installed")
    parser.add_argument("--seed", type=int, default=0, help="seed of both agents (default: 0)")
    parser.add_argument("--repeats", type=int, default=2,
                        help="rounds per library, alternating; the best round counts (default: 2)")
    parser.add_argument("--no-double-dqn", action="store_true",
                        help="run our DQN without Double DQN, the algorithm of SB3's DQN: one "
                             "network forward less per update (default: Double DQN, our default)")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch threads for SB3; 1 matches our single BLAS thread, 0 keeps "
                             "torch's default (default: 1)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.steps <= LEARNING_STARTS:
        parser.error(f"--steps must exceed learning_starts={LEARNING_STARTS} so updates happen")

    result: dict[str, object] = {
        "benchmark": "dqn", "steps": args.steps, "train_freq": TRAIN_FREQ,
        "python": platform.python_version(), "numpy": np.__version__,
        "cpu_count": os.cpu_count(), "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "double_dqn": not args.no_double_dqn,
    }
    sb3_ran = False
    for name in args.workloads:
        workload = WORKLOADS[name]
        entry: dict[str, object] = {"env": workload.env_id, "hidden": list(workload.hidden),
                                    "batch_size": workload.batch_size}
        # Alternate the libraries and keep each one's best round: on a shared machine the load
        # changes over a run, and the best round is the least disturbed one.
        our_rounds, sb3_rounds = [], []
        for _ in range(args.repeats):
            our_rounds.append(ours(workload, args.steps, args.seed, not args.no_double_dqn))
            if not args.no_sb3:
                theirs = sb3(workload, args.steps, args.seed, args.torch_threads)
                if theirs is not None:
                    sb3_rounds.append(theirs)
        entry["ours"] = best_of(our_rounds)
        if sb3_rounds:
            entry["sb3"] = best_of(sb3_rounds)
            entry["speedup_vs_sb3"] = entry["ours"]["steps_per_s"] / entry["sb3"]["steps_per_s"]
            entry["update_speedup_vs_sb3"] = entry["sb3"]["update_ms"] / entry["ours"]["update_ms"]
            sb3_ran = True
        result[name] = entry
    if not sb3_ran:
        result["sb3"] = "skipped" if args.no_sb3 else "not installed (torch and SB3 are optional)"
    print(json.dumps(_rounded(result)))
    return 0


def best_of(rounds: list[dict]) -> dict:
    """Highest steps/s and lowest times over the rounds (other entries from the first)."""
    best = dict(rounds[0])
    best["steps_per_s"] = max(r["steps_per_s"] for r in rounds)
    best["update_ms"] = min(r["update_ms"] for r in rounds)
    best["act_us"] = min(r["act_us"] for r in rounds)
    best["rounds"] = len(rounds)
    return best


def _rounded(value):
    """Floats to 4 significant digits, recursively, for a readable JSON line."""
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, float):
        return float(f"{value:.4g}")
    return value


if __name__ == "__main__":
    sys.exit(main())
