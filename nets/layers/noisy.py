"""NoisyDense: an affine layer whose weights carry learned Gaussian noise (NoisyNet exploration).

Fortunato et al. (2018), "Noisy Networks for Exploration", factorised form: for p inputs and q
outputs, draw p + q standard normals ε_in, ε_out, squash each with f(e) = sign(e)·√|e|, and use

    W_eff = W + W_sigma ⊙ (f(ε_in) f(ε_out)ᵀ),    b_eff = b + b_sigma ⊙ f(ε_out).

W_sigma and b_sigma are parameters like W and b, so the gradient decides where the network stays
noisy (it explores) and where it becomes sure. A DQN that acts greedily on such a network explores
without ε, by a noise that is the same for a whole forward pass, so its "random" moves are
consistent ones rather than a coin per step.

The noise is held in the layer's buffers and changes only when `resample` draws a new one, so a
forward and its backward (or two forwards) see the same weights; with `noisy = False` the layer
is the plain affine map of its means (greedy evaluation). `resample_noise` and `set_noise` act on
every NoisyDense of a model.
"""

import math
from typing import Any

import numpy as np

from nets.init import initialize
from nets.module import Layer, Model, default_rng, register


def squash(noise: np.ndarray) -> np.ndarray:
    """f(e) = sign(e)·√|e|: the factorised noise's scaling of each standard normal."""
    return np.sign(noise) * np.sqrt(np.abs(noise))


@register
class NoisyDense(Layer):
    """Affine layer with factorised Gaussian weight noise. Shapes as Dense: (N, in) -> (N, out).

    sigma0 sets the noise's starting scale: W_sigma = b_sigma = sigma0 / √in_features (0.5 in
    the paper). The noise starts at zero (the mean weights) until the first `resample`.
    """

    def __init__(self, in_features: int, out_features: int, sigma0: float = 0.5,
                 init: str | float = "he", rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if sigma0 < 0:
            raise ValueError(f"NoisyDense sigma0 must be >= 0, got {sigma0}")
        self.in_features, self.out_features = in_features, out_features
        self.sigma0, self.init = float(sigma0), init
        self.add_param("W", initialize(init, (in_features, out_features), default_rng(rng)))
        self.add_param("b", np.zeros(out_features))
        sigma = self.sigma0 / math.sqrt(in_features)
        self.add_param("W_sigma", np.full((in_features, out_features), sigma))
        self.add_param("b_sigma", np.full(out_features, sigma))
        # f(ε_in) and f(ε_out) of the noise in use: buffers, so checkpoints keep them.
        self.buffers["noise_in"] = np.zeros(in_features, dtype=self.dtype)
        self.buffers["noise_out"] = np.zeros(out_features, dtype=self.dtype)
        self.noisy = True  # False: forward uses W and b alone

    def config_args(self) -> dict[str, Any]:
        return {"in_features": self.in_features, "out_features": self.out_features,
                "sigma0": self.sigma0, "init": self.init}

    def resample(self, rng: np.random.Generator) -> None:
        """Draw new noise, in place (arrays held elsewhere stay valid)."""
        draws = rng.standard_normal(self.in_features + self.out_features)
        self.buffers["noise_in"][...] = squash(draws[: self.in_features])
        self.buffers["noise_out"][...] = squash(draws[self.in_features :])

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        x = self.cast(x)
        if x.ndim < 2 or math.prod(x.shape[1:]) != self.in_features:
            self.expect(x, x.ndim, f"(N, {self.in_features})", ok=False)
        self.x_shape = x.shape
        self.x = x.reshape(len(x), self.in_features)
        self.used_noise = self.noisy
        if self.noisy:
            self.outer = np.outer(self.buffers["noise_in"], self.buffers["noise_out"])
            self.weights = self.params["W_sigma"] * self.outer
            self.weights += self.params["W"]
            bias = self.params["b"] + self.params["b_sigma"] * self.buffers["noise_out"]
        else:
            self.weights, bias = self.params["W"], self.params["b"]
        out = self.x @ self.weights
        out += bias
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        np.matmul(self.x.T, dout, out=self.grads["W"])
        dout.sum(axis=0, out=self.grads["b"])
        if self.used_noise:
            np.multiply(self.grads["W"], self.outer, out=self.grads["W_sigma"])
            np.multiply(self.grads["b"], self.buffers["noise_out"], out=self.grads["b_sigma"])
        else:  # the mean weights alone: the scales had no effect on this output
            self.grads["W_sigma"][...] = 0.0
            self.grads["b_sigma"][...] = 0.0
        if not self.input_grad:
            return None
        return (dout @ self.weights.T).reshape(self.x_shape)


def noisy_layers(model: Layer | Model) -> list[NoisyDense]:
    """The model's NoisyDense layers (the layer itself if it is one)."""
    if isinstance(model, NoisyDense):
        return [model]
    if isinstance(model, Layer):
        return []
    return [leaf for _, leaf in model.named_leaves() if isinstance(leaf, NoisyDense)]


def resample_noise(model: Layer | Model, rng: np.random.Generator) -> None:
    """New noise for every NoisyDense of the model, drawn from `rng` in layer order."""
    for layer in noisy_layers(model):
        layer.resample(rng)


def set_noise(model: Layer | Model, on: bool) -> None:
    """Switch every NoisyDense of the model to its noisy weights (on) or its means (off)."""
    for layer in noisy_layers(model):
        layer.noisy = bool(on)
