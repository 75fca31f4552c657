"""Conv -> ReLU -> max-pool fused into one layer (the block of the book's SimpleConvNet)."""

from typing import Any

import numpy as np

from nets.layers.conv import Conv2D, Pair, as_rows, to_channel_major
from nets.layers.pooling import MaxPool2D
from nets.module import register


@register
class ConvReLUPool(Conv2D):
    """max_pool(relu(conv(x) + b)), computed as relu(max_pool(conv(x)) + b).

    The two are equal because adding the same per-channel bias to a whole window does not
    change which element is largest, and ReLU is non-decreasing so it commutes with max. The
    bias add and ReLU then run on the pooled map: for 2x2 pooling, 4x fewer elements.
    Shapes: x (N, C, H, W) -> (N, F, PH, PW) with PH = OH // pool_size (conv output OH).
    Params: W (F, C, KH, KW), b (F,), as Conv2D, so weights transfer between the two.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Pair,
                 stride: Pair = 1, padding: Pair = 0, pool_size: int = 2,
                 init: str | float = "he", rng: np.random.Generator | None = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, init, rng)
        self.pool_size = pool_size
        self.pool = MaxPool2D(pool_size)

    def config_args(self) -> dict[str, Any]:
        return {**super().config_args(), "pool_size": self.pool_size}

    def astype(self, dtype: Any) -> "ConvReLUPool":
        self.pool.astype(dtype)
        return super().astype(dtype)

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        pooled = self.pool.forward(self.to_images(self.convolve(x)))
        out = pooled + self.params["b"][:, None, None]
        self.mask = out > 0
        np.maximum(out, 0, out=out)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        dpooled = to_channel_major(dout) * self.mask
        np.sum(as_rows(dpooled), axis=1, out=self.grads["b"])
        return self.backward_convolve(self.pool.backward(dpooled))
