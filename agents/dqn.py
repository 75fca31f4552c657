"""Deep Q-Network: the Q-learning agent with its table replaced by a `nets` network.

Read top to bottom: the config, the network builder (an MLP for vectors, a small CNN for grids
and images), then the agent; the per-environment presets are in agents/dqn_presets.py. The agent
is Q-learning (agents/q_learning.py) with four changes from Mnih et al. (2015), "Human-level
control through deep reinforcement learning":

1. Q(s, ·) is a network's output instead of a table row; ε-greedy is the very same function.
2. Transitions go into a replay buffer and the network learns from random minibatches of it.
3. The TD target bootstraps from a *target network*, a lagged copy synced every N updates (or
   Polyak-averaged with τ), so the target does not move with every gradient step.
4. The squared TD error becomes the Huber loss, and gradients are clipped by global norm.

On by default: Double DQN (van Hasselt et al., 2016), where the online network picks the next
action and the target network values it, which removes most of max-operator overestimation.
Options: n-step returns (computed by the replay buffer), a dueling head (Wang et al., 2016),
proportional prioritized replay (Schaul et al., 2016), frame stacking via Gymnasium's
FrameStackObservation (see `wrap_env`), the Munchausen target (Vieillard et al., 2020) and a
distributional head that learns quantiles of the return (QR-DQN, Dabney et al., 2018).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import gymnasium as gym
import numpy as np

import nets
from agents.q_learning import epsilon_greedy, greedy_action, greedy_stream, td_target
from rl import schedules
from rl.prioritized import PrioritizedReplayBuffer
from rl.replay import Batch, ReplayBuffer, stacked
from rl.schedules import Schedule
from rl.seeding import rng_state, set_rng_state
from rl.shaping import OutcomePenalty, PotentialShaping
from rl.starts import PartialFoodStarts

# With several environments, an episode's steps wait until its end to be stored (observe);
# a longer episode is stored in parts of this many steps.
MAX_HELD_STEPS = 10_000


@dataclass
class DQNConfig:
    """Hyperparameters of the DQN agent (schedules are rl.schedules objects of a step count)."""

    # Discount factor γ.
    gamma: float = 0.99
    # Rewards are multiplied by this before storing (e.g. 0.1 for Pac-Man's ±500), so that
    # Q-values stay within the Huber loss's quadratic zone more often.
    reward_scale: float = 1.0
    # Optimizer step size, a schedule of the update count (a bare number is a constant).
    learning_rate: Schedule = field(default_factory=lambda: schedules.constant(1e-3))
    # Optimizer: "adam" or "rmsprop".
    optimizer: Literal["adam", "rmsprop"] = "adam"
    # Transitions per gradient step.
    batch_size: int = 64
    # Replay buffer capacity in transitions.
    buffer_size: int = 50_000
    # Environment steps of pure ε-greedy acting before the first update.
    learning_starts: int = 1_000
    # Environment steps between updates (4 in the Atari DQN).
    train_freq: int = 4
    # Gradient steps done each time an update is due.
    gradient_steps: int = 1
    # Updates between hard target-network copies (used when tau == 1).
    target_update_interval: int = 500
    # Polyak factor: < 1 blends target = (1-τ)·target + τ·online after every update instead.
    tau: float = 1.0
    # Exploration rate ε, a schedule of the environment step.
    epsilon: Schedule = field(default_factory=lambda: schedules.linear(1.0, 0.05, 10_000))
    # Double DQN target: the online net chooses the next action, the target net values it.
    double_dqn: bool = True
    # Munchausen DQN target (replaces Double DQN's): the soft value of the next state under
    # softmax(Q_target / τ), plus α·τ·log π(a|s) of the action taken, clipped to [l0, 0].
    munchausen: bool = False
    # Munchausen entropy temperature τ (in the units of scaled rewards).
    munchausen_tau: float = 0.03
    # Munchausen bonus weight α.
    munchausen_alpha: float = 0.9
    # Munchausen lower clip l0 of τ·log π (keeps the bonus finite for near-zero probabilities).
    munchausen_clip: float = -1.0
    # Greedy acting (evaluations, scripts/watch.py, best checkpoints) uses an exponential moving
    # average of the online weights, blended in by this much after every update (0: the online
    # weights themselves). ε-greedy acting and the TD target always use the online network.
    # Each update changes the greedy action in many states at once (policy churn); the average
    # keeps what the last ~1/greedy_ema updates agree on.
    greedy_ema: float = 0.0
    # Dueling head: Q = V + A - mean(A) from one shared hidden layer.
    dueling: bool = False
    # NoisyNet exploration (Fortunato et al., 2018): the dense layers after the encoder are
    # nets.NoisyDense, whose weights carry learned Gaussian noise, drawn anew for every ε-greedy
    # action and, for the online and target networks apart, for every update. Greedy acting
    # (evaluations, best checkpoints, scripts/watch.py) uses the mean weights. ε-greedy acting
    # still applies: give --epsilon 0 to explore by the noise alone, as Rainbow does.
    noisy: bool = False
    # With noisy: the noise's starting scale σ0 (each weight's σ = σ0 / √fan-in; 0.5 in the paper).
    noisy_sigma: float = 0.5
    # n of n-step returns (1 = the one-step TD target).
    n_step: int = 1
    # Huber loss threshold δ (quadratic below, linear above).
    huber_delta: float = 1.0
    # Distributional head (QR-DQN, Dabney et al., 2018): the network gives this many quantiles
    # of each action's return instead of its expected value (0: expected values, plain DQN).
    # Acting, the greedy next action and the Munchausen policy read the quantiles' mean; the
    # loss is the quantile Huber loss (nets.losses.QuantileHuber) instead of huber_delta's.
    quantiles: int = 0
    # κ of the quantile Huber loss (used with quantiles), in scaled-reward units.
    quantile_kappa: float = 1.0
    # Global gradient-norm clipping threshold (none = no clipping).
    max_grad_norm: float | None = 10.0
    # Hidden layer widths: the MLP for vector observations, the dense head after the CNN.
    hidden: tuple[int, ...] = (256, 256)
    # Output channels of each 3x3 convolution of the CNN encoder (grid/image observations).
    conv_channels: tuple[int, ...] = (16, 32)
    # Stride of each convolution (same length as conv_channels); 2 halves the grid.
    conv_strides: tuple[int, ...] = (1, 2)
    # Layout of image observations: "auto" guesses from the shape, or "hwc" / "chw".
    image_layout: Literal["auto", "hwc", "chw"] = "auto"
    # Agent-centred view (grids): the channel that marks the agent's cell (3 = Pac-Man in PacGrid).
    # The CNN then sees the grid shifted so that this cell is at the centre, so "ghost just
    # north of me" is the same input wherever the agent stands (none = the grid as given).
    center_channel: int | None = None
    # With center_channel: the channel set to 1 outside the shifted grid (0 = walls in PacGrid).
    outside_channel: int | None = None
    # With center_channel: the side (odd) of a window of the grid around the agent that the
    # dense layers read cell by cell beside the CNN's features (0 = none). The strided CNN sees
    # "a ghost two cells north, heading south" only blurred with its neighbours.
    agent_window: int = 0
    # With center_channel: the agent's row and column, one-hot, beside the CNN's features. The
    # centred view shows the board relative to the agent; the rules tied to a fixed cell (an
    # eaten ghost returns to its start and catches Pac-Man there) need the absolute place.
    agent_position: bool = False
    # Grids: the env's fixed planes (env.unwrapped.fixed_planes(), (H, W, K)) as K more channels
    # of every observation, before the CNN, the centred view and the window. In PacGrid they
    # mark each ghost's start: an eaten ghost returns there unscared, so eating ghost k on its
    # own start is a death, a rule the grid alone shows only through the ghost's identity plane.
    fixed_planes: bool = False
    # Choose only among the legal actions the env lists in info["action_mask"] (Gymnasium's
    # convention), when acting and in the bootstrap's max: a move into a wall, which the agent
    # rarely tries, then never wins the max on a poorly learned value.
    action_mask: bool = False
    # Proportional prioritized replay instead of uniform.
    prioritized: bool = False
    # Prioritization exponent α (0 = uniform).
    priority_alpha: float = 0.6
    # Importance-sampling exponent β, a schedule of the environment step, annealed to 1.
    priority_beta: Schedule = field(
        default_factory=lambda: schedules.linear(0.4, 1.0, 100_000)
    )
    # Stack this many last observations (Gymnasium's FrameStackObservation; 1 = off).
    frame_stack: int = 1
    # PacGrid only, training environments only: potential-based shaping (rl.shaping) with
    # Φ = −food_shaping × moves to the nearest food, which pays about this many points per move
    # toward food at once rather than when it is reached. Wins are ranked as before (Φ = 0 at
    # a win); a loss also costs Φ at the death. Evaluations use the game's own reward.
    food_shaping: float = 0.0
    # PacGrid only, training environments only: points taken off the reward of being caught
    # (info["loss"], rl.shaping.OutcomePenalty) on top of the game's −500. With γ 0.95 a death
    # costs little more than its −500, the game it ends being far away in discounted terms;
    # this makes the agent price it closer to the lost game it is. Evaluations are unchanged.
    loss_penalty: float = 0.0
    # PacGrid only, training environments only: the share of training games that start with a
    # uniform random share of their food already gone (rl.starts.PartialFoodStarts), so that the
    # endgame (few pellets, far apart) is played from the first episodes on, not only once the
    # agent survives that long. Evaluations play whole games.
    partial_food: float = 0.0
    # Share of each minibatch replayed as its mirror image, for games that read the same left to
    # right (the env's mirror(): PacGrid's Small-v1 and Medium-v1 with random or directional
    # ghosts): the grids flipped east-west, east and west moves swapped. The network then learns
    # "a ghost two cells west" and "two cells east" from each other's games.
    mirror_augment: float = 0.0
    # Greedy acting (evaluations, scripts/watch.py, best checkpoints) on the mean of a state's
    # Q-values and its mirror image's (same games as mirror_augment): two views of one network
    # that each err in their own way, whose mean changes its mind less from move to move.
    # Acting only: training and its targets are unchanged, and a checkpoint loads with it on or off.
    mirror_greedy: bool = False
    # With mirror_augment and mirror_greedy: the up-down flip too, and with the mirror the half
    # turn, for games whose rules read the same upside down (the env's flip(): PacGrid Small-v1,
    # Medium-v1, Classic-v1 with random or directional ghosts). A mirrored transition is then
    # one of the three reflections, drawn evenly (mirror_augment 0.75 replays each of the four
    # views of a transition equally often), and greedy acting averages the four views.
    updown_flip: bool = False
    # Start training from another run's trained Q-network instead of random weights: a run
    # folder (its best.npz, else its last checkpoint) or a checkpoint file, of the same network
    # on an environment with the same spaces (a curriculum: random ghosts, then chasing ones).
    # Used when a run starts; a resumed run continues from its own checkpoint.
    init_from: str | None = None
    # Include the replay buffer in state_dict, so that a resumed run continues exactly.
    save_buffer: bool = True

    # Fields that change how a trained agent acts, never its parameters: a checkpoint loads
    # into an agent whose config differs from the one it was trained with in these only.
    acting_only_fields: ClassVar[frozenset[str]] = frozenset({"mirror_greedy"})

    def __post_init__(self) -> None:
        """Refuse settings that would crash later or train nothing, naming the flag to change."""
        def need(ok: bool, name: str, rule: str) -> None:
            if not ok:
                raise ValueError(f"--{name.replace('_', '-')} must be {rule}, got "
                                 f"{getattr(self, name)!r}")

        for name in ("batch_size", "buffer_size", "train_freq", "gradient_steps",
                     "target_update_interval", "n_step", "frame_stack"):
            need(getattr(self, name) >= 1, name, "at least 1")
        need(self.learning_starts >= 0, "learning_starts", ">= 0 steps")
        need(self.buffer_size >= self.batch_size, "buffer_size",
             f"at least the batch size ({self.batch_size})")
        need(0.0 <= self.gamma <= 1.0, "gamma", "in [0, 1]")
        need(self.reward_scale > 0, "reward_scale", "> 0")
        need(0.0 < self.tau <= 1.0, "tau", "in (0, 1]")
        need(0.0 <= self.greedy_ema < 1.0, "greedy_ema", "in [0, 1) (0: no average)")
        need(self.huber_delta > 0, "huber_delta", "> 0 (δ = 0 makes the loss 0: nothing learns)")
        need(self.quantiles >= 0, "quantiles", ">= 0 quantiles per action (0: expected values)")
        need(self.quantile_kappa > 0, "quantile_kappa", "> 0")
        need(self.max_grad_norm is None or self.max_grad_norm > 0, "max_grad_norm",
             "> 0, or none for no clipping")
        need(self.priority_alpha >= 0, "priority_alpha", ">= 0")
        need(self.noisy_sigma >= 0, "noisy_sigma", ">= 0 (the noise's starting scale)")
        need(self.munchausen_tau > 0, "munchausen_tau", "> 0")
        need(self.munchausen_clip < 0, "munchausen_clip", "< 0")
        need(0.0 <= self.food_shaping < math.inf, "food_shaping", ">= 0 points a move (0: off)")
        need(0.0 <= self.partial_food <= 1.0, "partial_food", "a share of games in [0, 1]")
        need(0.0 <= self.loss_penalty < math.inf, "loss_penalty", ">= 0 points (0: off)")
        need(0.0 <= self.mirror_augment <= 1.0, "mirror_augment", "a share in [0, 1] (0: off)")
        need(not self.updown_flip or self.mirror_augment > 0 or self.mirror_greedy,
             "updown_flip", "used with --mirror-augment or --mirror-greedy (it adds a reflection "
             "to theirs)")
        need(self.agent_window == 0 or (self.agent_window % 2 == 1 and self.agent_window > 0
                                        and self.center_channel is not None), "agent_window",
             "0 (none) or an odd size, with --center-channel")
        need(not self.agent_position or self.center_channel is not None, "agent_position",
             "off without --center-channel (the agent's cell is read from that channel)")
        need(not self.fixed_planes or self.frame_stack == 1, "fixed_planes",
             "off with --frame-stack above 1 (the planes are added to one frame)")
        for name in ("hidden", "conv_channels", "conv_strides"):
            need(all(size >= 1 for size in getattr(self, name)), name, "a list of sizes >= 1")
        need(len(self.conv_strides) == len(self.conv_channels), "conv_strides",
             f"one stride per entry of --conv-channels ({len(self.conv_channels)})")
        schedules.check_range("--learning-rate", self.learning_rate, 0.0, math.inf,
                              low_open=True)
        schedules.check_range("--epsilon", self.epsilon, 0.0, 1.0)
        schedules.check_range("--priority-beta", self.priority_beta, 0.0, 1.0)


def soft_max_value(q: np.ndarray, tau: float, mask: np.ndarray | None = None) -> np.ndarray:
    """τ·log Σ_a exp(q_a / τ) per row, over the actions of `mask` (all without one): the
    entropy-regularized value Σ_a π_a·(q_a − τ·log π_a) of π = softmax(q / τ), since
    q_a − τ·log π_a is this same number for every a. It tends to the max as τ → 0.
    Computed as max + τ·log Σ exp((q − max) / τ), which never overflows."""
    if mask is not None:
        q = np.where(mask, q, -np.inf)
    top = q.max(axis=1)
    return top + tau * np.log(np.exp((q - top[:, None]) / tau).sum(axis=1))


def _require_pacgrid(env: gym.Env, option: str, needs: str) -> None:
    """Refuse a PacGrid-only option (`--option`) on another env, saying what it needs."""
    game = env.unwrapped
    if not callable(getattr(game, "food_distance", None)):  # PacmanEnv's, the PacGrid mark
        raise ValueError(f"--{option} needs {needs} (PacGrid), not {type(game).__name__}: "
                         f"use --{option} 0 for other envs")


@dataclass(frozen=True, eq=False)
class Symmetry:
    """A reflection of the board under which the game's rules read the same: an (..., H, W, C)
    observation of a state becomes its reflected state's as `images(obs)` (rows and/or columns
    reversed, channels in `channels` order), and action a becomes actions[a]."""

    rows: bool  # north-south flip
    cols: bool  # east-west mirror
    channels: np.ndarray
    actions: np.ndarray

    def images(self, obs: np.ndarray) -> np.ndarray:
        """The reflected observations (a copy)."""
        if self.rows:
            obs = obs[..., ::-1, :, :]
        if self.cols:
            obs = obs[..., ::-1, :]
        # (a plain copy where the channels keep their order: 5x faster than indexing them)
        return obs.copy() if self.keeps_channels else obs[..., self.channels]

    @functools.cached_property
    def keeps_channels(self) -> bool:
        return bool(np.array_equal(self.channels, np.arange(len(self.channels))))

    def then(self, other: Symmetry) -> Symmetry:
        """This reflection followed by `other` (they commute: flips of different axes)."""
        return Symmetry(self.rows != other.rows, self.cols != other.cols,
                        self.channels[other.channels], other.actions[self.actions])


def env_symmetries(env: gym.Env, config: DQNConfig) -> list[Symmetry] | None:
    """The env's reflections that --mirror-augment and --mirror-greedy use (None when both are
    off): its left-right mirror, and with --updown-flip its up-down flip and the two together.

    PacmanEnv.mirror() and flip() give each as (channel_order, action_order): an (..., H, W, C)
    observation of a state becomes its reflected state's as obs[..., ::-1, :][..., channel_order]
    (rows reversed instead for the flip), and action a becomes action_order[a]; both orders are
    their own inverses.
    """
    if config.mirror_augment == 0 and not config.mirror_greedy:
        return None
    name = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
    symmetries = []
    mirror = getattr(env.unwrapped, "mirror", None)
    orders = mirror() if callable(mirror) else None
    if orders is not None:
        symmetries.append(Symmetry(False, True, *(np.asarray(o, dtype=np.intp) for o in orders)))
    if config.updown_flip:
        flip = getattr(env.unwrapped, "flip", None)
        orders = flip() if callable(flip) else None
        if orders is None:
            raise ValueError(
                f"--updown-flip needs a game whose rules read the same upside down (PacGrid "
                f"Small-v1, Medium-v1 or Classic-v1 with random or directional ghosts); {name} "
                "with these settings has no such symmetry: use --no-updown-flip")
        flipped = Symmetry(True, False, *(np.asarray(o, dtype=np.intp) for o in orders))
        symmetries += [flipped] + [mirrored.then(flipped) for mirrored in symmetries]
    if not symmetries:
        raise ValueError(
            f"--mirror-augment and --mirror-greedy need a game that reads the same mirrored left "
            f"to right (PacGrid Small-v1 or Medium-v1 with random or directional ghosts); {name} "
            "with these settings has no such symmetry: use --mirror-augment 0 --no-mirror-greedy")
    return symmetries


def env_fixed_planes(env: gym.Env, config: DQNConfig) -> np.ndarray | None:
    """The planes --fixed-planes adds to every grid (None when it is off): PacmanEnv's
    fixed_planes(), (H, W, K), e.g. each ghost's start."""
    if not config.fixed_planes:
        return None
    method = getattr(env.unwrapped, "fixed_planes", None)
    planes = method() if callable(method) else None
    if planes is None:
        name = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
        raise ValueError(f"--fixed-planes needs a grid game that lists its fixed planes (PacGrid "
                         f"with grid observations and ghosts); {name} has none: use "
                         "--no-fixed-planes")
    return np.asarray(planes)


