"""The image-input layers (ImageInput, CenterOn, and CenteredConv2D, which fuses CenterOn with the
convolution after it) and the dueling head's DuelingCombine by scenario; their gradients are
checked with every other layer in test_nets_gradcheck.py."""

import numpy as np
import pytest

import nets
from nets.layers import fused

from tolerance import assert_close_f32


def test_image_input_reorders_hwc_merges_frames_and_scales():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, size=(2, 3, 4, 5, 6), dtype=np.uint8)  # N, K frames, H, W, C
    layer = nets.ImageInput([3, 4, 5, 6], layout="hwc", scale=1 / 255)
    out = layer.forward(x)
    assert out.dtype == np.float32 and out.shape == (2, 18, 4, 5) == (2, *layer.output_shape())
    expected = x.transpose(0, 1, 4, 2, 3).reshape(2, 18, 4, 5).astype(np.float32) * (1 / 255)
    assert_close_f32(out, expected, 1)  # one float32 multiply per element
    with pytest.raises(nets.ShapeError):
        layer.forward(x[:, 0])


def test_dueling_head_keeps_the_argmax_of_the_advantages():
    out = nets.DuelingCombine().forward(np.array([[10.0, 1.0, 3.0, 2.0]]))
    np.testing.assert_allclose(out, [[9.0, 11.0, 10.0]])


def test_dueling_head_with_atoms_combines_each_atom_alike():
    """(N, (1 + A) * atoms) read as (N, 1 + A, atoms): atom k is DuelingCombine of column k."""
    x = np.arange(24, dtype=np.float64).reshape(2, 12) ** 1.5  # 1 + 3 rows of 3 atoms
    out = nets.DuelingCombine(atoms=3).forward(x)
    assert out.shape == (2, 3, 3)
    for k in range(3):
        np.testing.assert_allclose(out[:, :, k],
                                   nets.DuelingCombine().forward(x.reshape(2, 4, 3)[:, :, k]))


def test_center_on_moves_the_agent_cell_to_the_centre_and_back():
    rng = np.random.default_rng(3)
    # Two stacked frames of 3 channels on a 6x7 grid; channel 1 marks the agent, channel 0 walls.
    x = rng.integers(0, 2, size=(2, 6, 6, 7)).astype(np.float32)
    x[:, 4] = 0.0  # the last frame's agent channel (frame 1, channel 1)
    x[0, 4, 0, 0] = 1.0  # agent in the top-left corner
    x[1, 4, 5, 3] = 1.0  # agent on the bottom row
    layer = nets.CenterOn(channels=6, frames=2, center=1, outside=0)
    out = layer.forward(x)
    assert out.shape == (2, 6, 11, 13)
    assert out[0, 4, 5, 6] == 1.0 and out[1, 4, 5, 6] == 1.0  # the centre cell
    # Top-left agent: the grid occupies rows 5..10, columns 6..12; outside it, walls in channel
    # 0 of each frame and zeros elsewhere.
    np.testing.assert_array_equal(out[0, :, 5:, 6:], x[0])
    assert out[0, 0, 0, 0] == 1.0 and out[0, 3, 0, 0] == 1.0 and out[0, 1, 0, 0] == 0.0
    np.testing.assert_array_equal(out[1, :, 0:6, 3:10], x[1])
    # Backward routes each output cell's gradient to the input cell it came from.
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx = layer.backward(dout)
    np.testing.assert_array_equal(dx[0], dout[0, :, 5:, 6:])
    np.testing.assert_array_equal(layer.backward(out), x)
    with pytest.raises(ValueError, match="channels"):
        nets.CenterOn(channels=6, frames=2, center=3)


def grids_with_agents(rng, n, channels, h, w, marker):
    """0/1 grids (N, C, H, W) with one agent cell per grid in channel `marker`, some in corners."""
    x = (rng.random((n, channels, h, w)) < 0.3).astype(np.float32)
    x[:, marker] = 0.0
    cells = [(0, 0), (h - 1, w - 1), (0, w - 1)] + [
        (int(rng.integers(h)), int(rng.integers(w))) for _ in range(n - 3)]
    for i, (row, col) in enumerate(cells[:n]):
        x[i, marker, row, col] = 1.0
    return x


