"""The distributional DQN head (--quantiles K, QR-DQN): targets by hand, the Munchausen mixture
target, quantiles that learn a return's spread, checkpoints (learning the chain: test_dqn.py)."""

import gymnasium as gym
import numpy as np
import pytest
from test_dqn import run_agent

import nets
from agents.dqn import DQNAgent, DQNConfig
from rl import schedules

S, S_NEXT = np.array([1.0, 0.0], np.float32), np.array([0.0, 1.0], np.float32)


def linear_quantile_agent(online, target, gamma=0.9, **settings):
    """2 quantiles of 2 actions = obs @ W (no hidden layer, zero bias) on one-hot states.
    `online`, `target`: per state (s, s'), per action, its two quantiles."""
    space = gym.spaces.Box(0.0, 1.0, (2,), np.float32)
    config = DQNConfig(hidden=(), gamma=gamma, batch_size=4, quantiles=2, learning_starts=1,
                       max_grad_norm=None, **settings)
    agent = DQNAgent(space, gym.spaces.Discrete(2), config, np.random.default_rng(0))
    # The head's outputs are (action, quantile) in row-major order: column 2a + j.
    for net, values in ((agent.q_net, online), (agent.target_net, target)):
        net.load_state_dict({"head.W": np.array(values, np.float32).reshape(2, 4),
                             "head.b": np.zeros(4, np.float32)})
    return agent


def test_quantile_td_target_by_hand():
    """Double DQN over quantile means; the loss is the quantile Huber loss of κ = 1."""
    agent = linear_quantile_agent(
        # s: action 0's quantiles [2, 3]; s': action 0 [2, 4] (mean 3) beats action 1 [0, 2].
        online=[[[2, 3], [0, 0]], [[2, 4], [0, 2]]],
        # The target net values a' = 0 at s' as [1, 3]: target samples 1 + 0.9 * [1, 3].
        target=[[[0, 0], [0, 0]], [[1, 3], [5, 5]]])
    agent.buffer.add(S, 0, 1.0, S_NEXT, False, False)
    metrics = agent.update()
    # τ = 1/4, 3/4; u = target_j - θ_i. θ = 2: u = -0.1, 1.7 -> 0.75 * 0.005 + 0.25 * 1.2;
    # θ = 3: u = -1.1, 0.7 -> 0.25 * 0.6 + 0.75 * 0.245. Their sum 0.6375 over 2 samples.
    assert metrics["loss"] == pytest.approx(0.31875, rel=1e-5)
    assert metrics["q_mean"] == pytest.approx(2.5)
    # Only the taken action's quantiles at s moved, each toward its own quantile of the target.
    weights = agent.q_net.state_dict()["head.W"]
    assert weights[0, 2:].tolist() == [0.0, 0.0]


def test_quantile_gradient_moves_low_and_high_quantiles_apart():
    """Two quantiles both at 0 against targets -1 and +1: the τ = 1/4 quantile goes down, the
    τ = 3/4 one up (a mean loss would leave both where they are)."""
    agent = linear_quantile_agent(online=[[[0, 0], [0, 0]], [[0, 0], [0, 0]]],
                                  target=[[[0, 0], [0, 0]], [[0, 0], [0, 0]]],
                                  learning_rate=schedules.constant(0.01))
    agent.buffer.add(S, 0, 1.0, S_NEXT, True, False)
    agent.buffer.add(S, 0, -1.0, S_NEXT, True, False)
    for _ in range(20):
        agent.update()
    low, high = agent.q_net.forward(S[None])[0, 0]
    assert low < -0.05 and high > 0.05


