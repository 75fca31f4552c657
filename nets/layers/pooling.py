"""Max, average and global average pooling.

Pooling loops over the KH*KW offsets inside a window, each step one vectorized operation on a
strided view that picks that offset from every window at once (for 2x2 pooling: 4 steps).
When the windows tile the input (stride == kernel, no padding: the usual case), the input is
reshaped to (N, C, PH, KH, PW, KW) and backward is a single broadcast product of a winner mask
with the upstream gradient. Otherwise (overlapping windows or padding) backward adds each
offset's share into a strided view of the input gradient. The book's version, pooling as a
reduction over im2col's rows, is in nets.layers.im2col (max_pool_forward, ...): the tests
check the two equal.
"""

from collections.abc import Iterator
from typing import Any

import numpy as np

from nets.layers.im2col import Pair, output_size, pair
from nets.layers.im2col_fast import PaddedBuffer, channel_major, to_channel_major
from nets.module import Layer, register


class Windows:
    """Strided views of one offset of every pooling window."""

    def __init__(self, kernel: Pair, stride: Pair | None, padding: Pair, fill: float) -> None:
        self.kernel = pair(kernel)
        self.stride = self.kernel if stride is None else pair(stride)
        self.padding = pair(padding)
        self.pad = PaddedBuffer(self.padding, fill)
        self.tiled = self.stride == self.kernel and self.padding == (0, 0)

    def out_shape(self, x_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        n, c, h, w = x_shape
        return (n, c, output_size(h, self.kernel[0], self.stride[0], self.padding[0]),
                output_size(w, self.kernel[1], self.stride[1], self.padding[1]))

    def offsets(self, padded: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """(k, view) for k = i*KW + j: view[n, c, y, x] = padded[n, c, y*sh + i, x*sw + j]."""
        (kh, kw), (sh, sw) = self.kernel, self.stride
        oh = (padded.shape[2] - kh) // sh + 1
        ow = (padded.shape[3] - kw) // sw + 1
        for i in range(kh):
            for j in range(kw):
                yield i * kw + j, padded[:, :, i : i + sh * (oh - 1) + 1 : sh,
                                         j : j + sw * (ow - 1) + 1 : sw]

    def tiles(self, x: np.ndarray) -> np.ndarray | None:
        """x as (N, C, PH, KH, PW, KW) windows when they tile it (rows/columns left over by
        the floor division are cropped), else None."""
        if not self.tiled:
            return None
        n, c, h, w = x.shape
        (kh, kw) = self.kernel
        ph, pw = h // kh, w // kw
        return x[:, :, : ph * kh, : pw * kw].reshape(n, c, ph, kh, pw, kw)

    def untile(self, dtiles: np.ndarray) -> np.ndarray:
        """(N, C, PH, KH, PW, KW) gradient -> (N, C, H, W), zero on cropped rows/columns."""
        n, c, ph, kh, pw, kw = dtiles.shape
        if (ph * kh, pw * kw) == self.x_shape[2:]:
            return dtiles.reshape(self.x_shape)
        dx = channel_major(self.x_shape, 0.0, dtiles.dtype)
        dx[:, :, : ph * kh, : pw * kw] = dtiles.reshape(n, c, ph * kh, pw * kw)
        return dx

    def input_grad(self, dtype: np.dtype) -> np.ndarray:
        """A zero gradient buffer of the padded input's shape."""
        n, c, h, w = self.x_shape
        ph, pw = self.padding
        return channel_major((n, c, h + 2 * ph, w + 2 * pw), 0.0, dtype)

    def crop(self, dxp: np.ndarray) -> np.ndarray:
        _, _, h, w = self.x_shape
        ph, pw = self.padding
        return dxp[:, :, ph : ph + h, pw : pw + w]


class Pool(Layer):
    """Shared arguments, config and shape checks of the pooling layers."""

    fill = 0.0

    def __init__(self, kernel_size: Pair = 2, stride: Pair | None = None, padding: Pair = 0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.windows = Windows(kernel_size, stride, padding, self.fill)

    def config_args(self) -> dict[str, Any]:
        return {"kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding}

    def check(self, x: np.ndarray) -> np.ndarray:
        x = self.cast(x)
        ok = x.ndim == 4 and min(self.windows.out_shape(x.shape)[2:]) >= 1
        self.expect(x, 4, f"(N, C, H, W) with H, W >= {self.windows.kernel} - 2*padding", ok)
        self.windows.x_shape = x.shape
        return x


@register
class MaxPool2D(Pool):
    """Maximum over each window. x (N, C, H, W) -> (N, C, OH, OW); stride defaults to kernel.

    Backward sends each window's gradient to exactly one input: the first maximum in row-major
    window order. With ties (flat image backgrounds are full of them) sending it to every
    maximum would multiply the gradient; the strict `>` below keeps the first winner.
    Padding counts as -inf, so a padded position never wins.
    """

    fill = -np.inf

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        x = self.check(x)
        tiles = self.windows.tiles(x)
        if tiles is not None:
            return self.forward_tiles(tiles)
        padded = self.windows.pad(x)
        out = channel_major(self.windows.out_shape(x.shape), None, x.dtype)
        # winner = the offset k of the first maximum. Strict ">" keeps the earlier offset on
        # ties; k only grows, so max(winner, k * better) sets winner = k where view wins.
        # (Branch-free: np.copyto(..., where=) is several times slower on random masks.)
        # Both arrays share out's channel-major layout: mixed layouts slow every ufunc.
        self.winner = np.zeros_like(out, dtype=np.uint8)
        better = np.empty_like(out, dtype=bool)
        for k, view in self.windows.offsets(padded):
            if k == 0:
                out[...] = view
            else:
                np.greater(view, out, out=better)
                np.maximum(out, view, out=out)
                np.maximum(self.winner, better.view(np.uint8) * np.uint8(k), out=self.winner)
        return out

    def forward_tiles(self, tiles: np.ndarray) -> np.ndarray:
        kh, kw = self.windows.kernel
        offsets = [(i, j) for i in range(kh) for j in range(kw)]
        out = tiles[:, :, :, 0, :, 0].copy()
        for i, j in offsets[1:]:
            np.maximum(out, tiles[:, :, :, i, :, j], out=out)
        # One-hot winner mask: an offset wins if it equals the max and no earlier offset did.
        n, c, ph, _, pw, _ = tiles.shape
        self.mask = np.empty((c, n, ph, kh, pw, kw), dtype=bool).transpose(1, 0, 2, 3, 4, 5)
        taken = None
        for i, j in offsets:
            equal = tiles[:, :, :, i, :, j] == out
            if taken is None:
                self.mask[:, :, :, i, :, j] = taken = equal
            else:
                np.greater(equal, taken, out=self.mask[:, :, :, i, :, j])  # equal and not taken
                taken |= equal
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dout = to_channel_major(dout)
        if self.windows.tiled:
            return self.windows.untile(self.mask * dout[:, :, :, None, :, None])
        dxp = self.windows.input_grad(dout.dtype)
        for k, view in self.windows.offsets(dxp):
            view += dout * (self.winner == k)  # "+=": overlapping windows share inputs
        return self.windows.crop(dxp)


@register
class AvgPool2D(Pool):
    """Mean over each window. x (N, C, H, W) -> (N, C, OH, OW); stride defaults to kernel.
    Padded zeros count in the mean (every window divides by KH*KW)."""

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        padded = self.windows.pad(self.check(x))
        out = channel_major(self.windows.out_shape(x.shape), 0.0, x.dtype)
        for _, view in self.windows.offsets(padded):
            out += view
        out *= 1.0 / (self.windows.kernel[0] * self.windows.kernel[1])
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dxp = self.windows.input_grad(dout.dtype)
        share = to_channel_major(dout) * (1.0 / (self.windows.kernel[0] * self.windows.kernel[1]))
        for _, view in self.windows.offsets(dxp):
            view += share
        return self.windows.crop(dxp)


@register
class GlobalAvgPool(Layer):
    """Mean over all positions of each channel: x (N, C, H, W) -> (N, C)."""

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        x = self.cast(x)
        self.expect(x, 4, "(N, C, H, W)")
        self.x_shape = x.shape
        return x.mean(axis=(2, 3))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        h, w = self.x_shape[2:]
        return np.broadcast_to((dout / (h * w))[:, :, None, None], self.x_shape).copy()
