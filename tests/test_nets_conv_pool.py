"""Conv and pooling against naive loop references, max-pool ties, the fused block."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nets
import nets.layers.conv

from tolerance import assert_close_f32


def naive_conv(x, weight, bias, stride, padding):
    n, c, h, w = x.shape
    f, _, kh, kw = weight.shape
    xp = np.zeros((n, c, h + 2 * padding, w + 2 * padding))
    xp[:, :, padding : padding + h, padding : padding + w] = x
    oh = (h + 2 * padding - kh) // stride + 1
    ow = (w + 2 * padding - kw) // stride + 1
    out = np.zeros((n, f, oh, ow))
    for b in range(n):
        for o in range(f):
            for i in range(oh):
                for j in range(ow):
                    patch = xp[b, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
                    out[b, o, i, j] = np.sum(patch * weight[o]) + bias[o]
    return out


def naive_conv_backward(x, weight, dout, stride, padding):
    """(dx, dW): every output position sends dout * W back to the inputs it read, and
    dout * those inputs to W."""
    n, c, h, w = x.shape
    filters, _, kernel, _ = weight.shape
    weight = weight.astype(np.float64)
    xp = np.zeros((n, c, h + 2 * padding, w + 2 * padding))
    xp[:, :, padding : padding + h, padding : padding + w] = x
    dxp = np.zeros_like(xp)
    dweight = np.zeros_like(weight)
    for b in range(n):
        for o in range(filters):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    rows = slice(i * stride, i * stride + kernel)
                    cols = slice(j * stride, j * stride + kernel)
                    dxp[b, :, rows, cols] += dout[b, o, i, j] * weight[o]
                    dweight[o] += dout[b, o, i, j] * xp[b, :, rows, cols]
    return dxp[:, :, padding : padding + h, padding : padding + w], dweight


def naive_pool(x, kernel, stride, padding, reduce):
    n, c, h, w = x.shape
    fill = -np.inf if reduce is np.max else 0.0
    xp = np.full((n, c, h + 2 * padding, w + 2 * padding), fill)
    xp[:, :, padding : padding + h, padding : padding + w] = x
    oh = (h + 2 * padding - kernel) // stride + 1
    ow = (w + 2 * padding - kernel) // stride + 1
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            window = xp[:, :, i * stride : i * stride + kernel, j * stride : j * stride + kernel]
            out[:, :, i, j] = reduce(window, axis=(2, 3))
    return out


def naive_max_pool_backward(x, dout, kernel, stride, padding):
    """Each window's gradient goes to its first maximum (row-major order)."""
    n, c, h, w = x.shape
    xp = np.full((n, c, h + 2 * padding, w + 2 * padding), -np.inf)
    xp[:, :, padding : padding + h, padding : padding + w] = x
    dxp = np.zeros_like(xp)
    for b in range(n):
        for ch in range(c):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    window = xp[b, ch, i * stride : i * stride + kernel,
                                j * stride : j * stride + kernel]
                    r, s = np.unravel_index(np.argmax(window), window.shape)
                    dxp[b, ch, i * stride + r, j * stride + s] += dout[b, ch, i, j]
    return dxp[:, :, padding : padding + h, padding : padding + w]


shapes = st.tuples(
    st.integers(1, 3), st.integers(1, 3), st.integers(1, 9), st.integers(1, 9),  # n, c, h, w
    st.integers(1, 4), st.integers(1, 3), st.integers(0, 2),  # kernel, stride, padding
)


@settings(max_examples=40, deadline=None)
@given(shapes, st.integers(1, 3), st.integers(0, 2**31))
def test_conv_matches_naive_loops(shape, filters, seed):
    n, c, h, w, kernel, stride, padding = shape
    if h + 2 * padding < kernel or w + 2 * padding < kernel:
        return
    rng = np.random.default_rng(seed)
    layer = nets.Conv2D(c, filters, kernel, stride=stride, padding=padding, rng=rng)
    layer.params["b"][...] = rng.standard_normal(filters)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    expected = naive_conv(x.astype(np.float64), layer.params["W"].astype(np.float64),
                          layer.params["b"], stride, padding)
    # Each output sums C*KH*KW products and the bias; the same loops on absolute values give
    # the size of those terms, which sets the rounding where they cancel.
    terms = naive_conv(np.abs(x), np.abs(layer.params["W"]), np.abs(layer.params["b"]), stride,
                       padding)
    assert_close_f32(layer.forward(x), expected, c * kernel * kernel + 1, terms)


