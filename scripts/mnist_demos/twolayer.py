"""twolayer: the book's two-layer net of chapter 5 (Affine-ReLU-Affine, 784-50-10) trained with
backpropagation and plain SGD; train and test accuracy per epoch, and the minibatch loss.

The book trains 10,000 iterations of 100 images at lr 0.1 (about 17 epochs) and reaches ~97%.
"""

from __future__ import annotations

from dataclasses import dataclass

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

HELP = "the book's two-layer net trained by backprop: accuracy curves"


@dataclass
class Config(DemoConfig):
    epochs: int = 17
    optimizer: OptimizerName = "sgd"
    lr: float = 0.1
    # Units of the hidden layer.
    hidden: int = 50

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.hidden < 1:
            raise ValueError(f"--hidden must be at least 1 unit, got {self.hidden}")


def run(cfg: Config, outputs: Outputs) -> dict:
    data = load_data(cfg, layout="flat")
    model = zoo.two_layer_mlp(**data.model_args, hidden=cfg.hidden, rng=demo_rng(cfg, 1))
    history = fit(model, data, cfg, "twolayer", outputs)
    title = f"two-layer net ({cfg.hidden} hidden) on {data.title}"
    plots.accuracy_curves({"two-layer": history}, outputs.path("accuracy.png"), title)
    plots.loss_curves({"two-layer": history.iteration_loss}, outputs.path("loss.png"), title)
    return {**data.summary(), "params": model.num_params(), **run_record(history)}
