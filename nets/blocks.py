"""Composite blocks: Residual (skip connection) and Concat (parallel branches)."""

from collections.abc import Sequence
from typing import Any

import numpy as np

from nets.errors import ShapeError
from nets.layers.basic import Identity
from nets.layers.conv import Conv2D
from nets.module import Layer, Model, build, register
from nets.sequential import Item, name_layers


@register
class Residual(Model):
    """y = body(x) + shortcut(x) (He et al. 2015). Put a ReLU after it for a ResNet block.

    The shortcut is the identity, or, when in_channels != out_channels or stride != 1, a 1x1
    convolution with that stride (a "projection") so that the two terms have the same shape.
    Shapes: x (N, C, H, W) -> body's output shape. A custom `shortcut` layer may be given.
    """

    def __init__(self, body: Layer | Model, shortcut: Layer | Model | None = None, *,
                 in_channels: int | None = None, out_channels: int | None = None,
                 stride: int = 1, rng: np.random.Generator | None = None) -> None:
        if shortcut is None:
            projection = stride != 1 or (in_channels is not None and in_channels != out_channels)
            if projection and (in_channels is None or out_channels is None):
                raise ValueError("a projection shortcut needs in_channels and out_channels")
            shortcut = (Conv2D(in_channels, out_channels, 1, stride=stride, rng=rng)
                        if projection else Identity())
        self.body, self.shortcut = body, shortcut

    def children(self) -> list[tuple[str, Layer | Model]]:
        return [("body", self.body), ("shortcut", self.shortcut)]

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        main, skip = self.body.forward(x, train), self.shortcut.forward(x, train)
        if main.shape != skip.shape:
            raise ShapeError(
                f"Residual: body gives {main.shape} but shortcut gives {skip.shape} for input "
                f"{x.shape}; pass in_channels/out_channels/stride for a projection shortcut"
            )
        return main + skip

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        dmain, dskip = self.body.backward(dout), self.shortcut.backward(dout)
        return dmain + dskip if self.input_grad else None

    def config(self) -> dict[str, Any]:
        return {"type": "Residual", "body": self.body.config(),
                "shortcut": self.shortcut.config()}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Residual":
        return cls(build(config["body"]), build(config["shortcut"]))


@register
class Concat(Model):
    """Parallel branches on the same input, outputs concatenated along channels (Inception).

    Concat([("b1", Conv2D(...)), ("b3", Sequential(...))]): each branch maps (N, C, H, W) to
    (N, F_i, H, W); the result is (N, sum F_i, H, W). Works for (N, D_i) outputs too.
    """

    def __init__(self, branches: Sequence[Item]) -> None:
        self.branches = name_layers(branches)

    def children(self) -> list[tuple[str, Layer | Model]]:
        return self.branches

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        return self.join([branch.forward(x, train) for _, branch in self.branches])

    def forward_twin(self, x: np.ndarray, n: int, twin: "Concat") -> np.ndarray:
        return self.join([branch.forward_twin(x, n, other) for (_, branch), (_, other)
                          in zip(self.branches, twin.branches, strict=True)])

    def forward_twin_repeated(self, x: np.ndarray, n: int, twin: "Concat") -> np.ndarray:
        return self.join([branch.forward_twin_repeated(x, n, other) for (_, branch), (_, other)
                          in zip(self.branches, twin.branches, strict=True)])

    def join(self, outputs: list[np.ndarray]) -> np.ndarray:
        """The branches' outputs concatenated along channels (their sizes kept for backward)."""
        shapes = {(out.shape[0], *out.shape[2:]) for out in outputs}
        if len(shapes) != 1:
            found = {name: out.shape for (name, _), out in zip(self.branches, outputs, strict=True)}
            raise ShapeError(f"Concat: branch outputs differ beyond channels: {found}")
        self.sizes = [out.shape[1] for out in outputs]
        return np.concatenate(outputs, axis=1)

    def grad_width(self) -> int | None:
        """The width of the leading branches' outputs when the branches after them take no
        gradient (leaf layers without parameters whose input needs none, such as a DQN's
        window around the agent beside its CNN), else None: every feature's."""
        width = sum(self.sizes)
        for (_, branch), size in zip(reversed(self.branches), reversed(self.sizes), strict=True):
            if not self.takes_no_gradient(branch):
                break
            width -= size
        return width if width < sum(self.sizes) else None

    @staticmethod
    def takes_no_gradient(branch: Layer | Model) -> bool:
        return isinstance(branch, Layer) and not branch.params and not branch.input_grad

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        # dout may cover only the first grad_width() features: the others' branches take none.
        parts = np.split(dout, np.cumsum(self.sizes)[:-1], axis=1)
        dx = None
        for (_, branch), part in zip(self.branches, parts, strict=True):
            if part.shape[1] == 0 and self.takes_no_gradient(branch):
                continue
            grad = branch.backward(part)
            if grad is not None:
                dx = grad if dx is None else dx + grad
        return dx if self.input_grad else None

    def config(self) -> dict[str, Any]:
        return {"type": "Concat",
                "branches": [[name, branch.config()] for name, branch in self.branches]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Concat":
        return cls([(name, build(sub)) for name, sub in config["branches"]])
