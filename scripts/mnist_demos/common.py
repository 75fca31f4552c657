"""What every MNIST demo shares: the common config fields, data loading, output files."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from fileio import write_json
from supervised.datasets import MnistData, load_mnist
from supervised.trainer import History, TrainConfig

OptimizerName = Literal["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]


# Bounds of meaningful settings: a learning rate of 1e6 "trains" to a loss of 5e5 without a NaN,
# and a shift of more than half the image moves most digits out of it.
MAX_LR = 10.0
MAX_SHIFT = 14


@dataclass
class DemoConfig:
    """Flags shared by every demo; each demo subclasses it with its own defaults and fields."""

    # Dataset: mnist (handwritten digits) or fashion (Fashion-MNIST clothing images).
    data: Literal["mnist", "fashion"] = "mnist"
    # Folder holding the four IDX files (looked at first, before the user cache).
    data_dir: str | None = None
    # Passes over the training set.
    epochs: int = 10
    # Samples per minibatch.
    batch_size: int = 100
    # Optimizer (see nets.optim).
    optimizer: OptimizerName = "adam"
    # Learning rate of the optimizer.
    lr: float = 0.001
    # Learning rate over the run: constant, or cosine (lr decays to 0 by the last step).
    lr_schedule: Literal["constant", "cosine"] = "constant"
    # Augmentation for convolutional demos: move each training image by up to N pixels.
    shift: int = 0
    # Augmentation: mirror half the training images left-right (clothes yes, digits no).
    flip: bool = False
    # Use only the first N training images and at most N test images (0 = all), for quick runs.
    subset: int = 0
    # Seed of every random generator of the run (initial weights, shuffling, dropout).
    seed: int = 0
    # Output folder for plots and metrics; none means runs/mnist/<demo>.
    out: str | None = None
    # Show tqdm progress bars.
    progress: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"--epochs and --batch-size must be at least 1, got "
                             f"{self.epochs} and {self.batch_size}")
        if not 0 < self.lr <= MAX_LR:
            raise ValueError(f"--lr must be in (0, {MAX_LR:g}], got {self.lr:g}: larger steps "
                             "make every optimizer here diverge")
        if not 0 <= self.shift <= MAX_SHIFT:
            raise ValueError(f"--shift must be 0 (off) or a pixel count up to {MAX_SHIFT} (half "
                             f"of a 28-pixel image), got {self.shift}")
        if self.subset < 0:
            raise ValueError(f"--subset must be 0 (all) or a positive count, got {self.subset}")


def train_config(cfg: DemoConfig, **overrides: Any) -> TrainConfig:
    """The trainer's config from the demo's common fields (plus overrides)."""
    values = {"epochs": cfg.epochs, "batch_size": cfg.batch_size, "optimizer": cfg.optimizer,
              "lr": cfg.lr, "lr_schedule": cfg.lr_schedule, "shift": cfg.shift,
              "flip": cfg.flip, "seed": cfg.seed, "progress": cfg.progress}
    values.update(overrides)
    return TrainConfig(**values)


@dataclass
class DemoData(MnistData):
    """The demo's dataset; its title names `--subset N` when one was used, so a plot of a
    small run is not mistaken for the accuracy the full dataset gives."""

    subset: int = 0  # examples kept of each split; 0 = all

    @property
    def title(self) -> str:
        return f"{super().title} (--subset {self.subset})" if self.subset else super().title


def load_data(cfg: DemoConfig, layout: str = "nchw") -> DemoData:
    """Load the dataset named by cfg.data, cut to cfg.subset when it is set."""
    full = load_mnist(cfg.data, data_dir=cfg.data_dir, layout=layout, progress=cfg.progress)
    data = DemoData(**{f.name: getattr(full, f.name) for f in dataclasses.fields(full)})
    if cfg.subset:
        data = dataclasses.replace(
            data, subset=cfg.subset,
            x_train=data.x_train[:cfg.subset], t_train=data.t_train[:cfg.subset],
            x_test=data.x_test[:cfg.subset], t_test=data.t_test[:cfg.subset],
        )
    return data


def pluralize(n: int, noun: str) -> str:
    """A number with its noun, singular for one: "1 epoch", "4 epochs"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def data_summary(data: MnistData) -> dict[str, Any]:
    return {"dataset": data.name, "source": str(data.source), "train_samples": len(data.x_train),
            "test_samples": len(data.x_test)}


def demo_rng(cfg: DemoConfig, *stream: int) -> np.random.Generator:
    """A generator for one purpose of the run: same seed and stream -> same numbers."""
    return np.random.default_rng([cfg.seed, *stream])


def history_record(history: History) -> dict[str, Any]:
    """The per-epoch curves and summary of one training run (iteration losses left out)."""
    record = history.to_dict()
    record.pop("iteration_loss")
    return record


class Outputs:
    """Collects the files a demo writes, so main() can print where they are."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: list[Path] = []
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        path = self.folder / name
        self.files.append(path)
        return path

    def add(self, *names: str) -> None:
        """Record files written by someone else (the trainer) into the folder."""
        self.files += [self.folder / name for name in names]

    def json(self, name: str, data: Any) -> Path:
        return write_json(self.path(name), data)
