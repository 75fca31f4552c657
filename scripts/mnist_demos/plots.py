"""Plot helpers for the MNIST demos (matplotlib's object API: no pyplot, no global state)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


def save(fig: Figure, path: Path) -> Path:
    """Write a figure as PNG atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def smooth(values: Sequence[float], window: int) -> np.ndarray:
    """Moving average (shorter at the start) so noisy minibatch losses can be compared."""
    values = np.asarray(values, dtype=np.float64)
    if window <= 1 or len(values) == 0:
        return values
    cumulative = np.cumsum(np.insert(values, 0, 0.0))
    counts = np.minimum(np.arange(1, len(values) + 1), window)
    return (cumulative[1:] - cumulative[np.arange(1, len(values) + 1) - counts]) / counts


def accuracy_curves(histories: dict[str, object], path: Path, title: str,
                    train: bool = True) -> Path:
    """Train (dashed) and test (solid) accuracy per epoch, one colour per run."""
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    draw_accuracy(ax, histories, train=train)
    ax.set(ylabel="accuracy", title=title)
    ax.legend(fontsize=8)
    return save(fig, path)


def draw_accuracy(ax, histories: dict[str, object], train: bool = True) -> None:
    """On `ax`: test (solid) and train (dashed) accuracy of each run, one colour per run."""
    for index, (label, history) in enumerate(histories.items()):
        color = f"C{index}"
        marker = epoch_marker(history.epoch)
        ax.plot(history.epoch, history.test_acc, "-" + marker, color=color, ms=3,
                label=f"{label} test".strip())
        if train:
            ax.plot(history.epoch, history.train_acc, "--" + marker, color=color, ms=3,
                    mfc="none", label=f"{label} train".strip())
    epoch_axis(ax, histories.values())


def epoch_marker(epochs: Sequence[int]) -> str:
    """Markers on short curves (a one-epoch run is a single point, invisible as a line);
    none on long ones, where they would hide the line."""
    return "o" if len(epochs) <= 30 else ""


def epoch_axis(ax, histories) -> None:
    """Label the x axis in whole epochs; one epoch is a point, not an axis zoomed to
    0.95..1.05."""
    ax.set(xlabel="epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if max((len(h.epoch) for h in histories), default=0) == 1:
        ax.set(xlim=(0, 2), xticks=[1])
    ax.grid(alpha=0.3)


def loss_curves(losses: dict[str, Sequence[float]], path: Path, title: str,
                window: int = 20, log: bool = False) -> Path:
    """Minibatch training loss per iteration (moving average), one line per run."""
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    for label, values in losses.items():
        ax.plot(np.arange(1, len(values) + 1), smooth(values, window), label=label, lw=1.2)
    ax.set(xlabel="iteration", ylabel=f"training loss (moving average of {window})", title=title)
    if log:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save(fig, path)


def image_grid(images: np.ndarray, path: Path, title: str, titles: Sequence[str] | None = None,
               ncols: int = 10, cmap: str = "gray", symmetric: bool = False,
               scale: float = 1.0) -> Path:
    """Draw (N, H, W) images in a grid; symmetric=True centres the colour map on zero."""
    count = len(images)
    ncols = max(1, min(ncols, count))
    nrows = max(1, -(-count // ncols))
    title_lines = max((t.count("\n") + 1 for t in titles), default=0) if titles else 0
    fig = Figure(figsize=(scale * 1.1 * ncols, scale * (1.1 + 0.18 * title_lines) * nrows + 0.6))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for index, ax in enumerate(axes):
        ax.set_axis_off()
        if index >= count:
            continue
        image = images[index]
        if symmetric:
            limit = float(np.abs(image).max()) or 1.0
            ax.imshow(image, cmap=cmap, vmin=-limit, vmax=limit, interpolation="nearest")
        else:
            ax.imshow(image, cmap=cmap, interpolation="nearest")
        if titles:
            ax.set_title(titles[index], fontsize=7)
    fig.suptitle(title)
    return save(fig, path)
