"""Tabular Q-learning / SARSA / Expected SARSA: the update by hand, learning, determinism, files."""

import gymnasium as gym
import numpy as np
import pytest

from agents.q_learning import (
    METHODS,
    QLearningAgent,
    QLearningConfig,
    epsilon_greedy,
    epsilon_greedy_expectation,
    greedy_action,
    td_target,
)
from rl import schedules
from rl.checkpoint import CheckpointError, load_agent, save_agent
from rl.loop import LoopState, run_steps
from rl.seeding import make_rng, rng_state

from tolerance import assert_close_f32


def make_agent(
    n_states=2,
    n_actions=2,
    method="qlearning",
    alpha=0.5,
    gamma=0.9,
    epsilon=0.2,
    seed=0,
    observation_space=None,
):
    config = QLearningConfig(
        method=method,
        gamma=gamma,
        alpha=schedules.constant(alpha),
        epsilon=schedules.constant(epsilon),
    )
    space = observation_space if observation_space is not None else gym.spaces.Discrete(n_states)
    rng = np.random.default_rng(seed)
    return QLearningAgent(space, gym.spaces.Discrete(n_actions), config, rng)


def train_steps(env, agent, steps, seed):
    """`steps` environment steps of the training-loop core, episode seeds drawn from `seed`."""
    run_steps([env], agent, make_rng(seed), LoopState(), steps)


def greedy_return(env, agent, seed=0):
    obs, _ = env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(agent.act(obs, greedy=True))
        total += reward
        done = terminated or truncated
    return total


class Chain(gym.Env):
    """States 0..n-1 in a line, start at 0; action 1 moves right, 0 left; +1 on reaching n-1."""

    def __init__(self, n=6, one_hot=False):
        self.n, self.one_hot = n, one_hot
        self.action_space = gym.spaces.Discrete(2)
        if one_hot:  # a non-Discrete observation: the agent must key its table by bytes
            self.observation_space = gym.spaces.Box(0, 1, (n,), np.uint8)
        else:
            self.observation_space = gym.spaces.Discrete(n)

    def _obs(self):
        if not self.one_hot:
            return self.position
        obs = np.zeros(self.n, np.uint8)
        obs[self.position] = 1
        return obs

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.position = 0
        return self._obs(), {}

    def step(self, action):
        self.position = max(0, self.position + (1 if action == 1 else -1))
        terminated = self.position == self.n - 1
        return self._obs(), float(terminated), terminated, False, {}


# --- the shared pure functions -------------------------------------------------------------------


def test_td_target_bootstraps_unless_terminated():
    assert td_target(1.0, 5.0, 0.9, terminated=False) == pytest.approx(5.5)
    assert td_target(1.0, 5.0, 0.9, terminated=True) == pytest.approx(1.0)
    batch = td_target(np.array([1.0, 2.0]), np.array([5.0, 5.0]), 0.5, np.array([False, True]))
    np.testing.assert_allclose(batch, [3.5, 2.0])
    as_float32 = td_target(
        np.ones(2, np.float32), np.ones(2, np.float32), 0.9, np.array([0.0, 1.0], np.float32)
    )
    assert as_float32.dtype == np.float32
    assert_close_f32(as_float32, [1.9, 1.0], reduction_length=2)  # r + γ·q: two terms


def test_greedy_action_breaks_ties_at_random_and_reproducibly():
    rng = np.random.default_rng(0)
    picks = [greedy_action(np.array([1.0, 3.0, 3.0, 0.0, 3.0]), rng) for _ in range(300)]
    assert set(picks) == {1, 2, 4}
    assert greedy_action(np.array([0.0, 2.0, 1.0]), rng) == 1
    again = np.random.default_rng(0)
    assert picks == [greedy_action(np.array([1.0, 3.0, 3.0, 0.0, 3.0]), again) for _ in range(300)]


def test_epsilon_greedy_frequencies():
    rng = np.random.default_rng(1)
    q = np.array([0.0, 1.0, 0.0, 0.0])
    actions = np.array([epsilon_greedy(q, 0.4, rng) for _ in range(20_000)])
    # greedy with prob. 1 - ε, plus its share ε/4 of the random choices
    assert np.mean(actions == 1) == pytest.approx(0.6 + 0.1, abs=0.015)
    assert np.mean(actions == 3) == pytest.approx(0.1, abs=0.01)
    assert all(epsilon_greedy(q, 0.0, rng) == 1 for _ in range(50))


