"""Conv -> ReLU -> max-pool fused into one layer (the block of the book's SimpleConvNet)."""

from typing import Any

import numpy as np

from nets.layers.conv import Conv2D, Im2Col, Pair, as_rows, to_channel_major
from nets.module import register


@register
class ConvReLUPool(Conv2D):
    """max_pool(relu(conv(x) + b)), computed as relu(max_pool(conv(x)) + b).

    The two are equal because adding the same per-channel bias to a whole window does not
    change which element is largest, and ReLU is non-decreasing so it commutes with max. The
    bias add and ReLU then run on the pooled map: for 2x2 pooling, 4x fewer elements.
    Pooling windows are pool_size x pool_size, stride pool_size (conv output rows/columns
    that do not fill a window are dropped, as MaxPool2D does).
    Shapes: x (N, C, H, W) -> (N, F, PH, PW) with PH = OH // pool_size (conv output OH).
    Params: W (F, C, KH, KW), b (F,), as Conv2D, so weights transfer between the two.

    Pooling wants the convolution output grouped by window offset: pool_size**2 contiguous
    blocks (F, N*PH*PW), one per offset in the window. Then pooling is a running maximum
    over the blocks, and its backward pass writes each block once, with no strided window
    views. Either the im2col columns are built in that order (see Im2Col), a strided gather
    over C*KH*KW rows, or the plain output is regrouped, a gather over F rows: the layer
    picks the smaller (grouped columns for SimpleConvNet's 1-channel input, regrouping for
    DeepConvNet's 16-64-channel ones).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Pair,
                 stride: Pair = 1, padding: Pair = 0, pool_size: int = 2,
                 init: str | float = "he", rng: np.random.Generator | None = None) -> None:
        if not 1 <= pool_size <= 16:  # the winning offset is stored as a uint8 (< 256)
            raise ValueError(f"pool_size must be an int from 1 to 16, got {pool_size!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, init, rng)
        self.pool_size = int(pool_size)
        kh, kw = self.im2col.kernel
        self.grouped_columns = in_channels * kh * kw <= out_channels
        if self.grouped_columns:
            self.im2col = Im2Col(kernel_size, stride, padding, group=pool_size)

    def config_args(self) -> dict[str, Any]:
        return {**super().config_args(), "pool_size": self.pool_size}

    def check(self, x: np.ndarray) -> np.ndarray:
        x = super().check(x)
        oh, ow = self.im2col.out_shape(x.shape)
        ok = min(oh, ow) >= self.pool_size
        self.expect(x, 4, f"(N, {self.in_channels}, H, W) with a convolution output of at "
                    f"least {self.pool_size}x{self.pool_size} to pool", ok)
        return x

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        rows = self.convolve(x)
        blocks = (rows.reshape(self.out_channels, self.pool_size**2, -1)
                  if self.grouped_columns else self.group(rows))
        # Running maximum over the window offsets. winner = the offset of the first maximum:
        # strict ">" keeps earlier offsets on ties, so exactly one input gets the gradient.
        # Offsets only grow, so max(winner, offset * better) sets winner = offset where better.
        out = blocks[:, 0].copy()
        self.winner = np.zeros(out.shape, dtype=np.uint8)
        better = np.empty(out.shape, dtype=bool)
        for offset in range(1, self.pool_size**2):
            np.greater(blocks[:, offset], out, out=better)
            np.maximum(out, blocks[:, offset], out=out)
            np.maximum(self.winner, better.view(np.uint8) * np.uint8(offset), out=self.winner)
        out += self.params["b"][:, None]
        self.mask = out > 0
        np.maximum(out, 0, out=out)
        ph, pw = self.pooled_shape()
        return out.reshape(self.out_channels, len(x), ph, pw).transpose(1, 0, 2, 3)

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        dpooled = as_rows(to_channel_major(dout)) * self.mask  # (F, N*PH*PW)
        np.sum(dpooled, axis=1, out=self.grads["b"])
        # Each window's gradient goes to its winning offset; the other offsets get zero.
        dblocks = np.empty((self.out_channels, self.pool_size**2, dpooled.shape[1]),
                           dtype=dpooled.dtype)
        for offset in range(self.pool_size**2):
            np.multiply(dpooled, self.winner == offset, out=dblocks[:, offset])
        if self.grouped_columns:
            self.weight_gradient(dblocks.reshape(self.out_channels, -1))
            return self.input_gradient(self.ungroup(dblocks)) if self.input_grad else None
        drows = self.ungroup(dblocks)
        self.weight_gradient(drows)
        return self.input_gradient(drows)

    def pooled_shape(self) -> tuple[int, int]:
        oh, ow = self.im2col.out_shape(self.im2col.x_shape)
        return oh // self.pool_size, ow // self.pool_size

    def window_offsets(self, plain: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """(k, view) for each window offset k = dy*pool_size + dx: plain[..., y, x] rows
        (F, N, OH, OW) at y = py*pool_size + dy, x = px*pool_size + dx, as (F, N, PH, PW)."""
        p = self.pool_size
        ph, pw = self.pooled_shape()
        return [(dy * p + dx, plain[:, :, dy : dy + p * ph : p, dx : dx + p * pw : p])
                for dy in range(p) for dx in range(p)]

    def group(self, rows: np.ndarray) -> np.ndarray:
        """Rows in the product's plain order -> blocks (F, pool_size**2, N*PH*PW)."""
        n = self.im2col.x_shape[0]
        ph, pw = self.pooled_shape()
        blocks = np.empty((self.out_channels, self.pool_size**2, n, ph, pw), dtype=rows.dtype)
        for k, view in self.window_offsets(self.im2col.to_images(rows)):
            blocks[:, k] = view
        return blocks.reshape(self.out_channels, self.pool_size**2, -1)

    def ungroup(self, dblocks: np.ndarray) -> np.ndarray:
        """Blocks (F, pool_size**2, N*PH*PW) -> rows in the plain order of the product (see
        Im2Col.from_images), zero at the output rows/columns that no window covers."""
        n = self.im2col.x_shape[0]
        oh = self.im2col.out_shape(self.im2col.x_shape)[0]
        drows = np.zeros((self.out_channels, n * oh * self.im2col.row_width()),
                         dtype=dblocks.dtype)
        for k, view in self.window_offsets(self.im2col.to_images(drows)):
            view[...] = dblocks[:, k].reshape(view.shape)
        return drows
