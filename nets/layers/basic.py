"""Dense (affine), Flatten, Reshape, Scale, Identity and Dropout layers."""

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from nets.init import initialize
from nets.layers.im2col_fast import is_channel_major, to_channel_major
from nets.module import Layer, default_rng, register


@register
class Dense(Layer):
    """Affine layer y = x W + b.

    Shapes: x (N, in_features) -> y (N, out_features). An input (N, ...) whose trailing
    dimensions multiply to in_features is flattened first (as the book's Affine does).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        init: str | float = "he",
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features, self.init = in_features, out_features, init
        self.add_param("W", initialize(init, (in_features, out_features), default_rng(rng)))
        self.add_param("b", np.zeros(out_features))

    def config_args(self) -> dict[str, Any]:
        return {"in_features": self.in_features, "out_features": self.out_features,
                "init": self.init}

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        x = self.check(x)
        self.x_shape = x.shape
        self.x = x.reshape(len(x), self.in_features)
        out = self.x @ self.params["W"]
        out += self.params["b"]
        return out

    def forward_twin(self, x: np.ndarray, n: int, twin: "Dense") -> np.ndarray:
        x = self.check(x)
        rows = x.reshape(len(x), self.in_features)  # (one copy for both, if any)
        out = np.empty((len(x), self.out_features), dtype=rows.dtype)
        for layer, part in ((twin, slice(n, None)), (self, slice(0, n))):
            np.matmul(rows[part], layer.params["W"], out=out[part])
            out[part] += layer.params["b"]
        self.x_shape, self.x = (n, *x.shape[1:]), rows[:n]
        return out

    def check(self, x: np.ndarray) -> np.ndarray:
        x = self.cast(x)
        if x.ndim < 2 or math.prod(x.shape[1:]) != self.in_features:  # math: ~20x faster than np
            self.expect(x, x.ndim, f"(N, {self.in_features})", ok=False)
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        np.matmul(self.x.T, dout, out=self.grads["W"])
        dout.sum(axis=0, out=self.grads["b"])
        if not self.input_grad:
            return None
        width = self.dx_width
        if width is not None and width < self.in_features and len(self.x_shape) == 2:
            return dout @ self.params["W"][:width].T  # (N, width): what upstream reads
        return (dout @ self.params["W"].T).reshape(self.x_shape)


@register
class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1*d2*...)."""

    rowwise = True

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        self.x_shape, self.channel_major = x.shape, is_channel_major(x)
        return x.reshape(len(x), -1)

    def forward_twin(self, x: np.ndarray, n: int, twin: "Flatten") -> np.ndarray:
        out = self.forward(x)
        self.x_shape = (n, *x.shape[1:])
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        # Hand back the gradient in the input's memory layout (see im2col_fast.to_channel_major).
        dx = dout.reshape(self.x_shape)
        return to_channel_major(dx) if self.channel_major else dx


@register
class Reshape(Layer):
    """(N, d1*d2*...) -> (N, d1, d2, ...): e.g. a head's A*K outputs as A actions' K quantiles."""

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.shape = tuple(int(d) for d in shape)

    def config_args(self) -> dict[str, Any]:
        return {"shape": list(self.shape)}

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        self.expect(x, x.ndim, f"(N, {math.prod(self.shape)})",
                    ok=math.prod(x.shape[1:]) == math.prod(self.shape))
        self.x_shape = x.shape
        return x.reshape(len(x), *self.shape)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout.reshape(self.x_shape)


@register
class Scale(Layer):
    """y = factor * x as float32, e.g. Scale(1/255) turns uint8 pixels into [0, 1]. Any shape."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = float(factor)

    def config_args(self) -> dict[str, Any]:
        return {"factor": self.factor}

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        return np.multiply(x, self.factor, dtype=self.dtype)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self.factor


@register
class Identity(Layer):
    """y = x. Any shape."""

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout


@register
class Dropout(Layer):
    """Inverted dropout: in training zero each unit with probability p and scale the rest by
    1/(1-p), so that evaluation is the identity. Any shape."""

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout p must be in [0, 1), got {p}")
        self.p = float(p)
        self.rng = default_rng(rng)
        self.mask: np.ndarray | None = None

    def config_args(self) -> dict[str, Any]:
        return {"p": self.p}

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        if not train or self.p == 0.0:
            self.mask = None
            return x
        keep = self.rng.random(x.shape, dtype=np.float32) >= self.p
        self.mask = keep * np.asarray(1.0 / (1.0 - self.p), dtype=x.dtype)
        return x * self.mask

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout if self.mask is None else dout * self.mask