def wrap_env(env: gym.Env, config: DQNConfig, training: bool = False) -> gym.Env:
    """Apply the environment-side options of the config to a made env: frame stacking, and on
    the environments the agent trains in (`training`), partial starts, food shaping and the
    loss penalty."""
    if training and config.partial_food > 0:  # innermost: the wrappers above see one reset
        _require_pacgrid(env, "partial-food", "an env whose reset takes options={'food_share'}")
        env = PartialFoodStarts(env, config.partial_food)
    if training and config.food_shaping > 0:
        _require_pacgrid(env, "food-shaping",
                         "an env whose food_distance() counts the moves to the nearest food")
        weight = config.food_shaping
        # A won game ends with no food left, Φ = 0; a lost one keeps its Φ, else being caught
        # far from food would give back weight × distance of the −500.
        env = PotentialShaping(env, lambda game: -weight * game.food_distance(), config.gamma,
                               zero_at_end=False)
    if training and config.loss_penalty > 0:
        _require_pacgrid(env, "loss-penalty", "an env that reports info['loss']")
        env = OutcomePenalty(env, config.loss_penalty, key="loss")
    if config.frame_stack > 1:
        env = gym.wrappers.FrameStackObservation(env, config.frame_stack)
    return env


# --- the network ----------------------------------------------------------------------------------
# Built from nets layers; the image input, the agent-centred view with the convolution after it,
# and the dueling head's last layer are nets.ImageInput (nets/layers/image_input.py),
# nets.CenteredConv2D (nets/layers/fused.py: CenterOn, then Conv2D) and nets.DuelingCombine.


