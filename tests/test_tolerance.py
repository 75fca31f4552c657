"""The float32 tolerance rule (tests/tolerance.py): it admits float32 rounding, and it still
fails small seeded bugs of the kinds the loosened comparisons guard against."""

import numpy as np
import pytest

import nets

from tolerance import EPS32, assert_close_f32, float32_tol, forward_reduction_length


def small_cnn(seed=0):
    rng = np.random.default_rng(seed)
    return nets.Sequential([
        ("conv1", nets.Conv2D(1, 4, 3, padding=1, rng=rng)),
        ("relu1", nets.ReLU()),
        ("pool1", nets.MaxPool2D(2)),
        ("flatten", nets.Flatten()),
        ("fc1", nets.Dense(4 * 4 * 4, 10, rng=rng)),
        ("relu2", nets.ReLU()),
        ("fc2", nets.Dense(10, 3, rng=rng)),
    ])


X = np.random.default_rng(9).random((5, 1, 8, 8), dtype=np.float32)


def test_the_tolerance_is_c_eps32_sqrt_k():
    assert float32_tol(1) == pytest.approx(8 * EPS32)
    assert float32_tol(100) == pytest.approx(10 * float32_tol(1))
    assert float32_tol(0) == float32_tol(1)
    assert forward_reduction_length(small_cnn()) == 1 * 3 * 3 + 64 + 10


@pytest.mark.parametrize("k", [1, 10, 100, 1000, 10_000])
def test_float32_products_pass_against_float64_and_across_batch_splits(k):
    rng = np.random.default_rng(k)
    a = rng.standard_normal((32, k)).astype(np.float32)
    b = rng.standard_normal((k, 8)).astype(np.float32)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    assert_close_f32(a @ b, exact, k, np.abs(a) @ np.abs(b))
    assert_close_f32(a @ b, exact, k)  # random signs: the result's scale is the terms'
    split = np.concatenate([a[:3] @ b, a[3:] @ b])  # other shapes, maybe other kernels
    assert_close_f32(split, a @ b, k)


def test_a_sum_that_cancels_to_near_zero_needs_the_magnitude_of_its_terms():
    rng = np.random.default_rng(0)
    terms = rng.standard_normal(1000).astype(np.float32) * 100
    terms = np.concatenate([terms, -terms[::-1] + np.float32(1e-3)])  # exact sum: 1.0
    exact = terms.astype(np.float64).sum()
    computed = terms.sum(dtype=np.float32)
    magnitude = np.abs(terms).sum(dtype=np.float64)
    assert_close_f32(computed, exact, len(terms), magnitude)
    # Seeded bug: one term left out of the sum (an off-by-one loop bound).
    with pytest.raises(AssertionError, match="float32 rounding of a 2000-term sum"):
        assert_close_f32(terms[:-1].sum(dtype=np.float32), exact, len(terms), magnitude)


@pytest.mark.parametrize("layer", ["conv1", "fc1", "fc2"])
def test_one_weight_off_by_a_tenth_of_a_percent_fails_the_batched_predict_comparison(layer):
    model = small_cnn()
    expected = model.predict(X)
    assert_close_f32(model.predict(X, batch_size=2), expected, forward_reduction_length(model))
    # A weight on a live path (a ReLU can silence others): the largest |weight x gradient|.
    out = model.forward(X, train=True)
    model.backward(np.ones_like(out))
    weights = model[layer].params["W"]
    index = np.unravel_index(np.argmax(np.abs(weights * model[layer].grads["W"])),
                             weights.shape)
    weights[index] *= 1.001
    with pytest.raises(AssertionError, match="x the tolerance"):
        assert_close_f32(model.predict(X, batch_size=2), expected,
                         forward_reduction_length(model))


def test_one_output_off_by_1e_4_of_the_scale_fails():
    expected = small_cnn().predict(X)
    wrong = expected.copy()
    wrong[2, 1] += 1e-4 * np.max(np.abs(expected))
    with pytest.raises(AssertionError, match=r"worst at \(2, 1\)"):
        assert_close_f32(wrong, expected, forward_reduction_length(small_cnn()))


def test_one_conv_weight_off_by_a_tenth_of_a_percent_fails_against_float64():
    rng = np.random.default_rng(1)
    layer = nets.Conv2D(3, 4, 3, padding=1, rng=rng)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    weight = layer.params["W"].astype(np.float64)
    padded = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(2, 3))
    expected = np.einsum("ncyxij,fcij->nfyx", windows, weight)
    terms = np.einsum("ncyxij,fcij->nfyx", np.abs(windows), np.abs(weight))
    assert_close_f32(layer.forward(x), expected, 3 * 3 * 3, terms)
    layer.params["W"][1, 2, 0, 1] *= 1.001
    with pytest.raises(AssertionError):
        assert_close_f32(layer.forward(x), expected, 3 * 3 * 3, terms)


def test_a_learning_rate_off_by_one_percent_fails_the_training_run_comparison():
    # The comparison of two training runs that differ only in rounding (packed parameters,
    # another order of the clipping norm) allows rounding accumulated over all steps; a real
    # difference in the update still shows.
    def run(lr):
        rng = np.random.default_rng(0)
        model = nets.Sequential(nets.Dense(3, 8, rng=rng), nets.ReLU(), nets.Dense(8, 2, rng=rng))
        optimizer = nets.optim.Adam(lr=lr, clip_norm=0.5)
        loss, data = nets.losses.MSE(), np.random.default_rng(1)
        for _ in range(30):
            x = data.standard_normal((16, 3)).astype(np.float32)
            target = data.standard_normal((16, 2)).astype(np.float32)
            loss.forward(model.forward(x, train=True), target)
            model.backward(loss.backward())
            optimizer.update(model.trainable_params(), model.trainable_grads())
        return model.state_dict()

    reference = run(0.01)
    reduction = 30 * sum(value.size for value in reference.values())
    for name, value in run(0.01).items():
        assert_close_f32(value, reference[name], reduction, err_msg=name)
    wrong = run(0.0101)
    with pytest.raises(AssertionError):
        for name, value in wrong.items():
            assert_close_f32(value, reference[name], reduction, err_msg=name)


def test_the_report_names_the_worst_element_and_nan_fails():
    with pytest.raises(AssertionError, match=r"1 of 3 elements.*worst at \(1,\)"):
        assert_close_f32(np.array([1.0, 2.1, 3.0]), [1.0, 2.0, 3.0], 10)
    with pytest.raises(AssertionError):
        assert_close_f32(np.array([np.nan]), [1.0], 10)
    with pytest.raises(AssertionError, match="shapes differ"):
        assert_close_f32(np.zeros(3), np.zeros(4), 10)
    assert assert_close_f32(np.array([np.nan, 1.0]), [np.nan, 1.0], 10) == 0.0
