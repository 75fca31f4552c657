"""Base classes: `Layer` (a leaf with params/grads dicts) and `Model` (a container of layers).

A layer caches in `forward` what its `backward` needs, so `backward` always refers to the most
recent `forward`. Parameters live in `params` and their gradients in `grads` under the same keys;
`backward` overwrites the gradient arrays in place so that references held elsewhere stay valid.
Non-trainable state (BatchNorm running statistics) lives in `buffers`.
"""

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from nets.errors import CheckpointError, ShapeError

REGISTRY: dict[str, type] = {}


def register(cls: type) -> type:
    """Class decorator: make `cls` buildable from its `config()` by `build`."""
    REGISTRY[cls.__name__] = cls
    return cls


def build(config: dict[str, Any]) -> "Layer | Model":
    """Rebuild a layer or model from the JSON-able dict that its `config()` returned."""
    kind = config.get("type") if isinstance(config, dict) else None
    if kind not in REGISTRY:
        raise ValueError(f"cannot build {kind!r}: known types are {sorted(REGISTRY)}")
    return REGISTRY[kind].from_config(config)


def default_rng(rng: np.random.Generator | None) -> np.random.Generator:
    """The given generator, or a fixed-seed one so that rng=None is still reproducible."""
    return np.random.default_rng(0) if rng is None else rng


def repeat_first(x: np.ndarray, n: int) -> np.ndarray:
    """x with its first n rows again at the end (forward_twin_repeated's stack)."""
    return np.concatenate([x, x[:n]])


def as_prefixes(prefixes: str | Iterable[str]) -> list[str]:
    return [prefixes] if isinstance(prefixes, str) else list(prefixes)


class Layer:
    """A leaf layer. Subclasses implement forward/backward and `config_args`."""

    # True for layers without parameters whose output rows each depend on their own input row
    # alone (input layers, activations, reshapes): forward_twin's result is then the same
    # whichever network's rows a row is, so a stack whose rows repeat may leave them out
    # (forward_twin_repeated, Sequential).
    rowwise = False
    # How many leading input features backward returns the gradient of (None: all). Set by
    # Sequential before each backward from the layer upstream (its `grad_width`), so that a
    # Dense after a Concat skips the columns of branches that take no gradient.
    dx_width: int | None = None

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.frozen: set[str] = set()  # keys of params excluded from training
        self.input_grad = True  # False: backward skips dx and returns None
        self.dtype = np.dtype(np.float32)

    def add_param(self, name: str, value: np.ndarray) -> None:
        self.params[name] = np.ascontiguousarray(value, dtype=self.dtype)
        self.grads[name] = np.zeros_like(self.params[name])

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    def forward_twin(self, x: np.ndarray, n: int, twin: "Layer") -> np.ndarray:
        """forward over two batches stacked in x: its first n rows by this layer in training
        mode (what `backward` then refers to), the others by `twin`, a layer of the same
        config whose parameters may differ (a DQN's target network), not in training mode.

        The outputs are stacked likewise. This is two forward passes; layers that can run
        both in one (shared per-call work, one copy of the input) override it.
        """
        other = twin.forward(x[n:])
        return np.concatenate([self.forward(x[:n], train=True), other])

    def forward_twin_repeated(self, x: np.ndarray, n: int, twin: "Layer") -> np.ndarray:
        """forward_twin over x with its first n rows repeated at the end, np.concatenate([x,
        x[:n]]): twin also runs over the rows this layer runs over (a DQN's Munchausen target
        reads the target network over obs as well as next_obs). The output is that pass's.

        A `rowwise` layer runs once over x and repeats its output rows; others over the
        repeated input. Layers that can share the repeated rows' work between the two
        networks (CenteredConv2D) override it.
        """
        if self.rowwise:
            return repeat_first(self.forward_twin(x, n, twin), n)
        return self.forward_twin(repeat_first(x, n), n, twin)

    def grad_width(self) -> int | None:
        """How many leading features of the last output backward reads the gradient of:
        None, all of them (a Concat with branches that take none reads fewer)."""
        return None

    def config_args(self) -> dict[str, Any]:
        """Constructor arguments (JSON-able) that rebuild this layer."""
        return {}

    def config(self) -> dict[str, Any]:
        return {"type": type(self).__name__, **self.config_args()}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Layer":
        return cls(**{k: v for k, v in config.items() if k != "type"})

    def astype(self, dtype: Any) -> "Layer":
        """Convert params, grads and buffers to `dtype` (float64 for gradient checks)."""
        self.dtype = np.dtype(dtype)
        for store in (self.params, self.grads, self.buffers):
            for key, value in store.items():
                store[key] = value.astype(self.dtype)
        return self

    def cast(self, x: np.ndarray) -> np.ndarray:
        """The input as this layer's dtype (no copy when it already is)."""
        return np.asarray(x, dtype=self.dtype)

    def expect(self, x: np.ndarray, ndim: int, expected: str, ok: bool = True) -> None:
        """Raise ShapeError unless x has `ndim` dimensions and `ok` holds."""
        if x.ndim != ndim or not ok:
            raise ShapeError(
                f"{type(self).__name__} expected input of shape {expected}, received {x.shape}"
            )

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config_args().items())
        return f"{type(self).__name__}({args})"


