"""The image-input layers (ImageInput, CenterOn) and the dueling head's DuelingCombine by scenario;
their gradients are checked with every other layer in test_nets_gradcheck.py."""

import numpy as np
import pytest

import nets

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


@pytest.mark.parametrize("layer", [
    nets.ImageInput([4, 7, 20, 6], layout="hwc", scale=0.5),
    nets.CenterOn(channels=12, frames=2, center=3, outside=0),
    nets.DuelingCombine(),
])
def test_the_layers_rebuild_from_their_config_under_the_same_type_name(layer):
    """Saved DQN networks name these types: the names and arguments must not change."""
    config = layer.config()
    assert config["type"] == type(layer).__name__
    assert nets.build(config).config() == config
