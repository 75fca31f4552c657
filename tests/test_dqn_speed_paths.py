"""The fast paths of the DQN update against plain reference versions.

Packed parameters (one buffer) and the optimizer's whole-buffer groups, the flush of subnormal
optimizer state, the one-step replay gather, the Huber formula and Double DQN's update in one
pass over both networks: each must give the results of the straightforward code it replaced.
"""

import copy

import gymnasium as gym
import numpy as np
import pytest

import nets
from agents.dqn import DQNAgent, DQNConfig
from nets import optim
from rl.replay import ReplayBuffer

from tolerance import assert_close_f32

NAMES = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]


def mlp(seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    model = nets.Sequential([
        ("fc1", nets.Dense(3, 8, rng=rng)), ("relu1", nets.ReLU()),
        ("fc2", nets.Dense(8, 8, rng=rng)), ("relu2", nets.ReLU()),
        ("head", nets.Dense(8, 2, rng=rng)),
    ])
    return model.astype(dtype)


def train(model, optimizer, steps, seed=1):
    """A few regression steps on random data; returns the losses."""
    rng = np.random.default_rng(seed)
    loss, losses = nets.losses.MSE(), []
    for _ in range(steps):
        x = rng.standard_normal((16, 3)).astype(np.float32)
        target = rng.standard_normal((16, 2)).astype(np.float32)
        losses.append(loss.forward(model.forward(x, train=True), target))
        model.backward(loss.backward())
        optimizer.update(model.trainable_params(), model.trainable_grads())
    return losses


def play_cartpole(agent, env, steps):
    """`steps` steps of ε-greedy play and learning, from the same start for every agent."""
    obs, _ = env.reset(seed=3)
    for _ in range(steps):
        action = agent.act(obs)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        agent.observe(obs, action, reward, next_obs, terminated, truncated)
        obs = next_obs if not (terminated or truncated) else env.reset()[0]


# --- packed parameters and whole-buffer optimizer groups ---


def test_pack_params_keeps_values_and_makes_views_of_one_buffer():
    model = mlp()
    before = model.state_dict()
    x = np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32)
    out = model.forward(x)
    model.pack_params()
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
    np.testing.assert_array_equal(model.forward(x), out)
    params, grads = list(model.trainable_params().values()), list(model.trainable_grads().values())
    assert all(p.base is params[0].base for p in params)
    assert all(g.base is grads[0].base for g in grads)
    assert params[0].base is not grads[0].base
    # backward writes its gradients into the packed buffer.
    model.backward(np.ones((4, 2), np.float32))
    assert np.count_nonzero(grads[0].base) > 0


def test_packed_model_is_one_group_and_frozen_params_go_last():
    model = mlp()
    model.freeze("fc1")
    model.pack_params()
    optimizer = optim.make("adam")
    groups = optimizer.groups(model.trainable_params(), model.trainable_grads())
    assert len(groups) == 1
    assert groups[0].names == ["fc2.W", "fc2.b", "head.W", "head.b"]
    assert groups[0].param.size == sum(p.size for p in model.trainable_params().values())
    # Unpacked, every parameter is a group of its own.
    assert len(optimizer.groups(mlp().trainable_params(), mlp().trainable_grads())) == 6


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("weight_decay", "clip_norm"), [(0.0, None), (0.0, 0.5), (0.01, 0.5)])
def test_packed_and_unpacked_models_train_identically(name, weight_decay, clip_norm):
    models = [mlp(), mlp()]
    models[1].pack_params()
    results = []
    for model in models:
        optimizer = optim.make(name, lr=0.01, weight_decay=weight_decay, clip_norm=clip_norm)
        losses = train(model, optimizer, 30)
        results.append((losses, model.state_dict(), optimizer.state_dict()))
    (losses_a, params_a, state_a), (losses_b, params_b, state_b) = results
    assert state_a.keys() == state_b.keys()
    if clip_norm is None:  # the very same arithmetic, element by element
        assert losses_a == losses_b
        for key in params_a:
            np.testing.assert_array_equal(params_a[key], params_b[key])
        for key in state_a:
            np.testing.assert_array_equal(state_a[key], state_b[key])
    else:  # the global norm is summed in another order: equal up to float32 rounding
        # of a sum over all parameters, once per step, its errors carried along the steps.
        reduction = 30 * sum(value.size for value in params_a.values())
        assert_close_f32(losses_a, losses_b, reduction)
        for key in params_a:
            assert_close_f32(params_a[key], params_b[key], reduction, err_msg=key)


