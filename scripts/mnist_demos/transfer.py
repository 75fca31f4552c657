"""transfer: pretrain a CNN on classes 0-4, then learn classes 5-9 from a small budget with the
pretrained convolutional layers frozen, against the same network trained from scratch.

Both runs of the second task start from the same dense-layer weights and see the same images
in the same order; only the convolution kernels differ (pretrained and frozen, or random and
trained). With few images the pretrained features usually win early on.
"""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib.figure import Figure

from nets import zoo
from scripts.mnist_demos import plots
from scripts.mnist_demos.common import DemoConfig, Outputs, demo_rng, fit, load_data, run_record

HELP = "pretrain on classes 0-4, then 5-9 with conv layers frozen vs from scratch"


@dataclass
class Config(DemoConfig):
    # Pretraining epochs on classes 0-4 (all their training images).
    epochs: int = 3
    # Training images of classes 5-9 available for the second task (the small budget).
    finetune_samples: int = 250
    # Epochs on the second task.
    finetune_epochs: int = 10


def run(cfg: Config, outputs: Outputs) -> dict:
    data = load_data(cfg, layout="nchw")
    first = data.classes(range(0, 5))
    second = data.classes(range(5, 10)).head(cfg.finetune_samples)

    pretrained = zoo.simple_conv_net(**first.model_args, rng=demo_rng(cfg, 1))
    pre_history = fit(pretrained, first, cfg, "pretrain 0-4")
    conv_state = {k: v for k, v in pretrained.state_dict().items() if k.startswith("conv")}

    histories = {}
    for label in ("frozen pretrained conv", "from scratch"):
        model = zoo.simple_conv_net(**second.model_args, rng=demo_rng(cfg, 3))
        if label.startswith("frozen"):
            model.load_state_dict(conv_state, strict=False)
            model.freeze(["conv"])
        histories[label] = fit(model, second, cfg, label, rng=demo_rng(cfg, 4),
                               epochs=cfg.finetune_epochs, train_eval_samples=0)

    fig = Figure(figsize=(11, 4))
    pre_ax, ax = fig.subplots(1, 2)
    plots.draw_accuracy(pre_ax, {"": pre_history})
    pre_ax.set(title=f"pretraining on classes 0-4 ({len(first.x_train)} images)",
               ylabel="accuracy")
    plots.draw_accuracy(ax, histories)
    ax.set(title=f"classes 5-9 from {len(second.x_train)} images", ylabel="accuracy")
    for axis in (pre_ax, ax):
        axis.legend(fontsize=8)
    fig.suptitle(f"transfer learning on {data.title}")
    fig.tight_layout()
    plots.save(fig, outputs.path("transfer.png"))
    return {**data.summary(), "pretrain_samples": len(first.x_train),
            "finetune_samples": len(second.x_train), "pretrain": run_record(pre_history),
            "second_task": {label: run_record(h) for label, h in histories.items()}}
