"""Batch normalization and local response normalization."""

from typing import Any

import numpy as np

from nets.module import Layer, register


@register
class BatchNorm(Layer):
    """Batch normalization (Ioffe & Szegedy 2015): y = gamma * (x - mean) / sqrt(var + eps) + beta.

    Shapes: x (N, D) normalized per feature, or x (N, C, H, W) per channel (statistics over
    N, H, W); y has x's shape. Params gamma, beta (D,) or (C,). In training the batch statistics
    are used and running averages updated (running = momentum * running + (1 - momentum) *
    batch); in evaluation the running averages are used, so the output no longer depends on
    the rest of the batch.
    """

    def __init__(self, num_features: int, momentum: float = 0.9, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features, self.momentum, self.eps = num_features, momentum, eps
        self.add_param("gamma", np.ones(num_features))
        self.add_param("beta", np.zeros(num_features))
        self.buffers["running_mean"] = np.zeros(num_features, dtype=self.dtype)
        self.buffers["running_var"] = np.ones(num_features, dtype=self.dtype)

    def config_args(self) -> dict[str, Any]:
        return {"num_features": self.num_features, "momentum": self.momentum, "eps": self.eps}

    def to_rows(self, x: np.ndarray) -> np.ndarray:
        """(N, D) or (N, C, H, W) -> (D, M) with one row per feature/channel."""
        x = self.cast(x)
        ok = x.ndim in (2, 4) and x.shape[1] == self.num_features
        self.expect(x, x.ndim, f"(N, {self.num_features}) or (N, {self.num_features}, H, W)", ok)
        self.x_shape = x.shape
        return x.T if x.ndim == 2 else x.transpose(1, 0, 2, 3).reshape(self.num_features, -1)

    def from_rows(self, rows: np.ndarray) -> np.ndarray:
        if len(self.x_shape) == 2:
            return rows.T
        n, c, h, w = self.x_shape
        return rows.reshape(c, n, h, w).transpose(1, 0, 2, 3)

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        rows = self.to_rows(x)
        self.train = train
        if train:
            mean = rows.mean(axis=1)
            centered = rows - mean[:, None]
            var = np.mean(centered * centered, axis=1)
            self.buffers["running_mean"] *= self.momentum
            self.buffers["running_mean"] += (1 - self.momentum) * mean
            self.buffers["running_var"] *= self.momentum
            self.buffers["running_var"] += (1 - self.momentum) * var
        else:
            centered = rows - self.buffers["running_mean"][:, None]
            var = self.buffers["running_var"]
        self.std = np.sqrt(var + self.eps)
        self.normalized = centered / self.std[:, None]
        out = self.params["gamma"][:, None] * self.normalized + self.params["beta"][:, None]
        return self.from_rows(out)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        drows = dout.T if dout.ndim == 2 else dout.transpose(1, 0, 2, 3).reshape(
            self.num_features, -1)
        np.sum(drows * self.normalized, axis=1, out=self.grads["gamma"])
        np.sum(drows, axis=1, out=self.grads["beta"])
        dnormalized = drows * self.params["gamma"][:, None]
        if self.train:
            # The batch mean and variance depend on every input too. With z = normalized:
            # dx = (dz - mean(dz) - z * mean(dz * z)) / std.
            dnormalized = (
                dnormalized
                - dnormalized.mean(axis=1, keepdims=True)
                - self.normalized * np.mean(dnormalized * self.normalized, axis=1, keepdims=True)
            )
        return self.from_rows(dnormalized / self.std[:, None])


def channel_window_sum(a: np.ndarray, before: int, after: int) -> np.ndarray:
    """s[:, c] = sum of a[:, c - before : c + after + 1] over channels (zeros beyond the ends)."""
    padded = np.pad(a, ((0, 0), (before, after), (0, 0), (0, 0)))
    channels = a.shape[1]
    total = padded[:, 0:channels].copy()
    for offset in range(1, before + after + 1):
        total += padded[:, offset : offset + channels]
    return total


@register
class LocalResponseNorm(Layer):
    """AlexNet's local response normalization across channels (Krizhevsky et al. 2012):
    y_c = x_c / (k + alpha/size * sum_{c' near c} x_c'^2)^beta, the sum over `size` channels
    centred on c. (alpha is divided by size, as in PyTorch.) Shapes: (N, C, H, W) -> same.
    """

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k
        self.before, self.after = size // 2, (size - 1) // 2

    def config_args(self) -> dict[str, Any]:
        return {"size": self.size, "alpha": self.alpha, "beta": self.beta, "k": self.k}

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        x = self.cast(x)
        self.expect(x, 4, "(N, C, H, W)")
        self.x = x
        self.denominator = self.k + self.alpha / self.size * channel_window_sum(
            x * x, self.before, self.after)
        self.out = x * self.denominator**-self.beta
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        # x_j appears in its own numerator and in the denominators of every c whose window holds
        # j; those c form the window of j with `before` and `after` swapped.
        through_denominator = channel_window_sum(
            dout * self.out / self.denominator, self.after, self.before)
        coefficient = -2.0 * self.beta * self.alpha / self.size
        return dout * self.denominator**-self.beta + coefficient * self.x * through_denominator
