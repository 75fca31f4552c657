"""Optimizers over named parameters: `update(params, grads)` changes params in place.

Every optimizer takes weight_decay (L2: adds weight_decay * W to the gradient of every weight
matrix/kernel, i.e. arrays with 2+ dimensions; biases and BatchNorm scales are not decayed) and
clip_norm (if the global norm of all gradients exceeds it, all are scaled down by the same
factor, which keeps the update direction). Gradient arrays are never modified.
State (moments, step count) is saved with `state_dict()` and restored with `load_state_dict()`.
"""

import math
from typing import Any

import numpy as np

from nets.param_groups import Group, ParamGroups

__all__ = ["SGD", "AdaGrad", "Adam", "Momentum", "Nesterov", "Optimizer", "RMSProp",
           "global_norm", "make"]


def global_norm(grads: dict[str, np.ndarray]) -> float:
    """sqrt of the sum of squares of every gradient element."""
    return math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))


FLUSH_EVERY = 100  # updates between two flush_subnormals of the optimizer state


def flush_subnormals(array: np.ndarray, temp: np.ndarray) -> None:
    """Set the subnormal elements of `array` (0 < |x| < the smallest normal float) to 0.

    A running average such as Adam's m <- 0.9 m of a weight whose gradient stays 0 (the inputs
    of a dead ReLU unit) decays into the subnormal range and then sticks there, because
    0.9 * x rounds back to x. Arithmetic on subnormals is about 30x slower on x86 CPUs, so a
    quarter of such entries made Adam the slowest part of a DQN update. Their values (below
    1e-38) are far too small to move a weight, so zeroing them changes no result that matters.
    The optimizers flush every FLUSH_EVERY updates: a value stays subnormal for at most that
    many updates, at a cost of two passes over the state once in a while instead of always.
    """
    np.abs(array, out=temp)
    array[temp < np.finfo(array.dtype).tiny] = 0


