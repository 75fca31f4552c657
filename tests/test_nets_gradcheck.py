"""One gradient check over every layer, block and loss (float64, random upstream gradients)."""

import numpy as np
import pytest

import nets
from nets import losses

RNG = np.random.default_rng(0)
TOLERANCE = 1e-6


def images(n=2, c=3, h=6, w=5):
    return RNG.standard_normal((n, c, h, w))


def vectors(n=4, d=5):
    return RNG.standard_normal((n, d))


def marked_grids(n=2, frames=2, c=3, h=4, w=5, marker=1):
    """Stacked frames (N, frames*C, H, W) whose last frame marks one cell per grid in `marker`:
    CenterOn's shift then stays put while gradcheck nudges the inputs."""
    x = RNG.standard_normal((n, frames * c, h, w))
    last = (frames - 1) * c + marker
    x[:, last] = 0.0
    x[np.arange(n), last, RNG.integers(0, h, n), RNG.integers(0, w, n)] = 1.0
    return x


def noisy_dense(in_features, out_features, noisy=True):
    """A NoisyDense with drawn noise (it starts at zero), on or off."""
    layer = nets.NoisyDense(in_features, out_features, sigma0=0.8, rng=RNG)
    layer.resample(np.random.default_rng(2))
    layer.noisy = noisy
    return layer


# name -> (factory, input, forward in training mode?). Factories so each test gets a fresh layer.
CASES = {
    "Dense": (lambda: nets.Dense(5, 3, rng=RNG), vectors(), True),
    "Dense_from_images": (lambda: nets.Dense(3 * 6 * 5, 4, rng=RNG), images(), True),
    "NoisyDense": (lambda: noisy_dense(5, 3), vectors(), True),
    "NoisyDense_from_images": (lambda: noisy_dense(3 * 6 * 5, 4), images(), True),
    "NoisyDense_means": (lambda: noisy_dense(5, 3, noisy=False), vectors(), True),
    "ReLU": (nets.ReLU, vectors(), True),
    "LeakyReLU": (lambda: nets.LeakyReLU(0.1), vectors(), True),
    "Sigmoid": (nets.Sigmoid, vectors(), True),
    "Tanh": (nets.Tanh, vectors(), True),
    "Step": (nets.Step, vectors(), True),
    "Identity": (nets.Identity, vectors(), True),
    "Softmax": (nets.Softmax, vectors(), True),
    "Scale": (lambda: nets.Scale(1 / 255), vectors(), True),
    "Flatten": (nets.Flatten, images(), True),
    "ImageInput_hwc_stacked": (lambda: nets.ImageInput([2, 4, 5, 3], layout="hwc", scale=0.5),
                               RNG.standard_normal((2, 2, 4, 5, 3)), True),
    "ImageInput_chw": (lambda: nets.ImageInput([3, 6, 5], layout="chw"), images(), True),
    "CenterOn": (lambda: nets.CenterOn(channels=6, frames=2, center=1, outside=0),
                 marked_grids(), True),
    "CenteredConv2D": (lambda: nets.CenteredConv2D(6, 2, 3, stride=2, frames=2, center=1,
                                                   outside=0, rng=RNG), marked_grids(), True),
    "CenteredConv2D_stride1": (lambda: nets.CenteredConv2D(6, 2, 3, frames=2, center=1, rng=RNG),
                               marked_grids(), True),
    "AgentWindow": (lambda: nets.AgentWindow(6, 2, 1, 3, outside=0), marked_grids(), True),
    "AgentPosition": (lambda: nets.AgentPosition(6, 2, 1), marked_grids(), True),
    "FixedPlanes": (lambda: nets.FixedPlanes(RNG.integers(0, 2, (2, 6, 5))), images(), True),
    "DuelingCombine": (nets.DuelingCombine, vectors(), True),
    "DuelingCombine_quantiles": (lambda: nets.DuelingCombine(3), vectors(d=9), True),
    "Reshape": (lambda: nets.Reshape((2, 3)), vectors(d=6), True),
    "Dropout_train": (lambda: nets.Dropout(0.4, rng=np.random.default_rng(1)), vectors(), True),
    "Dropout_eval": (lambda: nets.Dropout(0.4, rng=np.random.default_rng(1)), vectors(), False),
    "Conv2D": (lambda: nets.Conv2D(3, 2, 3, rng=RNG), images(), True),
    "Conv2D_stride2_pad1": (lambda: nets.Conv2D(3, 2, 3, stride=2, padding=1, rng=RNG),
                            images(), True),
    "Conv2D_rect_kernel": (lambda: nets.Conv2D(3, 2, (2, 4), stride=(2, 1), padding=(1, 2),
                                               rng=RNG), images(), True),
    "Conv2D_1x1": (lambda: nets.Conv2D(3, 4, 1, rng=RNG), images(), True),
    "Conv2D_stride_1x2": (lambda: nets.Conv2D(3, 2, 3, stride=(1, 2), rng=RNG), images(), True),
    "Conv2D_stride3_pad2": (lambda: nets.Conv2D(3, 2, 3, stride=3, padding=2, rng=RNG),
                            images(), True),
    # F <= C takes dx by correlation with the flipped kernel, F > C by col2im: check both.
    "Conv2D_more_filters_pad1": (lambda: nets.Conv2D(3, 4, 3, padding=1, rng=RNG), images(),
                                 True),
    "Conv2D_fewer_filters_pad2": (lambda: nets.Conv2D(3, 2, 3, padding=2, rng=RNG), images(),
                                  True),
    "MaxPool2D": (lambda: nets.MaxPool2D(2), images(), True),
    "MaxPool2D_3_stride2_pad1": (lambda: nets.MaxPool2D(3, stride=2, padding=1), images(), True),
    "MaxPool2D_overlap": (lambda: nets.MaxPool2D(2, stride=1), images(), True),
    "AvgPool2D": (lambda: nets.AvgPool2D(2), images(), True),
    "AvgPool2D_3_stride1_pad1": (lambda: nets.AvgPool2D(3, stride=1, padding=1), images(), True),
    "GlobalAvgPool": (nets.GlobalAvgPool, images(), True),
    "BatchNorm_dense_train": (lambda: nets.BatchNorm(5), vectors(6), True),
    "BatchNorm_dense_eval": (lambda: nets.BatchNorm(5), vectors(6), False),
    "BatchNorm_conv_train": (lambda: nets.BatchNorm(3), images(), True),
    "BatchNorm_conv_eval": (lambda: nets.BatchNorm(3), images(), False),
    "LocalResponseNorm": (lambda: nets.LocalResponseNorm(3, alpha=0.5, k=1.0), images(), True),
    "LocalResponseNorm_even": (lambda: nets.LocalResponseNorm(4, alpha=0.5, k=1.0), images(),
                               True),
    "ConvReLUPool": (lambda: nets.ConvReLUPool(3, 2, 3, padding=1, rng=RNG), images(), True),
    "ConvReLUPool_stride2": (lambda: nets.ConvReLUPool(3, 2, 3, stride=2, padding=1, rng=RNG),
                             images(n=2, c=3, h=8, w=9), True),
    "Sequential": (lambda: nets.Sequential(nets.Conv2D(3, 2, 3, rng=RNG), nets.ReLU(),
                                           nets.Flatten(), nets.Dense(24, 3, rng=RNG)),
                   images(), True),
    "Residual_identity": (lambda: nets.Residual(nets.Sequential(
        nets.Conv2D(3, 3, 3, padding=1, rng=RNG), nets.Tanh())), images(), True),
    "Residual_projection": (lambda: nets.Residual(
        # Tanh before BatchNorm: a conv bias straight into BN has a true gradient of 0,
        # which would leave only rounding noise to compare.
        nets.Sequential(nets.Conv2D(3, 4, 3, stride=2, padding=1, rng=RNG), nets.Tanh(),
                        nets.BatchNorm(4)),
        in_channels=3, out_channels=4, stride=2, rng=RNG), images(), True),
    "Concat": (lambda: nets.Concat([("a", nets.Conv2D(3, 2, 1, rng=RNG)),
                                    ("b", nets.Sequential(nets.Conv2D(3, 1, 3, padding=1, rng=RNG),
                                                          nets.Sigmoid()))]), images(), True),
}

