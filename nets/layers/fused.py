"""Conv -> ReLU -> max-pool fused into one layer (the block of the book's SimpleConvNet)."""

from typing import Any

import numpy as np

from nets.layers.conv import Conv2D
from nets.layers.im2col import Pair, pair
from nets.layers.im2col_fast import ConvKernels, to_channel_major
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

    Pooling reads the convolution output by window offset: pool_size**2 views (F, N, PH, PW),
    one per offset in the window; pooling is a running maximum over them, and its backward
    pass writes each view once. When C*KH*KW <= F (SimpleConvNet's 1-channel input) the
    im2col columns are built grouped by offset (see im2col_fast.Im2Col) and the views are
    contiguous blocks. Otherwise grouping the columns (a strided gather over C*KH*KW rows)
    would cost more than reading strided views of the plain output in place, which
    DeepConvNet does.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Pair,
                 stride: Pair = 1, padding: Pair = 0, pool_size: int = 2,
                 init: str | float = "he", rng: np.random.Generator | None = None) -> None:
        if not 1 <= pool_size <= 16:  # the winning offset is stored as a uint8 (< 256)
            raise ValueError(f"pool_size must be an int from 1 to 16, got {pool_size!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, init, rng)
        self.pool_size = int(pool_size)
        kh, kw = pair(kernel_size)
        self.grouped_columns = in_channels * kh * kw <= out_channels
        if self.grouped_columns:
            self.kernels = ConvKernels(kernel_size, stride, padding, group=pool_size)
        self.im2col = self.kernels.im2col

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
        rows = self.kernels.product(self.params["W"], self.check(x))
        self.rows_shape = rows.shape
        offsets = self.offset_views(rows)
        # Running maximum over the window offsets. winner = the offset of the first maximum:
        # strict ">" keeps earlier offsets on ties, so exactly one input gets the gradient.
        # Offsets only grow, so max(winner, offset * better) sets winner = offset where better.
        out = offsets[0].copy()
        self.winner = np.zeros(out.shape, dtype=np.uint8)
        better = np.empty(out.shape, dtype=bool)
        for offset in range(1, self.pool_size**2):
            np.greater(offsets[offset], out, out=better)
            np.maximum(out, offsets[offset], out=out)
            np.maximum(self.winner, better.view(np.uint8) * np.uint8(offset), out=self.winner)
        out += self.params["b"][:, None, None, None]
        self.mask = out > 0
        np.maximum(out, 0, out=out)
        return out.transpose(1, 0, 2, 3)

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        dpooled = to_channel_major(dout).transpose(1, 0, 2, 3) * self.mask  # (F, N, PH, PW)
        np.sum(dpooled, axis=(1, 2, 3), out=self.grads["b"])
        # Each window's gradient goes to its winning offset; the other offsets get zero, and
        # so do the output rows/columns that no window covers.
        drows = np.zeros(self.rows_shape, dtype=dpooled.dtype)
        for offset, view in enumerate(self.offset_views(drows)):
            np.multiply(dpooled, self.winner == offset, out=view)
        self.kernels.weight_gradient(drows, out=self.grads["W"])
        if not self.input_grad:
            return None
        plain = self.ungroup(drows) if self.grouped_columns else drows
        return self.kernels.input_gradient(self.params["W"], plain)

    def pooled_shape(self) -> tuple[int, int]:
        oh, ow = self.im2col.out_shape(self.im2col.x_shape)
        return oh // self.pool_size, ow // self.pool_size

    def window_offsets(self, plain: np.ndarray) -> list[np.ndarray]:
        """Views (F, N, PH, PW) of plain (F, N, OH, OW), one per window offset k = dy*pool_size
        + dx: the positions y = py*pool_size + dy, x = px*pool_size + dx."""
        p = self.pool_size
        ph, pw = self.pooled_shape()
        return [plain[:, :, dy : dy + p * ph : p, dx : dx + p * pw : p]
                for dy in range(p) for dx in range(p)]

    def offset_views(self, rows: np.ndarray) -> list[np.ndarray]:
        """The window offsets of the product's rows, each (F, N, PH, PW): contiguous blocks for
        grouped columns, strided views of the plain order otherwise (pooling reads them in
        place rather than gathering them into blocks first: one pass less over the output)."""
        if not self.grouped_columns:
            return self.window_offsets(self.im2col.to_images(rows))
        ph, pw = self.pooled_shape()
        blocks = rows.reshape(self.out_channels, self.pool_size**2, -1, ph, pw)
        return list(blocks.transpose(1, 0, 2, 3, 4))

    def ungroup(self, drows: np.ndarray) -> np.ndarray:
        """Rows in grouped column order -> rows in plain order (F, N*OH*OW), zero at the output
        rows/columns that no window covers."""
        n = self.im2col.x_shape[0]
        oh, ow = self.im2col.out_shape(self.im2col.x_shape)
        plain = np.zeros((self.out_channels, n * oh * ow), dtype=drows.dtype)
        for view, block in zip(self.window_offsets(self.im2col.to_images(plain)),
                               self.offset_views(drows), strict=True):
            view[...] = block
        return plain
