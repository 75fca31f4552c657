"""A small model zoo for 28x28x1 images: the networks of the book and of deep learning's history.

Every function returns a `Sequential` mapping images (N, C, H, W) float32 (MLPs also accept
flat (N, C*H*W)) to logits (N, num_classes), and takes

    input_shape=(1, 28, 28), num_classes=10, rng=None, input_grad=False, **options.

Convolutional layers (and blocks made of them) are named "conv...", dense layers "fc...", so
that transfer learning can freeze the feature extractor with `model.freeze(["conv"])`.
input_grad=False lets backward skip the gradient with respect to the images, which training
never needs; set it to True for saliency maps or adversarial examples.
Widths of the dense layers after the convolutions are computed by running a dummy image
through the layers before them, so no flattened size is written by hand.
"""

from collections.abc import Sequence

import numpy as np

from nets.blocks import Concat, Residual
from nets.layers import (
    AvgPool2D,
    BatchNorm,
    Conv2D,
    ConvReLUPool,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool,
    LocalResponseNorm,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Tanh,
)
from nets.module import Layer, Model, default_rng
from nets.sequential import Sequential

__all__ = [
    "alexnet_small", "deep_conv_net", "inception_small", "lenet5", "mlp", "resnet_small",
    "simple_conv_net", "two_layer_mlp",
]

Shape = tuple[int, ...]
Named = list[tuple[str, Layer | Model]]
ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}


def output_shape(layers: Named, input_shape: Shape) -> Shape:
    """The shape of one sample after `layers` (found by running a zero image through them)."""
    x = np.zeros((1, *input_shape), dtype=np.float32)
    for _, layer in layers:
        x = layer.forward(x)
    return x.shape[1:]


def classifier_head(
    features: Named, input_shape: Shape, hidden: Sequence[int], num_classes: int,
    rng: np.random.Generator, dropout: float = 0.0,
) -> Named:
    """Flatten, then dense layers fc1..fcK (ReLU and optional dropout between them)."""
    width = int(np.prod(output_shape(features, input_shape)))
    layers: Named = [("flatten", Flatten())]
    for index, units in enumerate(hidden, start=1):
        layers += [(f"fc{index}", Dense(width, units, rng=rng)), (f"relu_fc{index}", ReLU())]
        if dropout:
            layers.append((f"dropout{index}", Dropout(dropout, rng=rng)))
        width = units
    layers.append((f"fc{len(hidden) + 1}", Dense(width, num_classes, rng=rng)))
    return layers


def two_layer_mlp(
    input_shape: Shape = (1, 28, 28), num_classes: int = 10,
    rng: np.random.Generator | None = None, input_grad: bool = False, hidden: int = 50,
) -> Sequential:
    """The book's TwoLayerNet: affine -> ReLU -> affine (chapter 5)."""
    return mlp(input_shape, num_classes, rng, input_grad, hidden=(hidden,))


