"""Parameters grouped by where they lie in memory, so that an optimizer updates many at once.

Parameters that lie back to back in one buffer (see `nets.Model.pack_params`), with their
gradients back to back too, form one `Group` that each element-wise operation of an update
covers at once: a dozen NumPy calls per update instead of a dozen per parameter, which matters
for the many small arrays of an MLP. Any other parameter is a group of its own; the arithmetic
is the same either way, element by element. Large groups are handed out in blocks of about
CHUNK elements, so that the several element-wise passes of an update run on data that is still
in the CPU cache (about 2x faster than whole-array passes for a layer of millions of weights).

An optimizer's state (Adam's m and v, ...) is kept per group too, one flat array per slot, and
each parameter's named state array (`state[slot][name]`) is a view of it: saving and loading
see names, the update sees whole groups.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

CHUNK = 65536  # elements per block of an update
# One block of a group: (param, grad, state, decay, temp, spare), see ParamGroups.blocks.
Block = tuple[np.ndarray, np.ndarray, list[np.ndarray], float, np.ndarray, np.ndarray]


@dataclass
class Group:
    """Parameters lying back to back in one buffer (and their gradients too): updated as one.

    `param` and `grad` are 1-D views spanning the group; `state` holds one 1-D array per slot,
    of which the per-parameter state arrays are views.
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


def check_pair(name: str, param: np.ndarray, grad: np.ndarray) -> None:
    if not param.flags.c_contiguous or not grad.flags.c_contiguous:
        raise ValueError(f"parameter {name!r} and its gradient must be C-contiguous arrays")
    if grad.shape != param.shape:
        raise ValueError(f"gradient of {name!r} has shape {grad.shape}, the parameter "
                         f"{param.shape}")


class ParamGroups:
    """The groups of one optimizer's parameters, rebuilt only when the arrays change."""

    def __init__(self) -> None:
        self.groups: list[Group] = []
        # The (name, param, grad) arrays the groups were built for.
        self.built_for: list[tuple[str, np.ndarray, np.ndarray]] = []
        self.scratch: dict[np.dtype, np.ndarray] = {}  # (2, block length) temporaries per dtype

    def forget(self) -> None:
        """Rebuild at the next `build` (e.g. around a newly loaded state)."""
        self.built_for = []

    def build(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray],
              state: dict[str, dict[str, np.ndarray]],
              decay_of: Callable[[np.ndarray], float]) -> list[Group]:
        """The groups of these arrays, each parameter's weight decay given by `decay_of`.

        `state` maps slot -> name -> array; its arrays become views of the groups' state,
        keeping their values (zeros for a parameter seen for the first time).
        """
        arrays = [(name, param, grads[name]) for name, param in params.items()]
        if len(arrays) == len(self.built_for) and all(
            name == old_name and param is old_param and grad is old_grad
            for (name, param, grad), (old_name, old_param, old_grad)
            in zip(arrays, self.built_for, strict=True)
        ):
            return self.groups
        groups: list[Group] = []
        for name, param, grad in arrays:
            check_pair(name, param, grad)
            decay = decay_of(param)
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
            group.state = [group_state(slot, store, group, params)
                           for slot, store in state.items()]
        self.groups, self.built_for = groups, arrays
        return groups

    def blocks(self) -> Iterator[Block]:
        """The groups of the last `build` in blocks of about CHUNK elements (one block for a
        group of up to 1.5 CHUNK): (param, grad, state, decay, temp, spare), 1-D slices of the
        parameters, gradients and state arrays, the group's weight decay, and two scratch
        arrays of the same size."""
        for group in self.groups:
            blocks = max(1, round(group.param.size / CHUNK))
            length = -(-group.param.size // blocks)
            scratch = self.scratch.get(group.param.dtype)
            if scratch is None or scratch.shape[1] < length:
                scratch = self.scratch[group.param.dtype] = np.empty((2, length),
                                                                     group.param.dtype)
            for start in range(0, group.param.size, length):
                block = slice(start, start + length)
                param = group.param[block]
                yield (param, group.grad[block], [array[block] for array in group.state],
                       group.decay, scratch[0, : param.size], scratch[1, : param.size])


def group_state(slot: str, store: dict[str, np.ndarray], group: Group,
                params: dict[str, np.ndarray]) -> np.ndarray:
    """One flat state array for the group; each parameter's state in `store` becomes a view
    of it, keeping the values it had (zeros for a parameter seen for the first time)."""
    flat = np.zeros_like(group.param)
    start = 0
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