@pytest.mark.parametrize("kernel, stride, outside, frames, shape", [
    (3, 2, 0, 1, (8, 7, 11)),  # the PacGrid DQN's first layer (odd and even grid sizes)
    (3, 2, 0, 2, (6, 6, 9)),  # stacked frames: an outside channel per frame
    (3, 1, None, 1, (5, 4, 6)),  # no outside channel: the background is 0
    (5, 2, 1, 1, (5, 7, 8)),
    (3, 3, 2, 1, (5, 6, 7)),
    ((3, 5), (1, 2), 1, 1, (6, 4, 5)),
    (3, 2, 0, 1, (3, 1, 1)),  # a one-cell grid
])
def test_centered_conv_computes_center_on_then_conv(kernel, stride, outside, frames, shape):
    """Forward, weight, bias and input gradients equal CenterOn followed by a same-padded
    Conv2D with the same weights, over several calls whose agents move (the layer reuses its
    buffers while shapes repeat)."""
    rng = np.random.default_rng(5)
    n, h, w = shape
    channels, marker = 3 * frames, 3 * (frames - 1) + 2
    padding = tuple(k // 2 for k in np.broadcast_to(kernel, 2))
    fused = nets.CenteredConv2D(channels, 4, kernel, stride=stride, frames=frames, center=2,
                                outside=outside, rng=np.random.default_rng(1))
    fused.params["b"][:] = rng.standard_normal(4)
    reference = nets.Sequential([
        ("center", nets.CenterOn(channels, frames, 2, outside)),
        ("conv", nets.Conv2D(channels, 4, kernel, stride=stride, padding=padding))])
    reference["conv"].params["W"][...] = fused.params["W"]
    reference["conv"].params["b"][...] = fused.params["b"]
    for _ in range(3):
        x = grids_with_agents(rng, n, channels, h, w, marker)
        expected = reference.forward(x, train=True)
        out = fused.forward(x, train=True)
        assert out.shape == expected.shape
        taps = int(np.prod(np.broadcast_to(kernel, 2)))
        assert_close_f32(out, expected, channels * taps + 1)  # the same sums in another order
        dout = rng.standard_normal(out.shape).astype(np.float32)
        assert_close_f32(fused.backward(dout), reference.backward(dout), 4 * taps)
        assert_close_f32(fused.grads["W"], reference["conv"].grads["W"], out[0, 0].size * n)
        assert_close_f32(fused.grads["b"], reference["conv"].grads["b"], out[0, 0].size * n)
    with pytest.raises(ValueError, match="odd"):
        nets.CenteredConv2D(3, 4, 2)


@pytest.mark.parametrize("stride, frames, outside", [
    (2, 1, 0), (1, 1, 0), (2, 2, 0), ((1, 2), 1, 0), (2, 1, None)])
def test_centered_conv_splits_a_batchs_channels_by_kind_and_computes_the_same(stride, frames,
                                                                              outside):
    """Without an input gradient (a network's first layer) and for batches of SPLIT_BATCH grids
    or more, channels go three ways: dense ones by the product, sparse ones through their
    nonzero cells, ones uniform over each grid through the taps that read the grid. The output
    and the weight and bias gradients equal CenterOn and a Conv2D's, for grids with each kind:
    a dense outside channel, a dense channel, the agent's, sparse ones with values other than 1,
    a uniform one (0 on some grids, 0.5 or 2 on others), one that is uniform on every grid
    but one (so not uniform: it goes dense), one uniform but 0 on the grids the kinds are
    counted on (found uniform among the sparse cells) and one 0 there and nonzero over a later
    grid with values that differ (so sparse)."""
    rng = np.random.default_rng(8)
    per_frame, n, h, w = 9, 2 * fused.SPLIT_BATCH, 7, 11
    channels, marker = per_frame * frames, per_frame * (frames - 1) + 2
    layer = nets.CenteredConv2D(channels, 4, 3, stride=stride, frames=frames, center=2,
                                outside=outside, rng=np.random.default_rng(1))
    layer.input_grad = False
    layer.params["b"][:] = rng.standard_normal(4)
    reference = nets.Sequential([
        ("center", nets.CenterOn(channels, frames, 2, outside)),
        ("conv", nets.Conv2D(channels, 4, 3, stride=stride, padding=1))])
    reference["conv"].params["W"][...] = layer.params["W"]
    reference["conv"].params["b"][...] = layer.params["b"]
    for _ in range(3):
        x = grids_with_agents(rng, n, channels, h, w, marker)  # every channel dense
        for frame in range(frames):
            c = per_frame * frame
            x[:, c + 3:c + 7] = 0.0
            x[np.arange(n), c + 3, rng.integers(h, size=n), rng.integers(w, size=n)] = 1.5
            x[:4, c + 4, 0, :3] = -2.0
            x[:, c + 5] = rng.choice([0.0, 0.5, 2.0], size=n)[:, None, None]
            x[:, c + 6] = 1.0
            x[3, c + 6, 1, 1] = 0.0
            x[:, c + 7 : c + 9] = 0.0
            x[[n - 5, n - 1], c + 7] = [[[0.5]], [[1.0]]]
            x[n - 2, c + 8] = rng.uniform(1.0, 2.0, (h, w))
        kinds = layer.split_channels(x)
        assert list(kinds.uniform) == [per_frame * f + k for f in range(frames) for k in (5, 7)]
        starts = [per_frame * f for f in range(frames)]
        assert {c + k for c in starts for k in (0, 1, 6)} <= set(kinds.dense)
        assert {marker} | {c + k for c in starts for k in (3, 4, 8)} == set(kinds.cells[1])
        out = layer.forward(x, train=True)
        expected = reference.forward(x, train=True)
        assert_close_f32(out, expected, channels * 9 + 1)
        dout = rng.standard_normal(out.shape).astype(np.float32)
        assert layer.backward(dout) is None
        reference.backward(dout)
        assert_close_f32(layer.grads["W"], reference["conv"].grads["W"], out[0, 0].size * n)
        assert_close_f32(layer.grads["b"], reference["conv"].grads["b"], out[0, 0].size * n)
    # Under SPLIT_BATCH grids (acting), and with an input gradient, all go by the product.
    assert layer.split_channels(x[:fused.SPLIT_BATCH - 1]) is fused.ALL_DENSE
    layer.input_grad = True
    assert layer.split_channels(x) is fused.ALL_DENSE


def test_agent_window_reads_the_cells_around_the_agent_and_the_outside_beyond_the_grid():
    x = np.zeros((2, 6, 4, 5), dtype=np.float32)  # two stacked frames of 3 channels
    x[:, 2] = np.arange(20).reshape(4, 5)  # frame 0's channel 2 numbers the cells
    x[0, 4, 0, 0] = 1.0  # the last frame's agent channel: top-left corner
    x[1, 4, 3, 2] = 1.0  # bottom row
    layer = nets.AgentWindow(channels=6, frames=2, center=1, size=3, outside=0)
    out = layer.forward(x).reshape(2, 6, 3, 3)
    np.testing.assert_array_equal(out[0, 2], [[0, 0, 0], [0, 0, 1], [0, 5, 6]])
    np.testing.assert_array_equal(out[1, 2], [[11, 12, 13], [16, 17, 18], [0, 0, 0]])
    # The outside channel of each frame is 1 beyond the grid, as in CenterOn's view.
    np.testing.assert_array_equal(out[0, 0], [[1, 1, 1], [1, 0, 0], [1, 0, 0]])
    np.testing.assert_array_equal(out[0, 3], out[0, 0])
    # Backward puts each window cell's gradient on the grid cell it read, none beyond it.
    dx = layer.backward(np.ones((2, 6 * 9), dtype=np.float32))
    assert dx[0].sum() == 6 * 4 and dx[0, :, :2, :2].sum() == 6 * 4
    with pytest.raises(ValueError, match="odd"):
        nets.AgentWindow(6, 2, 1, 4)


def test_agent_position_is_the_agents_row_and_column_one_hot():
    x = np.zeros((3, 6, 4, 5), dtype=np.float32)  # two stacked frames of 3 channels
    x[:, 1, 2, 2] = 1.0  # the first frame's agent channel: not the one read
    for i, (row, col) in enumerate([(0, 0), (3, 2), (1, 4)]):
        x[i, 4, row, col] = 1.0  # the last frame's agent channel
    layer = nets.AgentPosition(channels=6, frames=2, center=1)
    out = layer.forward(x)
    assert out.shape == (3, 4 + 5) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, :4], np.eye(4, dtype=np.float32)[[0, 3, 1]])
    np.testing.assert_array_equal(out[:, 4:], np.eye(5, dtype=np.float32)[[0, 2, 4]])
    # Piecewise constant in x: no gradient reaches the grid.
    dx = layer.backward(np.ones_like(out))
    assert dx.shape == x.shape and not dx.any()
    with pytest.raises(nets.ShapeError, match="AgentPosition"):
        layer.forward(x[:, :5])


