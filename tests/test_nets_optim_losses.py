"""Optimizers and losses: convergence, state save/restore, clipping, decay, errors."""

import numpy as np
import pytest

import nets
from nets import losses, optim

from tolerance import assert_close_f32

NAMES = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]
LEARNING_RATES = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.5,
                  "rmsprop": 0.05, "adam": 0.1}
# A convex quadratic f(w) = 0.5 (w - c)^T A (w - c) with an ill-conditioned A.
A = np.diag([1.0, 4.0]).astype(np.float32)
CENTER = np.array([1.0, -2.0], np.float32)


def quadratic_grad(w):
    return A @ (w - CENTER)


def run(optimizer, w, steps):
    for _ in range(steps):
        optimizer.update({"w": w}, {"w": quadratic_grad(w)})
    return w


@pytest.mark.parametrize("name", NAMES)
def test_each_optimizer_minimizes_a_convex_quadratic(name):
    w = np.array([5.0, 5.0], np.float32)
    start = np.linalg.norm(w - CENTER)
    run(optim.make(name, lr=LEARNING_RATES[name]), w, 300)
    assert np.linalg.norm(w - CENTER) < 0.05 * start


@pytest.mark.parametrize("name", NAMES)
def test_saved_and_restored_state_continues_identically(name):
    a = optim.make(name, lr=LEARNING_RATES[name], weight_decay=0.01)
    wa = run(a, np.array([5.0, 5.0], np.float32), 5)
    state = {k: v.copy() for k, v in a.state_dict().items()}
    b = optim.make(name, lr=LEARNING_RATES[name], weight_decay=0.01)
    b.load_state_dict(state)
    wb = wa.copy()
    run(a, wa, 5)
    run(b, wb, 5)
    np.testing.assert_array_equal(wa, wb)
    if name != "sgd":  # plain SGD has no state besides the step count
        assert len(state) > 1


def test_optimizer_does_not_modify_gradients_and_clips_by_global_norm():
    grads = {"a": np.array([3.0, 0.0], np.float32), "b": np.array([[4.0]], np.float32)}
    kept = {k: v.copy() for k, v in grads.items()}
    assert optim.global_norm(grads) == pytest.approx(5.0)
    params = {"a": np.zeros(2, np.float32), "b": np.zeros((1, 1), np.float32)}
    optim.SGD(lr=1.0, clip_norm=1.0).update(params, grads)
    assert_close_f32(params["a"], [-0.6, 0.0], 2)  # direction kept, norm 1
    assert_close_f32(params["b"], [[-0.8]], 2)
    for k in grads:
        np.testing.assert_array_equal(grads[k], kept[k])


def test_weight_decay_shrinks_weights_but_not_biases():
    params = {"W": np.ones((2, 2), np.float32), "b": np.ones(2, np.float32)}
    zero = {k: np.zeros_like(v) for k, v in params.items()}
    optim.SGD(lr=0.1, weight_decay=0.5).update(params, zero)
    assert_close_f32(params["W"], 0.95, 1)  # 0.95 has no exact float32: not rtol=1e-7
    np.testing.assert_array_equal(params["b"], 1.0)


def test_make_rejects_unknown_names_and_bad_settings():
    with pytest.raises(ValueError, match="adam"):
        optim.make("adamw2")
    with pytest.raises(ValueError, match="lr"):
        optim.make("adam", lr=-1)
    with pytest.raises(ValueError, match="another optimizer"):
        optim.make("adam").load_state_dict({"t": np.array(1), "h.w": np.zeros(2)})


def test_softmax_cross_entropy_labels_equal_one_hot_and_is_stable():
    logits = np.array([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0]], np.float32)
    labels = np.array([0, 2])
    loss = losses.SoftmaxCrossEntropy()
    by_label = loss.forward(logits, labels)
    assert_close_f32(by_label, np.log(3) / 2, 3)
    assert_close_f32(loss.forward(logits, np.eye(3)[labels]), by_label, 3)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        loss.forward(logits, np.array([0, 3]))


def test_label_smoothing_mixes_the_target_with_a_uniform_one():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 5))
    labels = np.array([0, 3, 1, 4])
    smooth = losses.SoftmaxCrossEntropy(label_smoothing=0.1)
    value = smooth.forward(logits, labels)
    target = np.full((4, 5), 0.1 / 5)
    target[np.arange(4), labels] += 0.9
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    # float32 against float64: log-sum-exp over 5 classes, then 4 x 5 terms summed.
    assert_close_f32(value, -(target * log_probs).sum(axis=1).mean(), 5 + 20,
                     np.abs(target * log_probs).sum(axis=1).mean())
    probs = np.exp(log_probs)
    # probs - target cancels where the model is right: the terms' size sets the rounding.
    assert_close_f32(smooth.backward(), (probs - target) / 4, 5, (probs + target) / 4)
    # Confident right answers still pay: the loss has a floor above zero.
    sure = np.array([[50.0, 0.0, 0.0]])
    assert losses.SoftmaxCrossEntropy(0.1).forward(sure, np.array([0])) > 1.0
    assert losses.SoftmaxCrossEntropy().forward(sure, np.array([0])) < 1e-6
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.SoftmaxCrossEntropy(label_smoothing=1.0)


def test_losses_reduce_by_mean_and_apply_per_sample_weights():
    pred = np.array([[1.0], [3.0]], np.float32)
    target = np.zeros((2, 1), np.float32)
    assert losses.MSE().forward(pred, target) == pytest.approx(5.0)
    assert losses.SumSquares().forward(pred, target) == pytest.approx(5.0)
    assert losses.Huber(1.0).forward(pred, target) == pytest.approx((0.5 + 2.5) / 2)
    weights = np.array([1.0, 0.0], np.float32)
    assert losses.MSE().forward(pred, target, weights) == pytest.approx(0.5)
    with pytest.raises(nets.ShapeError, match="weights"):
        losses.MSE().forward(pred, target, np.ones(3))


@pytest.mark.parametrize("loss", [losses.MSE(), losses.Huber(), losses.SumSquares()])
def test_nan_loss_raises_a_clear_error(loss):
    pred = np.array([[np.nan]], np.float32)
    with pytest.raises(nets.NonFiniteLossError, match="learning rate"):
        loss.forward(pred, np.zeros((1, 1), np.float32))


def test_initializers_have_the_documented_scale():
    rng = np.random.default_rng(0)
    he = nets.init.he_normal((1000, 500), rng)
    assert he.dtype == np.float32 and he.std() == pytest.approx(np.sqrt(2 / 1000), rel=0.02)
    xavier = nets.init.xavier_uniform((16, 8, 3, 3), rng)
    assert xavier.std() == pytest.approx(np.sqrt(2 / (8 * 9 + 16 * 9)), rel=0.05)
    assert nets.init.normal((100, 100), rng, std=0.01).std() == pytest.approx(0.01, rel=0.05)
    assert not nets.init.zeros((3, 3)).any()
    assert nets.init.initialize(1.0, (200, 200), rng).std() == pytest.approx(1.0, rel=0.05)
    same = [nets.Dense(4, 4, rng=np.random.default_rng(5)).params["W"] for _ in range(2)]
    np.testing.assert_array_equal(*same)
