"""Benchmark: DQN training speed on the real presets, ours against Stable-Baselines3.

Prints ONE JSON object. Workloads (--workloads):

  pacgrid_small   the DQN preset of PacGrid/Small-v1, as `agents.registry.new_run("dqn", id)`
                  resolves it: Pac-Man-centred view (nets.CenteredConv2D on our side, which
                  computes it with the first convolution; a view and a Conv2d on SB3's), conv
                  channels and strides, dense layer, dueling head, Double DQN, n-step returns,
                  batch size, train_freq, buffer size, γ, schedules, Huber δ, reward scale,
                  gradient clipping and number of lockstep environments (num_envs)
  pacgrid_medium  the same for PacGrid/Medium-v1
  cartpole        CartPole-v1 with a 256-256 MLP, batch 64, one update every 4 steps, one-step
                  targets and a hard target copy every 1000 steps (not its preset, which learns
                  every step: a cheap case where the per-step overheads show)

Only `learning_starts` differs from the presets: --learning-starts (default 1000) instead of
5000, so that most of a short budget trains. `--no-double-dqn`, `--epsilon` and `--settings`
(any config fields, e.g. a smaller network) change the settings of both sides.

What is measured, per workload and library, for the same step budget (--steps):

- steps_per_s: environment steps per second of full training (acting ε-greedy in the preset's
  number of environments, storing, one gradient update per `train_freq` environment steps after
  `learning_starts`), from the first step to the last. Ours runs the training loop's core,
  rl.loop.run_steps, with num_envs environments in lockstep and one batched forward for their
  actions; SB3 runs DQN.learn on a DummyVecEnv of as many environments.
- steps_per_cpu_s: the same per second of this process's CPU time, and cpu_share, CPU time /
  wall time of each round: on a shared machine the wall-clock rates move with the other load
  (a cpu_share well below 1 says the round waited for the core), the CPU-time rates less so.
- update_ms, update_cpu_ms: one gradient update on the filled buffer (sampling included),
  timed alone, in wall-clock and CPU time.
- act_us: one action choice for all num_envs environments (one batched forward pass).
- params: the Q-network's parameter count, equal on both sides when the networks match.

SB3's side is the same network and settings wherever SB3 can express them: the network is a torch
copy of ours (a BaseFeaturesExtractor holding the input reordering, the centred view as a torch
module doing the same shift, the convolutions, the inputs beside them where the config sets them
(window, position; fixed planes before them all) and the dense layers; `net_arch` empty; a dueling
head put in by a small DQNPolicy subclass, since SB3's DQN has none), n-step returns (SB3's
`n_steps`), batch size, buffer size, γ, gradient clipping, Adam, the learning-rate and ε schedules
on the same step clocks, the same updates per environment step (`train_freq` in vector steps and
`gradient_steps` chosen so), and the target copy every as many environment steps. What differs is
listed in each workload's `differs` in the JSON; mainly: SB3's DQN has no Double DQN (ours then
runs the online network over next_obs too: one forward more per update; `--no-double-dqn` compares
the same algorithm), SB3 skips the forward pass when it explores (one coin for all environments of
a vector step, and always during learning_starts) while ours draws a coin per environment after one
batched forward, and the Huber δ and reward scale of the preset are ours only (they change no
timing).

`speedup_vs_sb3` = ours / SB3 steps per second and `update_speedup_vs_sb3` = SB3's / our update
time (higher is better), and the same from CPU time (`..._cpu`). The libraries alternate for
`--repeats` rounds and each one's best round counts. Both run on one thread
(OPENBLAS_NUM_THREADS=1 for NumPy, set before it loads unless already set;
torch.set_num_threads(1)); the JSON reports the counts. Both run in this one process, with
the glibc malloc settings of our training (rl.memory: freed memory kept for the next step, where
by default glibc hands blocks of a megabyte back to the kernel; `malloc_keeps_freed_memory` in
the JSON). SB3 runs when torch and
stable-baselines3 import (they are not dependencies of this project: run this script with a
venv that has both, with this project on PYTHONPATH).
"""

from __future__ import annotations

import os

# One BLAS thread: faster for these small matrices, and fair on a shared 2-core machine.
# (Set before NumPy loads; torch gets --torch-threads, reported in the JSON.)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import functools
import json
import math
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import gymnasium as gym
import numpy as np