def test_epsilon_greedy_expectation_matches_the_policy_probabilities():
    q = np.array([3.0, 5.0])
    # π = (ε/2, 1 - ε + ε/2) with ε = 0.2
    assert epsilon_greedy_expectation(q, 0.2) == pytest.approx(0.1 * 3 + 0.9 * 5)
    # two tied maxima share the greedy 0.7: π = (0.1 + 0.35, 0.1 + 0.35, 0.1)
    tied = np.array([2.0, 2.0, 0.0])
    assert epsilon_greedy_expectation(tied, 0.3) == pytest.approx(0.45 * 2 + 0.45 * 2 + 0.1 * 0)


# --- the tabular update, by hand on two states ---------------------------------------------------


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        # target = 1 + 0.9 * max(3, 5) = 5.5;              Q = 1 + 0.5 * (5.5 - 1)
        ("qlearning", 3.25),
        # target = 1 + 0.9 * (0.1 * 3 + 0.9 * 5) = 5.32;  Q = 1 + 0.5 * (5.32 - 1)
        ("expected_sarsa", 3.16),
    ],
)
def test_update_by_hand(method, expected):
    agent = make_agent(method=method)
    agent.table[:] = [[1.0, 2.0], [3.0, 5.0]]
    metrics = agent.observe(0, 0, 1.0, 1, terminated=False, truncated=False)
    assert agent.table[0, 0] == pytest.approx(expected)
    assert metrics["td_error"] == pytest.approx((expected - 1.0) / 0.5)
    np.testing.assert_array_equal(agent.table[1], [3.0, 5.0])  # only Q(s, a) moves
    assert agent.table[0, 1] == 2.0


def test_sarsa_bootstraps_on_the_action_it_then_plays():
    # ε = 0: the next action is the greedy one, so the target is 1 + 0.9 * 5 as for Q-learning.
    agent = make_agent(method="sarsa", epsilon=0.0)
    agent.table[:] = [[1.0, 2.0], [3.0, 5.0]]
    agent.observe(0, 0, 1.0, 1, terminated=False, truncated=False)
    assert agent.table[0, 0] == pytest.approx(3.25)
    assert agent.act(1) == 1

    # ε = 1: the next action is random; the update used exactly the action that act() returns.
    for seed in range(10):
        agent = make_agent(method="sarsa", epsilon=1.0, seed=seed)
        agent.table[:] = [[1.0, 2.0], [3.0, 5.0]]
        agent.observe(0, 0, 1.0, 1, terminated=False, truncated=False)
        played = agent.act(1)
        assert agent.table[0, 0] == pytest.approx(1 + 0.5 * (1 + 0.9 * [3.0, 5.0][played] - 1))


@pytest.mark.parametrize("method", METHODS)
def test_terminated_stops_bootstrap_but_truncated_does_not(method):
    ended = make_agent(method=method, epsilon=0.0)
    ended.table[:] = [[1.0, 2.0], [3.0, 5.0]]
    ended.observe(0, 0, 1.0, 1, terminated=True, truncated=False)
    assert ended.table[0, 0] == pytest.approx(1.0)  # target = reward = 1: no change

    cut = make_agent(method=method, epsilon=0.0)
    cut.table[:] = [[1.0, 2.0], [3.0, 5.0]]
    cut.observe(0, 0, 1.0, 1, terminated=False, truncated=True)
    assert cut.table[0, 0] == pytest.approx(3.25)  # target = 1 + 0.9 * 5: bootstrapped


def test_dict_table_for_non_discrete_observations():
    space = gym.spaces.Box(0, 1, (2, 3), np.uint8)
    agent = make_agent(observation_space=space)
    a, b = np.zeros((2, 3), np.uint8), np.eye(2, 3, dtype=np.uint8)
    assert agent.table == {}
    agent.act(a)
    agent.act(a, greedy=True)
    assert agent.table == {}  # acting does not grow the table
    agent.observe(a, 1, 2.0, b, terminated=False, truncated=False)
    assert set(agent.table) == {a.tobytes()}
    # unseen next state reads as 0: target = 2, Q = 0 + 0.5 * 2
    np.testing.assert_allclose(agent.q_values(a), [0.0, 1.0])
    np.testing.assert_allclose(agent.q_values(b), [0.0, 0.0])


