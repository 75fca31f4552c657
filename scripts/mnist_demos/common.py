"""What every MNIST demo shares: the common config fields, data loading, training, output files.

A demo's run reads, for one network:

    data = load_data(cfg, layout="flat")
    model = zoo.mlp(**data.model_args, rng=demo_rng(cfg, 1))
    history = fit(model, data, cfg, "name", outputs)
    return {**data.summary(), "params": model.num_params(), **run_record(history)}
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from fileio import write_json
from rl.run import stamped_name
from supervised.datasets import MnistData, load_mnist
from supervised.trainer import History, TrainConfig, train

OptimizerName = Literal["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]


# Each run without --out gets a new folder here (see new_run_folder).
MNIST_RUNS = Path("runs") / "mnist"

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
    # Output folder for plots and metrics; none means a new folder for each run,
    # runs/mnist/<demo>-<data>-<seed>-<YYYYmmdd-HHMMSS>.
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

    @property
    def model_args(self) -> dict[str, Any]:
        """The input shape and class count that a zoo network for this data is built with."""
        return {"input_shape": self.x_train.shape[1:], "num_classes": len(self.class_names)}

    def head(self, train: int, test: int | None = None) -> DemoData:
        """The first `train` training and `test` test examples (None: every test example)."""
        return dataclasses.replace(self, x_train=self.x_train[:train],
                                   t_train=self.t_train[:train], x_test=self.x_test[:test],
                                   t_test=self.t_test[:test])

    def classes(self, wanted: range) -> DemoData:
        """The examples whose label is in `wanted`, relabelled 0..len(wanted)-1."""
        train = (self.t_train >= wanted.start) & (self.t_train < wanted.stop)
        test = (self.t_test >= wanted.start) & (self.t_test < wanted.stop)
        return dataclasses.replace(
            self, x_train=self.x_train[train], t_train=self.t_train[train] - wanted.start,
            x_test=self.x_test[test], t_test=self.t_test[test] - wanted.start,
            class_names=self.class_names[wanted.start:wanted.stop],
        )

    def summary(self) -> dict[str, Any]:
        """The dataset, where it was read from and the examples of each split, for metrics."""
        return {"dataset": self.name, "source": str(self.source),
                "train_samples": len(self.x_train), "test_samples": len(self.x_test)}


def load_data(cfg: DemoConfig, layout: str = "nchw") -> DemoData:
    """Load the dataset named by cfg.data, cut to cfg.subset when it is set."""
    full = load_mnist(cfg.data, data_dir=cfg.data_dir, layout=layout, progress=cfg.progress)
    data = DemoData(**{f.name: getattr(full, f.name) for f in dataclasses.fields(full)})
    if cfg.subset:
        data = dataclasses.replace(data.head(cfg.subset, cfg.subset), subset=cfg.subset)
    return data


def demo_rng(cfg: DemoConfig, *stream: int) -> np.random.Generator:
    """A generator for one purpose of the run: same seed and stream -> same numbers.

    The demos draw initial weights from stream 1 and shuffle, augment and drop out from
    stream 2 (`fit`'s default), unless a demo needs more streams.
    """
    return np.random.default_rng([cfg.seed, *stream])


def fit(model, data: MnistData, cfg: DemoConfig, name: str, outputs: Outputs | None = None,
        rng: np.random.Generator | None = None, **overrides: Any) -> History:
    """Train `model` on `data` with the demo's settings (`overrides`: other TrainConfig values).

    rng: shuffling, augmentation and dropout (default: the run's stream 2). With `outputs`,
    the best model and the history are saved into its folder as NAME_best.npz and
    NAME_history.json.
    """
    history = train(model, data.x_train, data.t_train, data.x_test, data.t_test,
                    train_config(cfg, **overrides),
                    rng=rng if rng is not None else demo_rng(cfg, 2),
                    out_dir=outputs.folder if outputs is not None else None, name=name)
    if outputs is not None:
        outputs.add(f"{name}_best.npz", f"{name}_history.json")
    return history


def run_record(history: History) -> dict[str, Any]:
    """The summary of one training run and its per-epoch curves (iteration losses left out)."""
    record = history.to_dict()
    record.pop("iteration_loss")
    return {**history.summary(), "history": record}


def pluralize(n: int, noun: str) -> str:
    """A number with its noun, singular for one: "1 epoch", "4 epochs"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def new_run_folder(demo: str, cfg: DemoConfig) -> Path:
    """runs/mnist/<demo>-<data>-<seed>-<YYYYmmdd-HHMMSS>, named like an RL run's folder
    (rl.run.default_run_dir), so a run never overwrites an earlier one; a run started in the
    same second as another gets -2 (-3, ...) after the name."""
    folder = MNIST_RUNS / stamped_name(demo, cfg.data, cfg.seed)
    candidate, number = folder, 2
    while candidate.exists():
        candidate, number = folder.with_name(f"{folder.name}-{number}"), number + 1
    return candidate


class Outputs:
    """Collects the files a demo writes, so main() can print where they are. The folder is
    created with the first file: a run that fails before writing anything leaves none."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: list[Path] = []

    def path(self, name: str) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / name
        self.files.append(path)
        return path

    def add(self, *names: str) -> None:
        """Record files written by someone else (the trainer) into the folder."""
        self.files += [self.folder / name for name in names]

    def json(self, name: str, data: Any) -> Path:
        return write_json(self.path(name), data)