MAX_GUESSED_CHANNELS = 4  # a first image axis this short or shorter may hold channels


def guess_image_layout(obs_shape: tuple[int, ...]) -> str:
    """"chw" when the first image axis looks like a channel count and the last does not.

    A channel count here is 1 to 4 (grey, RGB, RGBA, a few stacked greys), as in (3, 84, 84);
    everything else is HWC, Gymnasium's convention, as in (84, 84, 3) or PacGrid's (7, 21, 19)
    (7 rows, 21 columns, 19 channels). Set DQNConfig.image_layout when the shape is ambiguous.
    """
    first, _, last = obs_shape[-3:]
    return "chw" if first <= MAX_GUESSED_CHANNELS < last else "hwc"


def input_scale(space: gym.spaces.Box) -> float:
    """1/high for integer pixels above 1 (e.g. 1/255), else 1: bounded inputs near [0, 1]."""
    if np.issubdtype(space.dtype, np.integer) and np.all(np.isfinite(space.high)):
        high = float(np.max(space.high))
        return 1.0 / high if high > 1 else 1.0
    return 1.0


def build_q_network(
    observation_space: gym.spaces.Box, n_actions: int, config: DQNConfig,
    rng: np.random.Generator, fixed_planes: np.ndarray | None = None,
) -> nets.Sequential:
    """MLP for 1-D (or frame-stacked 2-D) observations, small CNN + dense head for images.

    `fixed_planes` (H, W, K), with config.fixed_planes: channels added to every grid first
    (see env_fixed_planes).

    With config.quantiles = K the head gives (batch, actions, K): K quantiles per action.

    The CNN is sized for a CPU: 3x3 convolutions with few channels and a stride that shrinks
    the grid before the dense layer: one batch-32 update of the Small-v1 preset's network takes
    ~6 ms on one core (session 13), three forward passes and one backward pass of ~1 ms each.
    """
    shape = tuple(observation_space.shape)
    layers: list[tuple[str, Any]] = []
    if len(shape) in (1, 2):
        width = int(np.prod(shape))
        if len(shape) == 2:
            layers.append(("flatten", nets.Flatten()))
    elif len(shape) in (3, 4):
        layout = config.image_layout
        if layout == "auto":
            layout = guess_image_layout(shape)
        image = nets.ImageInput(list(shape), layout, input_scale(observation_space))
        layers.append(("input", image))
        channels, height, width_px = image.output_shape()
        if config.fixed_planes:
            planes = np.asarray(fixed_planes)
            if len(shape) != 3 or planes.ndim != 3 or planes.shape[:2] != (height, width_px):
                raise ValueError(f"fixed planes of shape {planes.shape} do not fit a grid of "
                                 f"{height}x{width_px} cells (one frame, (H, W, K) planes)")
            layers.append(("fixed", nets.FixedPlanes(np.moveaxis(planes, -1, 0))))
            channels += planes.shape[-1]
        front = len(layers)  # the layers before the CNN, which the inputs beside it share
        grid_channels, grid_cells = channels, height + width_px  # for the inputs beside the CNN
        centered = config.center_channel is not None
        frames = int(np.prod(shape[:-3], dtype=int))
        if centered:
            height, width_px = 2 * height - 1, 2 * width_px - 1
        if len(config.conv_strides) != len(config.conv_channels):
            raise ValueError("conv_strides needs one stride per entry of conv_channels")
        for i, (out_channels, stride) in enumerate(
            zip(config.conv_channels, config.conv_strides, strict=True), start=1
        ):
            if i == 1 and centered:  # CenterOn then Conv2D, computed on the grid alone
                conv = nets.CenteredConv2D(channels, out_channels, 3, stride=stride,
                                           frames=frames, center=config.center_channel,
                                           outside=config.outside_channel, rng=rng)
            else:
                conv = nets.Conv2D(channels, out_channels, 3, stride=stride, padding=1, rng=rng)
            layers.append((f"conv{i}", conv))
            layers.append((f"relu_conv{i}", nets.ReLU()))
            channels = out_channels
            height, width_px = (height - 1) // stride + 1, (width_px - 1) // stride + 1
        layers.append(("flatten", nets.Flatten()))
        width = channels * height * width_px
        beside: list[tuple[str, Any]] = []  # inputs of the dense layers beside the CNN's
        if config.agent_window:
            beside.append(("window", nets.AgentWindow(
                grid_channels, frames, config.center_channel, config.agent_window,
                config.outside_channel)))
            width += grid_channels * config.agent_window**2
        if config.agent_position:
            beside.append(("position", nets.AgentPosition(grid_channels, frames,
                                                          config.center_channel)))
            width += grid_cells
        if beside:
            cnn, layers = nets.Sequential(layers[front:]), layers[:front]
            layers.append(("features", nets.Concat([("cnn", cnn), *beside])))
    else:
        raise ValueError(f"DQN supports 1-D vectors and 3-D images, got observations {shape}")

    def dense(fan_in: int, fan_out: int, init: str) -> nets.Layer:
        if config.noisy:
            return nets.NoisyDense(fan_in, fan_out, config.noisy_sigma, init=init, rng=rng)
        return nets.Dense(fan_in, fan_out, init=init, rng=rng)

    for i, units in enumerate(config.hidden, start=1):
        layers.append((f"fc{i}", dense(width, units, "he")))
        layers.append((f"relu{i}", nets.ReLU()))
        width = units
    atoms = max(config.quantiles, 1)  # outputs per action (and per state value)
    if config.dueling:
        layers.append(("head", dense(width, (1 + n_actions) * atoms, "xavier")))
        layers.append(("dueling", nets.DuelingCombine(atoms)))
    else:
        layers.append(("head", dense(width, n_actions * atoms, "xavier")))
        if config.quantiles:
            layers.append(("quantiles", nets.Reshape((n_actions, atoms))))
    return nets.Sequential(layers, input_grad=False)


