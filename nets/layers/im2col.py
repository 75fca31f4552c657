"""im2col and col2im as in the book (Deep Learning from Scratch, 7.4), and the plain
convolution and pooling built from them: the reference that the fast path is tested against.

im2col lays the receptive field of every output position out as one row of a matrix, so that
a convolution becomes one matrix product, col @ W^T. col2im is its adjoint (transpose): it adds
each row's values back to the input positions they were read from, so overlapping windows sum
their gradients. Both loop over the KH*KW offsets inside a window, each step one strided copy
of that offset from every window at once, never over pixels or images.

These functions are written to be read next to the book; the layers run the fast kernels of
`nets.layers.im2col_fast`, which compute the same products without the copies made here.
"""

import numpy as np

Pair = int | tuple[int, int] | list[int]


def pair(value: Pair) -> tuple[int, int]:
    """2 -> (2, 2); (2, 3) -> (2, 3)."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    first, second = value
    return int(first), int(second)


def output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output height (or width) of a convolution or pooling: (H + 2P - KH) // S + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def im2col(x: np.ndarray, kernel: Pair, stride: Pair = 1, padding: Pair = 0,
           fill: float = 0.0) -> np.ndarray:
    """x (N, C, H, W) -> col (N*OH*OW, C*KH*KW).

    Row n*OH*OW + y*OW + x holds the receptive field of output position (y, x) of image n,
    in (c, i, j) order: col[row, c*KH*KW + i*KW + j] = padded x[n, c, y*SH + i, x*SW + j].
    Padding is filled with `fill` (0 for convolution, -inf for max pooling).
    """
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = pair(kernel), pair(stride), pair(padding)
    oh, ow = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    padded = np.pad(x, [(0, 0), (0, 0), (ph, ph), (pw, pw)], constant_values=fill)
    col = np.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            # Offset (i, j) of every window: rows i, i + SH, ..., columns j, j + SW, ...
            col[:, :, i, j] = padded[:, :, i : i + sh * oh : sh, j : j + sw * ow : sw]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, c * kh * kw)


def col2im(col: np.ndarray, x_shape: tuple[int, ...], kernel: Pair, stride: Pair = 1,
           padding: Pair = 0) -> np.ndarray:
    """col (N*OH*OW, C*KH*KW) -> (N, C, H, W): the adjoint of `im2col`.

    Each value of col is added to the input position im2col read it from; positions shared
    by overlapping windows receive the sum, and values that came from padding are dropped.
    """
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw) = pair(kernel), pair(stride), pair(padding)
    oh, ow = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    col = col.reshape(n, oh, ow, c, kh, kw).transpose(0, 3, 4, 5, 1, 2)
    padded = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=col.dtype)
    for i in range(kh):
        for j in range(kw):
            padded[:, :, i : i + sh * oh : sh, j : j + sw * ow : sw] += col[:, :, i, j]
    return padded[:, :, ph : ph + h, pw : pw + w]


def conv_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, stride: Pair = 1,
                 padding: Pair = 0) -> np.ndarray:
    """The book's Convolution.forward: x (N, C, H, W), weight (F, C, KH, KW), bias (F,)
    -> y (N, F, OH, OW), y = im2col(x) @ W^T + b reshaped to images."""
    n, _, h, w = x.shape
    f, _, kh, kw = weight.shape
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    col = im2col(x, (kh, kw), stride, padding)
    out = col @ weight.reshape(f, -1).T + bias  # (N*OH*OW, F)
    oh, ow = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    return out.reshape(n, oh, ow, f).transpose(0, 3, 1, 2)


def conv_backward(x: np.ndarray, weight: np.ndarray, dout: np.ndarray, stride: Pair = 1,
                  padding: Pair = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The book's Convolution.backward: (dx, dW, db) for the upstream gradient dout
    (N, F, OH, OW) of `conv_forward(x, weight, bias, stride, padding)`."""
    f, _, kh, kw = weight.shape
    col = im2col(x, (kh, kw), stride, padding)
    dout_rows = dout.transpose(0, 2, 3, 1).reshape(-1, f)  # (N*OH*OW, F), rows as in col
    db = dout_rows.sum(axis=0)
    dweight = (col.T @ dout_rows).T.reshape(weight.shape)
    dcol = dout_rows @ weight.reshape(f, -1)
    dx = col2im(dcol, x.shape, (kh, kw), stride, padding)
    return dx, dweight, db


