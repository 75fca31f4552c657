"""All layers, importable as nets.layers.X (and re-exported as nets.X).

The convolution's im2col comes twice: `nets.layers.im2col` is the book's plain version (with the
reference convolution and pooling built from it), `nets.layers.im2col_fast` the memory layout and
kernels that the layers run; the tests check the two equal. `image_input` (ImageInput,
CenterOn, AgentWindow, AgentPosition, FixedPlanes) and `dueling` (DuelingCombine) hold the
layers a DQN's Q-network puts around the others; `noisy` (NoisyDense) the dense layers of a
DQN that explores by weight noise.
"""

from nets.layers.activations import LeakyReLU, ReLU, Sigmoid, Softmax, Step, Tanh
from nets.layers.basic import Dense, Dropout, Flatten, Identity, Reshape, Scale
from nets.layers.conv import Conv2D
from nets.layers.dueling import DuelingCombine
from nets.layers.fused import CenteredConv2D, ConvReLUPool
from nets.layers.image_input import (
    AgentPosition,
    AgentWindow,
    CenterOn,
    FixedPlanes,
    ImageInput,
)
from nets.layers.noisy import NoisyDense, noisy_layers, resample_noise, set_noise
from nets.layers.normalization import BatchNorm, LocalResponseNorm
from nets.layers.pooling import AvgPool2D, GlobalAvgPool, MaxPool2D

Affine = Dense  # the book's name

__all__ = [
    "Affine", "AgentPosition", "AgentWindow", "AvgPool2D", "BatchNorm", "CenterOn",
    "CenteredConv2D", "Conv2D", "ConvReLUPool", "Dense", "Dropout", "DuelingCombine",
    "FixedPlanes", "Flatten", "GlobalAvgPool", "Identity", "ImageInput", "LeakyReLU",
    "LocalResponseNorm", "MaxPool2D", "NoisyDense", "ReLU", "Reshape", "Scale", "Sigmoid",
    "Softmax", "Step", "Tanh", "noisy_layers", "resample_noise", "set_noise",
]
