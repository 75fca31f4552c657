"""Data augmentation for image minibatches (N, C, H, W): small random shifts and mirror images.

Each training minibatch is perturbed afresh, so the network rarely sees exactly the same
picture twice; that fights the overfitting of deep nets on small images (the book's
DeepConvNet reaches ~97% train vs ~92.5% test accuracy on Fashion-MNIST without it).
All randomness comes from the generator passed in.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _check_images(x: np.ndarray) -> None:
    if x.ndim != 4:
        raise ValueError(
            f"augmentation needs image batches shaped (N, C, H, W), got shape {x.shape}; "
            "load the data with layout='nchw' or turn augmentation off"
        )


def random_shift(x: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Each image moved by its own (dy, dx) in [-max_shift, max_shift], edges filled with 0.

    Returns a new array; x is left untouched.
    """
    _check_images(x)
    if max_shift < 0:
        raise ValueError(f"max_shift must not be negative, got {max_shift}")
    if max_shift == 0:
        return x.copy()
    n, _, height, width = x.shape
    s = max_shift
    padded = np.pad(x, ((0, 0), (0, 0), (s, s), (s, s)))
    # windows[i, c, a, b] is the H x W crop whose corner is (a, b) in the padded image i;
    # a crop at corner (s + dy, s + dx) shows the image moved by (-dy, -dx).
    windows = sliding_window_view(padded, (height, width), axis=(2, 3))
    corner = rng.integers(0, 2 * s + 1, size=(2, n))
    return windows[np.arange(n), :, corner[0], corner[1]]


def random_flip(x: np.ndarray, rng: np.random.Generator, p: float = 0.5) -> np.ndarray:
    """Each image mirrored left-right with probability p (for pictures without handedness:
    clothes, not digits). Returns a new array."""
    _check_images(x)
    out = x.copy()
    flip = rng.random(len(x)) < p
    out[flip] = out[flip, :, :, ::-1]
    return out


def augment(x: np.ndarray, rng: np.random.Generator, shift: int = 0,
            flip: bool = False) -> np.ndarray:
    """random_shift by up to `shift` pixels, then random_flip when `flip` is set."""
    out = random_shift(x, shift, rng) if shift else x
    return random_flip(out, rng) if flip else out
