"""batchnorm: the same five-layer ReLU net with and without batch normalization, for several
scales of the initial weights (the book's figure 6-18).

As in the book, each net trains on a small set (1000 images by default) with plain SGD; the
plot shows training accuracy per epoch. Without BatchNorm, training stalls when the initial
weights are too small or too large; with it, every scale learns, and learns faster.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from nets import zoo
from scripts.mnist_demos import plots
from scripts.mnist_demos.common import (
    DemoConfig,
    OptimizerName,
    Outputs,
    demo_rng,
    fit,
    load_data,
    run_record,
)
from supervised.trainer import History

HELP = "with vs without batch normalization, for several initial weight scales"


@dataclass
class Config(DemoConfig):
    epochs: int = 20
    optimizer: OptimizerName = "sgd"
    lr: float = 0.01
    # Training images (the book uses 1000, which makes the differences visible quickly).
    train_samples: int = 1000
    # Test images scored after each epoch.
    test_samples: int = 2000
    # Standard deviations of the initial weights, one subplot each.
    weight_scales: tuple[float, ...] = (1.0, 0.3, 0.1, 0.03, 0.01, 0.001)


def run(cfg: Config, outputs: Outputs) -> dict:
    data = load_data(cfg, layout="flat").head(cfg.train_samples, cfg.test_samples)
    runs: dict[float, dict[str, History]] = {}
    results = []
    for index, scale in enumerate(cfg.weight_scales):
        runs[scale] = {}
        for batchnorm in (True, False):
            model = zoo.mlp(**data.model_args, hidden=(100,) * 4, init=float(scale),
                            batchnorm=batchnorm, rng=demo_rng(cfg, 1, index))
            label = "with BatchNorm" if batchnorm else "without"
            # Without BN, large initial weights can overflow to NaN: that is a result to show,
            # so the run stops and records the epoch instead of aborting the demo.
            with np.errstate(over="ignore", invalid="ignore"):
                history = fit(model, data, cfg, f"std {scale:g} {label}",
                              rng=demo_rng(cfg, 2, index), train_eval_samples=0,
                              stop_on_divergence=True)
            runs[scale][label] = history
            results.append({"weight_std": scale, "batchnorm": batchnorm, **run_record(history)})

    columns = min(3, len(runs))
    rows = -(-len(runs) // columns)
    fig = Figure(figsize=(4.2 * columns, 3.2 * rows))
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, (scale, pair) in zip(axes, runs.items(), strict=False):
        for label, history in pair.items():
            style = "-" if label.startswith("with ") else "--"
            if history.diverged_at:
                label += f" (diverged in epoch {history.diverged_at})"
            ax.plot(history.epoch, history.train_acc, style + plots.epoch_marker(history.epoch),
                    ms=3, label=label)
        plots.epoch_axis(ax, pair.values())
        ax.set(title=f"initial weight std {scale:g}", ylabel="train accuracy", ylim=(0, 1.02))
        ax.legend(fontsize=8, loc="lower right")
    for ax in axes[len(runs):]:
        ax.set_axis_off()
    fig.suptitle(f"batch normalization on {len(data.x_train)} {data.title} images "
                 f"({cfg.optimizer}, lr {cfg.lr})")
    fig.tight_layout()
    plots.save(fig, outputs.path("batchnorm.png"))
    return {**data.summary(), "runs": results}