class Optimizer:
    """Shared weight decay, clipping and state handling; subclasses implement `step`.

    `step(param, grad, temp, *state)` updates parameters in place by the optimizer's formula;
    `state` holds the per-parameter arrays named in `slots` (e.g. Adam's m and v) and `temp`
    is a scratch array, all of param's shape. Where the arrays lie in memory is not the
    step's concern: `nets.param_groups` hands it parameters that lie back to back as one
    array, in cache-sized blocks (the result is the same, up to the rounding of the clipping
    norm, summed per group).
    """

    slots: tuple[str, ...] = ()  # names of the per-parameter state arrays

    def __init__(self, lr: float, weight_decay: float = 0.0, clip_norm: float | None = None):
        if lr <= 0 or weight_decay < 0 or (clip_norm is not None and clip_norm <= 0):
            raise ValueError(
                f"need lr > 0, weight_decay >= 0, clip_norm > 0 or None; got lr={lr}, "
                f"weight_decay={weight_decay}, clip_norm={clip_norm}"
            )
        self.lr, self.weight_decay, self.clip_norm = lr, weight_decay, clip_norm
        self.t = 0  # number of updates done
        self.state: dict[str, dict[str, np.ndarray]] = {slot: {} for slot in self.slots}
        self.layout = ParamGroups()

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        scale = self.clip_scale(self.groups(params, grads))
        self.t += 1
        for param, grad, state, decay, temp, spare in self.layout.blocks():
            if scale != 1.0 or decay:  # g * scale + decay * W, without touching grads
                grad = np.multiply(grad, scale, out=spare)
                if decay:
                    grad += decay * param
            self.step(param, grad, temp, *state)
            if self.t % FLUSH_EVERY == 0:
                for array in state:
                    flush_subnormals(array, temp)

    def groups(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> list[Group]:
        """The update groups of these arrays (see nets.param_groups)."""
        return self.layout.build(params, grads, self.state, self.decay_of)

    def decay_of(self, param: np.ndarray) -> float:
        """Weight decay of weight matrices and kernels; none for biases and scales."""
        return self.weight_decay if param.ndim >= 2 else 0.0

    def clip_scale(self, groups: list[Group]) -> float:
        """The factor that brings the global gradient norm down to clip_norm (1 if below)."""
        if self.clip_norm is None:
            return 1.0
        norm = math.sqrt(sum(float(np.vdot(group.grad, group.grad)) for group in groups))
        return self.clip_norm / norm if norm > self.clip_norm else 1.0

    def step(self, param: np.ndarray, grad: np.ndarray, temp: np.ndarray,
             *state: np.ndarray) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the state as flat arrays: "t" and "<slot>.<param name>"."""
        out = {"t": np.array(self.t, dtype=np.int64)}
        for slot, store in self.state.items():
            out.update((f"{slot}.{name}", value.copy()) for name, value in store.items())
        return out

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        if "t" not in state:
            raise ValueError("optimizer state has no step count 't': not an optimizer state_dict")
        new: dict[str, dict[str, np.ndarray]] = {slot: {} for slot in self.slots}
        for key, value in state.items():
            if key == "t":
                continue
            slot, _, name = key.partition(".")
            if slot not in new or not name:
                raise ValueError(
                    f"optimizer state key {key!r} does not fit {type(self).__name__} "
                    f"(slots {list(self.slots)}): was it saved by another optimizer?"
                )
            new[slot][name] = np.array(value)
        self.t = int(state["t"])
        self.state = new
        self.layout.forget()  # the next update rebuilds its groups around the loaded state

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(lr={self.lr}, weight_decay={self.weight_decay}, "
                f"clip_norm={self.clip_norm})")


class SGD(Optimizer):
    """W <- W - lr * g."""

    def __init__(self, lr: float = 0.01, **kw: Any) -> None:
        super().__init__(lr, **kw)

    def step(self, param, grad, temp):
        param -= np.multiply(grad, self.lr, out=temp)  # W <- W - lr g


class Momentum(Optimizer):
    """v <- mu v - lr g;  W <- W + v (a ball rolling downhill keeps its velocity)."""

    slots = ("v",)

    def __init__(self, lr: float = 0.01, momentum: float = 0.9, **kw: Any) -> None:
        super().__init__(lr, **kw)
        self.momentum = momentum

    def step(self, param, grad, temp, v):
        v *= self.momentum  # v <- mu v - lr g
        v -= np.multiply(grad, self.lr, out=temp)
        param += v  # W <- W + v


class Nesterov(Optimizer):
    """Nesterov momentum in the form of Bengio et al. (2012): v <- mu v - lr g;
    W <- W + mu v - lr g, which evaluates the gradient at the look-ahead point."""

    slots = ("v",)

    def __init__(self, lr: float = 0.01, momentum: float = 0.9, **kw: Any) -> None:
        super().__init__(lr, **kw)
        self.momentum = momentum

    def step(self, param, grad, temp, v):
        v *= self.momentum  # v <- mu v - lr g
        v -= np.multiply(grad, self.lr, out=temp)
        param -= temp  # W <- W - lr g + mu v
        param += np.multiply(v, self.momentum, out=temp)


class AdaGrad(Optimizer):
    """h <- h + g^2;  W <- W - lr g / (sqrt(h) + eps): per-weight rates that only decrease."""

    slots = ("h",)

    def __init__(self, lr: float = 0.01, eps: float = 1e-7, **kw: Any) -> None:
        super().__init__(lr, **kw)
        self.eps = eps

    def step(self, param, grad, temp, h):
        h += np.multiply(grad, grad, out=temp)  # h <- h + g^2
        scaled_step(param, grad, temp, h, self.lr, self.eps)  # W <- W - lr g / (sqrt(h) + eps)


class RMSProp(Optimizer):
    """h <- rho h + (1 - rho) g^2;  W <- W - lr g / (sqrt(h) + eps): AdaGrad that forgets."""

    slots = ("h",)

    def __init__(self, lr: float = 0.001, decay: float = 0.99, eps: float = 1e-7, **kw: Any):
        super().__init__(lr, **kw)
        self.decay, self.eps = decay, eps

    def step(self, param, grad, temp, h):
        h *= self.decay  # h <- rho h + (1 - rho) g^2
        np.multiply(grad, grad, out=temp)
        h += np.multiply(temp, 1.0 - self.decay, out=temp)
        scaled_step(param, grad, temp, h, self.lr, self.eps)  # W <- W - lr g / (sqrt(h) + eps)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015): m, v are running means of g and g^2; the bias correction
    for their zero start is folded into the step size lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)."""

    slots = ("m", "v")

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, **kw: Any) -> None:
        super().__init__(lr, **kw)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps

    def step(self, param, grad, temp, m, v):
        # math, not np: a NumPy float64 scalar would make the float32 passes below run in float64
        lr_t = self.lr * math.sqrt(1.0 - self.beta2**self.t) / (1.0 - self.beta1**self.t)
        m *= self.beta1  # m <- b1 m + (1 - b1) g
        m += np.multiply(grad, 1.0 - self.beta1, out=temp)
        v *= self.beta2  # v <- b2 v + (1 - b2) g^2
        np.multiply(grad, grad, out=temp)
        v += np.multiply(temp, 1.0 - self.beta2, out=temp)
        scaled_step(param, m, temp, v, lr_t, self.eps)  # W <- W - lr_t m / (sqrt(v) + eps)


def scaled_step(param, direction, temp, second_moment, lr, eps) -> None:
    """param -= lr * direction / (sqrt(second_moment) + eps), using `temp` as scratch."""
    np.sqrt(second_moment, out=temp)
    temp += eps
    np.divide(direction, temp, out=temp)
    temp *= lr
    param -= temp


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD, "momentum": Momentum, "nesterov": Nesterov,
    "adagrad": AdaGrad, "rmsprop": RMSProp, "adam": Adam,
}


def make(name: str, **kw: Any) -> Optimizer:
    """Build an optimizer by name, e.g. make("adam", lr=1e-3, clip_norm=10)."""
    key = name.lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {sorted(OPTIMIZERS)}")
    return OPTIMIZERS[key](**kw)
