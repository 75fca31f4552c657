"""supervised.augment and the trainer's augmentation and cosine learning-rate options."""

from __future__ import annotations

import numpy as np
import pytest

import nets
from nets import optim
from supervised.augment import augment, random_flip, random_shift
from supervised.trainer import TrainConfig, train


def images(n: int = 6, c: int = 2, h: int = 5, w: int = 7) -> np.ndarray:
    return np.arange(n * c * h * w, dtype=np.float32).reshape(n, c, h, w) + 1.0


def test_shift_moves_each_image_by_at_most_max_shift_and_fills_zeros():
    x = images()
    y = random_shift(x, 2, np.random.default_rng(0))
    assert y.shape == x.shape and y.dtype == x.dtype
    seen = set()
    for i in range(len(x)):
        # find the (dy, dx) that reproduces y[i] from x[i]
        matches = []
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                moved = np.zeros_like(x[i])
                h, w = x.shape[2:]
                src = x[i][:, max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
                moved[:, max(0, dy):max(0, dy) + src.shape[1],
                      max(0, dx):max(0, dx) + src.shape[2]] = src
                if np.array_equal(moved, y[i]):
                    matches.append((dy, dx))
        assert len(matches) == 1, f"image {i} is not a shifted copy"
        seen.add(matches[0])
    assert len(seen) > 1  # images get different shifts
    assert np.array_equal(x, images())  # input untouched


def test_flip_mirrors_some_images_and_keeps_the_rest():
    x = images(n=40)
    y = random_flip(x, np.random.default_rng(1))
    flipped = [np.array_equal(y[i], x[i, :, :, ::-1]) for i in range(len(x))]
    kept = [np.array_equal(y[i], x[i]) for i in range(len(x))]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert 5 < sum(flipped) < 35


def test_same_seed_same_augmentation():
    x = images()
    a = augment(x, np.random.default_rng(3), shift=1, flip=True)
    b = augment(x, np.random.default_rng(3), shift=1, flip=True)
    c = augment(x, np.random.default_rng(4), shift=1, flip=True)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_flat_input_or_negative_shift_is_refused():
    with pytest.raises(ValueError, match="layout='nchw'"):
        random_shift(np.zeros((4, 784), np.float32), 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="max_shift"):
        random_shift(images(), -1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="shift"):
        TrainConfig(shift=-1)
    with pytest.raises(ValueError, match="lr_schedule"):
        TrainConfig(lr_schedule="step")


class RecordingSGD(optim.SGD):
    """SGD that remembers the learning rate of every update."""

    def __init__(self, lr: float) -> None:
        super().__init__(lr=lr)
        self.seen: list[float] = []

    def update(self, params, grads) -> None:
        self.seen.append(self.lr)
        super().update(params, grads)


def tiny_convnet(seed: int) -> nets.Sequential:
    rng = np.random.default_rng(seed)
    return nets.Sequential([("conv", nets.Conv2D(1, 2, 3, rng=rng)), ("flat", nets.Flatten()),
                            ("fc", nets.Dense(2 * 4 * 4, 3, rng=rng))])


def test_cosine_schedule_decays_the_rate_to_zero_and_augmentation_trains():
    rng = np.random.default_rng(0)
    x = rng.random((40, 1, 6, 6), dtype=np.float32)
    t = rng.integers(0, 3, 40)
    opt = RecordingSGD(lr=0.1)
    cfg = TrainConfig(epochs=3, batch_size=10, lr_schedule="cosine", shift=1, flip=True,
                      progress=False)
    history = train(tiny_convnet(0), x, t, x, t, cfg, optimizer=opt)
    assert len(opt.seen) == 12 and len(history.epoch) == 3
    assert opt.seen[0] == pytest.approx(0.1)
    assert all(a > b for a, b in zip(opt.seen, opt.seen[1:], strict=False))  # strictly falls
    assert opt.seen[6] == pytest.approx(0.05)  # halfway
    assert opt.seen[-1] < 0.002
    # same seed, same augmented run; a constant schedule keeps the rate
    again = train(tiny_convnet(0), x, t, x, t, cfg, optimizer=RecordingSGD(lr=0.1))
    assert again.iteration_loss == history.iteration_loss
    flat = RecordingSGD(lr=0.1)
    train(tiny_convnet(0), x, t, x, t, TrainConfig(epochs=1, batch_size=10, progress=False),
          optimizer=flat)
    assert flat.seen == [0.1] * 4
