"""Element-wise activations and the Softmax layer. All keep the input shape."""

from typing import Any

import numpy as np

from nets.module import Layer, register


@register
class ReLU(Layer):
    """y = max(x, 0); dy/dx = 1 where x > 0, else 0. Any shape in, same shape out."""

    rowwise = True

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        self.mask = x > 0
        return np.maximum(x, 0, dtype=x.dtype)

    def forward_twin(self, x: np.ndarray, n: int, twin: "ReLU") -> np.ndarray:
        self.mask = x[:n] > 0
        return np.maximum(x, 0, dtype=x.dtype)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self.mask


@register
class LeakyReLU(Layer):
    """y = x where x > 0, alpha * x elsewhere. Any shape in, same shape out."""

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__()
        self.alpha = float(alpha)

    def config_args(self) -> dict[str, Any]:
        return {"alpha": self.alpha}

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        self.slope = np.where(x > 0, 1.0, self.alpha).astype(x.dtype)
        return x * self.slope

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self.slope


@register
class Sigmoid(Layer):
    """y = 1 / (1 + exp(-x)); dy/dx = y (1 - y). Any shape in, same shape out."""

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        # 0.5 (1 + tanh(x/2)) equals the logistic function and never overflows exp.
        self.out = 0.5 * (1.0 + np.tanh(0.5 * x))
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self.out * (1.0 - self.out)


@register
class Tanh(Layer):
    """y = tanh(x); dy/dx = 1 - y^2. Any shape in, same shape out."""

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * (1.0 - self.out * self.out)


@register
class Step(Layer):
    """y = 1 where x > 0, else 0 (the perceptron's activation, for the book's demo).
    Any shape in, same shape out.

    Its derivative is zero almost everywhere (and undefined at 0), so backward returns zeros:
    no gradient flows through a step, which is why networks trained by backprop do not use it.
    """

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        return (x > 0).astype(x.dtype)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return np.zeros_like(dout)


@register
class Softmax(Layer):
    """y_i = exp(x_i) / sum_j exp(x_j) over the last axis. (N, K) in, (N, K) out.

    Backward is the Jacobian-vector product dx = y * (dout - sum(dout * y)). For training a
    classifier prefer losses.SoftmaxCrossEntropy on logits: it is fused and more stable.
    """

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        z = np.exp(x - x.max(axis=-1, keepdims=True))  # shift: same result, no overflow
        self.out = z / z.sum(axis=-1, keepdims=True)
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return self.out * (dout - np.sum(dout * self.out, axis=-1, keepdims=True))
