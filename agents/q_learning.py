"""Tabular Q-learning, SARSA and Expected SARSA with ε-greedy exploration.

Read top to bottom: the config, the two ideas the DQN reuses (`epsilon_greedy` and
`td_target`), the three targets, then the agent with its table.

The update is Sutton & Barto (2018), eq. 6.8 (Q-learning), 6.7 (SARSA), 6.9 (Expected SARSA):

    Q(s, a) <- Q(s, a) + α [target - Q(s, a)]
    target   = r + γ * next_q_value          (just r when the episode terminated)

and the three methods differ only in `next_q_value`: the best next action's value (Q-learning),
the value of the next action the agent will actually take (SARSA), or the value expected under
the ε-greedy policy (Expected SARSA).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from rl import schedules
from rl.schedules import Schedule
from rl.seeding import rng_state, set_rng_state

METHODS = ("qlearning", "sarsa", "expected_sarsa")


@dataclass
class QLearningConfig:
    """Hyperparameters of the tabular agent (α and ε are rl.schedules objects of the step)."""

    # TD target: "qlearning" (max over next actions, off-policy), "sarsa" (the next action actually
    # taken), or "expected_sarsa" (expected next value under the ε-greedy policy).
    method: Literal["qlearning", "sarsa", "expected_sarsa"] = "qlearning"
    # Discount factor γ in [0, 1]; close to 1 when the reward comes only at the end (FrozenLake).
    gamma: float = 0.99
    # Learning rate α as a schedule of the agent's step count.
    alpha: Schedule = field(default_factory=lambda: schedules.constant(0.1))
    # Exploration rate ε as a schedule of the agent's step count.
    epsilon: Schedule = field(default_factory=lambda: schedules.linear(1.0, 0.05, 10_000))
    # Value of a table entry never updated yet; > 0 is "optimism" that drives exploration.
    initial_q: float = 0.0

    def __post_init__(self) -> None:
        """Refuse settings that are not a method, a discount or a step size."""
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"--gamma must be in [0, 1], got {self.gamma}")
        # α > 1 overshoots the target, and the table grows without bound.
        schedules.check_range("--alpha", self.alpha, 0.0, 1.0)
        schedules.check_range("--epsilon", self.epsilon, 0.0, 1.0)


# --- the ideas that the DQN agent imports and reuses ---------------------------------------------


def greedy_action(q_values: np.ndarray, rng: np.random.Generator) -> int:
    """Index of the largest action value; ties broken uniformly at random with `rng`.

    Breaking ties at random matters at the start, when the whole table is equal: always
    taking action 0 would make the "greedy" agent walk into the same wall forever.
    """
    best = np.flatnonzero(q_values == q_values.max())
    if len(best) == 0:  # NaN compares unequal to everything, even to the max
        raise FloatingPointError(
            f"the action values {q_values} hold NaN, so no action is greedy: the values "
            "diverged. Try a lower learning rate (α for the table)"
        )
    if len(best) == 1:
        return int(best[0])
    return int(best[rng.integers(len(best))])


def greedy_stream(rng: np.random.Generator) -> np.random.Generator:
    """A generator of its own for greedy acting's tie-breaks, derived from `rng` without drawing
    from it. Greedy acting (the evaluations during training) then never shifts the training's
    random stream: how often a run evaluates, and how its greedy policy acts (say mirror-averaged),
    do not change what it learns, and two runs that differ only there are paired."""
    return rng.spawn(1)[0]


def epsilon_greedy(q_values: np.ndarray, epsilon: float, rng: np.random.Generator) -> int:
    """With probability ε a uniformly random action, otherwise the greedy one."""
    if rng.random() < epsilon:
        return int(rng.integers(len(q_values)))
    return greedy_action(q_values, rng)


def epsilon_greedy_expectation(q_values: np.ndarray, epsilon: float) -> np.ndarray:
    """Expected action value Σ_a π(a|s) Q(s, a) under the ε-greedy policy (last axis = actions).

    A random action (prob. ε) is worth mean(Q) on average; the greedy part (prob. 1 - ε) picks
    among the tied maxima, all worth max(Q), so how ties are split does not change the value.
    """
    return epsilon * q_values.mean(axis=-1) + (1.0 - epsilon) * q_values.max(axis=-1)


def td_target(reward, next_q_value, gamma: float, terminated):
    """One-step TD target r + γ·next_q_value, with no bootstrap after a true terminal state.

    Works on scalars and on NumPy batches alike. Only `terminated` stops the bootstrap: an
    episode cut by a time limit (`truncated`) did not reach the end of the task, so the next
    state still has a future worth estimating (Pardo et al., 2018, "Time Limits in RL").
    """
    # Multiplying by a boolean mask keeps the dtype of the values (float32 stays float32 in DQN).
    return reward + gamma * next_q_value * np.logical_not(terminated)


# --- the agent -----------------------------------------------------------------------------------


class QLearningAgent:
    """ε-greedy tabular agent over a Discrete or any hashable-by-bytes observation space.

    The table is a dense (n_states, n_actions) array when the observation space is Discrete,
    otherwise a dict from `np.asarray(obs).tobytes()` to an array of n_actions values, so a
    grid observation (Pac-Man) is a state as long as its bytes identify it.
    """

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        config: QLearningConfig | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.config = config if config is not None else QLearningConfig()
        if self.config.method not in METHODS:
            raise ValueError(
                f"unknown method {self.config.method!r}; choose one of {', '.join(METHODS)}"
            )
        if not 0.0 <= self.config.gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {self.config.gamma}")
        if not isinstance(action_space, gym.spaces.Discrete):
            raise TypeError(
                f"tabular Q-learning needs a Discrete action space, got {action_space}; "
                "use an environment with discrete actions"
            )
        if isinstance(observation_space, gym.spaces.Box) and np.issubdtype(
                observation_space.dtype, np.floating):
            raise ValueError(
                f"tabular {self.config.method} keeps one table row per observation, but the "
                f"observations (Box of shape {observation_space.shape}, "
                f"{observation_space.dtype}) are floats, which (almost) never repeat: it can never "
                "learn. Use --algo dqn, or an environment (or a wrapper) with Discrete or "
                "integer observations"
            )
        self.n_actions = int(action_space.n)
        self.rng = rng if rng is not None else np.random.default_rng()
        self.greedy_rng = greedy_stream(self.rng)  # ties of greedy acting only
        self.steps = 0  # transitions observed so far: the clock of the α and ε schedules

        self.dense = isinstance(observation_space, gym.spaces.Discrete)
        if self.dense:
            self.obs_start = int(observation_space.start)
            self.n_states = int(observation_space.n)
            self.table = np.full((self.n_states, self.n_actions), self.config.initial_q)
        else:
            self.table: dict[bytes, np.ndarray] = {}  # type: ignore[no-redef]
        # SARSA's target needs the next action before it is taken: observe() draws it and act()
        # then returns it, so the action that bootstraps the update is the one actually played.
        self._next_action: int | None = None
        self._next_key: Any = None

    # -- table access --

    def _key(self, obs) -> int | bytes:
        """Row of the table for this observation: an index (dense) or the observation's bytes."""
        if self.dense:
            index = int(obs) - self.obs_start
            if not 0 <= index < self.n_states:
                raise ValueError(
                    f"observation {obs} is outside Discrete({self.n_states}, "
                    f"start={self.obs_start}); was the agent built for another environment?"
                )
            return index
        return np.asarray(obs).tobytes()

    def _row(self, key, insert: bool = False) -> np.ndarray:
        """Action values of one state; unseen states read as `initial_q` (stored if `insert`)."""
        if self.dense:
            return self.table[key]
        row = self.table.get(key)
        if row is None:
            row = np.full(self.n_actions, self.config.initial_q)
            if insert:
                self.table[key] = row
        return row

    def q_values(self, obs) -> np.ndarray:
        """A copy of the action values of `obs`."""
        return self._row(self._key(obs)).copy()

    # -- the Agent protocol --

    def act(self, obs, greedy: bool = False) -> int:
        """ε-greedy action for training, or the greedy one (random ties) when `greedy`."""
        key = self._key(obs)
        if greedy:
            return greedy_action(self._row(key), self.greedy_rng)
        if self._next_action is not None and key == self._next_key:
            action, self._next_action, self._next_key = self._next_action, None, None
            return action
        return epsilon_greedy(self._row(key), self.config.epsilon(self.steps), self.rng)

    def observe(
        self, obs, action: int, reward: float, next_obs, terminated: bool, truncated: bool
    ) -> dict[str, float]:
        """Move Q(obs, action) toward the TD target; returns {"td_error", "alpha", "epsilon"}."""
        if not 0 <= int(action) < self.n_actions:
            raise ValueError(f"action {action} is outside Discrete({self.n_actions})")
        alpha = self.config.alpha(self.steps)
        self.steps += 1
        # The ε of the next action, which SARSA bootstraps on.
        epsilon = self.config.epsilon(self.steps)
        next_key = self._key(next_obs)
        next_q_value = self._next_q_value(next_key, epsilon, terminated, truncated)
        target = td_target(float(reward), next_q_value, self.config.gamma, terminated)
        row = self._row(self._key(obs), insert=True)
        td_error = float(target - row[action])
        row[action] += alpha * td_error
        if not math.isfinite(row[action]):  # checked here, before a checkpoint could keep it
            raise FloatingPointError(
                f"Q(s, {action}) became {row[action]} at step {self.steps} (α = {alpha:g}, TD "
                f"error {td_error:g}): the table diverged. Use a step size α in (0, 1] and "
                "rewards of a sensible scale"
            )
        return {"td_error": td_error, "alpha": float(alpha), "epsilon": float(epsilon)}

    def _next_q_value(self, next_key, epsilon: float, terminated: bool, truncated: bool) -> float:
        """The one place where the three methods differ."""
        self._next_action, self._next_key = None, None
        if terminated:
            return 0.0  # multiplied by (1 - terminated) anyway; skip drawing a next action
        next_row = self._row(next_key)
        if self.config.method == "qlearning":
            return float(next_row.max())
        if self.config.method == "expected_sarsa":
            return float(epsilon_greedy_expectation(next_row, epsilon))
        next_action = epsilon_greedy(next_row, epsilon, self.rng)
        if not truncated:  # after a truncation the loop resets, so the action is never played
            self._next_action, self._next_key = next_action, next_key
        return float(next_row[next_action])

    # -- state --

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict]:
        """Arrays (the table) and JSON-able meta (step count, rng state, SARSA's next action).

        The config is not in it: rl.checkpoint records it beside the state, for every agent.
        """
        if self.dense:
            arrays = {"q_table": self.table.copy()}
        else:
            keys = list(self.table)
            key_size = len(keys[0]) if keys else 0
            if any(len(k) != key_size for k in keys):
                raise ValueError("observations of different sizes in one table; cannot save it")
            key_bytes = np.frombuffer(b"".join(keys), dtype=np.uint8)
            arrays = {
                "q_keys": key_bytes.reshape(len(keys), key_size),
                "q_values": np.array([self.table[k] for k in keys]).reshape(-1, self.n_actions),
            }
        meta = {
            "table": "dense" if self.dense else "dict",
            "n_actions": self.n_actions,
            "steps": self.steps,
            "rng_state": rng_state(self.rng),
            "greedy_rng_state": rng_state(self.greedy_rng),
            "next_action": self._next_action,
            "next_key": self._encode_key(self._next_key),
        }
        return arrays, meta

    def acting_state_dict(self) -> tuple[dict[str, np.ndarray], dict]:
        """What acting needs, for a best checkpoint (rl.checkpoint): the table, without the rng
        state and SARSA's pending action that only training goes on with."""
        arrays, meta = self.state_dict()
        for training_only in ("rng_state", "greedy_rng_state", "next_action", "next_key"):
            del meta[training_only]
        return arrays, {**meta, "acting_only": True}

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        """Restore a `state_dict()` or an `acting_state_dict()`; the agent must have been built
        for the same spaces."""
        table_kind = "dense" if self.dense else "dict"
        if meta.get("table") != table_kind or meta.get("n_actions") != self.n_actions:
            raise ValueError(
                f"checkpoint table is {meta.get('table')} with {meta.get('n_actions')} actions, "
                f"this agent's is {table_kind} with {self.n_actions}: built for another env?"
            )
        if self.dense:
            table = np.asarray(arrays["q_table"], dtype=np.float64)
            if table.shape != self.table.shape:
                raise ValueError(
                    f"checkpoint q_table has shape {table.shape}, expected {self.table.shape}"
                )
            self.table = table.copy()
        else:
            keys, values = arrays["q_keys"], np.asarray(arrays["q_values"], dtype=np.float64)
            if keys.ndim != 2 or values.shape != (len(keys), self.n_actions):
                raise ValueError(
                    f"checkpoint q_keys {keys.shape} / q_values {values.shape} do not match "
                    f"(expected (N, key_bytes) and (N, {self.n_actions}))"
                )
            self.table = {bytes(k): v.copy() for k, v in zip(keys, values, strict=True)}
        self.steps = int(meta["steps"])
        if meta.get("acting_only"):  # the table alone: the rng stays as built
            # Greedy ties drawn as a model file's always were, from the rng as built.
            set_rng_state(self.greedy_rng, rng_state(self.rng))
            self._next_action, self._next_key = None, None
            return
        set_rng_state(self.rng, meta["rng_state"])
        # A checkpoint from before the separate tie stream: ties drawn as they were then, from
        # the training stream's state (the two streams part from there).
        set_rng_state(self.greedy_rng, meta.get("greedy_rng_state", meta["rng_state"]))
        self._next_action = meta.get("next_action")
        self._next_key = self._decode_key(meta.get("next_key"))

    def _encode_key(self, key) -> int | str | None:
        return key.hex() if isinstance(key, bytes) else key

    def _decode_key(self, key) -> int | bytes | None:
        return bytes.fromhex(key) if isinstance(key, str) else key


