"""overfit: a seven-layer net on only 300 training images overfits; weight decay and dropout
narrow the gap (the book's section 6.4).

Three runs with the same initial weights: plain, with L2 weight decay, and with dropout.
Each plot shows train (dashed) and test (solid) accuracy per epoch; metrics.json has the final
gap between them.
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

HELP = "300 training images: the train/test gap, then weight decay and dropout"


@dataclass
class Config(DemoConfig):
    epochs: int = 200
    optimizer: OptimizerName = "sgd"
    lr: float = 0.01
    # Training images (few, to provoke overfitting).
    train_samples: int = 300
    # Test images scored after each epoch.
    test_samples: int = 2000
    # L2 weight-decay coefficient (lambda) of the second run.
    weight_decay: float = 0.1
    # Dropout probability after each hidden layer in the third run.
    dropout: float = 0.2


def run(cfg: Config, outputs: Outputs) -> dict:
    data = load_data(cfg, layout="flat").head(cfg.train_samples, cfg.test_samples)
    variants = {
        "plain": {"weight_decay": 0.0, "dropout": 0.0},
        f"weight decay {cfg.weight_decay:g}": {"weight_decay": cfg.weight_decay, "dropout": 0.0},
        f"dropout {cfg.dropout:g}": {"weight_decay": 0.0, "dropout": cfg.dropout},
    }
    histories, results = {}, {}
    for label, options in variants.items():
        model = zoo.mlp(**data.model_args, hidden=(100,) * 6, dropout=options["dropout"],
                        rng=demo_rng(cfg, 1))
        history = fit(model, data, cfg, label, weight_decay=options["weight_decay"],
                      train_eval_samples=0)
        histories[label] = history
        summary = history.summary()
        results[label] = {**options, **run_record(history),
                          "final_gap": summary["final_train_acc"] - summary["final_test_acc"]}
        plots.accuracy_curves({label: history}, outputs.path(f"overfit_{label.split()[0]}.png"),
                              f"{label}: {len(data.x_train)} {data.title} training images")
    plots.accuracy_curves(histories, outputs.path("overfit_all.png"),
                          f"train (dashed) vs test (solid), {len(data.x_train)} training images")
    return {**data.summary(), "runs": results}
