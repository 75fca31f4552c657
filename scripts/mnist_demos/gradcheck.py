"""gradcheck: compare backprop's gradients with numerical (central-difference) gradients.

As in the book (section 5.7.3), a two-layer net is checked on a few real training images; a
small convolutional net (Conv2D -> ReLU -> MaxPool2D -> Dense) is checked as well. Both are
checked in float64. Prints a table of the largest relative error per parameter; a correct
backward pass gives errors around 1e-7 or less.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

import nets
from nets.losses import SoftmaxCrossEntropy
from scripts.mnist_demos import plots
from scripts.mnist_demos.common import DemoConfig, Outputs, demo_rng, load_data

HELP = "backprop vs numerical gradients per parameter, printed as a table"
EXCLUDE = ("epochs", "batch_size", "optimizer", "lr", "progress")


@dataclass
class Config(DemoConfig):
    # Training images the loss is computed on.
    samples: int = 3
    # Hidden units of the two-layer net (the book uses 50).
    hidden: int = 50
    # A relative error above this marks the parameter as failing.
    tolerance: float = 1e-5


def two_layer_net(inputs: int, hidden: int, classes: int, rng: np.random.Generator):
    return nets.Sequential([("fc1", nets.Dense(inputs, hidden, rng=rng)), ("relu1", nets.ReLU()),
                            ("fc2", nets.Dense(hidden, classes, rng=rng))])


def small_conv_net(shape: tuple[int, ...], classes: int, rng: np.random.Generator):
    channels, height, width = shape
    filters, kernel = 3, 5
    flat = filters * ((height - kernel + 1) // 2) * ((width - kernel + 1) // 2)
    return nets.Sequential([
        ("conv1", nets.Conv2D(channels, filters, kernel, rng=rng)), ("relu1", nets.ReLU()),
        ("pool1", nets.MaxPool2D(2)), ("fc1", nets.Dense(flat, classes, rng=rng)),
    ])


def run(cfg: Config, outputs: Outputs) -> dict:
    data = load_data(cfg, layout="nchw")
    x, t = data.x_train[:cfg.samples], data.t_train[:cfg.samples]
    classes = len(data.class_names)
    models = {
        "two-layer net": (two_layer_net(x[0].size, cfg.hidden, classes, demo_rng(cfg, 1)),
                          x.reshape(len(x), -1)),
        "small conv net": (small_conv_net(x.shape[1:], classes, demo_rng(cfg, 2)), x),
    }
    rows = []
    for index, (model_name, (model, inputs)) in enumerate(models.items()):
        # Zero biases on a blank background put every ReLU input there exactly at the kink,
        # where a central difference averages the two one-sided slopes and disagrees with
        # backprop for no fault of its own; random biases move the inputs off the kink.
        bias_rng = demo_rng(cfg, 3, index)
        for name, value in model.named_params():
            if name.endswith(".b"):
                value[...] = bias_rng.normal(0.0, 0.1, value.shape)
        errors = nets.gradcheck(model, inputs, loss=SoftmaxCrossEntropy(), target=t,
                                check_input=False)
        shapes = dict(model.named_params())
        rows += [{"model": model_name, "param": name, "shape": list(shapes[name].shape),
                  "max_relative_error": error, "ok": error <= cfg.tolerance}
                 for name, error in errors.items()]

    print(f"\n{'model':<16}{'param':<10}{'shape':<16}{'max rel. error':>16}  ok")
    for row in rows:
        shape = "x".join(map(str, row["shape"]))
        print(f"{row['model']:<16}{row['param']:<10}{shape:<16}"
              f"{row['max_relative_error']:>16.2e}  {'yes' if row['ok'] else 'NO'}")

    fig = Figure(figsize=(6.4, 3.6))
    ax = fig.subplots()
    labels = [f"{r['model'].split()[0]}:{r['param']}" for r in rows]
    values = [max(r["max_relative_error"], 1e-16) for r in rows]
    ax.barh(labels, values, color=["C0" if r["ok"] else "C3" for r in rows])
    ax.axvline(cfg.tolerance, color="k", ls="--", lw=1, label=f"tolerance {cfg.tolerance:g}")
    ax.set(xscale="log", xlabel="max relative error (backprop vs central differences)",
           title=f"gradient check on {len(x)} {data.title} images (float64)")
    ax.invert_yaxis()
    ax.legend(fontsize=8)
    plots.save(fig, outputs.path("gradcheck.png"))
    return {**data.summary(), "all_ok": all(r["ok"] for r in rows), "rows": rows}