def mlp(
    input_shape: Shape = (1, 28, 28), num_classes: int = 10,
    rng: np.random.Generator | None = None, input_grad: bool = False,
    hidden: Sequence[int] = (100,) * 5, activation: str = "relu", init: str | float = "he",
    batchnorm: bool = False, dropout: float = 0.0,
) -> Sequential:
    """The book's MultiLayerNet(Extend): [affine -> (BatchNorm) -> activation -> (Dropout)] x K
    -> affine (chapter 6). init: "he", "xavier", or a std such as 0.01."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {list(ACTIVATIONS)}")
    rng = default_rng(rng)
    width = int(np.prod(input_shape))
    layers: Named = []
    for index, units in enumerate(hidden, start=1):
        layers.append((f"fc{index}", Dense(width, units, init=init, rng=rng)))
        if batchnorm:
            layers.append((f"bn{index}", BatchNorm(units)))
        layers.append((f"{activation}{index}", ACTIVATIONS[activation]()))
        if dropout:
            layers.append((f"dropout{index}", Dropout(dropout, rng=rng)))
        width = units
    layers.append((f"fc{len(hidden) + 1}", Dense(width, num_classes, init=init, rng=rng)))
    return Sequential(layers, input_grad=input_grad)


def simple_conv_net(
    input_shape: Shape = (1, 28, 28), num_classes: int = 10,
    rng: np.random.Generator | None = None, input_grad: bool = False,
    filters: int = 30, kernel_size: int = 5, hidden: int = 100,
) -> Sequential:
    """The book's SimpleConvNet (chapter 7): conv 5x5 (30) -> ReLU -> max-pool 2x2 ->
    affine 100 -> ReLU -> affine.

    The first three are one fused ConvReLUPool layer: it pools before adding the bias and
    applying ReLU, which gives the same result (both are monotone per channel) on a quarter
    of the values.
    """
    rng = default_rng(rng)
    features: Named = [
        ("conv1", ConvReLUPool(input_shape[0], filters, kernel_size, pool_size=2, rng=rng)),
    ]
    head = classifier_head(features, input_shape, [hidden], num_classes, rng)
    return Sequential(features + head, input_grad=input_grad)


def deep_conv_net(
    input_shape: Shape = (1, 28, 28), num_classes: int = 10,
    rng: np.random.Generator | None = None, input_grad: bool = False,
    dropout: float = 0.5,
) -> Sequential:
    """The book's DeepConvNet (chapter 8), a small VGG: three stages of two 3x3 convolutions
    (16, 32, 64 filters) and a 2x2 max-pool, then affine 50 -> ReLU -> Dropout -> affine.

    As in the book, the second convolution of the middle stage pads by 2 (14 -> 16 pixels, so
    the last stage pools 8 -> 4). Each stage's conv -> ReLU -> pool is one fused ConvReLUPool.
    The book also applies dropout to the logits; that only adds noise to the loss, so we don't.
    """
    rng = default_rng(rng)
    features: Named = []
    in_channels = input_shape[0]
    for stage, (channels, padding) in enumerate(((16, 1), (32, 2), (64, 1))):
        first, second = 2 * stage + 1, 2 * stage + 2
        features += [
            (f"conv{first}", Conv2D(in_channels, channels, 3, padding=1, rng=rng)),
            (f"relu{first}", ReLU()),
            (f"conv{second}", ConvReLUPool(channels, channels, 3, padding=padding,
                                           pool_size=2, rng=rng)),
        ]
        in_channels = channels
    head = classifier_head(features, input_shape, [50], num_classes, rng, dropout=dropout)
    return Sequential(features + head, input_grad=input_grad)


def lenet5(
    input_shape: Shape = (1, 28, 28), num_classes: int = 10,
    rng: np.random.Generator | None = None, input_grad: bool = False,
) -> Sequential:
    """LeNet-5 (LeCun et al. 1998) with sigmoids and average pooling.

    C1 conv 5x5 (6, padded by 2 since MNIST here is 28x28, not 32x32) -> S2 avg-pool 2x2 ->
    C3 conv 5x5 (16) -> S4 avg-pool -> C5 conv 5x5 (120, a 1x1 output) -> F6 affine 84 ->
    affine. Departures from the paper: C3 connects to all six S2 maps (the paper used a sparse
    connection table to save compute), the subsampling layers have no trainable coefficients,
    and the output is an affine layer instead of Euclidean RBF units.
    """
    rng = default_rng(rng)
    layers: Named = [
        ("conv1", Conv2D(input_shape[0], 6, 5, padding=2, rng=rng)), ("sigmoid1", Sigmoid()),
        ("pool1", AvgPool2D(2)),
        ("conv2", Conv2D(6, 16, 5, rng=rng)), ("sigmoid2", Sigmoid()),
        ("pool2", AvgPool2D(2)),
    ]
    channels, height, width = output_shape(layers, input_shape)
    layers += [
        ("conv3", Conv2D(channels, 120, [height, width], rng=rng)), ("sigmoid3", Sigmoid()),
        ("flatten", Flatten()),
        ("fc1", Dense(120, 84, init="xavier", rng=rng)), ("sigmoid4", Sigmoid()),
        ("fc2", Dense(84, num_classes, init="xavier", rng=rng)),
    ]
    return Sequential(layers, input_grad=input_grad)


def alexnet_small(
    input_shape: Shape = (1, 28, 28), num_classes: int = 10,
    rng: np.random.Generator | None = None, input_grad: bool = False,
    widths: Sequence[int] = (32, 64, 96, 96, 64), hidden: int = 256, dropout: float = 0.5,
) -> Sequential:
    """AlexNet (Krizhevsky et al. 2012) scaled down to 28x28: five convolutions with ReLU,
    local response normalization after the first two, overlapping 3x3/stride-2 max-pooling,
    then two dropout-regularized dense layers."""
    rng = default_rng(rng)
    c1, c2, c3, c4, c5 = widths
    layers: Named = [
        ("conv1", Conv2D(input_shape[0], c1, 5, padding=2, rng=rng)), ("relu1", ReLU()),
        ("lrn1", LocalResponseNorm()), ("pool1", MaxPool2D(3, stride=2)),
        ("conv2", Conv2D(c1, c2, 3, padding=1, rng=rng)), ("relu2", ReLU()),
        ("lrn2", LocalResponseNorm()), ("pool2", MaxPool2D(3, stride=2)),
        ("conv3", Conv2D(c2, c3, 3, padding=1, rng=rng)), ("relu3", ReLU()),
        ("conv4", Conv2D(c3, c4, 3, padding=1, rng=rng)), ("relu4", ReLU()),
        ("conv5", Conv2D(c4, c5, 3, padding=1, rng=rng)), ("relu5", ReLU()),
        ("pool3", MaxPool2D(3, stride=2)),
    ]
    head = classifier_head(layers, input_shape, [hidden, hidden], num_classes, rng,
                           dropout=dropout)
    return Sequential(layers + head, input_grad=input_grad)


def inception_block(
    in_channels: int, b1: int, b3: tuple[int, int], b5: tuple[int, int], pool_proj: int,
    rng: np.random.Generator,
) -> Concat:
    """GoogLeNet's Inception module (Szegedy et al. 2015): four parallel branches whose
    feature maps are concatenated: 1x1; 1x1 -> 3x3; 1x1 -> 5x5; 3x3 max-pool -> 1x1.
    The 1x1 convolutions before the 3x3 and 5x5 ones reduce channels, which keeps it cheap."""

    def conv_relu(name: str, cin: int, cout: int, kernel: int) -> Named:
        return [(name, Conv2D(cin, cout, kernel, padding=kernel // 2, rng=rng)),
                (f"relu_{name}", ReLU())]

    return Concat([
        ("branch1", Sequential(conv_relu("conv1x1", in_channels, b1, 1))),
        ("branch3", Sequential(conv_relu("conv1x1", in_channels, b3[0], 1)
                               + conv_relu("conv3x3", b3[0], b3[1], 3))),
        ("branch5", Sequential(conv_relu("conv1x1", in_channels, b5[0], 1)
                               + conv_relu("conv5x5", b5[0], b5[1], 5))),
        ("branch_pool", Sequential([("pool", MaxPool2D(3, stride=1, padding=1)),
                                    *conv_relu("conv1x1", in_channels, pool_proj, 1)])),
    ])


def inception_small(
    input_shape: Shape = (1, 28, 28), num_classes: int = 10,
    rng: np.random.Generator | None = None, input_grad: bool = False,
) -> Sequential:
    """A small GoogLeNet: a 3x3 stem, two Inception modules with max-pooling between them,
    global average pooling instead of large dense layers, then one affine layer."""
    rng = default_rng(rng)
    layers: Named = [
        ("conv1", ConvReLUPool(input_shape[0], 32, 3, padding=1, pool_size=2, rng=rng)),
        ("conv_inception1", inception_block(32, 16, (16, 24), (4, 8), 8, rng)),  # 56 channels
        ("pool1", MaxPool2D(2)),
        ("conv_inception2", inception_block(56, 24, (24, 32), (8, 16), 16, rng)),  # 88
        ("gap", GlobalAvgPool()),
        ("fc1", Dense(88, num_classes, rng=rng)),
    ]
    return Sequential(layers, input_grad=input_grad)


def residual_block(in_channels: int, channels: int, stride: int,
                   rng: np.random.Generator) -> Residual:
    """ResNet's basic block (He et al. 2016): conv3x3 -> BN -> ReLU -> conv3x3 -> BN, added to
    the input (through a 1x1 projection when the stride or channel count changes), then ReLU."""
    body = Sequential([
        ("conv1", Conv2D(in_channels, channels, 3, stride=stride, padding=1, rng=rng)),
        ("bn1", BatchNorm(channels)), ("relu1", ReLU()),
        ("conv2", Conv2D(channels, channels, 3, padding=1, rng=rng)),
        ("bn2", BatchNorm(channels)),
    ])
    return Residual(body, in_channels=in_channels, out_channels=channels, stride=stride,
                    rng=rng)


def resnet_small(
    input_shape: Shape = (1, 28, 28), num_classes: int = 10,
    rng: np.random.Generator | None = None, input_grad: bool = False,
    widths: Sequence[int] = (16, 32, 64),
) -> Sequential:
    """A small ResNet: a 3x3 stem, then one residual block per width (the later ones halve
    the resolution with stride 2), global average pooling and one affine layer."""
    rng = default_rng(rng)
    layers: Named = [
        ("conv1", Conv2D(input_shape[0], widths[0], 3, padding=1, rng=rng)),
        ("bn1", BatchNorm(widths[0])), ("relu1", ReLU()),
    ]
    in_channels = widths[0]
    for index, channels in enumerate(widths, start=1):
        stride = 1 if index == 1 else 2
        layers += [(f"conv_res{index}", residual_block(in_channels, channels, stride, rng)),
                   (f"relu_res{index}", ReLU())]
        in_channels = channels
    layers += [("gap", GlobalAvgPool()), ("fc1", Dense(in_channels, num_classes, rng=rng))]
    return Sequential(layers, input_grad=input_grad)
