"""Sequential: layers applied one after another; the main model class."""

from collections.abc import Sequence
from typing import Any

import numpy as np

from nets.errors import ShapeError
from nets.module import Layer, Model, build, register, repeat_first

Item = Layer | Model | tuple[str, Layer | Model]


def name_layers(items: Sequence[Item]) -> list[tuple[str, Layer | Model]]:
    """Keep given names; name the others by type and count ("dense1", "relu2", ...)."""
    named, counts = [], {}
    for item in items:
        if isinstance(item, tuple):
            name, layer = item
        else:
            layer = item
            kind = type(layer).__name__.lower()
            counts[kind] = counts.get(kind, 0) + 1
            name = f"{kind}{counts[kind]}"
        if not isinstance(layer, (Layer, Model)):
            raise TypeError(f"{name!r} is a {type(layer).__name__}, not a nets layer or model")
        if "." in name or any(name == n for n, _ in named):
            raise ValueError(f"layer name {name!r} is duplicated or contains a dot")
        named.append((name, layer))
    return named


@register
class Sequential(Model):
    """Layers applied in order: Sequential(Dense(...), ReLU()) or Sequential([("fc1", ...)]).

    input_grad=False: backward stops at the first layer with parameters (which then skips its
    input gradient, e.g. the costly col2im of a first convolution) and returns None. Use it
    when nothing upstream needs dx, as for a network fed directly with data.
    """

    def __init__(self, *layers: Item | Sequence[Item], input_grad: bool = True) -> None:
        items = layers[0] if len(layers) == 1 and isinstance(layers[0], list) else layers
        self.layers = name_layers(items)
        self.input_grad = input_grad

    @Model.input_grad.setter
    def input_grad(self, value: bool) -> None:
        self._input_grad = bool(value)
        # With no input gradient, backward can stop at the first layer that has parameters.
        self.first = 0
        for index, (_, layer) in enumerate(self.layers):
            layer.input_grad = True
            has_params = any(True for _ in layer.named_params()) if isinstance(
                layer, Model) else bool(layer.params)
            if not value and has_params and self.first == 0:
                self.first = index
                layer.input_grad = False
                break

    def children(self) -> list[tuple[str, Layer | Model]]:
        return self.layers

    def __getitem__(self, name: str) -> Layer | Model:
        return dict(self.layers)[name]

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        for name, layer in self.layers:
            try:
                x = layer.forward(x, train)
            except ShapeError as error:
                raise ShapeError(f"layer {name!r}: {error}") from None
        return x

    def forward_twin(self, x: np.ndarray, n: int, twin: "Sequential") -> np.ndarray:
        """The first n rows of x through this network in training mode, the others through
        `twin` (the same layers, other parameters), layer by layer in one pass where a layer
        can (Layer.forward_twin): a DQN's online and target networks over obs and next_obs."""
        return self.twin_pass(x, n, twin, repeated=False)

    def forward_twin_repeated(self, x: np.ndarray, n: int, twin: "Sequential") -> np.ndarray:
        """forward_twin over np.concatenate([x, x[:n]]) (Layer.forward_twin_repeated), with
        the repeated rows left out of the rowwise layers before the first with parameters."""
        return self.twin_pass(x, n, twin, repeated=True)

    def twin_pass(self, x: np.ndarray, n: int, twin: "Sequential", repeated: bool
                  ) -> np.ndarray:
        for (name, layer), (_, other) in zip(self.layers, twin.layers, strict=True):
            try:
                if repeated and not layer.rowwise:
                    x, repeated = layer.forward_twin_repeated(x, n, other), False
                else:  # (rows still to repeat: a rowwise layer's output rows are its input's)
                    x = layer.forward_twin(x, n, other)
            except ShapeError as error:
                raise ShapeError(f"layer {name!r}: {error}") from None
        return repeat_first(x, n) if repeated else x

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        for index in range(len(self.layers) - 1, self.first - 1, -1):
            layer = self.layers[index][1]
            # (the input gradient's width that the layer upstream reads; all at the first)
            layer.dx_width = self.layers[index - 1][1].grad_width() if index else None
            dout = layer.backward(dout)
        return dout if self.input_grad else None

    def config(self) -> dict[str, Any]:
        return {
            "type": "Sequential",
            "layers": [[name, layer.config()] for name, layer in self.layers],
            "input_grad": self.input_grad,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Sequential":
        layers = [(name, build(sub)) for name, sub in config["layers"]]
        return cls(layers, input_grad=config.get("input_grad", True))

    def summary(self, input_shape: tuple[int, ...]) -> str:
        """A table of layer, output shape and parameter count for one input of `input_shape`."""
        x = np.zeros((1, *input_shape), dtype=np.float32)
        rows = [("layer", "type", "output shape", "params")]
        for name, layer in self.layers:
            x = layer.forward(x)
            count = (layer.num_params() if isinstance(layer, Model)
                     else sum(v.size for v in layer.params.values()))
            rows.append((name, type(layer).__name__, str(tuple(x.shape[1:])), f"{count:,}"))
        rows.append(("total", "", "", f"{self.num_params():,}"))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in rows
        ]
        lines.insert(1, "-" * len(lines[0]))
        return "\n".join(lines)

    def __repr__(self) -> str:
        inner = "\n".join(f"  ({name}): {layer!r}" for name, layer in self.layers)
        return f"Sequential(\n{inner}\n)"
