"""supervised.trainer: learning, reproducibility, reshuffling, saved files, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

import nets
from supervised.trainer import History, TrainConfig, evaluate, train


def blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three Gaussian clusters in 2-D: a task a small MLP solves in a few epochs."""
    rng = np.random.default_rng(seed)
    centers = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    t = rng.integers(0, 3, n)
    x = centers[t] + 0.5 * rng.standard_normal((n, 2))
    return x.astype(np.float32), t.astype(np.int64)


def small_mlp(seed: int) -> nets.Sequential:
    rng = np.random.default_rng(seed)
    return nets.Sequential([("fc1", nets.Dense(2, 16, rng=rng)), ("relu1", nets.ReLU()),
                            ("fc2", nets.Dense(16, 3, rng=rng))])


QUIET = {"progress": False}


def test_training_reduces_loss_and_learns():
    x, t = blobs(600, seed=1)
    x_test, t_test = blobs(300, seed=2)
    model = small_mlp(0)
    loss_before, acc_before = evaluate(model, x_test, t_test)
    history = train(model, x, t, x_test, t_test,
                    TrainConfig(epochs=5, batch_size=32, lr=0.01, **QUIET))
    assert history.epoch == [1, 2, 3, 4, 5]
    assert history.test_loss[-1] < 0.5 * loss_before
    assert history.test_acc[-1] > 0.9 > acc_before
    assert history.train_acc[-1] > 0.9
    assert len(history.iteration_loss) == 5 * 19  # ceil(600 / 32) minibatches per epoch
    assert np.mean(history.iteration_loss[-19:]) < np.mean(history.iteration_loss[:19])
    # the history's last test scores are those of the final model
    assert evaluate(model, x_test, t_test) == pytest.approx(
        (history.test_loss[-1], history.test_acc[-1]))


def test_same_seed_same_result_other_seed_differs():
    x, t = blobs(200, seed=1)
    cfg = TrainConfig(epochs=2, batch_size=16, optimizer="sgd", lr=0.1, seed=7, **QUIET)
    runs = []
    for seed in (7, 7, 8):
        model = small_mlp(0)
        history = train(model, x, t, x, t, TrainConfig(**{**cfg.__dict__, "seed": seed}))
        runs.append((history.iteration_loss, model.state_dict()))
    assert runs[0][0] == runs[1][0]
    for name, value in runs[0][1].items():
        np.testing.assert_array_equal(value, runs[1][1][name])
    assert runs[0][0] != runs[2][0]  # another shuffling order


class RecordingModel(nets.Sequential):
    """A Dense model that records which samples each training minibatch held."""

    def __init__(self) -> None:
        super().__init__([("fc1", nets.Dense(1, 2, rng=np.random.default_rng(0)))])
        self.batches: list[list[int]] = []

    def forward(self, x, train=False):
        if train:
            self.batches.append(x[:, 0].astype(int).tolist())
        return super().forward(x, train)


def test_each_epoch_visits_every_sample_once_in_a_new_order():
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    t = np.zeros(10, dtype=np.int64)
    model = RecordingModel()
    train(model, x, t, x, t, TrainConfig(epochs=3, batch_size=4, optimizer="sgd", lr=0.01,
                                         **QUIET), rng=np.random.default_rng(3))
    assert [len(b) for b in model.batches] == [4, 4, 2] * 3
    epochs = [[index for batch in model.batches[i:i + 3] for index in batch] for i in (0, 3, 6)]
    for order in epochs:
        assert sorted(order) == list(range(10))
    assert epochs[0] != epochs[1] != epochs[2]


def test_best_model_and_history_are_saved(tmp_path):
    x, t = blobs(300, seed=1)
    x_test, t_test = blobs(100, seed=2)
    model = small_mlp(0)
    history = train(model, x, t, x_test, t_test,
                    TrainConfig(epochs=3, batch_size=50, lr=0.01, **QUIET),
                    out_dir=tmp_path / "run", name="blobs")
    saved, extra = nets.io.load(tmp_path / "run" / "blobs_best.npz")
    assert extra["epoch"] == history.best_epoch
    assert extra["test_acc"] == max(history.test_acc)
    assert evaluate(saved, x_test, t_test)[1] == pytest.approx(max(history.test_acc))
    record = json.loads((tmp_path / "run" / "blobs_history.json").read_text())
    assert record["config"]["epochs"] == 3
    assert record["test_acc"] == history.test_acc
    assert record["summary"]["best_test_acc"] == max(history.test_acc)
    assert record["summary"]["final_test_acc"] == history.test_acc[-1]
    assert not list((tmp_path / "run").glob("*.part"))