# --- learning ------------------------------------------------------------------------------------


@pytest.mark.parametrize("one_hot", [False, True], ids=["discrete", "bytes"])
@pytest.mark.parametrize("method", METHODS)
def test_learns_the_deterministic_chain(method, one_hot):
    env = gym.wrappers.TimeLimit(Chain(6, one_hot=one_hot), max_episode_steps=50)
    config = QLearningConfig(
        method=method,
        gamma=0.9,
        alpha=schedules.constant(0.5),
        epsilon=schedules.linear(1.0, 0.05, 2_000),
    )
    agent = QLearningAgent(
        env.observation_space, env.action_space, config, np.random.default_rng(3)
    )
    untrained = greedy_return_steps(env, agent)
    train_steps(env, agent, 2_000, seed=3)
    assert greedy_return_steps(env, agent) == (1.0, 5)  # straight to the right end
    assert untrained != (1.0, 5)


def greedy_return_steps(env, agent):
    obs, _ = env.reset(seed=0)
    total, steps, done = 0.0, 0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(agent.act(obs, greedy=True))
        total, steps, done = total + reward, steps + 1, terminated or truncated
    return total, steps


def test_q_learning_values_converge_on_the_chain():
    env = gym.wrappers.TimeLimit(Chain(6), max_episode_steps=50)
    agent = make_agent(n_states=6, alpha=0.5, gamma=0.9, epsilon=0.3, seed=4)
    train_steps(env, agent, 3_000, seed=4)
    # Q*(s, right) = γ^(4 - s) for s = 0..4: the +1 arrives after 5 - s steps
    np.testing.assert_allclose(agent.table[:5, 1], 0.9 ** np.arange(4, -1, -1), atol=1e-3)


def test_cliff_walking_greedy_return_is_optimal():
    """A short version of scripts/eval_qlearning.py's CliffWalking result (optimal return -13)."""
    env = gym.make("CliffWalking-v1", max_episode_steps=200)
    config = QLearningConfig(
        gamma=1.0,
        alpha=schedules.constant(0.5),
        epsilon=schedules.linear(1.0, 0.0, 5_000),
    )
    agent = QLearningAgent(
        env.observation_space, env.action_space, config, np.random.default_rng(0)
    )
    train_steps(env, agent, 20_000, seed=0)
    assert greedy_return(env, agent) == -13.0


# --- determinism, state and files ----------------------------------------------------------------


def frozen_lake_agent(seed, steps=2_000, method="expected_sarsa"):
    env = gym.make("FrozenLake-v1")
    config = QLearningConfig(method=method, epsilon=schedules.linear(1.0, 0.1, 3000))
    agent = QLearningAgent(
        env.observation_space, env.action_space, config, np.random.default_rng(seed)
    )
    train_steps(env, agent, steps, seed)
    return agent


def test_same_seed_same_table():
    a, b, c = frozen_lake_agent(7), frozen_lake_agent(7), frozen_lake_agent(8)
    np.testing.assert_array_equal(a.table, b.table)
    assert a.steps == b.steps
    assert not np.array_equal(a.table, c.table)


@pytest.mark.parametrize("one_hot", [False, True], ids=["dense", "dict"])
def test_checkpoint_round_trip_resumes_exactly(tmp_path, one_hot):
    env = gym.wrappers.TimeLimit(Chain(6, one_hot=one_hot), max_episode_steps=50)

    def fresh(seed):
        return QLearningAgent(
            env.observation_space,
            env.action_space,
            QLearningConfig(method="sarsa"),
            np.random.default_rng(seed),
        )

    straight = fresh(1)
    train_steps(env, straight, 300, seed=1)
    path = save_agent(tmp_path / "q.npz", straight, env)
    train_steps(env, straight, 300, seed=2)

    resumed = fresh(99)  # a different rng: load must restore the saved one
    meta = load_agent(path, resumed, env)
    assert meta["agent"] == "QLearningAgent" and meta["config"]["method"] == "sarsa"
    train_steps(env, resumed, 300, seed=2)
    assert resumed.steps == straight.steps
    if one_hot:
        assert set(resumed.table) == set(straight.table)
        for key in straight.table:
            np.testing.assert_array_equal(resumed.table[key], straight.table[key])
    else:
        np.testing.assert_array_equal(resumed.table, straight.table)
    assert resumed.rng.random() == straight.rng.random()
    assert not list(tmp_path.glob("*.tmp*"))  # the atomic write left no temp file


