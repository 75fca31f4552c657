"""Convolution through im2col: all receptive fields become columns, then a matrix product
(built and multiplied in cache-sized blocks of images, see BLOCK_BYTES).

Memory layout. Arrays are (N, C, H, W) at the interface, but the buffers made here are stored
channel-major, (C, N, H, W) in memory, and handed out as transposed views. That makes the
column matrix (C*KH*KW, N*OH*OW) a copy whose innermost runs are contiguous image rows (3-6x
faster than the (N*OH*OW, C*KH*KW) order on this kind of CPU; whole padded rows with
Im2Col's wide rows), and the product W (F, C*KH*KW) @ col is already the next layer's
(F, N, OH, OW) data, as a view: no transposing copies.
"""

import math
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from nets.init import initialize
from nets.module import Layer, default_rng, register

Pair = int | tuple[int, int] | list[int]


def pair(value: Pair) -> tuple[int, int]:
    """2 -> (2, 2); (2, 3) -> (2, 3)."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    first, second = value
    return int(first), int(second)


def output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def channel_major(shape: tuple[int, int, int, int], fill: float | None = 0.0,
                  dtype: np.dtype | type = np.float32, slack: int = 0) -> np.ndarray:
    """A new (N, C, H, W) array stored as (C, N, H, W) in memory (see the module docstring);
    fill=None leaves it uninitialized. slack: room for that many more (filled) values after
    the array's end, for strided views that read past it (Im2Col's wide rows)."""
    n, c, h, w = shape
    size = n * c * h * w
    if fill is None:
        data = np.empty(size + slack, dtype=dtype)
    else:
        data = np.full(size + slack, fill, dtype=dtype)
    return data[:size].reshape(c, n, h, w).transpose(1, 0, 2, 3)


def is_channel_major(x: np.ndarray) -> bool:
    return x.ndim == 4 and x.transpose(1, 0, 2, 3).flags.c_contiguous


def to_channel_major(x: np.ndarray) -> np.ndarray:
    """x itself if stored channel-major, else a channel-major copy.

    Element-wise operations on arrays of different memory layouts run several times slower,
    so a backward pass converts an upstream gradient once, before combining it with arrays
    cached in channel-major order.
    """
    if is_channel_major(x):
        return x
    out = channel_major(x.shape, None, x.dtype)
    out[...] = x
    return out


def as_rows(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (C, N*H*W); free for channel-major arrays, one copy otherwise."""
    return x.transpose(1, 0, 2, 3).reshape(x.shape[1], -1)