def test_one_hot_labels_and_train_eval_subset():
    x, t = blobs(120, seed=3)
    one_hot = np.eye(3, dtype=np.float32)[t]
    history = train(small_mlp(0), x, one_hot, x, one_hot,
                    TrainConfig(epochs=2, batch_size=20, train_eval_samples=50, **QUIET))
    assert 0.0 <= history.train_acc[-1] <= 1.0
    # 50 samples: accuracies are multiples of 1/50
    assert history.train_acc[-1] * 50 == pytest.approx(round(history.train_acc[-1] * 50))


def test_frozen_parameters_stay_fixed():
    x, t = blobs(100, seed=1)
    model = small_mlp(0)
    model.freeze(["fc1"])
    before = model.state_dict()
    train(model, x, t, x, t, TrainConfig(epochs=1, batch_size=10, **QUIET))
    after = model.state_dict()
    np.testing.assert_array_equal(before["fc1.W"], after["fc1.W"])
    assert not np.array_equal(before["fc2.W"], after["fc2.W"])


def test_divergence_raises_or_is_recorded():
    x, t = blobs(40, seed=1)
    x_huge = np.full_like(x, 3e38)  # near float32 max: the logits overflow at once
    with np.errstate(over="ignore", invalid="ignore"):
        with pytest.raises(nets.NonFiniteLossError, match="learning rate"):
            train(small_mlp(0), x_huge, t, x, t, TrainConfig(epochs=2, **QUIET))
        history = train(small_mlp(0), x_huge, t, x, t,
                        TrainConfig(epochs=2, stop_on_divergence=True, **QUIET))
    assert history.diverged_at == 1 and history.epoch == []
    assert history.summary() == {"diverged_at": 1}


def test_label_smoothing_trains_but_scores_with_plain_labels():
    x, t = blobs(600, seed=1)
    x_test, t_test = blobs(300, seed=2)
    model = small_mlp(0)
    history = train(model, x, t, x_test, t_test,
                    TrainConfig(epochs=5, batch_size=32, lr=0.01, label_smoothing=0.2, **QUIET))
    assert history.test_acc[-1] > 0.9
    # the recorded test loss is the plain cross-entropy of the final model, not the smoothed one
    assert history.test_loss[-1] == pytest.approx(evaluate(model, x_test, t_test)[0])
    smoothed = nets.losses.SoftmaxCrossEntropy(0.2).forward(model.forward(x_test), t_test)
    assert smoothed > history.test_loss[-1]
    with pytest.raises(ValueError, match="label_smoothing"):
        TrainConfig(label_smoothing=-0.1)


def test_bad_input_is_reported():
    x, t = blobs(10, seed=1)
    with pytest.raises(ValueError, match="differ in length"):
        train(small_mlp(0), x, t[:9], x, t, TrainConfig(**QUIET))
    with pytest.raises(ValueError, match="must not be empty"):
        train(small_mlp(0), x[:0], t[:0], x, t, TrainConfig(**QUIET))
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="lr must be positive"):
        TrainConfig(lr=0)


def test_history_summary():
    history = History(epoch=[1, 2, 3], train_loss=[1, 0.5, 0.4], train_acc=[0.5, 0.8, 0.9],
                      test_loss=[1, 0.6, 0.7], test_acc=[0.5, 0.85, 0.8],
                      epoch_time=[2.0, 4.0, 3.0])
    summary = history.summary()
    assert summary["best_epoch"] == 2 and summary["best_test_acc"] == 0.85
    assert summary["final_test_acc"] == 0.8 and summary["seconds_per_epoch"] == 3.0
    assert History().summary() == {} and History().best_epoch == 0
