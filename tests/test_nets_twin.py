"""forward_twin: two networks of one config (a DQN's online and target networks) over two
stacked batches in one pass. It computes what two forward passes compute, up to float
rounding, and the backward pass after it is the first network's over the first batch alone.
forward_twin_repeated: the same with the second network over the first batch as well (the
Munchausen target's pass), computed from the stack without that batch again."""

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


def check_twin(net, x: np.ndarray, n: int, seed: int = 1, repeated: bool = False) -> None:
    """forward_twin (or forward_twin_repeated) and backward against separate passes."""
    twin = twin_of(net, seed)
    reference = nets.build(net.config())  # the same parameters as net, run the usual way
    reference.load_state_dict(net.state_dict())
    k = forward_reduction_length(net)

    both = net.forward_twin_repeated(x, n, twin) if repeated else net.forward_twin(x, n, twin)
    expected = [reference.forward(x[:n], train=True), twin.forward(x[n:])]
    expected = np.concatenate([*expected, twin.forward(x[:n])] if repeated else expected)
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


@pytest.mark.parametrize("env_id, n", [
    ("PacGrid/Small-v1", 32),  # sparse cells and uniform values of the first grids, again
    ("PacGrid/Small-v1", 3),
    ("PacGrid/Medium-v1", 32),
])
def test_forward_twin_repeated_of_the_pacman_dqn_networks_equals_three_passes(env_id, n):
    check_twin(dqn_network(env_id), pacman_grids(env_id, 2 * n + 3), n, repeated=True)


@pytest.mark.parametrize("block_bytes", [im2col_fast.BLOCK_BYTES, 600])
def test_forward_twin_repeated_of_a_centered_conv_also_when_columns_come_in_blocks(
        block_bytes, monkeypatch):
    """The first layer's columns of the repeated grids, by both networks' weights, also block
    by block; and with an input gradient (every channel by the product)."""
    monkeypatch.setattr(im2col_fast, "BLOCK_BYTES", block_bytes)
    rng = np.random.default_rng(5)
    x = (rng.random((2 * fused.SPLIT_BATCH + 3, 5, 4, 5)) < 0.02).astype(np.float32)
    x[:, 2] = 1.0  # dense
    x[:, 3] = rng.integers(2, size=len(x))[:, None, None]  # uniform
    x[:, 1] = 0.0
    x[np.arange(len(x)), 1, rng.integers(4, size=len(x)), rng.integers(5, size=len(x))] = 1.0
    for input_grad in (False, True):
        net = nets.Sequential([
            ("conv", nets.CenteredConv2D(5, 3, 3, stride=2, center=1, outside=0, rng=rng)),
            ("relu", nets.ReLU()), ("flatten", nets.Flatten()),
            ("fc", nets.Dense(3 * 4 * 5, 2, rng=rng))], input_grad=input_grad)
        check_twin(net, x, fused.SPLIT_BATCH, repeated=True)


def test_forward_twin_repeated_without_a_layer_that_shares_the_work():
    """A CNN whose first layer repeats its input (the default), and rowwise layers alone,
    which repeat their output rows at the end."""
    x = np.random.default_rng(6).standard_normal((7, 3, 7, 9)).astype(np.float32)
    check_twin(plain_cnn(), x, 4, repeated=True)
    rowwise = nets.Sequential([("relu", nets.ReLU()), ("flatten", nets.Flatten())])
    check_twin(rowwise, x, 4, repeated=True)


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


def test_im2col_refuses_twin_weights_it_cannot_place():
    """Grouped columns interleave the images; repeated images are the twin's, so they need one."""
    x = np.zeros((4, 1, 6, 6), dtype=np.float32)
    weights = np.ones((2, 9), dtype=np.float32)
    grouped = im2col_fast.Im2Col(3, 1, 1, group=2)
    with pytest.raises(ValueError, match="plain column order"):
        grouped.product(weights, x, weights, 2)
    with pytest.raises(ValueError, match="repeat needs twin weights"):
        im2col_fast.Im2Col(3, 1, 1).product(weights, x, None, 2, repeat=True)
