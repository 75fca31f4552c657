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

    The column matrix is built grouped by window offset (see Im2Col), so the convolution
    comes out as pool_size**2 contiguous blocks (F, N*PH*PW), one per offset in the window:
    pooling is a running maximum over those blocks and its backward pass writes each block
    once, with no strided window views.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Pair,
                 stride: Pair = 1, padding: Pair = 0, pool_size: int = 2,
                 init: str | float = "he", rng: np.random.Generator | None = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, init, rng)
        self.pool_size = pool_size
        self.im2col = Im2Col(kernel_size, stride, padding, group=pool_size)

    def config_args(self) -> dict[str, Any]:
        return {**super().config_args(), "pool_size": self.pool_size}

    def check(self, x: np.ndarray) -> np.ndarray:
        x = super().check(x)
        ok = min(self.im2col.grouped_shape(x.shape)) >= 1
        self.expect(x, 4, f"(N, {self.in_channels}, H, W) with a convolution output of at "
                    f"least {self.pool_size}x{self.pool_size} to pool", ok)
        return x

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        blocks = self.convolve(x).reshape(self.out_channels, self.pool_size**2, -1)
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
        ph, pw = self.im2col.grouped_shape(x.shape)
        return out.reshape(self.out_channels, len(x), ph, pw).transpose(1, 0, 2, 3)

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        dpooled = as_rows(to_channel_major(dout)) * self.mask  # (F, N*PH*PW)
        np.sum(dpooled, axis=1, out=self.grads["b"])
        # Each window's gradient goes to its winning offset; the other offsets get zero.
        dblocks = np.empty((self.out_channels, self.pool_size**2, dpooled.shape[1]),
                           dtype=dpooled.dtype)
        for offset in range(self.pool_size**2):
            np.multiply(dpooled, self.winner == offset, out=dblocks[:, offset])
        return self.backward_convolve(dblocks.reshape(self.out_channels, -1))
