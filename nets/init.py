"""Weight initializers. Each returns a new float32 array and draws from the `rng` it is given.

Xavier/Glorot (Glorot & Bengio 2010) keeps the activation variance constant for
symmetric activations (sigmoid, tanh): Var(W) = 2 / (fan_in + fan_out).
He (He et al. 2015) doubles it for ReLU, which zeroes half its inputs: Var(W) = 2 / fan_in.
For a conv kernel of shape (F, C, KH, KW), fan_in = C*KH*KW and fan_out = F*KH*KW.
"""

from collections.abc import Callable

import numpy as np

Shape = tuple[int, ...]


def fans(shape: Shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a dense (in, out) or conv (out, in, kh, kw) weight."""
    if len(shape) == 2:
        return shape[0], shape[1]
    if len(shape) == 4:
        receptive = shape[2] * shape[3]
        return shape[1] * receptive, shape[0] * receptive
    raise ValueError(f"cannot compute fans of a weight of shape {shape}; expected 2-D or 4-D")


def normal(shape: Shape, rng: np.random.Generator, std: float = 0.01) -> np.ndarray:
    """N(0, std^2): the book's fixed-std experiments (std=1 saturates, std=0.01 vanishes)."""
    return (std * rng.standard_normal(shape)).astype(np.float32)


def xavier_normal(shape: Shape, rng: np.random.Generator) -> np.ndarray:
    fan_in, fan_out = fans(shape)
    return normal(shape, rng, std=float(np.sqrt(2.0 / (fan_in + fan_out))))


def xavier_uniform(shape: Shape, rng: np.random.Generator) -> np.ndarray:
    fan_in, fan_out = fans(shape)
    limit = np.sqrt(6.0 / (fan_in + fan_out))  # U(-a, a) has variance a^2 / 3
    return rng.uniform(-limit, limit, shape).astype(np.float32)


def he_normal(shape: Shape, rng: np.random.Generator) -> np.ndarray:
    fan_in, _ = fans(shape)
    return normal(shape, rng, std=float(np.sqrt(2.0 / fan_in)))


def he_uniform(shape: Shape, rng: np.random.Generator) -> np.ndarray:
    fan_in, _ = fans(shape)
    limit = np.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, shape).astype(np.float32)


def zeros(shape: Shape, rng: np.random.Generator | None = None) -> np.ndarray:
    return np.zeros(shape, dtype=np.float32)


INITIALIZERS: dict[str, Callable[..., np.ndarray]] = {
    "normal": normal,
    "xavier": xavier_normal,
    "xavier_normal": xavier_normal,
    "xavier_uniform": xavier_uniform,
    "he": he_normal,
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "zeros": zeros,
}


def initialize(init: str | float, shape: Shape, rng: np.random.Generator) -> np.ndarray:
    """Initialize by name ("he", "xavier", ...), or by a number taken as the std of a normal."""
    if isinstance(init, (int, float)):
        return normal(shape, rng, std=float(init))
    if init not in INITIALIZERS:
        raise ValueError(
            f"unknown init {init!r}; choose one of {sorted(INITIALIZERS)} or give a std (float)"
        )
    return INITIALIZERS[init](shape, rng)
