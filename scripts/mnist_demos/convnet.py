"""convnet: the book's SimpleConvNet (conv 30 5x5 -> ReLU -> max-pool 2 -> dense 100 -> ReLU ->
dense 10) trained with Adam; accuracy curves and the first-layer filters before and after
training (the book's figure 7-24: random noise becomes edge and blob detectors).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nets import zoo
from scripts.mnist_demos import plots
from scripts.mnist_demos.common import (
    DemoConfig,
    Outputs,
    demo_rng,
    fit,
    load_data,
    pluralize,
    run_record,
)

HELP = "SimpleConvNet: accuracy curves and first-layer filters before/after training"


@dataclass
class Config(DemoConfig):
    epochs: int = 20


def first_filters(model) -> tuple[str, np.ndarray]:
    """Name and a copy of the first convolution kernel, as (filters, height, width) images."""
    for name, value in model.named_params():
        if value.ndim == 4:
            return name, value[:, 0].copy()  # first input channel of each filter
    raise ValueError("the model has no convolution kernel")


def draw_filters(filters: np.ndarray, path, title: str):
    # Each filter scaled to its own range, as the book draws them: the pattern matters.
    low = filters.min(axis=(1, 2), keepdims=True)
    high = filters.max(axis=(1, 2), keepdims=True)
    scaled = (filters - low) / np.maximum(high - low, 1e-12)
    return plots.image_grid(scaled, path, title, ncols=10, cmap="gray_r", scale=0.8)


def run(cfg: Config, outputs: Outputs) -> dict:
    data = load_data(cfg, layout="nchw")
    model = zoo.simple_conv_net(**data.model_args, rng=demo_rng(cfg, 1))
    name, before = first_filters(model)
    history = fit(model, data, cfg, "convnet", outputs)
    _, after = first_filters(model)
    draw_filters(before, outputs.path("filters_before.png"), f"{name} before training")
    draw_filters(after, outputs.path("filters_after.png"),
                 f"{name} after {pluralize(cfg.epochs, 'epoch')} on {data.title}")
    title = f"SimpleConvNet on {data.title}"
    plots.accuracy_curves({"SimpleConvNet": history}, outputs.path("accuracy.png"), title)
    plots.loss_curves({"SimpleConvNet": history.iteration_loss}, outputs.path("loss.png"), title)
    return {**data.summary(), "params": model.num_params(), **run_record(history)}
