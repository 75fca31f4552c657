"""forward_twin: two networks of one config (a DQN's online and target networks) over two
stacked batches in one pass. It computes what two forward passes compute, up to float
rounding, and the backward pass after it is the first network's over the first batch alone."""

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401 - registers PacGrid
import nets
from agents.registry import new_run
from nets.layers import fused, im2col_fast
from rl.memory import environment, keep_freed_memory

from tolerance import assert_close_f32, forward_reduction_length


def pacman_grids(env_id: str, count: int, seed: int = 0) -> np.ndarray:
    """Observations of `env_id` under random legal moves (new games as they end)."""
    env = gym.make(env_id)
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    grids = []
    while len(grids) < count:
        grids.append(obs)
        action = int(rng.choice(np.flatnonzero(info["action_mask"])))
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            obs, info = env.reset(seed=int(rng.integers(1 << 30)))
    return np.stack(grids[::-1])  # (later states first: varied agent cells at both ends)


def dqn_network(env_id: str) -> nets.Sequential:
    """The Q-network of env_id's DQN preset."""
    run = new_run("dqn", env_id, {"seed": 0})
    return run.make_agent(run.make_env()).q_net


def plain_cnn(seed: int = 0) -> nets.Sequential:
    """Convolutions with and without a stride (both im2col ways), a layer without a one-pass
    forward of its own (Tanh), and an input gradient."""
    rng = np.random.default_rng(seed)
    return nets.Sequential([
        ("conv1", nets.Conv2D(3, 4, 3, padding=1, rng=rng)), ("relu1", nets.ReLU()),
        ("conv2", nets.Conv2D(4, 6, 3, stride=2, padding=1, rng=rng)), ("tanh", nets.Tanh()),
        ("flatten", nets.Flatten()), ("fc", nets.Dense(6 * 4 * 5, 8, rng=rng)),
        ("relu2", nets.ReLU()), ("head", nets.Dense(8, 3, rng=rng))])


def twin_of(net, seed: int):
    """A network of net's config with other parameters."""
    twin = nets.build(net.config())
    rng = np.random.default_rng(seed)
    for (_, mine), (_, other) in zip(net.named_params(), twin.named_params(), strict=True):
        other[...] = mine + 0.1 * rng.standard_normal(mine.shape).astype(mine.dtype)
    return twin


def check_twin(net, x: np.ndarray, n: int, seed: int = 1) -> None:
    twin = twin_of(net, seed)
    reference = nets.build(net.config())  # the same parameters as net, run the usual way
    reference.load_state_dict(net.state_dict())
    k = forward_reduction_length(net)

    both = net.forward_twin(x, n, twin)
    expected = np.concatenate([reference.forward(x[:n], train=True), twin.forward(x[n:])])
    assert both.shape == expected.shape
    assert_close_f32(both, expected, k)

    # backward now refers to the first n rows, by net's own parameters.
    dout = np.random.default_rng(seed).standard_normal(both[:n].shape).astype(np.float32)
    dx, dx_expected = net.backward(dout), reference.backward(dout)
    if dx_expected is None:
        assert dx is None
    else:
        assert_close_f32(dx, dx_expected, k * n)
    for (name, grad), (_, grad_expected) in zip(net.named_grads(), reference.named_grads(),
                                                strict=True):
        assert_close_f32(grad, grad_expected, k * len(x) * 200, err_msg=name)


@pytest.mark.parametrize("env_id, n", [
    ("PacGrid/Small-v1", 32),  # the update's batch: CenteredConv2D splits channels by kind
    ("PacGrid/Small-v1", 3),  # a few grids: every channel by the product
    ("PacGrid/Medium-v1", 32),
])
def test_forward_twin_of_the_pacman_dqn_networks_equals_two_passes(env_id, n):
    x = pacman_grids(env_id, 2 * n + 3)[: 2 * n + 3]  # the twin's batch need not be n
    check_twin(dqn_network(env_id), x, n)


@pytest.mark.parametrize("block_bytes", [im2col_fast.BLOCK_BYTES, 600])
def test_forward_twin_of_a_cnn_equals_two_passes_also_when_columns_come_in_blocks(
        block_bytes, monkeypatch):
    """600 bytes per block: each half's columns in several blocks, one across the halves'
    border if the blocks were not cut there."""
    monkeypatch.setattr(im2col_fast, "BLOCK_BYTES", block_bytes)
    x = np.random.default_rng(3).standard_normal((7, 3, 7, 9)).astype(np.float32)
    for n in (1, 4, 6):
        check_twin(plain_cnn(), x, n)


def test_forward_twin_of_a_centered_conv_with_an_input_gradient_equals_two_passes():
    """Not a network's first layer: every channel by the product, and dx for the first grids."""
    rng = np.random.default_rng(4)
    net = nets.Sequential([
        ("conv", nets.CenteredConv2D(5, 3, 3, stride=2, center=1, outside=0, rng=rng)),
        ("flatten", nets.Flatten()), ("fc", nets.Dense(3 * 4 * 5, 2, rng=rng))])
    x = (rng.random((2 * fused.SPLIT_BATCH + 1, 5, 4, 5)) < 0.3).astype(np.float32)
    x[:, 1] = 0.0
    x[np.arange(len(x)), 1, rng.integers(4, size=len(x)), rng.integers(5, size=len(x))] = 1.0
    check_twin(net, x, fused.SPLIT_BATCH)


def test_forward_twin_with_every_grid_the_first_networks_is_a_plain_forward():
    net = dqn_network("PacGrid/Small-v1")
    x = pacman_grids("PacGrid/Small-v1", fused.SPLIT_BATCH)
    reference = nets.build(net.config())
    reference.load_state_dict(net.state_dict())
    np.testing.assert_array_equal(net.forward_twin(x, len(x), twin_of(net, 2)),
                                  reference.forward(x, train=True))


def test_keep_freed_memory_sets_glibcs_thresholds_where_there_is_glibc():
    import platform

    kept = keep_freed_memory()
    assert keep_freed_memory() is kept  # once per process
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert kept is True
    assert set(environment()) == {"MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_"}
