"""All layers, importable as nets.layers.X (and re-exported as nets.X)."""

from nets.layers.activations import LeakyReLU, ReLU, Sigmoid, Softmax, Step, Tanh
from nets.layers.basic import Dense, Dropout, Flatten, Identity, Scale

__all__ = [
    "Dense", "Dropout", "Flatten", "Identity", "LeakyReLU", "ReLU", "Scale", "Sigmoid",
    "Softmax", "Step", "Tanh",
]