def reference_adam(params, grads_per_step, lr, beta1=0.9, beta2=0.999, eps=1e-8, clip=None):
    """Textbook Adam with global-norm clipping, one parameter at a time, in float64."""
    params = {k: v.astype(np.float64) for k, v in params.items()}
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    for t, grads in enumerate(grads_per_step, start=1):
        norm = np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in grads.values()))
        scale = clip / norm if clip is not None and norm > clip else 1.0
        for k in params:
            g = grads[k] * scale
            m[k] = beta1 * m[k] + (1 - beta1) * g
            v[k] = beta2 * v[k] + (1 - beta2) * g * g
            m_hat, v_hat = m[k] / (1 - beta1**t), v[k] / (1 - beta2**t)
            # With eps scaled as in the paper's folded form (section 2): eps / sqrt(1 - b2^t)
            # next to sqrt(v_hat) is eps next to sqrt(v), so only rounding differs.
            params[k] -= lr * m_hat / (np.sqrt(v_hat) + eps / np.sqrt(1 - beta2**t))
    return params


def test_adam_on_a_packed_model_matches_the_textbook_formula():
    model = mlp()
    model.pack_params()
    start = {k: v.copy() for k, v in model.trainable_params().items()}
    rng = np.random.default_rng(3)
    grads_per_step = [{k: rng.standard_normal(v.shape).astype(np.float32)
                       for k, v in start.items()} for _ in range(20)]
    optimizer = optim.Adam(lr=0.01, clip_norm=2.0)
    for grads in grads_per_step:
        for k, g in model.trainable_grads().items():
            g[...] = grads[k]
        optimizer.update(model.trainable_params(), model.trainable_grads())
    expected = reference_adam(start, grads_per_step, lr=0.01, clip=2.0)
    for k, value in model.trainable_params().items():
        # float32 against float64: a clipping norm over all parameters at each of 20 steps.
        assert_close_f32(value, expected[k], 20 * sum(v.size for v in start.values()),
                         err_msg=k)


def test_optimizer_state_round_trip_on_a_packed_model_continues_identically():
    model_a, model_b = mlp(), mlp()
    model_a.pack_params()
    model_b.pack_params()
    optimizer_a = optim.Adam(lr=0.01)
    train(model_a, optimizer_a, 5)
    model_b.load_state_dict(model_a.state_dict())
    optimizer_b = optim.Adam(lr=0.01)
    optimizer_b.load_state_dict(optimizer_a.state_dict())
    assert train(model_a, optimizer_a, 5, seed=4) == train(model_b, optimizer_b, 5, seed=4)
    for key, value in model_a.state_dict().items():
        np.testing.assert_array_equal(value, model_b.state_dict()[key])


def test_optimizer_state_of_the_wrong_shape_is_a_clear_error():
    model = mlp()
    optimizer = optim.Adam()
    optimizer.load_state_dict({"t": np.array(1), "m.fc1.W": np.zeros((2, 2), np.float32)})
    with pytest.raises(ValueError, match=r"m\.fc1\.W.*another model"):
        optimizer.update(model.trainable_params(), model.trainable_grads())


def test_subnormal_optimizer_state_is_flushed_to_zero():
    # A weight whose gradient stays 0 after one step: Adam's m decays as 0.9^t and, without
    # the flush, sticks at a subnormal value (0.9 x rounds back to x) instead of reaching 0.
    param = {"w": np.zeros(4, np.float32)}
    grad = {"w": np.array([1.0, 0.0, 0.0, 0.0], np.float32)}
    optimizer = optim.Adam(lr=1e-3)
    optimizer.update(param, grad)
    grad["w"][0] = 0.0
    tiny = np.finfo(np.float32).tiny
    for _ in range(3 * optim.FLUSH_EVERY + 1000):
        optimizer.update(param, grad)
        if optimizer.t % optim.FLUSH_EVERY == 0:
            for store in optimizer.state.values():
                value = store["w"]
                assert not np.any((value != 0) & (np.abs(value) < tiny))
    assert optimizer.state["m"]["w"][0] == 0.0  # long gone, as in exact arithmetic
    assert optimizer.state["v"]["w"][0] > 0.0  # v decays slowly: still a normal number


def test_flush_subnormals_keeps_normal_values_and_signs():
    tiny = np.finfo(np.float32).tiny
    values = np.array([tiny / 4, -tiny / 8, tiny, -2 * tiny, 1.0, -0.0, 0.0], np.float32)
    expected = np.array([0.0, 0.0, tiny, -2 * tiny, 1.0, 0.0, 0.0], np.float32)
    optim.flush_subnormals(values, np.empty_like(values))
    np.testing.assert_array_equal(values, expected)


# --- the DQN update with packed parameters ---