def test_state_dict_arrays_and_json_meta():
    import json

    agent = make_agent(observation_space=gym.spaces.Box(0, 1, (3,), np.uint8))
    agent.observe(
        np.array([1, 0, 0], np.uint8),
        0,
        1.0,
        np.array([0, 1, 0], np.uint8),
        terminated=False,
        truncated=False,
    )
    arrays, meta = agent.state_dict()
    assert arrays["q_keys"].dtype == np.uint8 and arrays["q_keys"].shape == (1, 3)
    assert arrays["q_values"].shape == (1, 2)
    json.dumps(meta)


def test_load_rejects_bad_files(tmp_path):
    env = gym.make("FrozenLake-v1")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_agent(tmp_path / "nope.npz", make_agent())
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a numpy file")
    with pytest.raises(CheckpointError, match=r"not an \.npz file"):
        load_agent(junk, make_agent())
    path = save_agent(tmp_path / "two.npz", make_agent(n_states=2), env)
    with pytest.raises(CheckpointError, match="shape"):
        load_agent(path, make_agent(n_states=5))
    with pytest.raises(CheckpointError, match="actions"):
        load_agent(path, make_agent(n_actions=3))
    with pytest.raises(CheckpointError, match="another QLearningConfig: gamma differ"):
        load_agent(path, make_agent(n_states=2, gamma=0.5))
    with pytest.raises(CheckpointError, match="another environment: id 'FrozenLake-v1'"):
        load_agent(path, make_agent(n_states=2), gym.make("CliffWalking-v1"))


def test_bad_input_gets_clear_errors():
    with pytest.raises(ValueError, match="unknown method"):
        make_agent(method="dqn")
    with pytest.raises(TypeError, match="Discrete action space"):
        QLearningAgent(gym.spaces.Discrete(2), gym.spaces.Box(-1, 1, (1,)))
    agent = make_agent(n_states=2)
    with pytest.raises(ValueError, match="outside Discrete"):
        agent.act(5)
    with pytest.raises(ValueError, match="action 7"):
        agent.observe(0, 7, 0.0, 1, False, False)


def test_greedy_ties_leave_the_training_stream_alone_and_checkpoints_keep_theirs():
    agent = make_agent(n_actions=3)  # a fresh table: every action ties
    training_stream = rng_state(agent.rng)
    assert {agent.act(0, greedy=True) for _ in range(60)} == {0, 1, 2}
    assert rng_state(agent.rng) == training_stream
    arrays, meta = agent.state_dict()
    restored = make_agent(n_actions=3, seed=9)
    restored.load_state_dict(arrays, meta)
    assert [restored.act(1, greedy=True) for _ in range(20)] == \
        [agent.act(1, greedy=True) for _ in range(20)]


def test_how_often_a_run_evaluates_does_not_change_what_it_learns(tmp_path):
    # Greedy evaluations of a young table tie everywhere; their draws must not reach training.
    from rl.loop import LoopConfig, train

    tables = []
    for eval_every in (0, 100):
        agent = make_agent(n_states=16, n_actions=4, seed=5)
        config = LoopConfig(total_steps=1_000, eval_every=eval_every, eval_episodes=3,
                            checkpoint_every=500, seed=5, progress=False)
        train(gym.make("FrozenLake-v1"), agent, config, tmp_path / f"every{eval_every}",
              eval_env=gym.make("FrozenLake-v1"))
        tables.append(agent.table.copy())
    assert np.abs(tables[0]).sum() > 0  # it learned something
    np.testing.assert_array_equal(tables[0], tables[1])
