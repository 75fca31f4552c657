"""NoisyDense: factorised weight noise, held until resampled; means when off; saved and loaded."""

import numpy as np
import pytest

import nets
from nets.layers.noisy import squash


def layer_and_inputs(seed=0):
    rng = np.random.default_rng(seed)
    return nets.NoisyDense(6, 4, sigma0=0.5, rng=rng), rng.standard_normal((5, 6))


def test_noise_starts_at_zero_and_off_is_the_affine_map_of_the_means():
    layer, x = layer_and_inputs()
    means = x @ layer.params["W"] + layer.params["b"]
    np.testing.assert_allclose(layer.forward(x), means, rtol=1e-5, atol=1e-6)
    layer.resample(np.random.default_rng(1))
    assert not np.allclose(layer.forward(x), means)
    layer.noisy = False
    np.testing.assert_allclose(layer.forward(x), means, rtol=1e-5, atol=1e-6)


def test_the_noise_is_factorised_and_held_until_the_next_draw():
    layer, x = layer_and_inputs()
    draws = np.random.default_rng(3).standard_normal(6 + 4)
    layer.resample(np.random.default_rng(3))
    noise_in, noise_out = squash(draws[:6]), squash(draws[6:])
    weights = layer.params["W"] + layer.params["W_sigma"] * np.outer(noise_in, noise_out)
    bias = layer.params["b"] + layer.params["b_sigma"] * noise_out
    first = layer.forward(x)
    np.testing.assert_allclose(first, x @ weights + bias, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(layer.forward(x), first)  # same noise until resampled
    layer.resample(np.random.default_rng(4))
    assert not np.allclose(layer.forward(x), first)
    assert layer.params["W_sigma"][0, 0] == pytest.approx(0.5 / np.sqrt(6))


def test_resample_and_set_noise_reach_every_noisy_layer_of_a_model():
    rng = np.random.default_rng(0)
    model = nets.Sequential(("fc1", nets.NoisyDense(6, 8, rng=rng)), ("relu", nets.ReLU()),
                            ("fc2", nets.Dense(8, 3, rng=rng)),
                            ("head", nets.NoisyDense(3, 2, rng=rng)))
    assert [type(layer).__name__ for layer in nets.noisy_layers(model)] == ["NoisyDense"] * 2
    nets.resample_noise(model, np.random.default_rng(5))
    twin = nets.build(model.config())
    model.copy_to(twin)
    nets.resample_noise(twin, np.random.default_rng(5))  # the same generator: the same noise
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(twin.state_dict()[name], value)
    x = rng.standard_normal((3, 6))
    noisy = model.forward(x)
    nets.set_noise(model, False)
    assert all(not layer.noisy for layer in nets.noisy_layers(model))
    assert not np.allclose(model.forward(x), noisy)


def test_a_saved_noisy_model_loads_with_its_noise(tmp_path):
    layer, x = layer_and_inputs()
    layer.resample(np.random.default_rng(2))
    model = nets.Sequential(("fc", layer))
    path = nets.io.save(tmp_path / "noisy.npz", model)
    loaded, _ = nets.io.load(path)
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))


def test_a_negative_sigma0_is_refused():
    with pytest.raises(ValueError, match="sigma0"):
        nets.NoisyDense(3, 2, sigma0=-1.0)