def same_network(saved: Any, network: dict[str, Any]) -> bool:
    """Whether a checkpoint's network config (`saved`) describes `network`'s layers and params.

    The stored config went through JSON (tuples became lists), so both are compared as JSON.
    Networks saved before CenteredConv2D have a CenterOn layer ("center") and then the Conv2D
    it feeds, with "same" padding: one CenteredConv2D of the same name and params computes
    what they do, so such a pair reads as that layer.
    """
    if isinstance(saved, dict) and isinstance(saved.get("layers"), list):
        layers, fused, index = saved["layers"], [], 0
        while index < len(layers):
            item = layers[index]
            if index + 1 < len(layers) and _centred_conv_pair(item, layers[index + 1]):
                center, (name, conv) = item[1], layers[index + 1]
                item = [name, {
                    "type": "CenteredConv2D", "in_channels": conv["in_channels"],
                    "out_channels": conv["out_channels"], "kernel_size": conv["kernel_size"],
                    "stride": conv["stride"], "frames": center["frames"],
                    "center": center["center"], "outside": center["outside"],
                    "init": conv["init"]}]
                index += 1  # the pair is one layer
            fused.append(item)
            index += 1
        saved = {**saved, "layers": fused}
    return json.dumps(saved) == json.dumps(network)


def _centred_conv_pair(first: Any, second: Any) -> bool:
    """Whether two saved layer entries are a CenterOn and a same-padded Conv2D after it."""
    try:
        center, conv = first[1], second[1]
        if center["type"] != "CenterOn" or conv["type"] != "Conv2D":
            return False
        kernel = np.broadcast_to(conv["kernel_size"], 2)
        padding = np.broadcast_to(conv["padding"], 2)
        return bool(np.all(kernel % 2 == 1) and np.all(padding == kernel // 2))
    except (TypeError, KeyError, IndexError, ValueError):
        return False


# --- the agent ------------------------------------------------------------------------------------


class DQNAgent:
    """ε-greedy agent whose action values come from a Q-network trained by replayed TD targets."""

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        config: DQNConfig | None = None,
        rng: np.random.Generator | None = None,
        symmetries: list[Symmetry] | None = None,
        fixed_planes: np.ndarray | None = None,
    ) -> None:
        self.config = config = config if config is not None else DQNConfig()
        if not isinstance(action_space, gym.spaces.Discrete):
            raise TypeError(f"DQN needs a Discrete action space, got {action_space}")
        if not isinstance(observation_space, gym.spaces.Box):
            raise TypeError(
                f"DQN needs a Box observation space, got {observation_space}; for Discrete "
                "observations use the tabular agent (--algo qlearning)"
            )
        if config.optimizer not in ("adam", "rmsprop"):
            raise ValueError(f"optimizer must be 'adam' or 'rmsprop', got {config.optimizer!r}")
        if not 0.0 < config.tau <= 1.0:
            raise ValueError(f"tau must be in (0, 1], got {config.tau}")
        self.observation_space = observation_space
        self.n_actions = int(action_space.n)
        self.rng = rng if rng is not None else np.random.default_rng()
        self.greedy_rng = greedy_stream(self.rng)  # ties of greedy acting only
        if (config.mirror_augment > 0 or config.mirror_greedy) != (symmetries is not None):
            raise ValueError("mirror_augment > 0 and mirror_greedy need the env's mirror symmetry "
                             "(env_symmetries), which is used only with one of them on")
        for symmetry in symmetries or ():
            channels, actions = symmetry.channels, symmetry.actions
            if (len(channels) != observation_space.shape[-1] or len(actions) != self.n_actions
                    or len(observation_space.shape) < 3):
                raise ValueError(f"a mirror of {len(channels)} channels and {len(actions)} "
                                 f"actions does not fit observations of shape "
                                 f"{observation_space.shape} and {self.n_actions} actions")
        self.symmetries = symmetries
        # (S, A): row k is symmetries[k].actions
        self.action_orders = (None if symmetries is None
                              else np.stack([symmetry.actions for symmetry in symmetries]))

        # Networks: the online Q-network and its target copy (same initial weights).
        if config.fixed_planes != (fixed_planes is not None):
            raise ValueError("fixed_planes needs the env's fixed planes (env_fixed_planes), "
                             "which are passed only with it on")
        self.q_net = build_q_network(observation_space, self.n_actions, config, self.rng,
                                     fixed_planes)
        self.target_net = nets.build(self.q_net.config())
        self.q_net.copy_to(self.target_net)
        # The network greedy acting uses: the online one, or its moving average (greedy_ema).
        self.greedy_net = self.q_net
        if config.greedy_ema > 0:
            self.greedy_net = nets.build(self.q_net.config())
            self.q_net.copy_to(self.greedy_net)
        # One contiguous buffer of weights (and one of gradients), which the optimizer updates
        # with a few whole-buffer operations instead of a few per parameter array.
        self.q_net.pack_params()
        self.params, self.grads = self.q_net.trainable_params(), self.q_net.trainable_grads()
        self.optimizer = nets.optim.make(config.optimizer, lr=config.learning_rate(0),
                                         clip_norm=config.max_grad_norm)
        self.loss = (nets.losses.QuantileHuber(config.quantile_kappa) if config.quantiles
                     else nets.losses.Huber(delta=config.huber_delta))

        # Replay: 0/1 grids (the Pac-Man channels) are bit-packed, everything else kept as is.
        space = observation_space
        binary = bool(np.issubdtype(space.dtype, np.integer)
                      and np.all(space.low == 0) and np.all(space.high == 1))
        buffer_args = dict(capacity=config.buffer_size, obs_shape=observation_space.shape,
                           obs_dtype=observation_space.dtype, n_step=config.n_step,
                           gamma=config.gamma, pack_bits=binary,
                           n_actions=self.n_actions if config.action_mask else None)
        if config.prioritized:
            self.buffer = PrioritizedReplayBuffer(**buffer_args, alpha=config.priority_alpha)
        else:
            self.buffer = ReplayBuffer(**buffer_args)
        self.steps = 0  # environment steps observed: the clock of ε, β and train_freq
        self.updates = 0  # gradient steps taken: the clock of the learning rate and target sync
        self._episodes: dict[int, list[tuple]] = {}  # per env: steps not yet stored (observe)

    # -- acting: exactly the tabular agent's ε-greedy over a network's Q-values --

    def q_values(self, obs) -> np.ndarray:
        """Q(obs, ·) that greedy acting reads, shape (n_actions,): the online network's, or
        their moving average's with greedy_ema; with mirror_greedy, averaged with the mirror
        image's."""
        return self._greedy_q(np.asarray(obs)[None])[0]

    def _greedy_q(self, obs_batch: np.ndarray) -> np.ndarray:
        """The Q-values greedy acting reads for a batch of observations: the greedy network's,
        or with mirror_greedy the mean of Q(s, a) and Q(mirror(s), mirror(a)) (over every
        reflection g of the env's: the mean of Q(g(s), g(a))), all from one forward pass over
        the batch and its reflections.

        A state that is its own mirror image (every game's first move on a mirrored layout)
        takes both from its own row, so that east and west tie exactly there and the tie is
        drawn at random: the BLAS may round a row by its place in the batch, which would
        otherwise break the tie by how many games are played side by side, and by machine.
        """
        if not self.config.mirror_greedy:
            return self._values(self.greedy_net, obs_batch)
        n = len(obs_batch)
        views = [symmetry.images(obs_batch) for symmetry in self.symmetries]
        q = self._values(self.greedy_net, np.concatenate([obs_batch, *views]))
        own = q[:n]
        total = own.copy()
        for k, (symmetry, view) in enumerate(zip(self.symmetries, views, strict=True), 1):
            symmetric = (view == obs_batch).reshape(n, -1).all(axis=1)
            other = np.where(symmetric[:, None], own, q[k * n:(k + 1) * n])
            total += other[:, symmetry.actions]
        return total / (len(views) + 1)

    def _values(self, net: nets.Sequential, obs_batch: np.ndarray,
                noise: bool = False) -> np.ndarray:
        """Q-values (batch, actions) from a forward pass of `net`: its outputs, or with
        quantiles the mean of each action's quantiles (the expected return). With noisy layers,
        `noise` chooses their noise in use or their mean weights (greedy acting)."""
        if self.config.noisy:
            nets.set_noise(net, noise)
        out = net.forward(obs_batch)
        return out.mean(axis=-1) if self.config.quantiles else out

    @property
    def uses_action_masks(self) -> bool:
        """Whether act and observe take the env's action masks (config.action_mask)."""
        return self.config.action_mask

    def _legal(self, mask) -> np.ndarray | None:
        """The legal actions as a bool array (None: all), checked against the config."""
        if not self.config.action_mask:
            return None
        if mask is None:
            raise ValueError("this DQN chooses among legal actions (action_mask=True) but got no "
                             "mask: the env must put one in info['action_mask'], or train with "
                             "--no-action-mask")
        legal = np.asarray(mask).astype(bool)
        if legal.shape != (self.n_actions,) or not legal.any():
            raise ValueError(f"action mask {np.asarray(mask).tolist()} must have {self.n_actions} "
                             "entries, at least one of them 1")
        return legal

    def act(self, obs, greedy: bool = False, mask=None) -> int:
        """ε-greedy action for training, or the greedy one (random ties) when `greedy`; with
        action masks (config.action_mask), among the actions `mask` marks legal."""
        obs_batch = np.asarray(obs)[None]
        q_values = self._greedy_q(obs_batch) if greedy else self._exploring_q(obs_batch)
        return self._choose(q_values[0], greedy, self._legal(mask),
                            self.config.epsilon(self.steps))

    def act_batch(self, obs_batch, masks=None, greedy: bool = False) -> list[int]:
        """ε-greedy (or greedy) actions for several environments' observations, from one
        forward pass."""
        obs_batch = np.asarray(obs_batch)
        q_values = self._greedy_q(obs_batch) if greedy else self._exploring_q(obs_batch)
        epsilon = self.config.epsilon(self.steps)
        masks = [None] * len(q_values) if masks is None else masks
        return [self._choose(row, greedy, self._legal(mask), epsilon)
                for row, mask in zip(q_values, masks, strict=True)]

    def _exploring_q(self, obs_batch: np.ndarray) -> np.ndarray:
        """The online network's Q-values for ε-greedy acting; with noisy layers, under noise
        drawn for this step (one draw for all the batch's environments)."""
        if self.config.noisy:
            nets.resample_noise(self.q_net, self.rng)
        return self._values(self.q_net, obs_batch, noise=True)

    def _choose(self, q_values: np.ndarray, greedy: bool, legal: np.ndarray | None,
                epsilon: float) -> int:
        if legal is None:
            return (greedy_action(q_values, self.greedy_rng) if greedy
                    else epsilon_greedy(q_values, epsilon, self.rng))
        actions = np.flatnonzero(legal)
        choice = (greedy_action(q_values[actions], self.greedy_rng) if greedy
                  else epsilon_greedy(q_values[actions], epsilon, self.rng))
        return int(actions[choice])

    # -- learning --

    def observe(self, obs, action: int, reward: float, next_obs, terminated: bool,
                truncated: bool, env_index: int | None = None, mask=None,
                next_mask=None) -> dict[str, float]:
        """Store the transition; every `train_freq` steps after `learning_starts`, learn.

        With several environments (`env_index` given) each one's steps are held back until its
        episode ends and then stored together, so the buffer's consecutive slots stay one
        trajectory (the frames shared between steps, the n-step windows). With action masks,
        `mask` and `next_mask` are the env's info["action_mask"] for obs and next_obs.
        """
        if not 0 <= int(action) < self.n_actions:
            raise ValueError(f"action {action} is outside Discrete({self.n_actions})")
        transition = (obs, action, reward * self.config.reward_scale, next_obs, terminated,
                      truncated)
        if self.config.action_mask:
            legal = self._legal(mask)
            if not legal[int(action)]:
                raise ValueError(f"action {action} is not legal here (mask {legal.astype(int)})")
            # A terminal next_obs is never bootstrapped from: its mask may be missing.
            transition += (legal, None if next_mask is None else self._legal(next_mask))
        if env_index is None:
            self.buffer.add(*transition)
        else:
            episode = self._episodes.setdefault(env_index, [])
            episode.append(transition)
            if terminated or truncated or len(episode) >= MAX_HELD_STEPS:
                self._store_held(env_index)
        self.steps += 1
        if (self.steps < self.config.learning_starts or self.steps % self.config.train_freq
                or self.buffer.num_added == 0):
            return {}
        metrics: dict[str, float] = {}
        for _ in range(self.config.gradient_steps):
            metrics = self.update()
        metrics["epsilon"] = self.config.epsilon(self.steps)
        return metrics

    def update(self) -> dict[str, float]:
        """One gradient step on a replayed minibatch; returns {"loss", "q_mean"}."""
        config, rows = self.config, np.arange(self.config.batch_size)

        # 1. Sample a minibatch (n-step rewards and their bootstrap discount γ^k included).
        if config.prioritized:
            beta = config.priority_beta(self.steps)
            batch = self.buffer.sample(config.batch_size, self.rng, beta=beta)
        else:
            batch = self.buffer.sample(config.batch_size, self.rng)
        if config.mirror_augment > 0:
            batch = self._mirror_some(batch)
        if config.noisy:  # fresh noise for this update, the online and target networks' own
            nets.resample_noise(self.q_net, self.rng)
            nets.resample_noise(self.target_net, self.rng)  # (whose noise is never switched off)
            nets.set_noise(self.q_net, True)  # greedy acting may have left it off

        # 2. The TD target, bootstrapped from the target network, and 3. the online network's
        #    values of obs. With quantiles: samples of the target return, (batch, M), and each
        #    sample's weight (rows summing to 1).
        n = len(batch.obs)
        # Double DQN's choice of the next action: the online network's pass over next_obs comes
        # first (it overwrites the caches that backward reads).
        chooser = (self._values(self.q_net, batch.next_obs, noise=True)
                   if config.double_dqn and not config.munchausen else None)
        # Both networks in one pass, the online one over obs and the target over next_obs
        # (and obs, for the Munchausen bonus): nets' forward_twin, the same values; an update
        # of the Small-v1 and Medium-v1 presets without Double DQN takes 6-10% less CPU time
        # than with a pass per network (4-6% with Double DQN's pass beside it). The target's
        # rows of obs repeat the online network's: forward_twin_repeated shares their input
        # layers' work.
        stack = stacked(batch)
        both = (self.q_net.forward_twin_repeated(stack, n, self.target_net)
                if config.munchausen else self.q_net.forward_twin(stack, n, self.target_net))
        q = both[:n]
        if config.munchausen:
            target, target_weights = self._munchausen_target(batch, both[n:])
        else:
            target, target_weights = self._target(batch, both[n:], chooser)
        target = target.astype(np.float32, copy=False)

        # 3. TD error of the actions that were taken (with quantiles: of their means).
        q_taken = q[rows, batch.action]
        if config.quantiles:
            td_error = q_taken.mean(axis=1) - np.sum(target * target_weights, axis=1)
        else:
            td_error = q_taken - target

        # 4. Huber loss (importance-weighted under prioritized replay) and its gradient, which
        #    flows only into the Q-value of the taken action; with quantiles, the quantile
        #    Huber loss of the taken action's quantiles against the target's samples.
        weights = batch.weights if config.prioritized else None  # uniform replay: all 1
        #    The loss raises NonFiniteLossError if it is NaN or infinite: training diverged.
        if config.quantiles:
            loss = float(self.loss.forward(q_taken, target, weights=weights,
                                           target_weights=target_weights))
        else:
            loss = float(self.loss.forward(q_taken, target, weights=weights))
        dq = np.zeros_like(q)
        dq[rows, batch.action] = self.loss.backward()

        # 5. Backward pass and optimizer step (global-norm clipping inside the optimizer).
        self.q_net.backward(dq)
        self.optimizer.lr = config.learning_rate(self.updates)
        self.optimizer.update(self.params, self.grads)
        self.updates += 1
        self._check_finite(loss)
        if self.greedy_net is not self.q_net:
            nets.polyak_update(self.greedy_net, self.q_net, config.greedy_ema)
        if config.prioritized:
            self.buffer.update_priorities(batch.indices, td_error)

        # 6. Target network: Polyak blend every update, or a hard copy every N updates.
        if config.tau < 1.0:
            nets.polyak_update(self.target_net, self.q_net, config.tau)
        elif self.updates % config.target_update_interval == 0:
            self.q_net.copy_to(self.target_net)
        metrics = {"loss": loss, "q_mean": float(q_taken.mean())}  # (of all the quantiles)
        if config.noisy:  # how noisy the weights still are: the learned σ, mean over weights
            sigmas = [layer.params["W_sigma"] for layer in nets.noisy_layers(self.q_net)]
            metrics["noise_sigma"] = float(sum(np.abs(s).sum() for s in sigmas)
                                           / sum(s.size for s in sigmas))
        return metrics

    def _mirror_some(self, batch: Batch) -> Batch:
        """Each transition of the minibatch, with chance mirror_augment, as its mirror image:
        both grids flipped east-west with the env's channel order, the action and both masks
        in the mirrored action order. Reward, discount and flags stay; so do the replay slots,
        so that prioritized replay updates the stored transition's priority."""
        chosen = np.flatnonzero(self.rng.random(len(batch.action)) < self.config.mirror_augment)
        if len(chosen) == 0:
            return batch
        symmetries = self.symmetries
        # With several reflections (--updown-flip), each chosen transition gets one, evenly.
        which = (np.zeros(len(chosen), dtype=np.intp) if len(symmetries) == 1
                 else self.rng.integers(len(symmetries), size=len(chosen)))
        both = stacked(batch).copy()  # obs, then next_obs
        n = len(batch.action)
        for k, symmetry in enumerate(symmetries):
            rows = chosen[which == k]
            images = np.concatenate([rows, rows + n])  # the transitions' obs and next_obs
            both[images] = symmetry.images(both[images])
        # Actions and masks in their reflections' action orders, all in one indexing each.
        orders = self.action_orders[which]  # (chosen, A)
        action = batch.action.copy()
        action[chosen] = orders[np.arange(len(chosen)), action[chosen]]
        masks = {}
        for name in ("mask", "next_mask"):
            mask = getattr(batch, name)
            if mask is not None:
                masks[name] = mask = mask.copy()
                mask[chosen] = mask[chosen[:, None], orders]
        return batch._replace(obs=both[:n], next_obs=both[n:], action=action, **masks)

    def _target(self, batch, next_out: np.ndarray, chooser: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray | None]:
        """r + γ^k·Q_target(s', a'), a' the greedy next action: by the target network, or by the
        online one under Double DQN. With action masks a' is among the actions legal in s'.
        `next_out`: the target network's output for next_obs; `chooser`: the values a' is chosen
        by, the online network's of next_obs under Double DQN (None: the target's own).

        With quantiles, r + γ^k·θ_j(s', a') for each quantile θ_j of the target network's
        (batch, K), equally weighted; a' by the quantiles' means. Returns (target, weights):
        weights None without quantiles."""
        next_q_target = next_out.mean(axis=-1) if self.config.quantiles else next_out
        if chooser is None:
            chooser = next_q_target
        if batch.next_mask is not None:
            chooser = np.where(batch.next_mask, chooser, -np.inf)
        best = chooser.argmax(axis=1)
        if self.config.quantiles:
            next_quantiles = next_out[np.arange(len(best)), best]  # (batch, K)
            target = td_target(batch.reward[:, None], next_quantiles, batch.discount[:, None],
                               batch.terminated[:, None])
            return target, np.full(target.shape, 1.0 / target.shape[1], dtype=np.float32)
        next_q_value = np.take_along_axis(next_q_target, best[:, None], 1)
        return td_target(batch.reward, next_q_value[:, 0], batch.discount, batch.terminated), None

    def _munchausen_target(self, batch, both_out: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray | None]:
        """Munchausen DQN (Vieillard et al., 2020): with π = softmax(Q_target / τ),
        r + α·clip(τ·log π(a|s), l0, 0) + γ^k·Σ_a' π(a'|s')·(Q_target(s', a') − τ·log π(a'|s')).

        The bonus rewards the action taken by how likely the current policy finds it, which
        keeps each update close to the last policy (an implicit KL penalty); the soft value
        replaces the max. With n-step returns the bonus is the first action's only. With
        action masks both softmaxes run over the legal actions. `both_out`: the target
        network's outputs for next_obs and obs, stacked. Returns (target, weights) as _target
        does.
        """
        config, tau = self.config, self.config.munchausen_tau
        both = both_out.mean(axis=-1) if config.quantiles else both_out
        n = len(batch.obs)
        next_q, q = both[:n], both[n:]
        next_value = soft_max_value(next_q, tau, batch.next_mask)
        log_pi = q[np.arange(n), batch.action] - soft_max_value(q, tau, batch.mask)
        bonus = config.munchausen_alpha * np.clip(log_pi, config.munchausen_clip, 0.0)
        if not config.quantiles:
            return td_target(batch.reward + bonus, next_value, batch.discount,
                             batch.terminated), None
        # With quantiles (as M-IQN, Vieillard et al., 2020): the target return is the mixture
        # over a' ~ π(·|s') of r + bonus + γ^k·(θ_j(s', a') − τ·log π(a'|s')), so its samples
        # are every (a', j), weighted π(a'|s') / K; its mean is the target above.
        next_tau_log_pi = next_q - soft_max_value(next_q, tau, batch.next_mask)[:, None]
        next_pi = np.exp(next_tau_log_pi / tau)
        if batch.next_mask is not None:  # illegal actions: probability 0, finite samples
            next_pi = np.where(batch.next_mask, next_pi, 0.0)
            next_tau_log_pi = np.where(batch.next_mask, next_tau_log_pi, 0.0)
        next_pi /= next_pi.sum(axis=1, keepdims=True)
        k = both_out.shape[-1]
        samples = both_out[:n] - next_tau_log_pi[:, :, None]  # (batch, A, K)
        target = td_target((batch.reward + bonus)[:, None, None], samples,
                           batch.discount[:, None, None], batch.terminated[:, None, None])
        weights = np.broadcast_to(next_pi[:, :, None] / k, target.shape)
        return target.reshape(n, -1), weights.reshape(n, -1).astype(np.float32)

    def _store_held(self, env_index: int) -> None:
        for transition in self._episodes.pop(env_index, []):
            self.buffer.add(*transition)

    def _check_finite(self, loss: float) -> None:
        """Raise FloatingPointError if the step just taken made a weight NaN or infinite.

        The loss before the step was finite, so only a step that was too large can do this; it
        is caught here, before the next action or a checkpoint can use the broken network.
        """
        # The parameters lie in one buffer (nets.Model.pack_params): two reductions over it
        # (NaN propagates through max and min) instead of a test array per parameter.
        buffers = {id(owner): owner for owner in (value if value.base is None else value.base
                                                  for value in self.params.values())}
        if all(math.isfinite(owner.max()) and math.isfinite(owner.min())
               for owner in buffers.values()):
            return
        bad = [name for name, value in self.params.items() if not np.isfinite(value).all()]
        if bad:
            raise FloatingPointError(
                f"update {self.updates} made the Q-network's weights non-finite ({', '.join(bad)}; "
                f"learning rate {self.optimizer.lr:g}, loss before it {loss:g}). Try a lower "
                "learning rate, gradient-norm clipping (--max-grad-norm 10), or a smaller reward "
                "scale"
            )

    # -- state, save and load --

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict]:
        """Networks, optimizer state, counters, rng state and (if save_buffer) the buffer.

        The config is not in it: rl.checkpoint records it beside the state, for every agent.
        Steps held back for an unfinished episode (several environments) are stored first; the
        loop checkpoints when every episode has ended, so there are none except at the end.
        """
        for env_index in list(self._episodes):
            self._store_held(env_index)
        arrays: dict[str, np.ndarray] = {}
        arrays.update({f"q/{k}": v for k, v in self.q_net.state_dict().items()})
        arrays.update({f"target/{k}": v for k, v in self.target_net.state_dict().items()})
        arrays.update({f"optim/{k}": np.asarray(v) for k, v in self.optimizer.state_dict().items()})
        if self.greedy_net is not self.q_net:
            arrays.update({f"greedy/{k}": v for k, v in self.greedy_net.state_dict().items()})
        meta: dict[str, Any] = {
            "network": self.q_net.config(),
            "steps": self.steps,
            "updates": self.updates,
            "rng_state": rng_state(self.rng),
            "greedy_rng_state": rng_state(self.greedy_rng),
            "buffer": None,
        }
        if self.config.save_buffer:
            buffer_arrays, meta["buffer"] = self.buffer.state_dict()
            arrays.update({f"replay/{k}": v for k, v in buffer_arrays.items()})
        return arrays, meta

    def acting_state_dict(self) -> tuple[dict[str, np.ndarray], dict]:
        """What greedy acting needs, for a best checkpoint (rl.checkpoint): the online
        Q-network, or with greedy_ema its moving average (stored as the Q-network).

        No target network, optimizer, rng or replay buffer, and unlike `state_dict` it stores
        no held steps: taken in the middle of episodes, it leaves training as it was.
        """
        arrays = {f"q/{k}": v for k, v in self.greedy_net.state_dict().items()}
        meta = {"network": self.q_net.config(), "steps": self.steps, "updates": self.updates,
                "acting_only": True}
        return arrays, meta

    def load_weights(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        """Take the Q-network of another agent's checkpoint (`state_dict()` or
        `acting_state_dict()`) as this agent's starting point: online, target (and averaged)
        networks alike. Optimizer, counters, rng and buffer stay as built."""
        if not same_network(meta.get("network"), self.q_net.config()):
            raise ValueError(
                "its network differs from this agent's (layers, widths or the observation's "
                "shape); start from a run with the same network settings and spaces"
            )
        self.q_net.load_state_dict({k[2:]: v for k, v in arrays.items() if k.startswith("q/")})
        self.q_net.copy_to(self.target_net)
        if self.greedy_net is not self.q_net:
            self.q_net.copy_to(self.greedy_net)

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        """Restore a `state_dict()` or an `acting_state_dict()`; the agent must be built for the
        same spaces and network."""
        if not same_network(meta.get("network"), self.q_net.config()):
            raise ValueError(
                "checkpoint network architecture differs from this agent's; rebuild the agent "
                "with the checkpoint's config (the run's recorded config)"
            )

        def part(prefix: str) -> dict[str, np.ndarray]:
            return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}

        self.q_net.load_state_dict(part("q/"))
        if meta.get("acting_only"):
            # The online network alone: the target starts as its copy (as after a hard sync);
            # optimizer, rng and buffer stay as built, and greedy ties are drawn as a model
            # file's always were, from the rng as built.
            set_rng_state(self.greedy_rng, rng_state(self.rng))
            self.q_net.copy_to(self.target_net)
            if self.greedy_net is not self.q_net:
                self.q_net.copy_to(self.greedy_net)
            self.steps, self.updates = int(meta["steps"]), int(meta["updates"])
            return
        self.target_net.load_state_dict(part("target/"))
        self.optimizer.load_state_dict(part("optim/"))
        if self.greedy_net is not self.q_net:
            self.greedy_net.load_state_dict(part("greedy/"))
        self.steps, self.updates = int(meta["steps"]), int(meta["updates"])
        set_rng_state(self.rng, meta["rng_state"])
        # A checkpoint from before the separate tie stream: ties drawn as they were then, from
        # the training stream's state (the two streams part from there).
        set_rng_state(self.greedy_rng, meta.get("greedy_rng_state", meta["rng_state"]))
        if meta.get("buffer") is not None:
            self.buffer.load_state_dict(part("replay/"), meta["buffer"])
            actions = self.buffer.action[:self.buffer.size]
            if actions.size and not (0 <= actions.min() and actions.max() < self.n_actions):
                raise ValueError(
                    f"the replay buffer holds actions from {actions.min()} to {actions.max()}, "
                    f"outside Discrete({self.n_actions}): a corrupt or foreign checkpoint"
                )
