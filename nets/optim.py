"""Optimizers over named parameters: `update(params, grads)` changes params in place.

Every optimizer takes weight_decay (L2: adds weight_decay * W to the gradient of every weight
matrix/kernel, i.e. arrays with 2+ dimensions; biases and BatchNorm scales are not decayed) and
clip_norm (if the global norm of all gradients exceeds it, all are scaled down by the same
factor, which keeps the update direction). Gradient arrays are never modified.
State (moments, step count) is saved with `state_dict()` and restored with `load_state_dict()`.
"""

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["SGD", "AdaGrad", "Adam", "Momentum", "Nesterov", "Optimizer", "RMSProp",
           "global_norm", "make"]


def global_norm(grads: dict[str, np.ndarray]) -> float:
    """sqrt of the sum of squares of every gradient element."""
    return math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))


CHUNK = 65536  # elements per block of an update (see Optimizer.update)
FLUSH_EVERY = 100  # updates between two flush_subnormals of the optimizer state


@dataclass
class Group:
    """Parameters lying back to back in one buffer (and their gradients too): updated as one.

    `param` and `grad` are 1-D views spanning the group; `state` holds one 1-D array per slot,
    of which the per-parameter state arrays (`Optimizer.state[slot][name]`) are views.
    """

    names: list[str]
    param: np.ndarray
    grad: np.ndarray
    decay: float  # weight decay of every parameter in the group
    state: list[np.ndarray] = field(default_factory=list)


def position(array: np.ndarray) -> tuple[np.ndarray, int] | None:
    """(buffer, offset) when `array` is a C-contiguous view into a 1-D buffer, else None."""
    buffer = array.base
    if (not isinstance(buffer, np.ndarray) or buffer.ndim != 1 or buffer.dtype != array.dtype
            or not buffer.flags.c_contiguous or not array.flags.c_contiguous):
        return None
    return buffer, (array.ctypes.data - buffer.ctypes.data) // array.itemsize