# --- per-environment starting points -------------------------------------------------------------
# scripts/train.py layers the user's flags over these (agent fields and rl.loop.LoopConfig fields);
# scripts/eval_qlearning.py trains with exactly these and checks the results the README reports.
presets: dict[str, dict[str, Any]] = {
    # Deterministic, reward -1 per step: γ = 1 and a large α are safe; ε decays to 0 so the
    # last episodes follow (and refine) the greedy path along the cliff, the optimal -13.
    "CliffWalking-v1": {
        "gamma": 1.0,
        "alpha": schedules.constant(0.5),
        "epsilon": schedules.linear(1.0, 0.0, 10_000),
        "total_steps": 20_000,
        "eval_every": 2_000,
        "eval_episodes": 1,
    },
    # Deterministic moves, random start: every (state, action) must be tried, hence a long ε decay.
    "Taxi-v4": {
        "gamma": 0.99,
        "alpha": schedules.constant(0.5),
        "epsilon": schedules.linear(1.0, 0.01, 100_000),
        "total_steps": 200_000,
        "eval_every": 20_000,
        "eval_episodes": 100,
    },
    # Slippery: the only reward is +1 at the goal, so γ close to 1 (a cautious path that takes
    # longer but rarely falls is worth more), and α decays so the noisy targets average out.
    "FrozenLake-v1": {
        "gamma": 0.99,
        "alpha": schedules.linear(0.1, 0.01, 300_000),
        "epsilon": schedules.linear(1.0, 0.05, 200_000),
        "total_steps": 300_000,
        "eval_every": 30_000,
        "eval_episodes": 100,
    },
    # One random ghost, two food, table keyed by the grid's bytes (~900 states are visited).
    "PacGrid/Tiny-v0": {
        "gamma": 0.95,
        "alpha": schedules.constant(0.3),
        "epsilon": schedules.linear(1.0, 0.05, 20_000),
        "total_steps": 30_000,
        "eval_every": 5_000,
        "eval_episodes": 20,
    },
}