import envs  # noqa: F401  (registers the PacGrid ids)
from agents.dqn import DQNConfig, env_fixed_planes, guess_image_layout, input_scale
from agents.registry import Run, new_run
from rl import schedules
from rl.config import json_object
from rl.loop import LoopState, run_steps
from rl.memory import keep_freed_memory
from rl.protocol import choose_action
from rl.seeding import make_rng

LEARNING_STARTS = 1_000  # default of --learning-starts (the Pac-Man presets wait 5000 steps)


@dataclass(frozen=True)
class Workload:
    """One benchmark case: an environment's DQN preset with some settings changed."""

    # Gymnasium id; its DQN preset (agents.dqn_presets.presets) is the starting point.
    env_id: str
    # changes(steps, learning_starts) -> settings over the preset (new_run values).
    changes: Callable[[int, int], dict[str, Any]]


def _preset_as_is(steps: int, learning_starts: int) -> dict[str, Any]:
    return {"learning_starts": learning_starts}


def _cartpole(steps: int, learning_starts: int) -> dict[str, Any]:
    """The CartPole case this benchmark has always timed (not the CartPole preset)."""
    return {"hidden": (256, 256), "batch_size": 64, "buffer_size": max(steps, 2 * learning_starts),
            "learning_starts": learning_starts, "train_freq": 4, "n_step": 1, "tau": 1.0,
            "target_update_interval": 250, "learning_rate": schedules.constant(1e-3),
            "epsilon": schedules.linear(1.0, 0.05, steps // 2)}


WORKLOADS = {
    "cartpole": Workload("CartPole-v1", _cartpole),
    "pacgrid_small": Workload("PacGrid/Small-v1", _preset_as_is),
    "pacgrid_medium": Workload("PacGrid/Medium-v1", _preset_as_is),
}


def make_run(workload: Workload, steps: int, learning_starts: int = LEARNING_STARTS,
             seed: int = 0, double_dqn: bool | None = None,
             epsilon: float | None = None, settings: dict[str, Any] | None = None) -> Run:
    """The run (agent and loop configs) of a workload; double_dqn, a constant ε and `settings`
    (config fields, e.g. a smaller network), if given, replace the workload's."""
    values = {**workload.changes(steps, learning_starts), **(settings or {}), "seed": seed,
              "total_steps": steps, "progress": False}
    if double_dqn is not None:
        values["double_dqn"] = double_dqn
    if epsilon is not None:
        values["epsilon"] = schedules.constant(epsilon)
    return new_run("dqn", workload.env_id, values)


def _time_per_call(fn: Callable[[], object], min_calls: int = 20,
                   min_seconds: float = 1.0) -> tuple[float, float]:
    """Mean (wall, CPU) seconds per call, over at least `min_calls` calls and `min_seconds`."""
    fn()  # warm caches
    calls, wall, cpu = 0, time.perf_counter(), time.process_time()
    while calls < min_calls or time.perf_counter() - wall < min_seconds:
        fn()
        calls += 1
    return (time.perf_counter() - wall) / calls, (time.process_time() - cpu) / calls


def measure(train: Callable[[], int], update: Callable[[], object],
            act: Callable[[], object]) -> dict[str, float]:
    """Time a training run (`train()` returns the environment steps it made), then updates and
    action choices alone.

    Wall-clock rates are what a user sees; rates per second of this process's CPU time (one
    thread on each side) move less with the other load of a shared machine, and `cpu_share`
    (CPU / wall time of the training run) tells how much of a core the run had.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    steps = train()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    update_wall, update_cpu = _time_per_call(update)
    act_wall, _ = _time_per_call(act, min_calls=200, min_seconds=0.5)
    return {"steps_per_s": steps / wall, "steps_per_cpu_s": steps / cpu, "cpu_share": cpu / wall,
            "update_ms": 1e3 * update_wall, "update_cpu_ms": 1e3 * update_cpu,
            "act_us": 1e6 * act_wall}


# --- ours -----------------------------------------------------------------------------------------


def ours(run: Run, steps: int) -> dict[str, float]:
    """Our DQN through the training loop's core, in the preset's number of environments."""
    env_list = [run.make_env() for _ in range(run.loop_config.num_envs)]
    agent = run.make_agent(env_list[0])

    def train() -> int:
        state = LoopState()
        run_steps(env_list, agent, make_rng(run.seed), state, steps)  # the training loop's core
        return state.step

    obs, infos = zip(*(env.reset(seed=run.seed + i) for i, env in enumerate(env_list)), strict=True)
    # A preset with action masks chooses among the legal moves: hand it the env's masks.
    masks = [info.get("action_mask") for info in infos] if agent.uses_action_masks else None
    if len(env_list) == 1:
        act = functools.partial(choose_action, agent, obs[0], infos[0], greedy=True)
    else:
        act = functools.partial(agent.act_batch, list(obs), masks)
    return {**measure(train, agent.update, act), "params": agent.q_net.num_params()}


# --- Stable-Baselines3 ----------------------------------------------------------------------------


@functools.cache
def sb3_library() -> SimpleNamespace | None:
    """torch, SB3's DQN and this benchmark's torch modules, or None when they do not import."""
    try:
        import stable_baselines3
        import torch
        from stable_baselines3 import DQN
        from stable_baselines3.common.monitor import Monitor
        from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
        from stable_baselines3.common.vec_env import DummyVecEnv
        from stable_baselines3.dqn.policies import DQNPolicy
    except ImportError:
        return None
    nn = torch.nn

    class ToChw(nn.Module):
        """agents.dqn.ImageInput: (N, H, W, C) -> (N, C, H, W) (if HWC), times `scale`."""

        def __init__(self, layout: str, scale: float) -> None:
            super().__init__()
            self.layout, self.scale = layout, scale

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.layout == "hwc":
                x = x.permute(0, 3, 1, 2)
            return x * self.scale if self.scale != 1.0 else x

    class CenterOn(nn.Module):
        """nets.CenterOn: (N, C, H, W) -> (N, C, 2H-1, 2W-1), each grid shifted so that
        its agent cell (the largest value of channel `center`) is central; cells outside the
        grid are 0, and 1 in channel `outside`. One indexed write for the whole batch."""

        def __init__(self, center: int, outside: int | None) -> None:
            super().__init__()
            self.center, self.outside = center, outside

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            n, c, h, w = x.shape
            out = x.new_zeros((n, c, 2 * h - 1, 2 * w - 1))
            if self.outside is not None:
                out[:, self.outside] = 1.0
            marker = x[:, self.center].reshape(n, -1).argmax(dim=1)
            rows = (h - 1 - marker // w).view(n, 1, 1) + torch.arange(h).view(1, h, 1)
            cols = (w - 1 - marker % w).view(n, 1, 1) + torch.arange(w).view(1, 1, w)
            batch = torch.arange(n).view(n, 1, 1)
            # Advanced indices around a slice: the indexed view is (N, H, W, C).
            out[batch, :, rows, cols] = x.permute(0, 2, 3, 1)
            return out

    class WithBeside(nn.Module):
        """agents.dqn's features with agent_window and/or agent_position: the CNN's (`cnn`,
        from the grid) beside the S x S cells around the agent (nets.AgentWindow, size S > 0)
        and the agent's one-hot row and column (nets.AgentPosition), concatenated."""

        def __init__(self, cnn: nn.Module, center: int, outside: int | None,
                     size: int, position: bool) -> None:
            super().__init__()
            self.cnn, self.center, self.outside = cnn, center, outside
            self.size, self.position = size, position

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            n, c, h, w = x.shape
            marker = x[:, self.center].reshape(n, -1).argmax(dim=1)
            parts = [self.cnn(x)]
            if self.size:
                r = self.size // 2
                padded = x.new_zeros((n, c, h + 2 * r, w + 2 * r))
                if self.outside is not None:
                    padded[:, self.outside] = 1.0
                padded[:, :, r:r + h, r:r + w] = x
                offsets = torch.arange(self.size)
                rows = (marker // w).view(n, 1, 1) + offsets.view(1, -1, 1)
                cols = (marker % w).view(n, 1, 1) + offsets.view(1, 1, -1)
                batch = torch.arange(n).view(n, 1, 1)
                window = padded[batch, :, rows, cols].permute(0, 3, 1, 2)  # (N, C, S, S)
                parts.append(window.reshape(n, -1))
            if self.position:
                parts += [nn.functional.one_hot(marker // w, h).to(x.dtype),
                          nn.functional.one_hot(marker % w, w).to(x.dtype)]
            return torch.cat(parts, dim=1)

    class DuelingHead(nn.Module):
        """agents.dqn's dueling head: Linear to 1 + A outputs, Q = V + A - mean(A)."""

        def __init__(self, width: int, n_actions: int) -> None:
            super().__init__()
            self.linear = nn.Linear(width, 1 + n_actions)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.linear(x)
            value, advantage = out[:, :1], out[:, 1:]
            return value + advantage - advantage.mean(dim=1, keepdim=True)

    class FixedPlanes(nn.Module):
        """nets.FixedPlanes: (N, C, H, W) -> (N, C + K, H, W), the K planes after the grid's."""

        def __init__(self, planes: np.ndarray) -> None:
            super().__init__()
            self.register_buffer("planes", torch.as_tensor(np.moveaxis(planes, -1, 0)).float())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([x, self.planes.expand(len(x), -1, -1, -1)], dim=1)

    def body(config: DQNConfig, space: gym.spaces.Box,
             planes: np.ndarray | None = None) -> tuple[nn.Sequential, int]:
        """Our Q-network without its head, in torch, and its output width (`planes`: the
        env's fixed planes (H, W, K), with config.fixed_planes)."""
        shape, layers = tuple(space.shape), []
        if len(shape) == 1:
            width = shape[0]
        elif len(shape) == 3:
            layout = config.image_layout
            if layout == "auto":
                layout = guess_image_layout(shape)
            layers.append(ToChw(layout, input_scale(space)))
            height, width_px, channels = shape if layout == "hwc" else (*shape[1:], shape[0])
            if config.fixed_planes:
                layers.append(FixedPlanes(planes))
                channels += planes.shape[-1]
            in_channels, grid_cells = channels, height + width_px  # AgentPosition's width
            if config.center_channel is not None:
                layers.append(CenterOn(config.center_channel, config.outside_channel))
                height, width_px = 2 * height - 1, 2 * width_px - 1
            for out_channels, stride in zip(config.conv_channels, config.conv_strides,
                                            strict=True):
                layers += [nn.Conv2d(channels, out_channels, 3, stride, 1), nn.ReLU()]
                channels = out_channels
                height, width_px = (height - 1) // stride + 1, (width_px - 1) // stride + 1
            layers.append(nn.Flatten())
            width = channels * height * width_px
            if config.agent_window or config.agent_position:
                front = 2 if config.fixed_planes else 1  # the layers before the CNN
                cnn = nn.Sequential(*layers[front:])
                layers = [*layers[:front], WithBeside(cnn, config.center_channel,
                                                config.outside_channel, config.agent_window,
                                                config.agent_position)]
                width += in_channels * config.agent_window**2
                width += grid_cells if config.agent_position else 0
        else:
            raise ValueError(f"the SB3 side supports 1-D and 3-D observations, got {shape} "
                             "(frame stacking is ours only)")
        for units in config.hidden:
            layers += [nn.Linear(width, units), nn.ReLU()]
            width = units
        return nn.Sequential(*layers), width

    def head(config: DQNConfig, width: int, n_actions: int) -> nn.Module:
        return DuelingHead(width, n_actions) if config.dueling else nn.Linear(width, n_actions)

    class Body(BaseFeaturesExtractor):
        """SB3's features extractor holding `body` (a new one for each network)."""

        def __init__(self, observation_space: gym.spaces.Box, config: DQNConfig,
                     planes: np.ndarray | None = None) -> None:
            net, width = body(config, observation_space, planes)
            super().__init__(observation_space, features_dim=width)
            self.net = net

        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            return self.net(obs)

    class SameHeadPolicy(DQNPolicy):
        """SB3's DQN policy with our head after the features (net_arch=[]): dueling if set."""

        def __init__(self, *args: Any, head_config: DQNConfig, **kwargs: Any) -> None:
            self.head_config = head_config
            super().__init__(*args, **kwargs)

        def make_q_net(self):
            q_net = super().make_q_net()
            q_net.q_net = head(self.head_config, q_net.features_dim, int(self.action_space.n))
            return q_net.to(self.device)

    return SimpleNamespace(torch=torch, version=stable_baselines3.__version__, DQN=DQN,
                           Monitor=Monitor, DummyVecEnv=DummyVecEnv, Body=Body,
                           SameHeadPolicy=SameHeadPolicy, body=body, head=head)


class UpdateClock:
    """SB3 learning-rate schedule (progress remaining -> rate) giving our schedule's rate, which
    counts gradient updates: the updates made by then, from SB3's environment step."""

    def __init__(self, schedule: schedules.Schedule, steps: int, learning_starts: int,
                 steps_per_update: float) -> None:
        self.schedule, self.steps = schedule, steps
        self.learning_starts, self.steps_per_update = learning_starts, steps_per_update

    def __call__(self, progress_remaining: float) -> float:
        step = (1.0 - progress_remaining) * self.steps
        return float(self.schedule(max(0, int((step - self.learning_starts)
                                              / self.steps_per_update))))


def sb3_settings(config: DQNConfig, num_envs: int, steps: int) -> dict[str, Any]:
    """SB3 DQN arguments for our config: the same updates per environment step, target copies
    every as many environment steps, n-step, schedules on the same clocks."""
    # SB3 counts train_freq in vector steps of num_envs environment steps each and makes
    # gradient_steps updates then; ours makes gradient_steps updates every train_freq env steps.
    common = math.gcd(config.train_freq, num_envs)
    train_freq = config.train_freq // common
    gradient_steps = config.gradient_steps * num_envs // common
    steps_per_update = config.train_freq / config.gradient_steps
    if config.tau < 1.0:  # ours blends after every update
        target_update_interval = round(steps_per_update)
    else:  # ours copies every target_update_interval updates; SB3 counts environment steps
        target_update_interval = round(config.target_update_interval * steps_per_update)
    epsilon = config.epsilon
    if isinstance(epsilon, schedules.Constant):
        start, end, fraction = epsilon.value, epsilon.value, 1.0
    elif isinstance(epsilon, schedules.Linear):
        start, end, fraction = epsilon.start, epsilon.end, max(epsilon.duration, 1) / steps
    else:
        raise ValueError(f"the SB3 side takes a constant or linear ε schedule, got {epsilon}")
    return {
        "learning_rate": UpdateClock(config.learning_rate, steps, config.learning_starts,
                                     steps_per_update),
        "buffer_size": config.buffer_size, "learning_starts": config.learning_starts,
        "batch_size": config.batch_size, "tau": config.tau, "gamma": config.gamma,
        "train_freq": train_freq, "gradient_steps": gradient_steps, "n_steps": config.n_step,
        "target_update_interval": target_update_interval,
        "exploration_initial_eps": start, "exploration_final_eps": end,
        "exploration_fraction": fraction,
        "max_grad_norm": math.inf if config.max_grad_norm is None else config.max_grad_norm,
    }


def differences(config: DQNConfig) -> list[str]:
    """What the two sides of a workload do differently (all else is the same)."""
    found = []
    if config.munchausen:
        found.append("target: ours Munchausen (the target network over next_obs and obs in "
                     "one pass of twice the batch, the online one over obs); SB3's the plain "
                     "DQN target (the target network over next_obs). --no-munchausen compares "
                     "Double DQN, --no-munchausen --no-double-dqn the same algorithm")
    elif config.double_dqn:
        found.append("Double DQN: ours only (its online network also runs over next_obs: one "
                     "forward pass more per update); SB3's DQN has none. --no-double-dqn "
                     "compares the same algorithm")
    found.append("acting: SB3 draws one ε coin per vector step for all its environments and "
                 "skips the forward pass when it explores (and acts at random without it "
                 "during learning_starts); ours draws a coin per environment after one batched "
                 "forward pass, every step")
    if config.huber_delta != 1.0:
        found.append(f"loss: ours Huber δ={config.huber_delta:g}; SB3 smooth_l1 (Huber δ=1)")
    if config.reward_scale != 1.0:
        found.append(f"rewards: ours scaled by {config.reward_scale:g} before storing; SB3 raw")
    if config.loss_penalty or config.food_shaping:
        found.append("the preset's training-only reward changes (loss penalty, food shaping): "
                     "on neither side here (both train in the plain env; no effect on timing)")
    if config.prioritized:
        found.append("replay: ours prioritized; SB3's DQN uniform")
    if config.action_mask:
        found.append("action masks: ours chooses among info['action_mask'] (acting and the "
                     "bootstrap's max; the buffer keeps a mask per frame); SB3's DQN has none")
    found.append("replay storage: ours keeps each frame once (bit-packed for 0/1 grids) and a "
                 "lockstep environment's steps until its episode ends; SB3 keeps obs and "
                 "next_obs of every step, unpacked, as they come")
    found.append("initial weights: ours from nets.init (He, Xavier for the head); SB3 torch's "
                 "defaults (no effect on the time per step)")
    return found


def sb3(run: Run, steps: int, threads: int) -> dict[str, Any] | None:
    """The same workload with Stable-Baselines3's DQN, or None when it is not installed."""
    lib = sb3_library()
    if lib is None:
        return None
    torch = lib.torch
    if threads > 0:
        torch.set_num_threads(threads)
    config, num_envs = run.agent_config, run.loop_config.num_envs
    vec_env = lib.DummyVecEnv([lambda: lib.Monitor(run.make_env())] * num_envs)
    model = lib.DQN(
        lib.SameHeadPolicy, vec_env, **sb3_settings(config, num_envs, steps),
        policy_kwargs={"features_extractor_class": lib.Body, "net_arch": [],
                       "features_extractor_kwargs": {
                           "config": config,
                           "planes": env_fixed_planes(vec_env.envs[0], config)},
                       "normalize_images": False, "head_config": config},
        seed=run.seed, device="cpu", verbose=0,
    )
    def train() -> int:
        model.learn(total_timesteps=steps)
        return model.num_timesteps

    obs = vec_env.reset()
    update = functools.partial(model.train, gradient_steps=1, batch_size=config.batch_size)
    act = functools.partial(model.predict, obs[0] if num_envs == 1 else obs, deterministic=True)
    return {**measure(train, update, act),
            "params": sum(p.numel() for p in model.q_net.parameters()),
            "torch_threads": torch.get_num_threads()}


# --- the report -----------------------------------------------------------------------------------


def numpy_blas_threads() -> int | None:
    """Threads of NumPy's BLAS as threadpoolctl reads them (None without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    for pool in threadpool_info():
        if pool.get("user_api") == "blas" and "numpy" in pool.get("filepath", ""):
            return pool.get("num_threads")
    return None


def settings_of(run: Run) -> dict[str, Any]:
    """The settings that decide the work per step, as ours runs them."""
    config = run.agent_config
    keys = ("batch_size", "train_freq", "gradient_steps", "learning_starts", "buffer_size",
            "n_step", "double_dqn", "dueling", "hidden", "conv_channels", "conv_strides",
            "center_channel", "action_mask", "target_update_interval", "tau", "gamma")
    shown = {key: getattr(config, key) for key in keys}
    shown["hidden"], shown["conv_channels"] = list(config.hidden), list(config.conv_channels)
    shown["conv_strides"] = list(config.conv_strides)
    return {"num_envs": run.loop_config.num_envs, **shown,
            "epsilon": config.epsilon.config(), "learning_rate": config.learning_rate.config()}


def best_of(rounds: list[dict]) -> dict:
    """Highest steps/s and lowest times over the rounds (other entries from the first)."""
    best = dict(rounds[0])
    for key in ("steps_per_s", "steps_per_cpu_s"):
        best[key] = max(r[key] for r in rounds)
    for key in ("update_ms", "update_cpu_ms", "act_us"):
        best[key] = min(r[key] for r in rounds)
    best["cpu_share"] = [r["cpu_share"] for r in rounds]  # of each round, in order
    best["rounds"] = len(rounds)
    return best


def _rounded(value):
    """Floats to 4 significant digits, recursively, for a readable JSON line."""
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    if isinstance(value, float):
        return float(f"{value:.4g}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10_000,
                        help="environment steps of training per workload, library and round "
                             "(default: 10000; the first --learning-starts only act and store)")
    parser.add_argument("--learning-starts", type=int, default=LEARNING_STARTS,
                        help="steps before the first update, for every workload (default: "
                             f"{LEARNING_STARTS}; the Pac-Man presets wait 5000)")
    parser.add_argument("--workloads", nargs="+", choices=sorted(WORKLOADS),
                        default=["pacgrid_small", "pacgrid_medium"],
                        help="which cases to run (default: pacgrid_small pacgrid_medium)")
    parser.add_argument("--no-sb3", action="store_true",
                        help="skip Stable-Baselines3 even when it is installed")
    parser.add_argument("--seed", type=int, default=0, help="seed of both agents (default: 0)")
    parser.add_argument("--repeats", type=int, default=2,
                        help="rounds per library, alternating; the best round counts (default: 2)")
    parser.add_argument("--no-double-dqn", action="store_true",
                        help="run our DQN without Double DQN, the algorithm of SB3's DQN: one "
                             "network forward less per update (default: the preset's setting)")
    parser.add_argument("--epsilon", type=float, default=None,
                        help="a constant ε for both sides instead of the schedule, e.g. 0.02 to "
                             "time the greedy phase that follows the preset's exploration "
                             "(default: the schedule; early in it nearly every action is random)")
    parser.add_argument("--settings", type=json_object, default={}, metavar="JSON",
                        help="config fields over every workload, on both sides, e.g. a smaller "
                             "network: '{\"conv_channels\": [8, 16], \"hidden\": [64]}' "
                             "(default: none)")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch threads for SB3; 1 matches our single BLAS thread, 0 keeps "
                             "torch's default (default: 1)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.learning_starts < 0:
        parser.error("--learning-starts must be >= 0")
    if args.steps <= args.learning_starts:
        parser.error(f"--steps must exceed learning_starts={args.learning_starts} so that "
                     "updates happen: raise --steps or lower --learning-starts")
    if args.epsilon is not None and not 0.0 <= args.epsilon <= 1.0:
        parser.error(f"--epsilon must be in [0, 1], got {args.epsilon}")
    # glibc's malloc settings of training (rl.memory), for both libraries: one process.
    malloc_kept = keep_freed_memory()
    settings, runs = args.settings, {}
    for name in args.workloads:  # a bad setting is an error here, before any timing
        try:
            runs[name] = make_run(WORKLOADS[name], args.steps, args.learning_starts, args.seed,
                                  False if args.no_double_dqn else None, args.epsilon, settings)
        except (ValueError, TypeError) as err:
            parser.error(f"--settings for {name}: {err}")

    result: dict[str, object] = {
        "benchmark": "dqn", "steps": args.steps, "learning_starts": args.learning_starts,
        "python": platform.python_version(), "numpy": np.__version__,
        "cpu_count": os.cpu_count(), "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "numpy_blas_threads": numpy_blas_threads(), "malloc_keeps_freed_memory": malloc_kept,
    }
    sb3_ran = False
    for name, run in runs.items():
        entry: dict[str, Any] = {"env": run.env_id, "settings": settings_of(run)}
        # Alternate the libraries and keep each one's best round: on a shared machine the load
        # changes over a run, and the best round is the least disturbed one.
        our_rounds, sb3_rounds = [], []
        for _ in range(args.repeats):
            our_rounds.append(ours(run, args.steps))
            if not args.no_sb3:
                theirs = sb3(run, args.steps, args.torch_threads)
                if theirs is not None:
                    sb3_rounds.append(theirs)
        entry["ours"] = best_of(our_rounds)
        if sb3_rounds:
            settings = sb3_settings(run.agent_config, run.loop_config.num_envs, args.steps)
            settings["learning_rate"] = "our schedule on SB3's clock (UpdateClock)"
            entry["sb3_settings"] = settings
            entry["differs"] = differences(run.agent_config)
            entry["sb3"] = best_of(sb3_rounds)
            our_best, sb3_best = entry["ours"], entry["sb3"]
            entry["speedup_vs_sb3"] = our_best["steps_per_s"] / sb3_best["steps_per_s"]
            entry["speedup_vs_sb3_cpu"] = (our_best["steps_per_cpu_s"]
                                           / sb3_best["steps_per_cpu_s"])
            entry["update_speedup_vs_sb3"] = sb3_best["update_ms"] / our_best["update_ms"]
            entry["update_speedup_vs_sb3_cpu"] = (sb3_best["update_cpu_ms"]
                                                  / our_best["update_cpu_ms"])
            sb3_ran = True
        result[name] = entry
    if sb3_ran:
        lib = sb3_library()
        result.update(torch=lib.torch.__version__, stable_baselines3=lib.version,
                      torch_threads=lib.torch.get_num_threads())
    else:
        result["sb3"] = "skipped" if args.no_sb3 else "not installed (torch and SB3 are optional)"
    print(json.dumps(_rounded(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
