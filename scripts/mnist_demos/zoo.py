"""zoo: small versions of well-known architectures (LeNet-5, AlexNet-style, Inception-style,
ResNet-style; SimpleConvNet for reference) trained the same way on the same data; a table of
test accuracy, parameter count and training time per epoch (book chapter 8's tour).
"""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib.figure import Figure

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

HELP = "LeNet-5, AlexNet/Inception/ResNet-style nets: accuracy, params, time per epoch"

ARCHITECTURES = {
    "SimpleConvNet": zoo.simple_conv_net,
    "LeNet-5": zoo.lenet5,
    "AlexNet-style": zoo.alexnet_small,
    "Inception-style": zoo.inception_small,
    "ResNet-style": zoo.resnet_small,
}


@dataclass
class Config(DemoConfig):
    epochs: int = 5
    # Architectures to train, by name (see `ARCHITECTURES` in scripts/mnist_demos/zoo.py).
    models: tuple[str, ...] = tuple(ARCHITECTURES)

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = [m for m in self.models if m not in ARCHITECTURES]
        if unknown:
            raise ValueError(f"unknown --models {unknown}; choose from {list(ARCHITECTURES)}")


def run(cfg: Config, outputs: Outputs) -> dict:
    data = load_data(cfg, layout="nchw")
    rows, histories = [], {}
    for name in cfg.models:
        model = ARCHITECTURES[name](**data.model_args, rng=demo_rng(cfg, 1))
        history = fit(model, data, cfg, name)
        histories[name] = history
        record = run_record(history)
        rows.append({"model": name, "params": model.num_params(),
                     "test_acc": record["final_test_acc"],
                     "best_test_acc": record["best_test_acc"],
                     "seconds_per_epoch": record["seconds_per_epoch"],
                     "history": record["history"]})

    header = "| model | params | test accuracy | best (epoch) | s/epoch |"
    lines = [header, "|---|---:|---:|---:|---:|"]
    for row, history in zip(rows, histories.values(), strict=True):
        lines.append(f"| {row['model']} | {row['params']:,} | {row['test_acc']:.4f} | "
                     f"{row['best_test_acc']:.4f} ({history.best_epoch}) | "
                     f"{row['seconds_per_epoch']:.1f} |")
    table = "\n".join(lines)
    epochs = pluralize(cfg.epochs, "epoch")
    print(f"\n{data.title}, {len(data.x_train)} training images, {epochs}\n{table}")
    outputs.path("table.md").write_text(table + "\n")

    fig = Figure(figsize=(10, 3.8))
    acc_ax, time_ax = fig.subplots(1, 2)
    names = [row["model"] for row in rows]
    acc_ax.barh(names, [row["test_acc"] for row in rows], color="C0")
    low = min(row["test_acc"] for row in rows)
    acc_ax.set(xlabel="test accuracy", xlim=(max(0.0, low - 0.05), 1.0))
    for index, row in enumerate(rows):
        acc_ax.text(row["test_acc"], index, f" {row['test_acc']:.3f}", va="center", fontsize=8)
    time_ax.barh(names, [row["seconds_per_epoch"] for row in rows], color="C1")
    time_ax.set(xlabel="seconds per epoch (training only)")
    time_ax.set_yticks([])
    fig.suptitle(f"zoo on {len(data.x_train)} {data.title} images: {epochs}, "
                 f"{cfg.optimizer} lr {cfg.lr}")
    fig.tight_layout()
    plots.save(fig, outputs.path("zoo.png"))
    plots.accuracy_curves(histories, outputs.path("accuracy.png"), f"zoo on {data.title}",
                          train=False)
    return {**data.summary(), "models": rows}