@settings(max_examples=40, deadline=None)
@given(shapes, st.integers(0, 2**31), st.booleans())
def test_pooling_matches_naive_loops(shape, seed, rounded):
    n, c, h, w, kernel, stride, padding = shape
    padding = min(padding, kernel // 2)  # a window entirely in padding would have no input
    if h + 2 * padding < kernel or w + 2 * padding < kernel:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    if rounded:  # coarse values: many ties inside windows
        x = np.round(x)
    # A maximum selects one input, with no arithmetic: exact.
    layer = nets.MaxPool2D(kernel, stride, padding)
    out = layer.forward(x)
    np.testing.assert_array_equal(out, naive_pool(x, kernel, stride, padding, np.max))
    # Overlapping windows add their gradients: up to ceil(kernel / stride)**2 terms per input.
    dout = rng.standard_normal(out.shape).astype(np.float32)
    assert_close_f32(layer.backward(dout),
                     naive_max_pool_backward(x, dout, kernel, stride, padding),
                     (-(-kernel // stride)) ** 2,
                     naive_max_pool_backward(x, np.abs(dout), kernel, stride, padding))
    average = nets.AvgPool2D(kernel, stride, padding)
    assert_close_f32(average.forward(x), naive_pool(x, kernel, stride, padding, np.mean),
                     kernel * kernel, naive_pool(np.abs(x), kernel, stride, padding, np.mean))


def test_max_pool_sends_each_window_gradient_to_exactly_one_input_on_flat_regions():
    # An image with a flat background, like MNIST: every window of the zero region is a tie.
    x = np.zeros((2, 3, 8, 8), dtype=np.float32)
    x[:, :, 2:5, 3:6] = 1.0  # a flat bright square: ties among the ones too
    for layer in [nets.MaxPool2D(2), nets.MaxPool2D(3, stride=2, padding=1),
                  nets.MaxPool2D(2, stride=1)]:
        out = layer.forward(x)
        dout = np.ones_like(out)
        dx = layer.backward(dout)
        # Total gradient is conserved: one winner per window, not one per tied maximum.
        assert dx.sum() == dout.sum()
        if layer.windows.tiled:
            windows = dx.reshape(2, 3, 4, 2, 4, 2)
            assert np.array_equal((windows != 0).sum(axis=(3, 5)), np.ones((2, 3, 4, 4)))


@pytest.mark.parametrize("block_bytes", [None, 1])  # None: the default; 1: image by image
def test_fused_conv_relu_pool_equals_the_three_layers(monkeypatch, block_bytes):
    if block_bytes is not None:
        monkeypatch.setattr(nets.layers.conv, "BLOCK_BYTES", block_bytes)
    rng = np.random.default_rng(3)
    fused = nets.ConvReLUPool(2, 4, 3, padding=1, rng=rng)
    fused.params["b"][...] = rng.standard_normal(4)
    separate = nets.Sequential(("conv", nets.Conv2D(2, 4, 3, padding=1)), ("relu", nets.ReLU()),
                               ("pool", nets.MaxPool2D(2)))
    separate["conv"].params["W"][...] = fused.params["W"]
    separate["conv"].params["b"][...] = fused.params["b"]
    x = rng.standard_normal((3, 2, 8, 8)).astype(np.float32)
    out = fused.forward(x)
    # Other column orders, so other products: each output sums C*3*3 terms and the bias, each
    # dx F*3*3, each dW one per output position of the batch.
    assert_close_f32(out, separate.forward(x), 2 * 3 * 3 + 1)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    assert_close_f32(fused.backward(dout), separate.backward(dout), 4 * 3 * 3)
    assert_close_f32(fused.grads["W"], separate["conv"].grads["W"], 3 * 8 * 8)


@settings(max_examples=25, deadline=None)
@given(shapes, st.integers(1, 3), st.integers(0, 2**31))
def test_conv_input_gradient_matches_naive_loops(shape, filters, seed):
    n, c, h, w, kernel, stride, padding = shape
    if h + 2 * padding < kernel or w + 2 * padding < kernel:
        return
    rng = np.random.default_rng(seed)
    layer = nets.Conv2D(c, filters, kernel, stride=stride, padding=padding, rng=rng)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    dout = rng.standard_normal(layer.forward(x).shape).astype(np.float32)
    expected, _ = naive_conv_backward(x, layer.params["W"], dout, stride, padding)
    terms, _ = naive_conv_backward(np.abs(x), np.abs(layer.params["W"]), np.abs(dout), stride,
                                   padding)
    # Each input receives from at most F*KH*KW outputs.
    assert_close_f32(layer.backward(dout), expected, filters * kernel * kernel, terms)


@pytest.mark.parametrize("filters", [2, 5])  # F <= C: dx by correlation; F > C: by col2im
@pytest.mark.parametrize("stride", [1, 2])
def test_conv_in_several_image_blocks_matches_naive_loops(monkeypatch, filters, stride):
    # A block budget below one image's columns: every image is its own block.
    monkeypatch.setattr(nets.layers.conv, "BLOCK_BYTES", 1)
    rng = np.random.default_rng(filters + stride)
    layer = nets.Conv2D(3, filters, 3, stride=stride, padding=1, rng=rng)
    layer.params["b"][...] = rng.standard_normal(filters)
    x = rng.standard_normal((4, 3, 7, 6)).astype(np.float32)
    out = layer.forward(x)
    weight, bias = layer.params["W"], layer.params["b"]
    assert_close_f32(out, naive_conv(x, weight, bias, stride, 1), 3 * 3 * 3 + 1,
                     naive_conv(np.abs(x), np.abs(weight), np.abs(bias), stride, 1))
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx, dweight = naive_conv_backward(x, weight, dout, stride, 1)
    dx_terms, dweight_terms = naive_conv_backward(np.abs(x), np.abs(weight), np.abs(dout),
                                                  stride, 1)
    assert_close_f32(layer.backward(dout), dx, filters * 3 * 3, dx_terms)
    positions = out.shape[0] * out.shape[2] * out.shape[3]  # the terms of dW and db
    assert_close_f32(layer.grads["W"], dweight, positions, dweight_terms)
    assert_close_f32(layer.grads["b"], dout.astype(np.float64).sum(axis=(0, 2, 3)), positions,
                     np.abs(dout).sum(axis=(0, 2, 3)))


def test_conv_input_grad_off_skips_dx_but_keeps_weight_gradients():
    rng = np.random.default_rng(0)
    with_dx = nets.Conv2D(2, 3, 3, rng=np.random.default_rng(1))
    without_dx = nets.Conv2D(2, 3, 3, rng=np.random.default_rng(1))
    without_dx.input_grad = False
    x = rng.standard_normal((2, 2, 5, 5)).astype(np.float32)
    dout = rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    with_dx.forward(x)
    without_dx.forward(x)
    assert with_dx.backward(dout) is not None
    assert without_dx.backward(dout) is None
    np.testing.assert_array_equal(with_dx.grads["W"], without_dx.grads["W"])


def test_layers_compute_in_float32():
    x = np.random.default_rng(0).random((2, 1, 6, 6))  # float64 in, float32 out
    model = nets.Sequential(nets.Conv2D(1, 2, 3), nets.ReLU(), nets.MaxPool2D(2), nets.Flatten(),
                            nets.Dense(8, 3))
    assert model.forward(x).dtype == np.float32
    assert nets.Scale(1 / 255).forward(np.arange(4, dtype=np.uint8)).dtype == np.float32
