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
    data_summary,
    demo_rng,
    history_record,
    load_data,
    train_config,
)
from supervised.trainer import train

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
    model = zoo.two_layer_mlp(input_shape=data.x_train.shape[1:], hidden=cfg.hidden,
                              num_classes=len(data.class_names), rng=demo_rng(cfg, 1))
    history = train(model, data.x_train, data.t_train, data.x_test, data.t_test,
                    train_config(cfg), rng=demo_rng(cfg, 2), out_dir=outputs.folder,
                    name="twolayer")
    outputs.add("twolayer_best.npz", "twolayer_history.json")
    title = f"two-layer net ({cfg.hidden} hidden) on {data.title}"
    plots.accuracy_curves({"two-layer": history}, outputs.path("accuracy.png"), title)
    plots.loss_curves({"two-layer": history.iteration_loss}, outputs.path("loss.png"), title)
    return {**data_summary(data), "params": model.num_params(), **history.summary(),
            "history": history_record(history)}
