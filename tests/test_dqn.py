"""DQN agent: targets by hand, target sync, networks for vectors and grids, learning, seeding."""

import json

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401 (registers PacGrid/*)
import nets
from agents.dqn import (
    DQNAgent,
    DQNConfig,
    Symmetry,
    build_q_network,
    guess_image_layout,
    soft_max_value,
    wrap_env,
)
from nets.errors import NonFiniteLossError
from rl import schedules
from rl.loop import LoopState, run_steps
from rl.seeding import make_rng, rng_state

from tolerance import assert_close_f32, forward_reduction_length


class ChainEnv(gym.Env):
    """A corridor of `n` cells as one-hot vectors: +1 at the right end, +0.1 at the left end.

    The agent starts in cell 1, next to the small reward; reaching the far right end (+1) takes
    n - 2 steps and is optimal for γ close to 1. Episodes are cut after 3n steps.
    """

    def __init__(self, n: int = 8) -> None:
        self.n = n
        self.observation_space = gym.spaces.Box(0.0, 1.0, (n,), np.float32)
        self.action_space = gym.spaces.Discrete(2)

    def _obs(self) -> np.ndarray:
        obs = np.zeros(self.n, dtype=np.float32)
        obs[self.position] = 1.0
        return obs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.position, self.t = 1, 0
        return self._obs(), {}

    def step(self, action):
        self.position += 1 if action == 1 else -1
        self.t += 1
        reward = 1.0 if self.position == self.n - 1 else 0.1 if self.position == 0 else 0.0
        terminated = self.position in (0, self.n - 1)
        return self._obs(), reward, terminated, self.t >= 3 * self.n, {}


def run_agent(env, agent, steps, seed):
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


# --- targets checked by hand ---


def linear_agent(double_dqn=True, gamma=0.9, action_mask=False, **settings):
    """Q = obs @ W (no hidden layer, zero bias) on 2-D one-hot observations and 2 actions."""
    space = gym.spaces.Box(0.0, 1.0, (2,), np.float32)
    config = DQNConfig(hidden=(), gamma=gamma, batch_size=4, double_dqn=double_dqn,
                       learning_starts=1, max_grad_norm=None, action_mask=action_mask, **settings)
    agent = DQNAgent(space, gym.spaces.Discrete(2), config, np.random.default_rng(0))
    # Rows: the state s = [1, 0] and the next state s' = [0, 1]; columns: actions 0 and 1.
    agent.q_net.load_state_dict({"head.W": np.array([[2.5, 0.0], [3.0, 1.0]], np.float32),
                                 "head.b": np.zeros(2, np.float32)})
    agent.target_net.load_state_dict({"head.W": np.array([[0.0, 0.0], [2.0, 5.0]], np.float32),
                                      "head.b": np.zeros(2, np.float32)})
    return agent


S, S_NEXT = np.array([1.0, 0.0], np.float32), np.array([0.0, 1.0], np.float32)


@pytest.mark.parametrize(
    ("terminated", "truncated", "double_dqn", "expected_loss"),
    [
        # Double DQN: the online net picks a' = 0 at s' (3 > 1), the target net values it at 2:
        # target = 1 + 0.9 * 2 = 2.8, TD error = Q(s, 0) - target = 2.5 - 2.8 = -0.3 -> 0.5 * 0.09.
        (False, False, True, 0.045),
        # A time-limit cut still bootstraps: the same target.
        (False, True, True, 0.045),
        # A true terminal state does not: target = 1, TD error 1.5 -> Huber 1 * (1.5 - 0.5) = 1.
        (True, False, True, 1.0),
        # Plain DQN takes the target net's own max at s': 1 + 0.9 * 5 = 5.5, error -3 -> 2.5.
        (False, False, False, 2.5),
    ],
)
def test_td_target_by_hand(terminated, truncated, double_dqn, expected_loss):
    agent = linear_agent(double_dqn)
    agent.buffer.add(S, 0, 1.0, S_NEXT, terminated, truncated)
    metrics = agent.update()
    assert metrics["loss"] == pytest.approx(expected_loss, rel=1e-5)
    assert metrics["q_mean"] == pytest.approx(2.5)


@pytest.mark.parametrize(
    ("double_dqn", "next_mask", "expected_loss"),
    [
        # Action 0 illegal at s': Double DQN's online net must pick a' = 1 (though 3 > 1), which
        # the target net values at 5: target 5.5, error -3 -> Huber 2.5.
        (True, [0, 1], 2.5),
        # Action 1 illegal at s': plain DQN's max runs over action 0 only: 1 + 0.9 * 2 = 2.8.
        (False, [1, 0], 0.045),
    ],
)
def test_masked_bootstrap_takes_the_max_over_legal_actions_only(double_dqn, next_mask,
                                                               expected_loss):
    agent = linear_agent(double_dqn, action_mask=True)
    agent.observe(S, 0, 1.0, S_NEXT, False, False, mask=[1, 1], next_mask=next_mask)
    assert agent.update()["loss"] == pytest.approx(expected_loss, rel=1e-5)


@pytest.mark.parametrize(
    ("settings", "next_mask", "expected_loss"),
    [
        # τ = 1: the target net's Q(s') = [2, 5] gives the soft value log(e^2 + e^5) = 5.048587;
        # its Q(s) = [0, 0] gives log π(0|s) = -log 2, bonus 0.9 * -0.693147 = -0.623832:
        # target 1 - 0.623832 + 0.9 * 5.048587 = 4.919896, error -2.419896 -> Huber 1.919896.
        ({}, [1, 1], 1.919896),
        # Only action 0 legal at s': the soft value is log e^2 = 2, target 2.176168, error
        # 0.323832 -> 0.5 * 0.323832^2.
        ({}, [1, 0], 0.0524335),
        # l0 = -0.5 clips τ·log π = -0.693147: bonus -0.45, target 5.093728 -> Huber 2.093728.
        ({"munchausen_clip": -0.5}, [1, 1], 2.093728),
    ],
)
def test_munchausen_target_by_hand(settings, next_mask, expected_loss):
    agent = linear_agent(action_mask=True, munchausen=True, munchausen_tau=1.0,
                         munchausen_alpha=0.9, **settings)
    agent.observe(S, 0, 1.0, S_NEXT, False, False, mask=[1, 1], next_mask=next_mask)
    assert agent.update()["loss"] == pytest.approx(expected_loss, rel=1e-5)


def test_soft_max_value_is_log_sum_exp_over_legal_actions_and_tends_to_the_max():
    q = np.array([[1.0, 2.0, 30.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(soft_max_value(q, 1.0), np.log(np.exp(q).sum(axis=1)))
    np.testing.assert_allclose(soft_max_value(q, 1e-3), [30.0, 0.0], atol=1e-2)
    mask = np.array([[True, True, False], [True, False, False]])
    np.testing.assert_allclose(soft_max_value(q, 1.0, mask), [np.log(np.e + np.e**2), 0.0])
    with pytest.raises(ValueError, match="munchausen-tau"):
        DQNConfig(munchausen_tau=0.0)


def test_masked_acting_never_chooses_an_illegal_action():
    agent = linear_agent(action_mask=True)  # Q(s) = [2.5, 0]: action 0 is the greedy one
    assert agent.uses_action_masks
    assert agent.act(S, greedy=True, mask=[1, 1]) == 0
    assert agent.act(S, greedy=True, mask=[0, 1]) == 1
    agent.config.epsilon = schedules.constant(1.0)  # every action a random one
    assert {agent.act(S, mask=[0, 1]) for _ in range(50)} == {1}
    assert agent.act_batch([S, S], masks=[[0, 1], [1, 0]]) == [1, 0]
    with pytest.raises(ValueError, match="info\\['action_mask'\\]"):
        agent.act(S)
    with pytest.raises(ValueError, match="at least one"):
        agent.act(S, mask=[0, 0])
    with pytest.raises(ValueError, match="not legal"):
        agent.observe(S, 0, 1.0, S_NEXT, False, False, mask=[0, 1], next_mask=[1, 1])
    assert not linear_agent().uses_action_masks  # without the option: the plain protocol


def test_the_loop_hands_the_envs_action_masks_to_a_masked_agent():
    """Training and evaluation on PacGrid pass info["action_mask"]: no move into a wall."""
    from rl.evaluate import evaluate

    class Checked(gym.Wrapper):
        illegal = 0

        def reset(self, **kwargs):
            obs, info = self.env.reset(**kwargs)
            self.mask = info["action_mask"]
            return obs, info

        def step(self, action):
            Checked.illegal += int(not self.mask[action])
            obs, reward, terminated, truncated, info = self.env.step(action)
            self.mask = info["action_mask"]
            return obs, reward, terminated, truncated, info

    envs_ = [Checked(gym.make("PacGrid/Tiny-v1")) for _ in range(2)]
    config = DQNConfig(hidden=(8,), conv_channels=(4,), conv_strides=(2,), batch_size=8,
                       learning_starts=50, action_mask=True, center_channel=3, outside_channel=0)
    agent = DQNAgent(envs_[0].observation_space, envs_[0].action_space, config,
                     np.random.default_rng(0))
    run_steps(envs_, agent, make_rng(0), LoopState(), 400)  # ε = 1 at first: random moves
    run_steps(envs_[:1], agent, make_rng(1), LoopState(), 100)
    evaluate(envs_[0], agent, 3, make_rng(2))
    assert Checked.illegal == 0
    assert agent.buffer.masks[:agent.buffer.size].sum(axis=1).min() >= 1


def test_gradient_reaches_only_the_taken_action():
    agent = linear_agent()
    agent.config.learning_rate = schedules.constant(0.1)
    before = agent.q_net.state_dict()["head.W"].copy()
    agent.buffer.add(S, 0, 1.0, S_NEXT, False, False)
    agent.update()
    after = agent.q_net.state_dict()["head.W"]
    assert after[0, 0] > before[0, 0]  # Q(s, 0) = 2.5 moves up toward the target 2.8
    np.testing.assert_array_equal(after[:, 1], before[:, 1])
    np.testing.assert_array_equal(after[1], before[1])  # s' was not an input of the update


def test_n_step_target_by_hand():
    space = gym.spaces.Box(0.0, 1.0, (2,), np.float32)
    config = DQNConfig(hidden=(), gamma=0.5, n_step=2, batch_size=8, max_grad_norm=None)
    agent = DQNAgent(space, gym.spaces.Discrete(2), config, np.random.default_rng(0))
    weights = np.array([[0.0, 0.0], [4.0, 0.0]], np.float32)  # Q(s') = [4, 0] for both nets
    for net in (agent.q_net, agent.target_net):
        net.load_state_dict({"head.W": weights, "head.b": np.zeros(2, np.float32)})
    # s -> s' (reward 1) -> s' (reward 2) -> ... : the 2-step target from s is
    # 1 + 0.5 * 2 + 0.25 * max Q(s') = 3; Q(s, 0) = 0, so the loss is Huber(3) = 2.5.
    agent.buffer.add(S, 0, 1.0, S_NEXT, False, False)
    agent.buffer.add(S_NEXT, 0, 2.0, S_NEXT, False, False)
    assert len(agent.buffer) == 1  # only the first transition has its 2 steps stored
    assert agent.update()["loss"] == pytest.approx(2.5)


# --- target network ---


def small_cartpole_agent(**overrides):
    env = gym.make("CartPole-v1")
    config = DQNConfig(hidden=(16,), batch_size=8, learning_starts=10, train_freq=1, **overrides)
    return env, DQNAgent(env.observation_space, env.action_space, config, np.random.default_rng(1))


def test_hard_target_sync_every_n_updates():
    env, agent = small_cartpole_agent(target_update_interval=3)
    run_agent(env, agent, 11, seed=0)  # 2 updates (steps 10 and 11)
    assert agent.updates == 2
    assert not np.array_equal(agent.q_net.state_dict()["head.W"],
                              agent.target_net.state_dict()["head.W"])
    run_agent(env, agent, 1, seed=1)
    assert agent.updates == 3
    for name, value in agent.q_net.state_dict().items():
        np.testing.assert_array_equal(value, agent.target_net.state_dict()[name])


def test_polyak_target_update():
    env, agent = small_cartpole_agent(tau=0.25)
    run_agent(env, agent, 12, seed=0)
    target_before = agent.target_net.state_dict()
    agent.update()
    online = agent.q_net.state_dict()
    for name, value in agent.target_net.state_dict().items():
        # Two terms; where they cancel, their size sets the rounding, not the result's.
        mixed = 0.75 * target_before[name], 0.25 * online[name]
        assert_close_f32(value, mixed[0] + mixed[1], 2, np.abs(mixed[0]) + np.abs(mixed[1]),
                         err_msg=name)


def test_greedy_acting_reads_the_moving_average_of_the_online_weights():
    agent = linear_agent(greedy_ema=0.5)
    agent.config.learning_rate = schedules.constant(0.1)
    agent.config.epsilon = schedules.constant(0.0)  # ε-greedy acting is then greedy too
    zero_b = np.zeros(2, np.float32)
    agent.greedy_net.load_state_dict({"head.W": np.array([[0.0, 1.0], [0.0, 0.0]], np.float32),
                                      "head.b": zero_b})
    # Online Q(s) = [2.5, 0] prefers action 0; the average's Q(s) = [0, 1] prefers action 1.
    assert agent.act(S) == 0 and agent.act(S, greedy=True) == 1
    assert agent.act_batch([S, S]) == [0, 0] and agent.act_batch([S, S], greedy=True) == [1, 1]
    np.testing.assert_array_equal(agent.q_values(S), [0.0, 1.0])

    average_before = agent.greedy_net.state_dict()
    agent.buffer.add(S, 0, 1.0, S_NEXT, False, False)
    agent.update()
    online = agent.q_net.state_dict()
    assert online["head.W"][0, 0] != 2.5  # the online net moved ...
    for name, value in agent.greedy_net.state_dict().items():  # ... and the average followed
        assert_close_f32(value, 0.5 * average_before[name] + 0.5 * online[name], 2,
                         np.abs(average_before[name]) + np.abs(online[name]), err_msg=name)
    with pytest.raises(ValueError, match="--greedy-ema"):
        DQNConfig(greedy_ema=1.0)


def test_greedy_ties_come_from_a_stream_of_their_own_that_checkpoints_keep():
    # Evaluations act greedily in the middle of training: their tie-breaks must not shift the
    # training's random stream (minibatches, ε), or how often a run evaluates, or how its
    # greedy policy acts, would change what it learns.
    agent = linear_agent()
    agent.q_net.load_state_dict({"head.W": np.zeros((2, 2), np.float32),
                                 "head.b": np.zeros(2, np.float32)})  # every action ties
    training_stream = rng_state(agent.rng)
    assert {agent.act(S, greedy=True) for _ in range(40)} == {0, 1}  # ties broken at random
    assert set(agent.act_batch([S] * 40, greedy=True)) == {0, 1}
    assert rng_state(agent.rng) == training_stream
    agent.act(S)  # ε-greedy acting for training does draw from the training stream
    assert rng_state(agent.rng) != training_stream

    # A checkpoint keeps the tie stream: the restored agent breaks the next ties alike.
    arrays, meta = agent.state_dict()
    restored = linear_agent()
    restored.load_state_dict(arrays, meta)
    assert [restored.act(S, greedy=True) for _ in range(20)] == \
        [agent.act(S, greedy=True) for _ in range(20)]
    # A checkpoint from before the separate stream (no greedy_rng_state) still loads.
    del meta["greedy_rng_state"]
    linear_agent().load_state_dict(arrays, meta)


# --- networks ---


@pytest.mark.parametrize(("height", "channels", "layout"), [(7, 3, "auto"), (5, 6, "hwc")])
def test_cnn_accepts_hwc_and_chw_and_uint8_or_bool(height, channels, layout):
    rng = np.random.default_rng(3)
    grid = rng.integers(0, 2, size=(height, 9, channels), dtype=np.uint8)
    config = DQNConfig(hidden=(32,), image_layout=layout)
    hwc = build_q_network(gym.spaces.Box(0, 1, (height, 9, channels), np.uint8), 5, config,
                          np.random.default_rng(0))
    config.image_layout = "auto" if layout == "auto" else "chw"
    chw = build_q_network(gym.spaces.Box(0, 1, (channels, height, 9), np.uint8), 5, config,
                          np.random.default_rng(0))
    q_hwc = hwc.forward(grid[None])
    assert q_hwc.shape == (1, 5) and q_hwc.dtype == np.float32
    # Other input layouts and dtypes, converted on the way in: equal up to float32 rounding
    # along the network (Q-values near 0 get the tolerance of the largest one).
    path = forward_reduction_length(hwc)
    assert_close_f32(chw.forward(grid.transpose(2, 0, 1)[None]), q_hwc, path)
    assert_close_f32(hwc.forward(grid.astype(bool)[None]), q_hwc, path)
    with pytest.raises(nets.ShapeError):
        hwc.forward(grid.transpose(2, 0, 1)[None])


def test_image_layout_guess():
    assert guess_image_layout((7, 20, 6)) == "hwc"
    assert guess_image_layout((4, 7, 20, 6)) == "hwc"  # stacked frames
    assert guess_image_layout((3, 84, 84)) == "chw"
    assert guess_image_layout((5, 5, 5)) == "hwc"
    assert guess_image_layout((4, 84, 84)) == "chw"  # four stacked grey frames
    assert guess_image_layout((84, 84, 4)) == "hwc"


@pytest.mark.parametrize("env_id", ["PacGrid/Tiny-v1", "PacGrid/Small-v1", "PacGrid/Medium-v1",
                                    "PacGrid/Classic-v1", "PacGrid/Medium-v0"])
def test_pacgrid_observations_are_read_as_rows_columns_channels(env_id):
    """The network sees PacGrid's (rows, columns, channels) grid as such, and the centred view
    puts Pac-Man's cell at the centre (a wrong guess once made rows into channels: PacGrid-v1's
    19 channels outnumber its 7-17 rows)."""
    env = gym.make(env_id)
    obs, _ = env.reset(seed=0)
    assert guess_image_layout(obs.shape) == "hwc"
    config = DQNConfig(hidden=(8,), conv_channels=(4,), conv_strides=(1,), center_channel=3,
                       outside_channel=0)
    net = build_q_network(env.observation_space, 5, config, np.random.default_rng(0))
    layers = dict(net.children())
    conv1 = layers["conv1"]
    assert isinstance(conv1, nets.CenteredConv2D) and conv1.padding == (1, 1)
    centred = conv1.center_on.forward(layers["input"].forward(obs[None]))
    rows, columns, channels = obs.shape
    assert centred.shape == (1, channels, 2 * rows - 1, 2 * columns - 1)
    assert centred[0, 3, rows - 1, columns - 1] == 1 and centred[0, 3].sum() == 1
    # The walls channel is 1 outside the board and the board's walls are where they were.
    pac_row, pac_col = np.argwhere(obs[:, :, 3])[0]
    top, left = rows - 1 - pac_row, columns - 1 - pac_col
    np.testing.assert_array_equal(centred[0, 0, top:top + rows, left:left + columns], obs[:, :, 0])
    assert centred[0, 0, 0, 0] == 1 or (top == 0 and left == 0)


def test_agent_window_feeds_the_cells_around_pacman_to_the_dense_layers_beside_the_cnn():
    env = gym.make("PacGrid/Tiny-v1")
    obs, _ = env.reset(seed=0)
    channels = obs.shape[-1]
    config = DQNConfig(hidden=(8,), conv_channels=(4,), conv_strides=(2,), center_channel=3,
                       outside_channel=0, agent_window=3)
    net = build_q_network(env.observation_space, 5, config, np.random.default_rng(0))
    features = dict(net.children())["features"]
    cnn, window = (branch for _, branch in features.children())
    image = dict(net.children())["input"].forward(obs[None])
    assert window.forward(image).shape == (1, channels * 9)
    assert dict(net.children())["fc1"].params["W"].shape[0] == (
        cnn.forward(image).shape[1] + channels * 9)
    pac_row, pac_col = np.argwhere(obs[:, :, 3])[0]
    cells = window.forward(image).reshape(channels, 3, 3)
    assert cells[3, 1, 1] == 1  # Pac-Man's own cell in the middle
    np.testing.assert_array_equal(cells[1, 1], obs[pac_row, pac_col - 1:pac_col + 2, 1])
    assert net.forward(obs[None]).shape == (1, 5)
    with pytest.raises(ValueError, match="agent-window"):
        DQNConfig(agent_window=3)  # no centred view to take it from
    with pytest.raises(ValueError, match="agent-window"):
        DQNConfig(center_channel=3, agent_window=4)


def test_agent_position_feeds_pacmans_row_and_column_to_the_dense_layers():
    env = gym.make("PacGrid/Tiny-v1")
    obs, _ = env.reset(seed=0)
    rows, columns, channels = obs.shape
    config = DQNConfig(hidden=(8,), conv_channels=(4,), conv_strides=(2,), center_channel=3,
                       outside_channel=0, agent_window=3, agent_position=True)
    net = build_q_network(env.observation_space, 5, config, np.random.default_rng(0))
    features = dict(dict(net.children())["features"].children())
    assert list(features) == ["cnn", "window", "position"]
    image = dict(net.children())["input"].forward(obs[None])
    pac_row, pac_col = np.argwhere(obs[:, :, 3])[0]
    position = features["position"].forward(image)[0]
    assert np.flatnonzero(position).tolist() == [pac_row, rows + pac_col]
    assert dict(net.children())["fc1"].params["W"].shape[0] == (
        features["cnn"].forward(image).shape[1] + channels * 9 + rows + columns)
    assert net.forward(obs[None]).shape == (1, 5)
    with pytest.raises(ValueError, match="agent-position"):
        DQNConfig(agent_position=True)  # no agent channel to find it by


def test_fixed_planes_put_each_ghosts_start_beside_the_grid():
    from agents.registry import new_run
    from envs.pacman.env import PacmanEnv
    from envs.pacman.observation import channel_names

    run = new_run("dqn", "PacGrid/Small-v1", {"seed": 0, "fixed_planes": True})
    env = run.make_env()
    game = env.unwrapped
    planes = game.fixed_planes()
    assert planes.shape == (*env.observation_space.shape[:2], 3)  # one plane per ghost
    assert [tuple(cell) for cell in np.argwhere(planes)] == [
        (*start, k) for k, start in enumerate(game.layout.ghost_starts)]
    # The mirror image of a game is a game of the same env whose ghost k starts at its own
    # start: mirrored, with the ghosts' planes swapped as the observation's, the planes stay.
    channel_order, _ = game.mirror()
    ghost = channel_names(3, arcade=False).index("ghost0")
    partner = channel_order[ghost:ghost + 3] - ghost
    np.testing.assert_array_equal(planes[:, ::-1, partner], planes)
    agent = run.make_agent(env)
    layers = dict(agent.q_net.children())
    assert "fixed" in layers and dict(layers["features"].children())["cnn"] is not None
    obs, _ = env.reset(seed=0)
    image = layers["fixed"].forward(layers["input"].forward(obs[None]))
    np.testing.assert_array_equal(image[0, -3:], np.moveaxis(planes, -1, 0))
    assert agent.q_values(obs).shape == (5,)
    # The 6-channel grid does not tell the ghosts apart: one plane for all their starts.
    assert PacmanEnv("small-v1", obs_type="grid").fixed_planes().shape == (7, 21, 1)
    assert PacmanEnv("small-v1", obs_type="rgb").fixed_planes() is None
    with pytest.raises(ValueError, match="fixed-planes"):
        new_run("dqn", "CartPole-v1", {"fixed_planes": True, "hidden": [8]}).make_agent(
            gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match="fixed-planes"):
        DQNConfig(fixed_planes=True, frame_stack=2)
    with pytest.raises(ValueError, match="fixed_planes needs"):
        DQNAgent(env.observation_space, env.action_space, DQNConfig(fixed_planes=True))


def test_cnn_with_stacked_frames_and_pixels():
    space = gym.spaces.Box(0, 255, (4, 10, 10, 3), np.uint8)  # 4 stacked RGB frames
    net = build_q_network(space, 3, DQNConfig(hidden=(16,)), np.random.default_rng(0))
    image = net.forward(np.zeros((2, 4, 10, 10, 3), np.uint8))
    assert image.shape == (2, 3)
    first = dict(net.children())["input"] if hasattr(net, "children") else None
    assert isinstance(first, nets.ImageInput) and first.output_shape() == (12, 10, 10)
    assert first.scale == pytest.approx(1 / 255)


def test_frame_stack_option_wraps_the_env():
    env = wrap_env(gym.make("CartPole-v1"), DQNConfig(frame_stack=3))
    assert env.observation_space.shape == (3, 4)
    agent = DQNAgent(env.observation_space, env.action_space, DQNConfig(hidden=(8,)),
                     np.random.default_rng(0))
    obs, _ = env.reset(seed=0)
    assert agent.act(obs) in (0, 1)


def test_bad_spaces_are_clear_errors():
    with pytest.raises(TypeError, match="Discrete action"):
        DQNAgent(gym.spaces.Box(0, 1, (2,)), gym.spaces.Box(0, 1, (2,)))
    with pytest.raises(TypeError, match="tabular"):
        DQNAgent(gym.spaces.Discrete(4), gym.spaces.Discrete(2))
    agent = DQNAgent(gym.spaces.Box(0, 1, (2,)), gym.spaces.Discrete(2), DQNConfig(hidden=(4,)))
    with pytest.raises(ValueError, match="outside"):
        agent.observe(np.zeros(2), 5, 0.0, np.zeros(2), False, False)


# --- divergence guard ---


def test_nan_reward_stops_with_a_clear_error():
    agent = linear_agent()
    agent.buffer.add(S, 0, float("nan"), S_NEXT, False, False)
    before = agent.q_net.state_dict()
    with pytest.raises(NonFiniteLossError, match=r"loss is nan: training diverged.*learning rate"):
        agent.update()
    for name, value in agent.q_net.state_dict().items():  # the weights were not touched
        np.testing.assert_array_equal(value, before[name])


# --- noisy networks ---


def test_noisy_dqn_explores_by_weight_noise_and_acts_greedily_on_the_mean_weights():
    env, agent = small_cartpole_agent(noisy=True, epsilon=schedules.constant(0.0))
    assert [type(layer).__name__ for _, layer in agent.q_net.named_leaves()
            if "Dense" in type(layer).__name__] == ["NoisyDense", "NoisyDense"]
    obs = np.stack([env.reset(seed=seed)[0] for seed in range(16)])
    means = agent.q_net.predict(obs)  # the noise starts at zero
    exploring = [agent._exploring_q(obs) for _ in range(2)]
    assert not np.allclose(exploring[0], means) and not np.allclose(exploring[0], exploring[1])
    np.testing.assert_array_equal(agent._greedy_q(obs), means)  # greedy: the mean weights
    sigma = agent.q_net.state_dict()["fc1.W_sigma"]
    run_agent(env, agent, 60, seed=0)
    assert agent.updates > 0
    assert not np.array_equal(agent.q_net.state_dict()["fc1.W_sigma"], sigma)  # σ is learned
    # the online and target networks draw their own noise for each update
    assert not np.array_equal(agent.q_net.state_dict()["fc1.noise_in"],
                              agent.target_net.state_dict()["fc1.noise_in"])


def test_noisy_sigma_must_not_be_negative():
    with pytest.raises(ValueError, match="--noisy-sigma"):
        DQNConfig(noisy=True, noisy_sigma=-0.1)


# --- reproducibility and state ---


def test_same_seed_gives_identical_parameters():
    finals = []
    for _ in range(2):
        env, agent = small_cartpole_agent(prioritized=True, n_step=2)
        run_agent(env, agent, 300, seed=5)
        finals.append(agent.q_net.state_dict())
    for name in finals[0]:
        np.testing.assert_array_equal(finals[0][name], finals[1][name])


@pytest.mark.parametrize(("prioritized", "noisy"), [(False, False), (True, False), (False, True)])
def test_state_dict_round_trip_continues_identically(prioritized, noisy):
    env, agent = small_cartpole_agent(prioritized=prioritized, n_step=3, noisy=noisy)
    run_agent(env, agent, 200, seed=6)
    arrays, meta = agent.state_dict()
    _, clone = small_cartpole_agent(prioritized=prioritized, n_step=3, noisy=noisy)
    clone.load_state_dict(arrays, meta)
    results = []
    for each in (agent, clone):
        run_agent(gym.make("CartPole-v1"), each, 100, seed=7)
        results.append(each.q_net.state_dict())
    for name in results[0]:
        np.testing.assert_array_equal(results[0][name], results[1][name])


def test_loading_a_different_architecture_is_refused():
    _, agent = small_cartpole_agent()
    arrays, meta = agent.state_dict()
    env = gym.make("CartPole-v1")
    other = DQNAgent(env.observation_space, env.action_space, DQNConfig(hidden=(32,)))
    with pytest.raises(ValueError, match="architecture"):
        other.load_state_dict(arrays, meta)


def test_a_network_saved_before_the_fused_centred_convolution_still_loads():
    """Checkpoints (the shipped models among them) saved a CenterOn layer and then a Conv2D
    where the network now has one CenteredConv2D with the same params: they load, and
    compute the same Q-values; a pair the fused layer does not compute is refused."""
    env = gym.make("PacGrid/Tiny-v1")
    config = DQNConfig(hidden=(8,), conv_channels=(4, 4), conv_strides=(2, 1), center_channel=3,
                       outside_channel=0)
    agent = DQNAgent(env.observation_space, env.action_space, config, np.random.default_rng(0))
    arrays, meta = agent.acting_state_dict()
    legacy = json.loads(json.dumps(meta["network"]))
    name, fused = legacy["layers"][1]
    assert (name, fused["type"]) == ("conv1", "CenteredConv2D")
    legacy["layers"][1:2] = [
        ["center", {"type": "CenterOn", "channels": fused["in_channels"], "frames": 1,
                    "center": 3, "outside": 0}],
        ["conv1", {"type": "Conv2D", "in_channels": fused["in_channels"], "out_channels": 4,
                   "kernel_size": 3, "stride": 2, "padding": 1, "init": "he"}]]
    other = DQNAgent(env.observation_space, env.action_space, config, np.random.default_rng(1))
    other.load_state_dict(arrays, {**meta, "network": legacy})
    old_net = nets.Sequential.from_config(legacy)
    old_net.load_state_dict({k[2:]: v for k, v in arrays.items() if k.startswith("q/")})
    obs = np.stack([env.reset(seed=seed)[0] for seed in range(4)])
    assert_close_f32(other.q_net.forward(obs), old_net.forward(obs),
                     forward_reduction_length(old_net))
    legacy["layers"][2][1]["padding"] = 0  # another convolution: not what CenteredConv2D does
    with pytest.raises(ValueError, match="architecture"):
        other.load_state_dict(arrays, {**meta, "network": legacy})


# --- learning ---


@pytest.mark.parametrize("settings", [
    {},
    {"quantiles": 8},  # the distributional head (tests/test_dqn_quantiles.py)
    {"quantiles": 8, "munchausen": True, "munchausen_tau": 0.03},
    {"noisy": True, "epsilon": schedules.constant(0.0)},  # explores by weight noise alone
])
def test_learns_the_chain(settings):
    env = gym.wrappers.TimeLimit(ChainEnv(8), max_episode_steps=24)
    config = DQNConfig(**{
        "hidden": (32,), "batch_size": 32, "learning_starts": 200, "train_freq": 1,
        "gamma": 0.95, "learning_rate": schedules.constant(3e-3), "target_update_interval": 50,
        "epsilon": schedules.linear(1.0, 0.1, 1500), "buffer_size": 5000, **settings,
    })
    agent = DQNAgent(env.observation_space, env.action_space, config, np.random.default_rng(0))
    assert greedy_return(env, agent) < 1.0  # the untrained greedy policy does not reach +1
    run_agent(env, agent, 3000, seed=0)
    assert greedy_return(env, agent) == pytest.approx(1.0)


@pytest.mark.slow
def test_cnn_dqn_learns_to_win_the_tiny_maze(tmp_path):
    """The Tiny-v1 preset, a shorter budget, several envs: the greedy agent wins most games."""
    from agents.registry import new_run, train_run
    from rl.evaluate import evaluate
    from rl.seeding import make_rng

    run = new_run("dqn", "envs:PacGrid/Tiny-v1", {"total_steps": 24_000, "num_envs": 4,
                                             "eval_every": 0, "eval_episodes": 1,
                                             "progress": False}, run_dir=tmp_path / "tiny")
    train_run(run)
    env = run.make_env()
    agent, _ = run.load_agent(env)
    result = evaluate(env, agent, 50, make_rng([123, 9]))  # seeds apart from training's
    assert result["win_rate"] >= 0.8, result


def preset_agent_with_replay(mirror_augment, seed=0, steps=300, env_id="PacGrid/Small-v1",
                               **settings):
    """The agent of env_id's preset (with --mirror-augment and `settings`) and a buffer of
    random play."""
    from agents.registry import new_run

    run = new_run("dqn", env_id, {"seed": seed, "mirror_augment": mirror_augment, **settings})
    env = run.make_env(training=True)
    agent = run.make_agent(env)
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    for _ in range(steps):
        mask = info["action_mask"]
        action = int(rng.choice(np.flatnonzero(mask)))
        next_obs, reward, terminated, truncated, next_info = env.step(action)
        agent.buffer.add(obs, action, reward, next_obs, terminated, truncated, mask=mask,
                         next_mask=next_info["action_mask"])
        obs, info = env.reset() if terminated or truncated else (next_obs, next_info)
    return env, agent


def test_mirror_augment_replays_transitions_as_their_mirror_images():
    env, agent = preset_agent_with_replay(mirror_augment=1.0, updown_flip=False)  # the mirror alone
    channels, actions = env.unwrapped.mirror()
    batch = agent.buffer.sample(64, np.random.default_rng(1))
    sampled = batch.obs.copy()
    mirrored = agent._mirror_some(batch)  # share 1: every transition
    east, west = 3, 4
    for row in range(64):
        for name in ("obs", "next_obs"):
            flipped = getattr(batch, name)[row][:, ::-1][..., channels]
            assert np.array_equal(getattr(mirrored, name)[row], flipped)
        swap = {east: west, west: east}
        assert mirrored.action[row] == swap.get(int(batch.action[row]), batch.action[row])
        assert np.array_equal(mirrored.mask[row], batch.mask[row][actions])
        assert mirrored.mask[row][mirrored.action[row]]  # the mirrored move is legal there
        assert np.array_equal(mirrored.next_mask[row], batch.next_mask[row][actions])
    for name in ("reward", "discount", "terminated", "truncated", "indices"):
        assert np.array_equal(getattr(mirrored, name), getattr(batch, name))
    assert np.array_equal(batch.obs, sampled)  # the sample itself is left as it was
    twice = agent._mirror_some(mirrored)  # the mirror of the mirror is the transition itself
    for name in ("obs", "next_obs", "action", "mask", "next_mask"):
        assert np.array_equal(getattr(twice, name), getattr(batch, name))


def test_mirror_augment_mirrors_about_its_share_and_trains():
    env, agent = preset_agent_with_replay(mirror_augment=0.5, updown_flip=False)
    batch = agent.buffer.sample(2000, np.random.default_rng(2))
    mirrored = agent._mirror_some(batch)
    changed = (batch.obs != mirrored.obs).reshape(len(batch.obs), -1).any(axis=1)
    # Among the grids that are not their own mirror image (those change when mirrored), half
    # (binomial: a standard deviation of about 0.012 here).
    channels, _ = env.unwrapped.mirror()
    own_image = (batch.obs == batch.obs[:, :, ::-1][..., channels]).reshape(len(changed), -1)
    asymmetric = ~own_image.all(axis=1)
    assert asymmetric.sum() > 1500 and not changed[~asymmetric].any()
    assert 0.45 < changed[asymmetric].mean() < 0.55
    for _ in range(3):
        metrics = agent.update()
    assert np.isfinite(metrics["loss"])


def test_updown_flip_replays_each_of_the_three_reflections_evenly():
    env, agent = preset_agent_with_replay(1.0, env_id="PacGrid/Medium-v1", updown_flip=True)
    game = env.unwrapped
    mirror = Symmetry(False, True, *map(np.asarray, game.mirror()))
    flip = Symmetry(True, False, *map(np.asarray, game.flip()))
    views = {"mirror": mirror, "flip": flip, "half turn": mirror.then(flip)}
    assert [(s.rows, s.cols) for s in agent.symmetries] == [(False, True), (True, False),
                                                              (True, True)]
    batch = agent.buffer.sample(300, np.random.default_rng(1))
    reflected = agent._mirror_some(batch)  # share 1: every transition, by one reflection
    counts = dict.fromkeys(views, 0)
    for row in range(300):
        matches = [name for name, view in views.items()
                   if np.array_equal(reflected.obs[row], view.images(batch.obs[row]))
                   and np.array_equal(reflected.next_obs[row], view.images(batch.next_obs[row]))
                   and reflected.action[row] == view.actions[batch.action[row]]
                   and np.array_equal(reflected.mask[row], batch.mask[row][view.actions])
                   and np.array_equal(reflected.next_mask[row], batch.next_mask[row][view.actions])]
        assert matches, row  # every transition is one reflection of the sampled one, whole
        counts[matches[0]] += 1
        assert reflected.mask[row][reflected.action[row]]  # its move is legal where it is
    assert all(60 < count < 140 for count in counts.values()), counts
    # The half turn is both flips: rows and columns reversed, north-south and east-west swapped.
    turned = views["half turn"].images(batch.obs[:5])
    assert np.array_equal(turned, mirror.images(flip.images(batch.obs[:5])))
    assert views["half turn"].actions.tolist() == [0, 2, 1, 4, 3]
    assert np.isfinite(agent.update()["loss"])


def test_updown_flip_greedy_values_the_four_views_of_a_state_alike():
    _, agent = preset_agent_with_replay(0.75, env_id="PacGrid/Medium-v1", updown_flip=True,
                                          mirror_greedy=True, steps=60)
    batch = agent.buffer.sample(20, np.random.default_rng(3)).obs
    q = agent._greedy_q(batch)
    for view in agent.symmetries:
        assert_close_f32(agent._greedy_q(view.images(batch))[:, view.actions], q,
                         reduction_length=forward_reduction_length(agent.q_net))
    views = [batch] + [view.images(batch) for view in agent.symmetries]
    plain = [agent.greedy_net.forward(v) for v in views]
    mean = plain[0] + sum(q_view[:, view.actions]
                          for q_view, view in zip(plain[1:], agent.symmetries, strict=True))
    assert_close_f32(q, mean / 4, reduction_length=forward_reduction_length(agent.q_net))


def test_updown_flip_needs_an_updown_symmetric_game_and_a_mirror_setting():
    from agents.registry import new_run

    with pytest.raises(ValueError, match=r"upside down.*Tiny-v1.*--no-updown-flip"):
        new_run("dqn", "PacGrid/Tiny-v1", {"mirror_augment": 0.5, "updown_flip": True}
                ).make_agent(gym.make("PacGrid/Tiny-v1"))
    with pytest.raises(ValueError, match="--updown-flip must be used with --mirror-augment"):
        DQNConfig(updown_flip=True)
    # Classic-v1 has no mirror, but flips: its minibatches are flipped only.
    run = new_run("dqn", "PacGrid/Classic-v1", {"mirror_augment": 0.5, "updown_flip": True})
    env = run.make_env()
    assert [(s.rows, s.cols) for s in run.make_agent(env).symmetries] == [(True, False)]


def test_mirror_augment_needs_a_mirror_symmetric_game():
    from agents.registry import new_run

    with pytest.raises(ValueError, match=r"Tiny-v1.*no such symmetry.*--mirror-augment 0"):
        new_run("dqn", "PacGrid/Tiny-v1", {"mirror_augment": 0.5}).make_agent(
            gym.make("PacGrid/Tiny-v1"))
    env = gym.make("PacGrid/Small-v1")
    with pytest.raises(ValueError, match="need the env's mirror symmetry"):
        DQNAgent(env.observation_space, env.action_space, DQNConfig(mirror_augment=0.5))
    with pytest.raises(ValueError, match="does not fit observations"):
        DQNAgent(env.observation_space, env.action_space, DQNConfig(mirror_augment=0.5),
                 symmetries=[Symmetry(False, True, np.arange(6), np.arange(5))])
    with pytest.raises(ValueError, match=r"--mirror-augment must be a share in \[0, 1\]"):
        DQNConfig(mirror_augment=1.5)


def test_mirror_greedy_values_a_state_and_its_mirror_image_alike():
    from agents.registry import new_run

    run = new_run("dqn", "PacGrid/Small-v1", {"seed": 0, "mirror_greedy": True,
                                             "updown_flip": False})  # the mirror alone
    env = run.make_env()
    agent = run.make_agent(env)
    channels, actions = env.unwrapped.mirror()
    rng = np.random.default_rng(0)
    obs, info = env.reset(seed=0)
    states = []
    for _ in range(40):
        states.append(obs)
        obs, _, terminated, truncated, info = env.step(int(rng.choice(np.flatnonzero(
            info["action_mask"]))))
        if terminated or truncated:
            obs, info = env.reset()
    batch = np.stack(states)
    mirrored = batch[..., ::-1, :][..., channels]
    q, q_mirrored = agent._greedy_q(batch), agent._greedy_q(mirrored)
    # The same two values summed either way; each comes from another row of another batch,
    # and some BLAS kernels round a row by its place in the batch: float32 tolerance.
    assert_close_f32(q_mirrored[:, actions], q,
                     reduction_length=forward_reduction_length(agent.q_net))
    plain = agent.greedy_net.forward(batch)
    assert_close_f32(q, (plain + agent.greedy_net.forward(mirrored)[:, actions]) / 2,
                     reduction_length=forward_reduction_length(agent.q_net))
    assert not np.allclose(plain, q)  # an untrained network is far from symmetric
    # The start state is its own mirror image: there east and west are worth exactly the same,
    # wherever it sits in a batch (both halves of the sum come from its own row).
    assert np.array_equal(mirrored[0], batch[0])
    for place in (0, 7, 39):
        shuffled = np.concatenate([batch[1:place + 1], batch[:1], batch[place + 1:]])
        assert agent._greedy_q(shuffled)[place][3] == agent._greedy_q(shuffled)[place][4]
    one = agent.q_values(states[30])  # a batch of one: float32 sums may differ from the 40's
    assert_close_f32(one, q[30], reduction_length=forward_reduction_length(agent.q_net))
    every_move = np.ones(5)  # all legal, so greedy acting is the argmax (ties: at random)
    assert agent.act(states[30], greedy=True, mask=every_move) == np.argmax(one)
    later = agent._greedy_q(batch[30:34])
    assert all(np.sum(row == row.max()) == 1 for row in later)  # off the axis: no ties
    assert agent.act_batch(batch[30:34], masks=[every_move] * 4, greedy=True) == list(
        np.argmax(later, axis=1))


def test_mirror_greedy_evaluations_play_the_same_games_however_many_side_by_side():
    """Every Small-v1 game starts in a state that is its own mirror image: its east-west tie is
    drawn at random, not broken by the rounding of its row in a batch (which on some BLAS
    differs by the row's place), so 1 or 4 games at a time play the same games."""
    from agents.registry import new_run
    from rl.evaluate import evaluate

    run = new_run("dqn", "PacGrid/Small-v1", {"seed": 0, "mirror_greedy": True})
    results = []
    for side_by_side in (1, 4):
        games = [run.make_env() for _ in range(side_by_side)]
        agent = run.make_agent(games[0])
        results.append(evaluate(games, agent, 8, np.random.default_rng(5), held_out=True,
                                max_episode_steps=60))
    assert results[0] == results[1]


def test_mirror_greedy_is_acting_only_so_a_checkpoint_loads_with_it_on_or_off(tmp_path):
    from agents.registry import new_run
    from rl.checkpoint import CheckpointError, load_agent, save_agent

    plain_run = new_run("dqn", "PacGrid/Small-v1", {"seed": 0, "mirror_augment": 0.0,
                                                     "mirror_greedy": False,
                                                     "updown_flip": False})
    env = plain_run.make_env()
    trained = plain_run.make_agent(env)
    path = save_agent(tmp_path / "a.npz", trained, env=env)
    mirrored = new_run("dqn", "PacGrid/Small-v1", {"seed": 1, "mirror_augment": 0.0,
                                                   "mirror_greedy": True, "updown_flip": False})
    agent = mirrored.make_agent(env)
    load_agent(path, agent, env)
    for name, value in trained.q_net.state_dict().items():
        assert np.array_equal(agent.q_net.state_dict()[name], value)
    other = new_run("dqn", "PacGrid/Small-v1", {"seed": 0, "mirror_augment": 0.5,
                                                "mirror_greedy": False, "updown_flip": False})
    with pytest.raises(CheckpointError, match="mirror_augment differ"):
        load_agent(path, other.make_agent(env), env)
