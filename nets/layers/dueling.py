"""The dueling head's last layer: state value and action advantages combined into Q-values."""

from typing import Any

import numpy as np

from nets.module import Layer, register


@register
class DuelingCombine(Layer):
    """(N, 1 + A) -> (N, A): Q = V + (A - mean A), Wang et al. (2016), eq. 9.

    Subtracting the mean advantage makes V and A identifiable without changing the argmax.

    atoms > 1 (distributional heads): (N, (1 + A) * atoms), read as (N, 1 + A, atoms), ->
    (N, A, atoms), each atom (e.g. each quantile) combined as above.
    """

    def __init__(self, atoms: int = 1) -> None:
        super().__init__()
        if atoms < 1:
            raise ValueError(f"atoms must be at least 1, got {atoms}")
        self.atoms = int(atoms)

    def config_args(self) -> dict[str, Any]:
        return {} if self.atoms == 1 else {"atoms": self.atoms}

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        if self.atoms > 1:
            x = x.reshape(len(x), -1, self.atoms)
        value, advantage = x[:, :1], x[:, 1:]
        return value + advantage - advantage.mean(axis=1, keepdims=True)

    def forward_twin(self, x: np.ndarray, n: int, twin: "DuelingCombine") -> np.ndarray:
        return self.forward(x)  # no parameters, and backward needs nothing of forward

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dvalue = dout.sum(axis=1, keepdims=True)
        dadvantage = dout - dout.mean(axis=1, keepdims=True)
        return np.concatenate([dvalue, dadvantage], axis=1).reshape(len(dout), -1)