def follows(span: np.ndarray, array: np.ndarray) -> np.ndarray | None:
    """`span` extended by `array` when the array starts where the span ends, else None."""
    where, end = position(array), position(span)
    if where is None or end is None or where[0] is not end[0]:
        return None
    buffer, offset = end
    if where[1] != offset + span.size:
        return None
    return buffer[offset : offset + span.size + array.size]


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
    """Shared weight decay, clipping, blocking and state handling; subclasses implement `step`.

    `step(param, grad, temp, *state)` updates one block of parameters in place; `state` holds
    the blocks of the per-parameter arrays named in `slots` (e.g. Adam's m and v) and `temp`
    is a scratch block.

    Parameters that lie back to back in memory (see `nets.Model.pack_params`), with their
    gradients back to back too, form one `Group` that each element-wise operation covers at
    once: a dozen NumPy calls per update instead of a dozen per parameter, which matters for
    the many small arrays of an MLP. Any other parameter is a group of its own; the result is
    the same either way (up to the rounding of the clipping norm, summed per group). Large
    groups are updated CHUNK elements at a time so that the several element-wise passes of
    an update run on data still in the CPU cache (about 2x faster for the 3.6-million-weight
    layer of the DQN network than whole-array passes).
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
        self.scratch: dict[np.dtype, np.ndarray] = {}  # (2, block length) temporaries per dtype
        # The groups of the last update, and the (name, param, grad) arrays they were built for.
        self._groups: list[Group] = []
        self._built_for: list[tuple[str, np.ndarray, np.ndarray]] = []

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        groups = self.groups(params, grads)
        scale = 1.0
        if self.clip_norm is not None:
            norm = math.sqrt(sum(float(np.vdot(group.grad, group.grad)) for group in groups))
            if norm > self.clip_norm:
                scale = self.clip_norm / norm
        self.t += 1
        for group in groups:
            # Blocks of about CHUNK elements (one block for a group up to 1.5 CHUNK).
            blocks = max(1, round(group.param.size / CHUNK))
            length = -(-group.param.size // blocks)
            scratch = self.scratch.get(group.param.dtype)
            if scratch is None or scratch.shape[1] < length:
                scratch = self.scratch[group.param.dtype] = np.empty((2, length), group.param.dtype)
            for start in range(0, group.param.size, length):
                block = slice(start, start + length)
                param, grad = group.param[block], group.grad[block]
                temp = scratch[0, : param.size]
                if scale != 1.0 or group.decay:  # g * scale + decay * W, without touching grads
                    grad = np.multiply(grad, scale, out=scratch[1, : param.size])
                    if group.decay:
                        grad += group.decay * param
                state = [array[block] for array in group.state]
                self.step(param, grad, temp, *state)
                if self.t % FLUSH_EVERY == 0:
                    for array in state:
                        flush_subnormals(array, temp)

    def groups(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> list[Group]:
        """The update groups of these arrays: rebuilt only when the arrays change."""
        arrays = [(name, param, grads[name]) for name, param in params.items()]
        if len(arrays) == len(self._built_for) and all(
            name == old_name and param is old_param and grad is old_grad
            for (name, param, grad), (old_name, old_param, old_grad)
            in zip(arrays, self._built_for, strict=True)
        ):
            return self._groups
        groups: list[Group] = []
        for name, param, grad in arrays:
            if not param.flags.c_contiguous or not grad.flags.c_contiguous:
                raise ValueError(f"parameter {name!r} and its gradient must be C-contiguous arrays")
            if grad.shape != param.shape:
                raise ValueError(f"gradient of {name!r} has shape {grad.shape}, the parameter "
                                 f"{param.shape}")
            decay = self.weight_decay if param.ndim >= 2 else 0.0
            last = groups[-1] if groups else None
            if last is not None and last.decay == decay:
                joined_param = follows(last.param, param)
                joined_grad = follows(last.grad, grad)
                if joined_param is not None and joined_grad is not None:
                    last.names.append(name)
                    last.param, last.grad = joined_param, joined_grad
                    continue
            groups.append(Group([name], param.reshape(-1), grad.reshape(-1), decay))
        for group in groups:
            group.state = [self._group_state(slot, group, params) for slot in self.slots]
        self._groups, self._built_for = groups, arrays
        return groups

    def _group_state(self, slot: str, group: Group, params: dict[str, np.ndarray]) -> np.ndarray:
        """One flat state array for the group; each parameter's state becomes a view of it,
        keeping the values it had (zeros for a parameter seen for the first time)."""
        flat = np.zeros_like(group.param)
        store, start = self.state[slot], 0
        for name in group.names:
            shape, size = params[name].shape, params[name].size
            view = flat[start : start + size].reshape(shape)
            if name in store:
                if store[name].shape != shape:
                    raise ValueError(
                        f"optimizer state {slot}.{name} has shape {store[name].shape}, the "
                        f"parameter {shape}: was the state saved for another model?"
                    )
                view[...] = store[name]
            store[name] = view
            start += size
        return flat

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
        self._built_for = []  # the next update rebuilds its groups around the loaded state

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(lr={self.lr}, weight_decay={self.weight_decay}, "
                f"clip_norm={self.clip_norm})")


class SGD(Optimizer):
    """W <- W - lr * g."""

    def __init__(self, lr: float = 0.01, **kw: Any) -> None:
        super().__init__(lr, **kw)

    def step(self, param, grad, temp):
        np.multiply(grad, self.lr, out=temp)
        param -= temp


class Momentum(Optimizer):
    """v <- mu v - lr g;  W <- W + v (a ball rolling downhill keeps its velocity)."""

    slots = ("v",)

    def __init__(self, lr: float = 0.01, momentum: float = 0.9, **kw: Any) -> None:
        super().__init__(lr, **kw)
        self.momentum = momentum

    def step(self, param, grad, temp, v):
        v *= self.momentum
        np.multiply(grad, self.lr, out=temp)
        v -= temp
        param += v


class Nesterov(Optimizer):
    """Nesterov momentum in the form of Bengio et al. (2012): v <- mu v - lr g;
    W <- W + mu v - lr g, which evaluates the gradient at the look-ahead point."""

    slots = ("v",)

    def __init__(self, lr: float = 0.01, momentum: float = 0.9, **kw: Any) -> None:
        super().__init__(lr, **kw)
        self.momentum = momentum

    def step(self, param, grad, temp, v):
        v *= self.momentum
        np.multiply(grad, self.lr, out=temp)
        v -= temp
        param -= temp
        np.multiply(v, self.momentum, out=temp)
        param += temp


class AdaGrad(Optimizer):
    """h <- h + g^2;  W <- W - lr g / (sqrt(h) + eps): per-weight rates that only decrease."""

    slots = ("h",)

    def __init__(self, lr: float = 0.01, eps: float = 1e-7, **kw: Any) -> None:
        super().__init__(lr, **kw)
        self.eps = eps

    def step(self, param, grad, temp, h):
        np.multiply(grad, grad, out=temp)
        h += temp
        scaled_step(param, grad, temp, h, self.lr, self.eps)


class RMSProp(Optimizer):
    """h <- rho h + (1 - rho) g^2;  W <- W - lr g / (sqrt(h) + eps): AdaGrad that forgets."""

    slots = ("h",)

    def __init__(self, lr: float = 0.001, decay: float = 0.99, eps: float = 1e-7, **kw: Any):
        super().__init__(lr, **kw)
        self.decay, self.eps = decay, eps

    def step(self, param, grad, temp, h):
        h *= self.decay
        np.multiply(grad, grad, out=temp)
        temp *= 1.0 - self.decay
        h += temp
        scaled_step(param, grad, temp, h, self.lr, self.eps)


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
        np.multiply(grad, 1.0 - self.beta1, out=temp)
        m += temp
        v *= self.beta2  # v <- b2 v + (1 - b2) g^2
        np.multiply(grad, grad, out=temp)
        temp *= 1.0 - self.beta2
        v += temp
        scaled_step(param, m, temp, v, lr_t, self.eps)


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