def test_every_registered_layer_has_a_gradient_check():
    covered = {name.split("_")[0] for name in CASES}
    ours = {name for name, cls in nets.REGISTRY.items() if cls.__module__.startswith("nets.")}
    missing = ours - covered
    assert not missing, f"add gradient-check cases for {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_gradients_match_central_differences(name):
    factory, x, train = CASES[name]
    RNG.bit_generator.state = np.random.default_rng(1).bit_generator.state  # order-independent
    errors = nets.gradcheck(factory(), x, train=train)
    assert "input" in errors
    assert max(errors.values()) < TOLERANCE, errors


def test_step_gradient_is_zero_almost_everywhere():
    layer = nets.Step()
    x = vectors()
    layer.forward(x)
    assert not layer.backward(np.ones_like(x)).any()


def _with_target_weights(loss):
    target_weights = RNG.uniform(0.1, 1.0, (4, 6))
    target_weights /= target_weights.sum(axis=1, keepdims=True)
    forward = loss.forward
    loss.forward = lambda pred, t, weights=None: forward(pred, t, weights,
                                                         target_weights=target_weights)
    return loss


LOSS_CASES = {
    "SumSquares": (losses.SumSquares, lambda: RNG.standard_normal((4, 3))),
    "MSE": (losses.MSE, lambda: RNG.standard_normal((4, 3))),
    "Huber": (lambda: losses.Huber(delta=0.5), lambda: RNG.standard_normal((4, 3)) * 2),
    # Targets of another width than the prediction (M samples against K quantiles), and
    # weighted samples (a mixture target, rows summing to 1).
    "QuantileHuber": (lambda: losses.QuantileHuber(kappa=0.5),
                      lambda: RNG.standard_normal((4, 5)) * 2),
    "QuantileHuber_weighted_samples": (lambda: _with_target_weights(losses.QuantileHuber(2.0)),
                                       lambda: RNG.standard_normal((4, 6))),
    "SoftmaxCrossEntropy_labels": (losses.SoftmaxCrossEntropy, lambda: RNG.integers(0, 3, 4)),
    "SoftmaxCrossEntropy_onehot": (losses.SoftmaxCrossEntropy,
                                   lambda: np.eye(3)[RNG.integers(0, 3, 4)]),
}


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name", sorted(LOSS_CASES))
def test_loss_gradients_match_central_differences(name, weighted):
    factory, target = LOSS_CASES[name]
    model = nets.Sequential(nets.Dense(5, 3, rng=RNG), nets.Tanh())
    loss = factory()
    if weighted:
        weights = RNG.uniform(0.1, 2.0, 4)
        forward = loss.forward
        loss.forward = lambda pred, t, weights=weights: forward(pred, t, weights)
    errors = nets.gradcheck(model, vectors(), loss=loss, target=target())
    assert max(errors.values()) < TOLERANCE, errors
