"""Gradient check: backprop against central differences, in float64."""

import copy
from typing import Any

import numpy as np

from nets.losses import Loss
from nets.module import Layer, Model
from nets.sequential import Sequential


def numerical_gradient(f, array: np.ndarray, h: float) -> np.ndarray:
    """Central differences (f(a + h) - f(a - h)) / 2h, one element at a time."""
    grad = np.zeros_like(array)
    flat, flat_grad = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + h
        plus = f()
        flat[i] = saved - h
        minus = f()
        flat[i] = saved
        flat_grad[i] = (plus - minus) / (2 * h)
    return grad


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """max |a - n| / max(|a|, |n|, floor), floor = max(1e-3 * largest |gradient|, 1e-4).

    Central differences carry a rounding error of about 1e-16 * |loss| / h ~ 1e-11, so tiny
    gradients cannot be checked relatively: elements far below the array's largest gradient are
    compared against that scale, and an array whose gradients are all below 1e-4 (e.g. a conv
    bias followed by BatchNorm, whose true gradient is 0) is checked absolutely (to 1e-10 for a
    1e-6 tolerance).
    """
    scale = max(np.abs(analytic).max(initial=0.0), np.abs(numeric).max(initial=0.0))
    floor = max(1e-3 * scale, 1e-4)
    denominator = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), floor)
    return float((np.abs(analytic - numeric) / denominator).max(initial=0.0))


def gradcheck(
    model_or_layer: Layer | Model,
    x: np.ndarray,
    loss: Loss | None = None,
    target: np.ndarray | None = None,
    train: bool = True,
    h: float = 1e-5,
    rng: np.random.Generator | None = None,
    check_input: bool = True,
) -> dict[str, float]:
    """Max relative error between backprop and numerical gradients, per parameter name
    (plus "input" for dx). Works on a float64 deep copy; the original is untouched.

    Without a loss, the scalar checked is sum(out * G) for a fixed random upstream gradient G,
    so backward is exercised with a random dout rather than all ones.
    Layers that draw random numbers (Dropout) have their generator reset before every forward,
    so the same mask is used for every evaluation.
    """
    model = copy.deepcopy(model_or_layer)
    if isinstance(model, Layer):
        model = Sequential([("layer", model)])
    model.astype(np.float64)
    model.input_grad = True
    x = np.array(x, dtype=np.float64)
    rng = np.random.default_rng(0) if rng is None else rng
    rng_states = [(leaf.rng, copy.deepcopy(leaf.rng.bit_generator.state))
                  for _, leaf in model.named_leaves() if hasattr(leaf, "rng")]

    def forward() -> np.ndarray:
        for generator, state in rng_states:
            generator.bit_generator.state = copy.deepcopy(state)
        return model.forward(x, train=train)

    out = forward()
    upstream = rng.standard_normal(out.shape)

    def scalar() -> float:
        out = forward()
        return loss.forward(out, target) if loss is not None else float(np.sum(out * upstream))

    scalar()
    dout = loss.backward() if loss is not None else upstream.copy()
    dx = model.backward(dout)
    analytic = {name: grad.copy() for name, grad in model.named_grads()}
    if check_input:
        analytic["input"] = dx.copy()

    errors: dict[str, Any] = {}
    params = dict(model.named_params())
    for name, grad in analytic.items():
        array = x if name == "input" else params[name]
        errors[name] = relative_error(grad, numerical_gradient(scalar, array, h))
    return errors