def test_dqn_with_packed_parameters_learns_like_the_unpacked_network():
    env = gym.make("CartPole-v1")
    config = DQNConfig(hidden=(16, 16), batch_size=8, learning_starts=20, train_freq=1,
                       n_step=2)
    agents = [DQNAgent(env.observation_space, env.action_space, config,
                       np.random.default_rng(0)) for _ in range(2)]
    plain = agents[1]
    plain.q_net.astype(np.float32)  # new arrays per parameter: unpacks the network
    plain.params, plain.grads = plain.q_net.trainable_params(), plain.q_net.trainable_grads()
    assert len(plain.optimizer.groups(plain.params, plain.grads)) == 6
    assert len(agents[0].optimizer.groups(agents[0].params, agents[0].grads)) == 1
    for agent in agents:
        play_cartpole(agent, env, 120)
    assert agents[0].updates == 101
    # Equal up to the rounding of the clipping norm, summed in another order when packed: a
    # sum over all parameters at each update, its errors carried along the updates.
    reduction = agents[0].updates * agents[0].q_net.num_params()
    for name, value in agents[0].q_net.state_dict().items():
        assert_close_f32(value, plain.q_net.state_dict()[name], reduction, err_msg=name)


# --- replay gather and Huber loss against references ---


def reference_sample(buffer, slots):
    """n-step transitions of `slots` by walking the ring one slot at a time."""
    rewards, next_obs, terminated, discounts = [], [], [], []
    for slot in slots:
        total, k, index = 0.0, 0, int(slot)
        while True:
            total += buffer.gamma**k * float(buffer.reward[index])
            k += 1
            if buffer.segment_end[index] or k == buffer.n_step:
                break
            index = (index + 1) % buffer.capacity
        rewards.append(total)
        next_obs.append(buffer.frames[(index + 1) % buffer.capacity])
        terminated.append(float(buffer.terminated[index]))
        discounts.append(buffer.gamma**k)
    return (np.array(rewards, np.float32), np.array(next_obs),
            np.array(terminated, np.float32), np.array(discounts, np.float32))


@pytest.mark.parametrize("n_step", [1, 3])
def test_replay_sample_matches_a_slot_by_slot_reference(n_step):
    rng = np.random.default_rng(5)
    buffer = ReplayBuffer(40, (2,), np.float32, n_step=n_step, gamma=0.9)
    obs = rng.standard_normal(2).astype(np.float32)
    for t in range(150):  # wraps around the 40 slots several times
        next_obs = rng.standard_normal(2).astype(np.float32)
        terminated, truncated = rng.random() < 0.1, rng.random() < 0.05
        buffer.add(obs, t % 2, float(rng.standard_normal()), next_obs, terminated, truncated)
        obs = rng.standard_normal(2).astype(np.float32) if terminated or truncated else next_obs
    batch = buffer.sample(500, np.random.default_rng(6))
    rewards, next_obs, terminated, discounts = reference_sample(buffer, batch.indices)
    assert_close_f32(batch.reward, rewards, n_step)
    np.testing.assert_array_equal(batch.next_obs, next_obs)
    np.testing.assert_array_equal(batch.terminated, terminated)
    np.testing.assert_array_equal(batch.discount, discounts)
    np.testing.assert_array_equal(batch.obs, buffer.frames[batch.indices])
    assert batch.discount.dtype == batch.reward.dtype == np.float32


def test_huber_matches_its_textbook_definition():
    delta = 1.5
    pred = np.linspace(-4, 4, 81, dtype=np.float32)
    target = np.zeros_like(pred)
    loss = nets.losses.Huber(delta)
    value = loss.forward(pred, target)
    d = pred.astype(np.float64)
    elementwise = np.where(np.abs(d) <= delta, 0.5 * d * d, delta * (np.abs(d) - 0.5 * delta))
    assert_close_f32(value, elementwise.mean(), len(d))  # float32 mean of 81 terms
    assert_close_f32(loss.backward(), np.clip(d, -delta, delta) / len(d), 1)


# --- Double DQN's update: the online network's pass over next_obs, then both in one pass ---


def test_double_dqn_update_chooses_with_the_online_network_without_touching_its_caches():
    """The update runs the online network over next_obs (to choose a') before its one pass
    over obs and the target's over next_obs, whose caches backward reads. Against an agent
    whose choice comes from a copy of the online network (which cannot touch its caches):
    the same weights after 41 updates (the same arithmetic, so exactly)."""
    env = gym.make("CartPole-v1")
    config = DQNConfig(hidden=(16, 16), batch_size=8, learning_starts=20, train_freq=1,
                       n_step=2, double_dqn=True, munchausen=False)
    agents = [DQNAgent(env.observation_space, env.action_space, config,
                       np.random.default_rng(0)) for _ in range(2)]
    reference = agents[1]
    choices = []

    def values_of_a_copy(net, obs_batch, noise=False):
        choices.append(len(obs_batch))
        return copy.deepcopy(net).forward(obs_batch)

    reference._values = values_of_a_copy
    for agent in agents:
        play_cartpole(agent, env, 60)
    assert agents[0].updates == 41 and choices.count(config.batch_size) == 41
    for name, value in agents[0].q_net.state_dict().items():
        np.testing.assert_array_equal(value, reference.q_net.state_dict()[name], err_msg=name)