def pool_columns(x: np.ndarray, kernel: Pair, stride: Pair | None, padding: Pair,
                 fill: float) -> np.ndarray:
    """The windows of pooling as rows (N*OH*OW*C, KH*KW): im2col's rows split by channel.
    stride None means stride = kernel, the pooling default."""
    kh, kw = pair(kernel)
    return im2col(x, kernel, kernel if stride is None else stride, padding, fill).reshape(
        -1, kh * kw)


def pool_images(rows: np.ndarray, x_shape: tuple[int, ...], kernel: Pair, stride: Pair | None,
                padding: Pair) -> np.ndarray:
    """One value per window, (N*OH*OW*C,) in pool_columns' order -> (N, C, OH, OW)."""
    n, c, h, w = x_shape
    (kh, kw), (ph, pw) = pair(kernel), pair(padding)
    sh, sw = pair(kernel if stride is None else stride)
    oh, ow = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    return rows.reshape(n, oh, ow, c).transpose(0, 3, 1, 2)


def pool_gradient(dcol: np.ndarray, x_shape: tuple[int, ...], kernel: Pair,
                  stride: Pair | None, padding: Pair) -> np.ndarray:
    """A gradient per window element, (N*OH*OW*C, KH*KW) -> dx (N, C, H, W) by col2im."""
    kh, kw = pair(kernel)
    return col2im(dcol.reshape(-1, x_shape[1] * kh * kw), x_shape, kernel,
                  kernel if stride is None else stride, padding)


def max_pool_forward(x: np.ndarray, kernel: Pair, stride: Pair | None = None,
                     padding: Pair = 0) -> np.ndarray:
    """The book's Pooling.forward: the maximum of each window, padding counting as -inf."""
    col = pool_columns(x, kernel, stride, padding, -np.inf)
    return pool_images(col.max(axis=1), x.shape, kernel, stride, padding)


def max_pool_backward(x: np.ndarray, dout: np.ndarray, kernel: Pair,
                      stride: Pair | None = None, padding: Pair = 0) -> np.ndarray:
    """The book's Pooling.backward: each window's gradient goes to its first maximum
    (np.argmax's choice), so ties in a window do not multiply the gradient."""
    col = pool_columns(x, kernel, stride, padding, -np.inf)
    dcol = np.zeros(col.shape, dtype=dout.dtype)
    dcol[np.arange(len(col)), np.argmax(col, axis=1)] = dout.transpose(0, 2, 3, 1).ravel()
    return pool_gradient(dcol, x.shape, kernel, stride, padding)


def avg_pool_forward(x: np.ndarray, kernel: Pair, stride: Pair | None = None,
                     padding: Pair = 0) -> np.ndarray:
    """The mean of each window, padded zeros included (every window divides by KH*KW)."""
    col = pool_columns(x, kernel, stride, padding, 0.0)
    return pool_images(col.mean(axis=1), x.shape, kernel, stride, padding)


def avg_pool_backward(x_shape: tuple[int, ...], dout: np.ndarray, kernel: Pair,
                      stride: Pair | None = None, padding: Pair = 0) -> np.ndarray:
    """Each window's gradient shared equally among its KH*KW elements."""
    kh, kw = pair(kernel)
    share = dout.transpose(0, 2, 3, 1).reshape(-1, 1) / (kh * kw)
    dcol = np.repeat(share, kh * kw, axis=1)
    return pool_gradient(dcol, x_shape, kernel, stride, padding)