class PaddedBuffer:
    """Copies inputs into a zero- (or -inf-) bordered buffer that is reused while shapes repeat.

    Only the interior is written on each call, so the border is filled once, not per call
    (np.pad would allocate and fill a new array every time).

    shared_columns=True pads each row on the left only: in memory a row's left padding comes
    right after the previous row's pixels, so it is that row's right padding too (Im2Col's wide
    rows read across the row end). Rows are then W + pw wide instead of W + 2*pw.
    slack: room for that many more values after the buffer's end (see channel_major).
    """

    def __init__(self, padding: tuple[int, int], fill: float = 0.0, slack: int = 0,
                 shared_columns: bool = False) -> None:
        self.padding, self.fill, self.slack = padding, fill, slack
        self.shared_columns = shared_columns
        self.buffers: dict[tuple[Any, ...], np.ndarray] = {}

    def padded_shape(self, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        n, c, h, w = shape
        ph, pw = self.padding
        return n, c, h + 2 * ph, w + (pw if self.shared_columns else 2 * pw)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        ph, pw = self.padding
        if ph == 0 and pw == 0:
            return x
        h, w = x.shape[2:]
        key = (x.shape, x.dtype)
        if key not in self.buffers:
            if len(self.buffers) >= 4:  # e.g. train batch, eval batch, single observation
                self.buffers.clear()
            self.buffers[key] = channel_major(self.padded_shape(x.shape), self.fill, x.dtype,
                                              self.slack)
        padded = self.buffers[key]
        padded[:, :, ph : ph + h, pw : pw + w] = x
        return padded


# Columns are built and multiplied one block of whole images at a time, each block's column
# matrix about this many bytes. For the whole batch, DeepConvNet's column matrices are 15-45 MB:
# writing them to memory and streaming them back through the product took longer than the
# arithmetic. A block that fits the core's cache (2 MB of L2 here) is written and read there.
BLOCK_BYTES = 2**20


class Im2Col:
    """Image <-> column matrix for one kernel size, stride and padding.

    The products with the column matrix run block by block (see BLOCK_BYTES): each block is
    one vectorized copy of the receptive fields of several whole images and one matrix product.
    The loop over blocks is cache tiling, as BLAS does inside a product, not a loop over batch
    items: its steps are sized in bytes, and a batch that fits one block takes one step.

    Wide rows. Where windows move one column at a time (stride 1 across) over a padded copy of
    the input, the columns run over whole rows of the padded image: positions x = 0 .. R-1
    instead of 0 .. OW-1, R = W + pw the width of a padded row whose left padding is shared
    with the previous row's right (PaddedBuffer's shared_columns). For one channel, kernel
    offset and image, the receptive fields are then one contiguous run of OH*R values, so
    im2col copies long runs instead of OH runs of OW values (2-3x faster on 8-28 pixel wide
    images). The R - OW = KW-1-pw extra outputs per row are computed and dropped
    (`to_images`); gradients get zeros there (`from_images`), so they add nothing to dW or dx.
    The last row's reads run KW-1 values past the padded image: the padded buffer keeps that
    much room after its end.

    group=g (used by ConvReLUPool with g x g max-pooling) orders the columns so that the g*g
    output positions of each pooling window land in g*g separate blocks: columns run over
    (dy, dx, n, py, px) for the output position (py*g + dy, px*g + dx). The product W @ col
    then holds each window offset as one contiguous (F, N*PH*PW) block, and pooling becomes
    an element-wise maximum of g*g blocks. Output rows/columns that do not fill a window are
    left out, as pooling drops them anyway. g=1 is the plain order (n, y, x). Grouped columns
    are built for the whole batch at once, without wide rows: ConvReLUPool groups them only
    when C*KH*KW <= F, so they are no larger than the layer's output.
    """

    def __init__(self, kernel: Pair, stride: Pair = 1, padding: Pair = 0, group: int = 1):
        self.kernel, self.stride, self.padding = pair(kernel), pair(stride), pair(padding)
        self.group = group
        self.wide = (group == 1 and self.stride[1] == 1 and self.padding != (0, 0)
                     and self.padding[1] < self.kernel[1])
        self.pad = PaddedBuffer(self.padding, slack=self.kernel[1] - 1 if self.wide else 0,
                                shared_columns=self.wide)
        self.buffer = np.empty(0, dtype=np.float32)  # storage for one block's columns, reused

    def out_shape(self, x_shape: tuple[int, ...]) -> tuple[int, int]:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        return output_size(x_shape[2], kh, sh, ph), output_size(x_shape[3], kw, sw, pw)

    def grouped_shape(self, x_shape: tuple[int, ...]) -> tuple[int, int]:
        """Number of whole groups (pooling windows) down and across the output."""
        oh, ow = self.out_shape(x_shape)
        return oh // self.group, ow // self.group

    def row_width(self) -> int:
        """Columns per output row: the padded row width W + pw with wide rows, else OW."""
        if self.wide:
            return self.x_shape[3] + self.padding[1]
        return self.out_shape(self.x_shape)[1]

    def receptive_fields(self, xp: np.ndarray, group: int, writeable: bool = False) -> np.ndarray:
        """A view (C, KH, KW, g, g, N, GH, GW) of the padded input xp (N, C, Hp, Wp):
        [c, i, j, dy, dx, n, py, px] is xp[n, c, y*stride + i, x*stride + j] for the output
        position (y, x) = (py*g + dy, px*g + dx). For g=1, GW is `row_width()`."""
        n, c = xp.shape[:2]
        (kh, kw), (sh, sw), g = self.kernel, self.stride, group
        if g == 1:
            gh, gw = self.out_shape(self.x_shape)[0], self.row_width()
        else:
            gh, gw = self.grouped_shape(self.x_shape)
        s_n, s_c, s_h, s_w = xp.strides
        return as_strided(
            xp, (c, kh, kw, g, g, n, gh, gw),
            (s_c, s_h, s_w, s_h * sh, s_w * sw, s_n, s_h * sh * g, s_w * sw * g),
            writeable=writeable,
        )

    def image_blocks(self, whole: bool = False) -> list[slice]:
        """Slices of the batch whose column matrices take about BLOCK_BYTES (one if whole)."""
        n, c = self.x_shape[:2]
        (kh, kw), oh = self.kernel, self.out_shape(self.x_shape)[0]
        image_bytes = c * kh * kw * oh * self.row_width() * self.dtype.itemsize
        per_block = n if whole else max(1, BLOCK_BYTES // image_bytes)
        return [slice(start, min(start + per_block, n)) for start in range(0, n, per_block)]

    def columns(self, images: slice) -> np.ndarray:
        """The column matrix (C*KH*KW, g*g*m*GH*GW) of m images of the last `product`'s x,
        in the reused buffer (overwritten by the next call)."""
        fields = self.fields[..., images, :, :]
        if self.buffer.size < fields.size or self.buffer.dtype != fields.dtype:
            self.buffer = np.empty(fields.size, dtype=fields.dtype)
        col = self.buffer[: fields.size].reshape(math.prod(fields.shape[:3]), -1)
        np.copyto(col.reshape(fields.shape), fields)  # the one copy im2col needs
        return col

    def product(self, weights: np.ndarray, x: np.ndarray) -> np.ndarray:
        """weights (F, C*KH*KW) @ col(x) -> rows (F, g*g*N*GH*GW), for x (N, C, H, W).

        Keeps a view of x's receptive fields for `weight_product`.
        """
        self.x_shape, self.dtype = x.shape, np.result_type(weights, x)
        self.fields = self.receptive_fields(self.pad(x), self.group)
        out = np.empty((len(weights), self.fields[0, 0, 0].size), dtype=self.dtype)
        image_columns = out.shape[1] // len(x)
        blocks = self.image_blocks(whole=self.group > 1)
        for images in blocks:
            block = out[:, images.start * image_columns : images.stop * image_columns]
            col = self.columns(images)
            np.matmul(weights, col, out=block)
        # With a single block, its columns are still in the buffer for weight_product.
        self.kept = col if len(blocks) == 1 else None
        return out

    def to_images(self, rows: np.ndarray) -> np.ndarray:
        """Rows (F, N*OH*row_width) in plain order -> a view (F, N, OH, OW), wide rows' extra
        columns dropped."""
        oh, ow = self.out_shape(self.x_shape)
        return rows.reshape(len(rows), self.x_shape[0], oh, -1)[..., :ow]

    def from_images(self, images: np.ndarray) -> np.ndarray:
        """(F, N, OH, OW) -> rows (F, N*OH*row_width) in plain order, zero in wide rows' extra
        columns; free for contiguous input without wide rows, else one copy."""
        if not self.wide:
            return images.reshape(len(images), -1)
        rows = np.zeros((len(images), images[0].size // images.shape[-1] * self.row_width()),
                        dtype=images.dtype)
        self.to_images(rows)[...] = images
        return rows

    def weight_product(self, drows: np.ndarray) -> np.ndarray:
        """col(x) @ drows^T -> (C*KH*KW, F) for the x of the last `product`, with drows
        (F, columns) in the same column order: the weight gradient of that product."""
        total = np.zeros((math.prod(self.fields.shape[:3]), len(drows)), dtype=self.dtype)
        image_columns = drows.shape[1] // self.x_shape[0]
        for images in self.image_blocks(whole=self.group > 1):
            block = drows[:, images.start * image_columns : images.stop * image_columns]
            col = self.kept if self.kept is not None else self.columns(images)
            # col @ block^T rather than block @ col^T: the same product, but OpenBLAS runs this
            # long reduction (over the columns) up to 1.5x faster in this orientation.
            total += col @ block.T
        return total

    def transpose_product(self, weights: np.ndarray, drows: np.ndarray) -> np.ndarray:
        """col2im(weights^T @ drows) -> dx (N, C, H, W) for the x of the last `product`, with
        drows (F, N*OH*row_width) in the plain column order (n, y, x) whatever the group.

        col2im sums the overlapping windows with one vectorized add per kernel offset (i, j)
        and block, into a view of dx shaped like the receptive fields: no loop over pixels,
        and much faster than np.add.at, which handles arbitrary repeated indices one by one.
        """
        n, _, h, w = self.x_shape
        (kh, kw), (ph, pw) = self.kernel, self.padding
        dxp = channel_major(self.pad.padded_shape(self.x_shape), 0.0, self.dtype, self.pad.slack)
        dx_fields = self.receptive_fields(dxp, 1, writeable=True)[:, :, :, 0, 0]
        image_columns = drows.shape[1] // n
        for images in self.image_blocks():
            block = drows[:, images.start * image_columns : images.stop * image_columns]
            dcol = (weights.T @ block).reshape(dx_fields[:, :, :, images].shape)
            for i in range(kh):
                for j in range(kw):
                    dx_fields[:, i, j, images] += dcol[:, i, j]
        return dxp[:, :, ph : ph + h, pw : pw + w]


@register
class Conv2D(Layer):
    """2-D convolution (cross-correlation, as in every framework).

    Shapes: x (N, C, H, W) -> y (N, F, OH, OW), OH = (H + 2*padding - KH) // stride + 1.
    Params: W (F, C, KH, KW), b (F,). kernel_size, stride, padding: int or (h, w) pair.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Pair,
                 stride: Pair = 1, padding: Pair = 0, init: str | float = "he",
                 rng: np.random.Generator | None = None) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.init = in_channels, out_channels, init
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.im2col = Im2Col(kernel_size, stride, padding)
        (kh, kw), (ph, pw) = self.im2col.kernel, self.im2col.padding
        # dx by correlating the output gradient with the flipped kernel (correlate_gradient)
        # for stride 1 when F <= C, so that its column matrix is no larger than the forward's.
        self.gradient_im2col = (
            Im2Col(kernel_size, 1, (kh - 1 - ph, kw - 1 - pw))
            if self.im2col.stride == (1, 1) and ph < kh and pw < kw
            and out_channels <= in_channels else None
        )
        shape = (out_channels, in_channels, *self.im2col.kernel)
        self.add_param("W", initialize(init, shape, default_rng(rng)))
        self.add_param("b", np.zeros(out_channels))

    def config_args(self) -> dict[str, Any]:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": self.kernel_size, "stride": self.stride,
                "padding": self.padding, "init": self.init}

    def check(self, x: np.ndarray) -> np.ndarray:
        x = self.cast(x)
        ok = x.ndim == 4 and x.shape[1] == self.in_channels
        if ok:
            ok = min(self.im2col.out_shape(x.shape)) >= 1
        self.expect(x, 4, f"(N, {self.in_channels}, H, W) with H, W >= kernel - 2*padding", ok)
        return x

    def convolve(self, x: np.ndarray) -> np.ndarray:
        """x (N, C, H, W) -> W * x without bias, as rows (F, N*OH*OW)."""
        return self.im2col.product(self.params["W"].reshape(self.out_channels, -1), self.check(x))

    def to_images(self, rows: np.ndarray) -> np.ndarray:
        """Rows of the product (F, columns) -> (N, F, OH, OW), a view (no copy)."""
        return self.im2col.to_images(rows).transpose(1, 0, 2, 3)

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        rows = self.convolve(x)
        rows += self.params["b"][:, None]
        return self.to_images(rows)

    def weight_gradient(self, drows: np.ndarray) -> None:
        """dW from the output gradient as rows (F, columns), in the column order of the
        forward product."""
        np.copyto(self.grads["W"].reshape(self.out_channels, -1),
                  self.im2col.weight_product(drows).T)

    def input_gradient(self, drows: np.ndarray) -> np.ndarray | None:
        """dx from the output gradient as rows (F, columns) in plain order (from_images);
        None when input_grad is off (nothing upstream needs it)."""
        if not self.input_grad:
            return None
        if self.gradient_im2col is not None:
            return self.correlate_gradient(drows)
        return self.im2col.transpose_product(self.params["W"].reshape(self.out_channels, -1),
                                             drows)

    def correlate_gradient(self, drows: np.ndarray) -> np.ndarray:
        """dx for stride 1 as a convolution: dout padded by K-1-padding, correlated with the
        kernel flipped in space and transposed in channels. From y[u, v] = sum W[i, j] x[u+i-p,
        v+j-p]: dx[a, b] = sum W[i, j] dy[a+p-i, b+p-j] = sum W'[i', j'] dy'[a+i', b+j'] with
        W'[i', j'] = W[K-1-i', K-1-j'] and dy' = dy padded by K-1-p. An im2col and the product
        (C, F*KH*KW) @ (F*KH*KW, N*H*W) replace the product and col2im's strided adds.
        """
        c = self.in_channels
        dout = self.im2col.to_images(drows).transpose(1, 0, 2, 3)
        flipped = self.params["W"][:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
        flipped = np.ascontiguousarray(flipped).reshape(c, -1)
        dx_rows = self.gradient_im2col.product(flipped, dout)
        return self.gradient_im2col.to_images(dx_rows).transpose(1, 0, 2, 3)

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        drows = self.im2col.from_images(dout.transpose(1, 0, 2, 3))
        np.sum(drows, axis=1, out=self.grads["b"])
        self.weight_gradient(drows)
        return self.input_gradient(drows)