def test_fixed_planes_follow_the_channels_of_every_grid():
    planes = np.zeros((2, 4, 5))
    planes[0, 1, 2] = planes[1, 3, 0] = 1.0
    layer = nets.FixedPlanes(planes)
    x = np.random.default_rng(0).standard_normal((3, 6, 4, 5)).astype(np.float32)
    out = layer.forward(x)
    assert out.shape == (3, 8, 4, 5) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, :6], x)
    np.testing.assert_array_equal(out[:, 6:], np.broadcast_to(planes, (3, 2, 4, 5)))
    dout = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
    np.testing.assert_array_equal(layer.backward(dout), dout[:, :6])  # the planes take none
    with pytest.raises(nets.ShapeError, match="FixedPlanes"):
        layer.forward(x[:, :, :3])  # a grid of another size
    with pytest.raises(ValueError, match="FixedPlanes needs"):
        nets.FixedPlanes(np.zeros((4, 5)))


@pytest.mark.parametrize("layer", [
    nets.ImageInput([4, 7, 20, 6], layout="hwc", scale=0.5),
    nets.AgentWindow(12, 2, 3, 5, outside=0),
    nets.AgentPosition(12, 2, 3),
    nets.FixedPlanes([[[0, 1, 0], [0, 0, 1]]]),
    nets.CenteredConv2D(12, 16, 3, stride=2, frames=2, center=3, outside=0),
    nets.CenterOn(channels=12, frames=2, center=3, outside=0),
    nets.DuelingCombine(),
    nets.DuelingCombine(atoms=4),
    nets.Reshape((5, 4)),
])
def test_the_layers_rebuild_from_their_config_under_the_same_type_name(layer):
    """Saved DQN networks name these types: the names and arguments must not change."""
    config = layer.config()
    assert config["type"] == type(layer).__name__
    assert nets.build(config).config() == config
