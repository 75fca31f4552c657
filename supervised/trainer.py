"""Supervised minibatch training for classifiers, as in the book's ``Trainer``.

Each epoch visits the training set once in a fresh random order (drawn from a seeded
``numpy.random.Generator``), then scores the model in evaluation mode on a fixed part of the
training set and on the whole test set. The history keeps those four curves plus the loss of
every minibatch; the model with the best test accuracy so far can be saved with ``nets.io``,
and the final metrics are written as JSON.

There is no separate validation split (as in the book): "best" is chosen on the test set,
so report the final-epoch accuracy as the unbiased figure.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tqdm import tqdm

from fileio import write_json
from nets import io as nets_io
from nets import losses, optim
from nets.errors import NonFiniteLossError
from supervised.augment import augment

LR_SCHEDULES = ("constant", "cosine")


@dataclass
class TrainConfig:
    """Hyperparameters of one supervised training run."""

    epochs: int = 10  # passes over the training set
    batch_size: int = 100  # samples per minibatch (the last, smaller one is kept)
    optimizer: str = "adam"  # a name for nets.optim.make: sgd, momentum, nesterov, adagrad, ...
    lr: float = 0.001  # learning rate of the optimizer
    weight_decay: float = 0.0  # L2 penalty coefficient (lambda), applied by the optimizer
    eval_batch_size: int = 500  # samples per forward pass when scoring (memory vs speed)
    train_eval_samples: int = 10000  # training samples re-scored each epoch (0 = all of them)
    seed: int = 0  # seeds the shuffling Generator when train() is not given one
    # Learning rate over the run: "constant", or "cosine" (from lr down to 0 along half a
    # cosine, step by step; the final epochs then polish instead of jumping around).
    lr_schedule: Literal["constant", "cosine"] = "constant"
    shift: int = 0  # augmentation: move each training image by up to this many pixels
    flip: bool = False  # augmentation: mirror half the training images (not for digits)
    # Training targets (1 - e) on the true class + e / K everywhere (scores use plain labels).
    label_smoothing: float = 0.0
    progress: bool = True  # show a tqdm progress bar (without it, one printed line per epoch)
    # On a NaN/Inf loss: False raises NonFiniteLossError; True stops and records the epoch in
    # History.diverged_at (for experiments where divergence is a result, e.g. huge init scales).
    stop_on_divergence: bool = False

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.weight_decay < 0 or self.train_eval_samples < 0 or self.shift < 0:
            raise ValueError("weight_decay, train_eval_samples and shift must not be negative")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got "
                             f"{self.lr_schedule!r}")


@dataclass
class History:
    """Per-epoch scores (evaluation mode) and per-minibatch training losses."""

    epoch: list[int] = field(default_factory=list)  # 1-based epoch numbers
    train_loss: list[float] = field(default_factory=list)  # on the training subset
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    epoch_time: list[float] = field(default_factory=list)  # seconds of training (no scoring)
    iteration_loss: list[float] = field(default_factory=list)  # training mode, every minibatch
    diverged_at: int | None = None  # epoch whose loss became NaN/Inf (stop_on_divergence)

    @property
    def best_epoch(self) -> int:
        """Epoch with the highest test accuracy (the first one on ties); 0 if none ran."""
        return self.epoch[int(np.argmax(self.test_acc))] if self.test_acc else 0

    def summary(self) -> dict[str, float]:
        """Final and best scores, and the mean training time per epoch."""
        if not self.epoch:
            return {"diverged_at": self.diverged_at} if self.diverged_at else {}
        best = self.epoch.index(self.best_epoch)
        return {
            "diverged_at": self.diverged_at,
            "epochs": self.epoch[-1],
            "final_train_acc": self.train_acc[-1],
            "final_test_acc": self.test_acc[-1],
            "final_test_loss": self.test_loss[-1],
            "best_test_acc": self.test_acc[best],
            "best_epoch": self.best_epoch,
            "seconds_per_epoch": float(np.mean(self.epoch_time)),
        }

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "summary": self.summary()}


def evaluate(model, x: np.ndarray, t: np.ndarray, loss=None,
             batch_size: int = 500) -> tuple[float, float]:
    """Mean loss and accuracy of a classifier in evaluation mode, computed in batches.

    t holds class indices (N,) or one-hot rows (N, C).
    """
    loss = loss or losses.SoftmaxCrossEntropy()
    labels = t.argmax(axis=1) if t.ndim == 2 else t
    total_loss, correct = 0.0, 0
    for start in range(0, len(x), batch_size):
        xb, tb = x[start:start + batch_size], t[start:start + batch_size]
        logits = model.forward(xb, train=False)
        total_loss += float(loss.forward(logits, tb)) * len(xb)
        correct += int(np.sum(logits.argmax(axis=1) == labels[start:start + batch_size]))
    return total_loss / len(x), correct / len(x)


def train(
    model,
    x_train: np.ndarray,
    t_train: np.ndarray,
    x_test: np.ndarray,
    t_test: np.ndarray,
    cfg: TrainConfig | None = None,
    rng: np.random.Generator | None = None,
    optimizer=None,
    loss=None,
    out_dir: str | Path | None = None,
    name: str = "model",
    on_epoch: Callable[[int, History], None] | None = None,
) -> History:
    """Train a classifier with minibatch gradient descent; return its history.

    rng: shuffles the training set each epoch (default: seeded from cfg.seed).
    optimizer: a nets.optim optimizer (default: built from cfg.optimizer, cfg.lr,
        cfg.weight_decay).
    out_dir: if given, the best model so far is saved to ``<out_dir>/<name>_best.npz`` and the
        history with its summary to ``<out_dir>/<name>_history.json``.
    on_epoch: called as on_epoch(epoch, history) after each epoch's scoring.
    """
    cfg = cfg or TrainConfig()
    if len(x_train) != len(t_train) or len(x_test) != len(t_test):
        raise ValueError(
            f"inputs and labels differ in length: train {len(x_train)} vs {len(t_train)}, "
            f"test {len(x_test)} vs {len(t_test)}"
        )
    if len(x_train) == 0 or len(x_test) == 0:
        raise ValueError("the training and test sets must not be empty")
    rng = rng if rng is not None else np.random.default_rng(cfg.seed)
    optimizer = optimizer or optim.make(cfg.optimizer, lr=cfg.lr, weight_decay=cfg.weight_decay)
    # Scores (and "best") use the plain cross-entropy even when training smooths the labels.
    score_loss = loss or losses.SoftmaxCrossEntropy()
    loss = loss or losses.SoftmaxCrossEntropy(label_smoothing=cfg.label_smoothing)
    out_dir = Path(out_dir) if out_dir is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)

    # A fixed training subset, drawn once, so the train curve is comparable across epochs.
    n_eval = cfg.train_eval_samples or len(x_train)
    eval_index = np.sort(rng.permutation(len(x_train))[:n_eval])
    x_train_eval, t_train_eval = x_train[eval_index], t_train[eval_index]

    steps_per_epoch = -(-len(x_train) // cfg.batch_size)
    total_steps = cfg.epochs * steps_per_epoch
    base_lr = optimizer.lr

    def lr_at(step: int) -> float:
        """Learning rate of minibatch `step` (0-based) under cfg.lr_schedule."""
        if cfg.lr_schedule == "cosine":
            return base_lr * 0.5 * (1.0 + math.cos(math.pi * step / total_steps))
        return base_lr

    bar = _progress_bar(total_steps, name, cfg.progress)
    history = History()
    try:
        for epoch in range(1, cfg.epochs + 1):
            try:
                seconds = _train_epoch(model, x_train, t_train, loss, optimizer, cfg, rng,
                                       history, bar, epoch, lr_at,
                                       first_step=(epoch - 1) * steps_per_epoch)
                train_loss, train_acc = evaluate(model, x_train_eval, t_train_eval, score_loss,
                                                 cfg.eval_batch_size)
                test_loss, test_acc = evaluate(model, x_test, t_test, score_loss,
                                               cfg.eval_batch_size)
            except NonFiniteLossError:
                if not cfg.stop_on_divergence:
                    raise
                history.diverged_at = epoch
                break
            _record_epoch(history, name, epoch, seconds, (train_loss, train_acc),
                          (test_loss, test_acc), bar)
            if out_dir is not None and history.best_epoch == epoch:
                nets_io.save(out_dir / f"{name}_best.npz", model,
                             extra={"epoch": epoch, "test_acc": test_acc, "config": asdict(cfg)})
            if on_epoch is not None:
                on_epoch(epoch, history)
    finally:
        if bar is not None:
            bar.close()
    if out_dir is not None:
        write_json(out_dir / f"{name}_history.json", {"config": asdict(cfg), **history.to_dict()})
    return history


def _record_epoch(history: History, name: str, epoch: int, seconds: float,
                  train_scores: tuple[float, float], test_scores: tuple[float, float],
                  bar) -> None:
    """Append one epoch's (loss, accuracy) scores to the history and print them."""
    (train_loss, train_acc), (test_loss, test_acc) = train_scores, test_scores
    history.epoch.append(epoch)
    history.epoch_time.append(seconds)
    history.train_loss.append(train_loss)
    history.train_acc.append(train_acc)
    history.test_loss.append(test_loss)
    history.test_acc.append(test_acc)
    line = (f"{name} epoch {epoch}: train acc {train_acc:.4f}, test acc "
            f"{test_acc:.4f}, test loss {test_loss:.4f}, {seconds:.1f} s")
    if bar is not None:
        bar.set_postfix(epoch=epoch, train_acc=f"{train_acc:.4f}", test_acc=f"{test_acc:.4f}")
        tqdm.write(line)
    else:
        print(line, flush=True)


def _train_epoch(model, x_train, t_train, loss, optimizer, cfg: TrainConfig,
                 rng: np.random.Generator, history: History, bar, epoch: int,
                 lr_at: Callable[[int], float], first_step: int) -> float:
    """One pass over the training set in a new random order; returns its duration (s)."""
    start = time.perf_counter()
    order = rng.permutation(len(x_train))
    step = first_step  # minibatches done before this epoch: the clock of lr_at
    for first in range(0, len(x_train), cfg.batch_size):
        batch = order[first:first + cfg.batch_size]
        x = x_train[batch]
        if cfg.shift or cfg.flip:
            x = augment(x, rng, shift=cfg.shift, flip=cfg.flip)
        optimizer.lr = lr_at(step)
        step += 1
        logits = model.forward(x, train=True)
        batch_loss = float(loss.forward(logits, t_train[batch]))
        model.backward(loss.backward())
        optimizer.update(model.trainable_params(), model.trainable_grads())
        history.iteration_loss.append(batch_loss)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{batch_loss:.3f}", refresh=False)
    return time.perf_counter() - start


def _progress_bar(total: int, desc: str, enabled: bool):
    if not enabled:
        return None
    return tqdm(total=total, desc=desc, unit="batch", dynamic_ncols=True)
