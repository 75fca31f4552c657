"""transfer: pretrain a CNN on classes 0-4, then learn classes 5-9 from a small budget with the
pretrained convolutional layers frozen, against the same network trained from scratch.

Both runs of the second task start from the same dense-layer weights and see the same images
in the same order; only the convolution kernels differ (pretrained and frozen, or random and
trained). With few images the pretrained features usually win early on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from nets import zoo
from scripts.mnist_demos import plots
from scripts.mnist_demos.common import (
    DemoConfig,
    Outputs,
    data_summary,
    demo_rng,
    history_record,
    load_data,
    train_config,
)
from supervised.trainer import train

HELP = "pretrain on classes 0-4, then 5-9 with conv layers frozen vs from scratch"


@dataclass
class Config(DemoConfig):
    # Pretraining epochs on classes 0-4 (all their training images).
    epochs: int = 3
    # Training images of classes 5-9 available for the second task (the small budget).
    finetune_samples: int = 250
    # Epochs on the second task.
    finetune_epochs: int = 10


def classes(x: np.ndarray, t: np.ndarray, wanted: range) -> tuple[np.ndarray, np.ndarray]:
    """The samples whose label is in `wanted`, relabelled 0..len(wanted)-1."""
    keep = (t >= wanted.start) & (t < wanted.stop)
    return x[keep], t[keep] - wanted.start


def run(cfg: Config, outputs: Outputs) -> dict:
    data = load_data(cfg, layout="nchw")
    first, second = range(0, 5), range(5, 10)
    x_a, t_a = classes(data.x_train, data.t_train, first)
    xt_a, tt_a = classes(data.x_test, data.t_test, first)
    x_b, t_b = classes(data.x_train, data.t_train, second)
    xt_b, tt_b = classes(data.x_test, data.t_test, second)
    x_b, t_b = x_b[:cfg.finetune_samples], t_b[:cfg.finetune_samples]
    shape = data.x_train.shape[1:]

    pretrained = zoo.simple_conv_net(input_shape=shape, num_classes=5, rng=demo_rng(cfg, 1))
    pre_history = train(pretrained, x_a, t_a, xt_a, tt_a, train_config(cfg), rng=demo_rng(cfg, 2),
                        name="pretrain 0-4")
    conv_state = {k: v for k, v in pretrained.state_dict().items() if k.startswith("conv")}

    second_cfg = train_config(cfg, epochs=cfg.finetune_epochs, train_eval_samples=0)
    histories = {}
    for label in ("frozen pretrained conv", "from scratch"):
        model = zoo.simple_conv_net(input_shape=shape, num_classes=5, rng=demo_rng(cfg, 3))
        if label.startswith("frozen"):
            model.load_state_dict(conv_state, strict=False)
            model.freeze(["conv"])
        histories[label] = train(model, x_b, t_b, xt_b, tt_b, second_cfg, rng=demo_rng(cfg, 4),
                                 name=label)

    fig = Figure(figsize=(11, 4))
    pre_ax, ax = fig.subplots(1, 2)
    plots.draw_accuracy(pre_ax, {"": pre_history})
    pre_ax.set(title=f"pretraining on classes 0-4 ({len(x_a)} images)", ylabel="accuracy")
    plots.draw_accuracy(ax, histories)
    ax.set(title=f"classes 5-9 from {len(x_b)} images", ylabel="accuracy")
    for axis in (pre_ax, ax):
        axis.legend(fontsize=8)
    fig.suptitle(f"transfer learning on {data.title}")
    fig.tight_layout()
    plots.save(fig, outputs.path("transfer.png"))
    return {**data_summary(data), "pretrain_samples": len(x_a), "finetune_samples": len(x_b),
            "pretrain": {**pre_history.summary(), "history": history_record(pre_history)},
            "second_task": {label: {**h.summary(), "history": history_record(h)}
                            for label, h in histories.items()}}
