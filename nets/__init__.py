"""From-scratch NumPy neural networks: layers, losses, optimizers, models, gradcheck, io.

Images are (N, C, H, W) float32. Typical use:

    model = nets.Sequential(("fc1", nets.Dense(784, 100, rng=rng)), ("relu1", nets.ReLU()),
                            ("fc2", nets.Dense(100, 10, rng=rng)))
    loss = nets.losses.SoftmaxCrossEntropy()
    value = loss.forward(model.forward(x, train=True), labels)
    model.backward(loss.backward())
    optimizer.update(model.trainable_params(), model.trainable_grads())
"""

from nets import errors, init, io, losses, optim
from nets.blocks import Concat, Residual
from nets.errors import CheckpointError, NonFiniteLossError, ShapeError
from nets.gradcheck import gradcheck
from nets.layers import *  # noqa: F403 (the layer list is nets.layers.__all__)
from nets.layers import __all__ as _layer_names
from nets.module import REGISTRY, Layer, Model, build, polyak_update, register
from nets.sequential import Sequential

# The function shadows its module's name here; this keeps the spelling
# nets.gradcheck.gradcheck(...) working as well as nets.gradcheck(...).
gradcheck.gradcheck = gradcheck

__all__ = [
    *_layer_names,
    "REGISTRY", "CheckpointError", "Concat", "Layer", "Model", "NonFiniteLossError", "Residual",
    "Sequential", "ShapeError", "build", "errors", "gradcheck", "init", "io", "losses", "optim",
    "polyak_update", "register",
]
