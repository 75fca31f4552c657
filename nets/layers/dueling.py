"""The dueling head's last layer: state value and action advantages combined into Q-values."""

import numpy as np

from nets.module import Layer, register


@register
class DuelingCombine(Layer):
    """(N, 1 + A) -> (N, A): Q = V + (A - mean A), Wang et al. (2016), eq. 9.

    Subtracting the mean advantage makes V and A identifiable without changing the argmax.
    """

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        value, advantage = x[:, :1], x[:, 1:]
        return value + advantage - advantage.mean(axis=1, keepdims=True)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dvalue = dout.sum(axis=1, keepdims=True)
        dadvantage = dout - dout.mean(axis=1, keepdims=True)
        return np.concatenate([dvalue, dadvantage], axis=1)