class Model:
    """A container of named layers/models with the model API (names, state, freezing, config)."""

    _input_grad = True
    rowwise = False  # (see Layer.rowwise)
    dx_width: int | None = None  # (see Layer.dx_width; models return every feature's)

    @property
    def input_grad(self) -> bool:
        """False: backward may skip dx and return None (nothing upstream needs it)."""
        return self._input_grad

    @input_grad.setter
    def input_grad(self, value: bool) -> None:
        # A block whose input is not needed needs no input gradient from any of its parts.
        self._input_grad = bool(value)
        for _, child in self.children():
            child.input_grad = self._input_grad

    def children(self) -> list[tuple[str, "Layer | Model"]]:
        raise NotImplementedError

    def grad_width(self) -> int | None:
        """As Layer.grad_width: None, every output feature's gradient is read."""
        return None

    def forward_twin(self, x: np.ndarray, n: int, twin: "Model") -> np.ndarray:
        """As Layer.forward_twin: the first n rows of x by this model in training mode, the
        others by `twin`, a model of the same config."""
        other = twin.forward(x[n:])
        return np.concatenate([self.forward(x[:n], train=True), other])

    def forward_twin_repeated(self, x: np.ndarray, n: int, twin: "Model") -> np.ndarray:
        """As Layer.forward_twin_repeated: forward_twin over np.concatenate([x, x[:n]])."""
        return self.forward_twin(repeat_first(x, n), n, twin)

    def named_leaves(self, prefix: str = "") -> Iterator[tuple[str, Layer]]:
        for name, child in self.children():
            full = f"{prefix}{name}"
            if isinstance(child, Model):
                yield from child.named_leaves(full + ".")
            else:
                yield full, child

    def named_params(self) -> Iterator[tuple[str, np.ndarray]]:
        """All parameters (frozen too) with dotted names such as "conv1.W"."""
        for name, leaf in self.named_leaves():
            for key, value in leaf.params.items():
                yield f"{name}.{key}", value

    def named_grads(self) -> Iterator[tuple[str, np.ndarray]]:
        for name, leaf in self.named_leaves():
            for key, value in leaf.grads.items():
                yield f"{name}.{key}", value

    def named_buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        for name, leaf in self.named_leaves():
            for key, value in leaf.buffers.items():
                yield f"{name}.{key}", value

    def _trainable(self, store: str) -> dict[str, np.ndarray]:
        return {
            f"{name}.{key}": value
            for name, leaf in self.named_leaves()
            for key, value in getattr(leaf, store).items()
            if key not in leaf.frozen
        }

    def trainable_params(self) -> dict[str, np.ndarray]:
        """Trainable (not frozen) parameters by dotted name: live arrays that optimizers update
        in place. Each layer's own `params` dict holds its parameters, frozen ones too."""
        return self._trainable("params")

    def trainable_grads(self) -> dict[str, np.ndarray]:
        """Gradients of the trainable parameters, same keys as `trainable_params()`."""
        return self._trainable("grads")

    def pack_params(self) -> None:
        """Move all parameters into one contiguous buffer, and their gradients into another.

        Each layer keeps its named arrays, now views into the two buffers, with the same
        values; nothing else changes. Trainable parameters come first, in `trainable_params()`
        order, so an optimizer finds them back to back and updates them with a few
        whole-buffer operations instead of a few per parameter (see nets.param_groups). Frozen
        ones follow. `astype` unpacks again (it makes new arrays); repacking is always allowed.
        """
        leaves = [leaf for _, leaf in self.named_leaves()]
        entries = [(leaf, key) for leaf in leaves for key in leaf.params if key not in leaf.frozen]
        entries += [(leaf, key) for leaf in leaves for key in leaf.params if key in leaf.frozen]
        if not entries:
            return
        dtypes = {leaf.params[key].dtype for leaf, key in entries}
        if len(dtypes) > 1:
            raise ValueError(f"pack_params needs one parameter dtype, the model has {dtypes}")
        total = sum(leaf.params[key].size for leaf, key in entries)
        dtype = dtypes.pop()
        params, grads = np.empty(total, dtype), np.empty(total, dtype)
        start = 0
        for leaf, key in entries:
            shape, size = leaf.params[key].shape, leaf.params[key].size
            for store, buffer in ((leaf.params, params), (leaf.grads, grads)):
                view = buffer[start : start + size].reshape(shape)
                view[...] = store[key]
                store[key] = view
            start += size

    def num_params(self) -> int:
        return sum(value.size for _, value in self.named_params())

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer (e.g. BatchNorm running statistics)."""
        state = {name: value.copy() for name, value in self.named_params()}
        state.update((name, value.copy()) for name, value in self.named_buffers())
        return state

    def _live_state(self) -> dict[str, np.ndarray]:
        return dict(self.named_params()) | dict(self.named_buffers())

    def load_state_dict(self, state: dict[str, np.ndarray], strict: bool = True) -> dict:
        """Copy arrays into the model by name.

        strict=True requires exactly the model's names; strict=False loads the names both have
        (e.g. transfer learning of a subset) and returns {"missing": [...], "unexpected": [...]}.
        Shapes must match either way. Errors name every offending parameter.
        """
        live = self._live_state()
        missing = sorted(set(live) - set(state))
        unexpected = sorted(set(state) - set(live))
        wrong = [
            f"{name}: model {live[name].shape}, given {np.shape(state[name])}"
            for name in sorted(set(live) & set(state))
            if live[name].shape != np.shape(state[name])
        ]
        # float64 into a float32 model is fine; complex or text into floats would be cast silently.
        wrong += [
            f"{name}: model {live[name].dtype}, given {np.asarray(state[name]).dtype}"
            for name in sorted(set(live) & set(state))
            if not np.can_cast(np.asarray(state[name]).dtype, live[name].dtype, "same_kind")
        ]
        problems = []
        if strict and missing:
            problems.append(f"missing parameters: {missing}")
        if strict and unexpected:
            problems.append(f"unexpected parameters: {unexpected}")
        if wrong:
            problems.append(f"shape or dtype mismatch: {wrong}")
        if problems:
            raise CheckpointError(
                "state does not match the model (same architecture?): " + "; ".join(problems)
            )
        for name in set(live) & set(state):
            live[name][...] = state[name]
        return {"missing": missing, "unexpected": unexpected}

    def copy_to(self, other: "Model") -> None:
        """Hard copy of all parameters and buffers into a model of the same architecture."""
        other.load_state_dict(self._live_state(), strict=True)

    def freeze(self, prefixes: str | Iterable[str]) -> list[str]:
        """Exclude parameters whose dotted name starts with any prefix from training
        (`trainable_params()`)."""
        return self._set_frozen(as_prefixes(prefixes), True)

    def unfreeze(self, prefixes: str | Iterable[str] | None = None) -> list[str]:
        """Make parameters trainable again (all of them when prefixes is None)."""
        return self._set_frozen(None if prefixes is None else as_prefixes(prefixes), False)

    def _set_frozen(self, prefixes: list[str] | None, frozen: bool) -> list[str]:
        changed = []
        for name, leaf in self.named_leaves():
            for key in leaf.params:
                full = f"{name}.{key}"
                if prefixes is None or any(full.startswith(p) for p in prefixes):
                    (leaf.frozen.add if frozen else leaf.frozen.discard)(key)
                    changed.append(full)
        if prefixes is not None and not changed:
            names = [name for name, _ in self.named_params()]
            raise ValueError(f"no parameter name starts with {prefixes}; names are {names}")
        return changed

    def astype(self, dtype: Any) -> "Model":
        for _, leaf in self.named_leaves():
            leaf.astype(dtype)
        return self

    def predict(self, x: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Eval-mode forward, optionally in batches to bound memory."""
        if batch_size is None or len(x) <= batch_size:
            return self.forward(x, train=False)
        parts = [self.forward(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        return np.concatenate(parts)

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        raise NotImplementedError


def polyak_update(target: Model, source: Model, tau: float) -> None:
    """Soft target update, in place: target = (1 - tau) * target + tau * source."""
    if not 0.0 <= tau <= 1.0:
        raise ValueError(f"tau must be in [0, 1], got {tau}")
    source_state = source._live_state()
    target_state = target._live_state()
    mismatched = sorted(
        name for name in source_state.keys() | target_state.keys()
        if name not in source_state or name not in target_state
        or source_state[name].shape != target_state[name].shape
    )
    if mismatched:  # a programming error, not a bad file: ValueError, not CheckpointError
        raise ValueError(
            f"polyak_update needs two models of the same architecture; differing: {mismatched}"
        )
    for name, value in target_state.items():
        value *= 1.0 - tau
        value += tau * source_state[name]
