"""The conv and pooling layers (the fast path) against the book-style references of
nets.layers.im2col, and those references against their definitions; max-pool ties, the fused
block."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nets
import nets.layers.im2col_fast
from nets.layers import im2col as book

from tolerance import assert_close_f32

shapes = st.tuples(
    st.integers(1, 3), st.integers(1, 3), st.integers(1, 9), st.integers(1, 9),  # n, c, h, w
    st.integers(1, 4), st.integers(1, 3), st.integers(0, 2),  # kernel, stride, padding
)


def fits(shape):
    _, _, h, w, kernel, _, padding = shape
    return h + 2 * padding >= kernel and w + 2 * padding >= kernel


def small_integers(rng, shape):
    """float64 values whose products and sums are exact, for exact identities."""
    return rng.integers(-4, 5, shape).astype(np.float64)


# --- the book-style references against their definitions ---


@settings(max_examples=30, deadline=None)
@given(shapes, st.integers(0, 2**31))
def test_im2col_rows_are_the_receptive_fields(shape, seed):
    n, c, h, w, kernel, stride, padding = shape
    if not fits(shape):
        return
    x = np.random.default_rng(seed).standard_normal((n, c, h, w))
    col = book.im2col(x, kernel, stride, padding)
    padded = np.pad(x, [(0, 0), (0, 0), (padding, padding), (padding, padding)])
    oh = book.output_size(h, kernel, stride, padding)
    ow = book.output_size(w, kernel, stride, padding)
    assert col.shape == (n * oh * ow, c * kernel * kernel)
    for image in range(n):
        for y in range(oh):
            for x_ in range(ow):
                field = padded[image, :, y * stride : y * stride + kernel,
                               x_ * stride : x_ * stride + kernel]
                np.testing.assert_array_equal(col[(image * oh + y) * ow + x_], field.ravel())


@settings(max_examples=30, deadline=None)
@given(shapes, st.integers(0, 2**31))
def test_col2im_is_the_adjoint_of_im2col(shape, seed):
    # <im2col(x), col> = <x, col2im(col)> for every x and col: col2im sends each value back
    # to where im2col read it (integer values: both sides exact).
    n, c, h, w, kernel, stride, padding = shape
    if not fits(shape):
        return
    rng = np.random.default_rng(seed)
    x = small_integers(rng, (n, c, h, w))
    col = small_integers(rng, book.im2col(x, kernel, stride, padding).shape)
    assert np.vdot(book.im2col(x, kernel, stride, padding), col) == np.vdot(
        x, book.col2im(col, x.shape, kernel, stride, padding))


@settings(max_examples=30, deadline=None)
@given(shapes, st.integers(1, 3), st.integers(0, 2**31))
def test_reference_conv_backward_is_the_adjoint_of_forward(shape, filters, seed):
    # y is linear in x, in W and in b, so <y, dout> = <x, dx> = <W, dW>, and the bias term
    # of <y, dout> is <b, db> (integer values: exact).
    n, c, h, w, kernel, stride, padding = shape
    if not fits(shape):
        return
    rng = np.random.default_rng(seed)
    x = small_integers(rng, (n, c, h, w))
    weight = small_integers(rng, (filters, c, kernel, kernel))
    bias = small_integers(rng, filters)
    no_bias = book.conv_forward(x, weight, np.zeros(filters), stride, padding)
    dout = small_integers(rng, no_bias.shape)
    dx, dweight, db = book.conv_backward(x, weight, dout, stride, padding)
    assert np.vdot(no_bias, dout) == np.vdot(x, dx) == np.vdot(weight, dweight)
    with_bias = book.conv_forward(x, weight, bias, stride, padding)
    assert np.vdot(with_bias - no_bias, dout) == np.vdot(bias, db)


def window_loops(x, kernel, stride, padding, reduce):
    """Pooling by its definition: `reduce` over each window, one output position at a time."""
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


def max_pool_backward_loops(x, dout, kernel, stride, padding):
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


def pooling_case(shape, seed, rounded):
    """(x, kernel, stride, padding) or None; padding at most half a window (a window entirely
    in padding would have no input); rounded: coarse values, many ties inside windows."""
    n, c, h, w, kernel, stride, padding = shape
    padding = min(padding, kernel // 2)
    if h + 2 * padding < kernel or w + 2 * padding < kernel:
        return None
    x = np.random.default_rng(seed).standard_normal((n, c, h, w))
    return (np.round(x) if rounded else x), kernel, stride, padding


@settings(max_examples=30, deadline=None)
@given(shapes, st.integers(0, 2**31), st.booleans())
def test_reference_pooling_matches_window_loops(shape, seed, rounded):
    case = pooling_case(shape, seed, rounded)
    if case is None:
        return
    x, kernel, stride, padding = case
    out = book.max_pool_forward(x, kernel, stride, padding)
    np.testing.assert_array_equal(out, window_loops(x, kernel, stride, padding, np.max))
    dout = np.random.default_rng(seed + 1).integers(-4, 5, out.shape).astype(np.float64)
    np.testing.assert_array_equal(book.max_pool_backward(x, dout, kernel, stride, padding),
                                  max_pool_backward_loops(x, dout, kernel, stride, padding))
    # float64 throughout (x is float64): two summation orders of kernel² terms differ by at most
    # a few float64 roundings of the window's size.
    float64_rounding = 8 * np.finfo(np.float64).eps * kernel * kernel * max(np.abs(x).max(), 1.0)
    np.testing.assert_allclose(book.avg_pool_forward(x, kernel, stride, padding),
                               window_loops(x, kernel, stride, padding, np.mean), rtol=0,
                               atol=float64_rounding)
    # Average pooling is linear: its backward is the adjoint of its forward.
    average = book.avg_pool_forward(x, kernel, stride, padding)
    assert np.vdot(average, dout) == pytest.approx(
        np.vdot(x, book.avg_pool_backward(x.shape, dout, kernel, stride, padding)), rel=1e-12)


# --- the layers (fast path) against the references ---


@settings(max_examples=40, deadline=None)
@given(shapes, st.integers(1, 3), st.integers(0, 2**31))
def test_conv_matches_the_book_reference(shape, filters, seed):
    n, c, h, w, kernel, stride, padding = shape
    if not fits(shape):
        return
    rng = np.random.default_rng(seed)
    layer = nets.Conv2D(c, filters, kernel, stride=stride, padding=padding, rng=rng)
    layer.params["b"][...] = rng.standard_normal(filters)
    weight, bias = layer.params["W"], layer.params["b"]
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    out = layer.forward(x)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx = layer.backward(dout)
    # The reference in float64, and on absolute values for the size of the summed terms,
    # which sets the rounding where they cancel.
    expected = book.conv_forward(x.astype(np.float64), weight.astype(np.float64), bias,
                                 stride, padding)
    terms = book.conv_forward(np.abs(x), np.abs(weight), np.abs(bias), stride, padding)
    assert_close_f32(out, expected, c * kernel * kernel + 1, terms)
    grads = book.conv_backward(x.astype(np.float64), weight.astype(np.float64), dout, stride,
                               padding)
    grad_terms = book.conv_backward(np.abs(x), np.abs(weight), np.abs(dout), stride, padding)
    positions = n * out.shape[2] * out.shape[3]  # the terms of each dW and db
    # Each input receives from at most F*KH*KW outputs.
    assert_close_f32(dx, grads[0], filters * kernel * kernel, grad_terms[0])
    assert_close_f32(layer.grads["W"], grads[1], positions, grad_terms[1])
    assert_close_f32(layer.grads["b"], grads[2], positions, grad_terms[2])


@settings(max_examples=40, deadline=None)
@given(shapes, st.integers(0, 2**31), st.booleans())
def test_pooling_matches_the_book_reference(shape, seed, rounded):
    case = pooling_case(shape, seed, rounded)
    if case is None:
        return
    x, kernel, stride, padding = case
    x = x.astype(np.float32)
    # A maximum selects one input, with no arithmetic: exact.
    layer = nets.MaxPool2D(kernel, stride, padding)
    out = layer.forward(x)
    np.testing.assert_array_equal(out, book.max_pool_forward(x, kernel, stride, padding))
    # Overlapping windows add their gradients: up to ceil(kernel / stride)**2 terms per input.
    dout = np.random.default_rng(seed + 1).standard_normal(out.shape).astype(np.float32)
    assert_close_f32(layer.backward(dout),
                     book.max_pool_backward(x, dout.astype(np.float64), kernel, stride, padding),
                     (-(-kernel // stride)) ** 2,
                     book.max_pool_backward(x, np.abs(dout), kernel, stride, padding))
    average = nets.AvgPool2D(kernel, stride, padding)
    out = average.forward(x)
    assert_close_f32(out, book.avg_pool_forward(x.astype(np.float64), kernel, stride, padding),
                     kernel * kernel, book.avg_pool_forward(np.abs(x), kernel, stride, padding))
    assert_close_f32(average.backward(dout),
                     book.avg_pool_backward(x.shape, dout.astype(np.float64), kernel, stride,
                                            padding),
                     (-(-kernel // stride)) ** 2,
                     book.avg_pool_backward(x.shape, np.abs(dout), kernel, stride, padding))


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
@pytest.mark.parametrize(("channels", "filters"), [(2, 4), (1, 12)])  # plain, grouped columns
def test_fused_conv_relu_pool_equals_the_three_layers(monkeypatch, block_bytes, channels,
                                                      filters):
    if block_bytes is not None:
        monkeypatch.setattr(nets.layers.im2col_fast, "BLOCK_BYTES", block_bytes)
    rng = np.random.default_rng(3)
    fused = nets.ConvReLUPool(channels, filters, 3, padding=1, rng=rng)
    assert fused.grouped_columns == (channels * 3 * 3 <= filters)
    fused.params["b"][...] = rng.standard_normal(filters)
    separate = nets.Sequential(("conv", nets.Conv2D(channels, filters, 3, padding=1)),
                               ("relu", nets.ReLU()), ("pool", nets.MaxPool2D(2)))
    weight, bias = fused.params["W"], fused.params["b"]
    separate["conv"].params["W"][...] = weight
    separate["conv"].params["b"][...] = bias
    x = rng.standard_normal((3, channels, 8, 9)).astype(np.float32)
    out = fused.forward(x)
    # Other column orders, so other products: each output sums C*3*3 terms and the bias, each
    # dx F*3*3, each dW one per output position of the batch.
    assert_close_f32(out, separate.forward(x), channels * 3 * 3 + 1)
    conv = book.conv_forward(x.astype(np.float64), weight, bias, padding=1)
    assert_close_f32(out, book.max_pool_forward(np.maximum(conv, 0), 2), channels * 3 * 3 + 1,
                     book.max_pool_forward(book.conv_forward(np.abs(x), np.abs(weight),
                                                             np.abs(bias), padding=1), 2))
    dout = rng.standard_normal(out.shape).astype(np.float32)
    assert_close_f32(fused.backward(dout), separate.backward(dout), filters * 3 * 3)
    assert_close_f32(fused.grads["W"], separate["conv"].grads["W"], 3 * 8 * 9)


@pytest.mark.parametrize("filters", [2, 5])  # F <= C: dx by correlation; F > C: by col2im
@pytest.mark.parametrize("stride", [1, 2])
def test_conv_in_several_image_blocks_matches_the_book_reference(monkeypatch, filters, stride):
    # A block budget below one image's columns: every image is its own block.
    monkeypatch.setattr(nets.layers.im2col_fast, "BLOCK_BYTES", 1)
    rng = np.random.default_rng(filters + stride)
    layer = nets.Conv2D(3, filters, 3, stride=stride, padding=1, rng=rng)
    layer.params["b"][...] = rng.standard_normal(filters)
    x = rng.standard_normal((4, 3, 7, 6)).astype(np.float32)
    out = layer.forward(x)
    weight, bias = layer.params["W"], layer.params["b"]
    assert_close_f32(out, book.conv_forward(x.astype(np.float64), weight, bias, stride, 1),
                     3 * 3 * 3 + 1,
                     book.conv_forward(np.abs(x), np.abs(weight), np.abs(bias), stride, 1))
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx, dweight, db = book.conv_backward(x.astype(np.float64), weight, dout, stride, 1)
    dx_terms, dweight_terms, db_terms = book.conv_backward(np.abs(x), np.abs(weight),
                                                           np.abs(dout), stride, 1)
    assert_close_f32(layer.backward(dout), dx, filters * 3 * 3, dx_terms)
    positions = out.shape[0] * out.shape[2] * out.shape[3]  # the terms of dW and db
    assert_close_f32(layer.grads["W"], dweight, positions, dweight_terms)
    assert_close_f32(layer.grads["b"], db, positions, db_terms)



@pytest.mark.parametrize("block_bytes", [None, 1])  # None: the default; 1: image by image
@pytest.mark.parametrize("size", [(7, 9), (8, 6)])  # odd and even heights and widths
@pytest.mark.parametrize(("kernel", "stride", "padding"), [
    (3, 2, 1), (3, 2, 0), (3, (2, 1), 1), (3, (1, 2), (0, 1)), ((2, 3), (3, 2), (1, 0)),
    (1, 2, 0),  # a kernel smaller than the stride: some stride phases are never read
])
def test_strided_conv_by_stride_phases_matches_the_book_reference(monkeypatch, block_bytes,
                                                                   size, kernel, stride,
                                                                   padding):
    # Strides other than 1 build their columns from the input's stride phases (Im2Col's
    # phased path, with wide rows inside each phase): forward, dW, db and dx (col2im into
    # the phases, merged back) against the reference.
    if block_bytes is not None:
        monkeypatch.setattr(nets.layers.im2col_fast, "BLOCK_BYTES", block_bytes)
    rng = np.random.default_rng(sum(size))
    layer = nets.Conv2D(3, 4, kernel, stride=stride, padding=padding, rng=rng)
    assert layer.kernels.im2col.phased
    layer.params["b"][...] = rng.standard_normal(4)
    weight, bias = layer.params["W"], layer.params["b"]
    x = rng.standard_normal((3, 3, *size)).astype(np.float32)
    for _ in range(2):  # the second pass reuses the phase buffer and its views
        out = layer.forward(x)
        k = weight[0].size  # C*KH*KW terms in each output
        assert_close_f32(out, book.conv_forward(x.astype(np.float64), weight, bias, stride,
                                                padding), k + 1,
                         book.conv_forward(np.abs(x), np.abs(weight), np.abs(bias), stride,
                                           padding))
        dout = rng.standard_normal(out.shape).astype(np.float32)
        dx, dweight, db = book.conv_backward(x.astype(np.float64), weight, dout, stride, padding)
        dx_terms, dweight_terms, db_terms = book.conv_backward(np.abs(x), np.abs(weight),
                                                               np.abs(dout), stride, padding)
        # Each input receives from at most F*KH*KW outputs.
        assert_close_f32(layer.backward(dout), dx, len(weight) * weight[0, 0].size, dx_terms)
        positions = out.shape[0] * out.shape[2] * out.shape[3]  # the terms of dW and db
        assert_close_f32(layer.grads["W"], dweight, positions, dweight_terms)
        assert_close_f32(layer.grads["b"], db, positions, db_terms)
        x = rng.standard_normal(x.shape).astype(np.float32)

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


@pytest.mark.parametrize("stride", [1, 2])  # wide rows of a padded copy, or stride phases
def test_conv_batches_of_sizes_taking_turns_compute_as_a_fresh_layer(stride):
    """A DQN's acting and updates alternate batch sizes: each size's buffers and their views
    are kept (Im2Col.views), and a pass reads its own batch's views, never the other's."""
    rng = np.random.default_rng(5)
    layer = nets.Conv2D(3, 4, 3, stride=stride, padding=1, rng=rng)
    for n in (4, 32, 4, 7, 32, 4):
        x = rng.standard_normal((n, 3, 7, 9)).astype(np.float32)
        dout = rng.standard_normal(layer.forward(x).shape).astype(np.float32)
        out, dx = layer.forward(x), layer.backward(dout)
        fresh = nets.build(layer.config())
        for name, value in layer.params.items():
            fresh.params[name][...] = value
        np.testing.assert_array_equal(out, fresh.forward(x))
        np.testing.assert_array_equal(dx, fresh.backward(dout))
        np.testing.assert_array_equal(layer.grads["W"], fresh.grads["W"])
    assert len(layer.kernels.im2col.views) == 3  # one per batch size, made once