@pytest.mark.parametrize("next_mask", [[1, 1], [1, 0]])
def test_munchausen_quantile_target_is_a_mixture_whose_mean_is_the_munchausen_target(next_mask):
    """The samples are θ_j(s', a') - τ·log π(a'|s') over every legal a', weighted π(a'|s')/K:
    their mean is test_dqn's Munchausen target of the same Q-values (4.919896 with both
    actions legal, 2.176168 with action 1 illegal at s')."""
    agent = linear_quantile_agent(
        online=[[[0, 0], [0, 0]], [[0, 0], [0, 0]]],
        # Target net: Q(s) = [0, 0] and Q(s') = [2, 5] as means of spread quantiles.
        target=[[[-1, 1], [-3, 3]], [[1, 3], [4, 6]]],
        action_mask=True, munchausen=True, munchausen_tau=1.0, munchausen_alpha=0.9)
    agent.observe(S, 0, 1.0, S_NEXT, False, False, mask=[1, 1], next_mask=next_mask)
    batch = agent.buffer.sample(1, np.random.default_rng(0))
    both_out = agent.target_net.forward(np.concatenate([batch.next_obs, batch.obs]))
    target, weights = agent._munchausen_target(batch, both_out)
    assert target.shape == weights.shape == (1, 4)
    assert weights.sum() == pytest.approx(1.0)
    expected = 4.919896 if next_mask == [1, 1] else 2.176168
    assert float(np.sum(target * weights)) == pytest.approx(expected, rel=1e-5)
    if next_mask == [1, 0]:
        assert weights[0, 2:].tolist() == [0.0, 0.0]  # action 1's samples weigh nothing
    assert np.isfinite(target).all()


class CoinOrSure(gym.Env):
    """One move: action 0 pays +1 or -1 on a fair coin, action 1 pays 0.2 for sure."""

    observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.ones(1, np.float32), {}

    def step(self, action):
        reward = (1.0 if self.np_random.random() < 0.5 else -1.0) if action == 0 else 0.2
        return np.ones(1, np.float32), reward, True, False, {}


@pytest.mark.parametrize("dueling", [False, True])
def test_quantiles_learn_the_spread_of_a_return_and_act_on_its_mean(dueling):
    env = CoinOrSure()
    # κ 0.1: the loss is the quantile loss nearly everywhere (a large κ learns expectiles,
    # which a two-valued return pulls toward its mean).
    config = DQNConfig(hidden=(16,), quantiles=8, quantile_kappa=0.1, dueling=dueling,
                       batch_size=32,
                       learning_starts=100, train_freq=1, buffer_size=2000,
                       learning_rate=schedules.constant(3e-3),
                       epsilon=schedules.constant(1.0))  # both actions tried throughout
    agent = DQNAgent(env.observation_space, env.action_space, config, np.random.default_rng(0))
    run_agent(env, agent, 1500, seed=0)
    quantiles = agent.q_net.forward(np.ones((1, 1), np.float32))[0]
    coin, sure = quantiles
    assert coin[:3].max() < -0.7 and coin[-3:].min() > 0.7  # the coin: -1 or +1, half each
    assert abs(coin.mean()) < 0.2
    np.testing.assert_allclose(sure, 0.2, atol=0.1)  # a sure 0.2: every quantile at it
    assert agent.act(np.ones(1, np.float32), greedy=True) == 1  # 0.2 beats a mean of 0


def test_a_quantile_agent_round_trips_its_checkpoint_and_refuses_an_expected_value_one():
    env = gym.make("PacGrid/Tiny-v1")
    config = DQNConfig(hidden=(8,), conv_channels=(4,), conv_strides=(2,), center_channel=3,
                       outside_channel=0, dueling=True, quantiles=4, action_mask=True)
    agent = DQNAgent(env.observation_space, env.action_space, config, np.random.default_rng(0))
    arrays, meta = agent.state_dict()
    clone = DQNAgent(env.observation_space, env.action_space, config, np.random.default_rng(1))
    clone.load_state_dict(arrays, meta)
    obs = np.stack([env.reset(seed=seed)[0] for seed in range(3)])
    np.testing.assert_array_equal(clone.q_net.forward(obs), agent.q_net.forward(obs))
    assert agent.q_net.forward(obs).shape == (3, env.action_space.n, 4)
    assert clone.q_values(obs[0]).shape == (env.action_space.n,)
    plain = DQNAgent(env.observation_space, env.action_space,
                     DQNConfig(**{**config.__dict__, "quantiles": 0}), np.random.default_rng(0))
    with pytest.raises(ValueError, match="architecture"):
        plain.load_state_dict(arrays, meta)


def test_bad_quantile_settings_are_clear_errors():
    with pytest.raises(ValueError, match="quantiles"):
        DQNConfig(quantiles=-1)
    with pytest.raises(ValueError, match="quantile-kappa"):
        DQNConfig(quantile_kappa=0.0)
    with pytest.raises(ValueError, match="kappa"):
        nets.losses.QuantileHuber(0.0)
