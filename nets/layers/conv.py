"""The convolution layer: the book's Convolution (im2col, then one matrix product).

Conv2D follows the book's forward and backward passes step by step. The products run in the
fast kernels of `nets.layers.im2col_fast` (memory layout, cache blocks, two ways to dx);
`nets.layers.im2col` holds the plain im2col/col2im and the reference convolution built from
them (`conv_forward`, `conv_backward`), which the tests check the layer against.
"""

from typing import Any

import numpy as np

from nets.init import initialize
from nets.layers.im2col import Pair, pair
from nets.layers.im2col_fast import ConvKernels
from nets.module import Layer, default_rng, register


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
        self.kernels = ConvKernels(kernel_size, stride, padding)
        shape = (out_channels, in_channels, *pair(kernel_size))
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
            ok = min(self.kernels.im2col.out_shape(x.shape)) >= 1
        self.expect(x, 4, f"(N, {self.in_channels}, H, W) with H, W >= kernel - 2*padding", ok)
        return x

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        # y = W @ im2col(x) + b, one row (F, N*OH*OW) per filter, then seen as images.
        rows = self.kernels.product(self.params["W"], self.check(x))
        rows += self.params["b"][:, None]
        return self.kernels.to_images(rows)

    def forward_twin(self, x: np.ndarray, n: int, twin: "Conv2D") -> np.ndarray:
        # One im2col for both; the first n images by this layer's W, the others by twin's.
        rows = self.kernels.product(self.params["W"], self.check(x), twin.params["W"], n)
        per_image = rows.shape[1] // len(x)
        rows[:, : n * per_image] += self.params["b"][:, None]
        rows[:, n * per_image :] += twin.params["b"][:, None]
        out = self.kernels.to_images(rows)
        self.kernels.im2col.keep_first(n)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        drows = self.kernels.from_images(dout)  # dout as rows (F, N*OH*OW)
        np.sum(drows, axis=1, out=self.grads["b"])  # db: sum over output positions
        self.kernels.weight_gradient(drows, out=self.grads["W"])  # dW = dout @ im2col(x)^T
        if not self.input_grad:
            return None
        return self.kernels.input_gradient(self.params["W"], drows)  # col2im(W^T @ dout)
