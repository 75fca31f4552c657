"""init: how the initial weight scale shapes activations and training (book section 6.2).

1. Activation histograms: 1000 random inputs (100 features, N(0, 1)) through five layers of 100
   units, with weights drawn with std 1, std 0.01, Xavier (std sqrt(2 / (n_in + n_out)), which
   is the book's 1/sqrt(n) for equal widths) and He (std sqrt(2 / n_in)), for sigmoid and
   ReLU. With std 1 sigmoid outputs pile up at 0 and 1 (vanishing gradients); with std 0.01
   they collapse to 0.5 (every unit alike); Xavier keeps them spread for sigmoid, He does so
   for ReLU.
2. Training curves: a five-layer ReLU net on the dataset with each initialization
   (the book's figure 6-15: std 0.01 barely learns, Xavier and He do).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

import nets
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

HELP = "activation histograms for std 1 / 0.01 / Xavier / He, and the training they give"

# label -> the `init` argument of nets.Dense (a float is a fixed std)
INITS: dict[str, str | float] = {"std 1": 1.0, "std 0.01": 0.01, "Xavier": "xavier", "He": "he"}
ACTIVATIONS = {"sigmoid": nets.Sigmoid, "relu": nets.ReLU}


@dataclass
class Config(DemoConfig):
    epochs: int = 4
    batch_size: int = 128
    optimizer: OptimizerName = "sgd"
    lr: float = 0.01
    # Random inputs pushed through the network for the histograms.
    hist_samples: int = 1000
    # Units per layer in the histogram network.
    hist_units: int = 100
    # Layers of the histogram network.
    hist_layers: int = 5


def layer_activations(activation: str, init: str | float, cfg: Config) -> list[np.ndarray]:
    """Outputs of each activation layer for N(0, 1) inputs."""
    rng = demo_rng(cfg, 1)
    x = rng.standard_normal((cfg.hist_samples, cfg.hist_units)).astype(np.float32)
    outputs = []
    for _ in range(cfg.hist_layers):
        dense = nets.Dense(cfg.hist_units, cfg.hist_units, init=init, rng=rng)
        x = ACTIVATIONS[activation]().forward(dense.forward(x))
        outputs.append(x)
    return outputs


def histogram_figure(activation: str, cfg: Config) -> tuple[Figure, dict[str, list[float]]]:
    """One row per initialization, one column per layer; also returns the std of each layer."""
    fig = Figure(figsize=(2.2 * cfg.hist_layers, 2.0 * len(INITS)))
    axes = fig.subplots(len(INITS), cfg.hist_layers, squeeze=False)
    spreads = {}
    for row, (label, init) in enumerate(INITS.items()):
        acts = layer_activations(activation, init, cfg)
        spreads[label] = [float(a.std()) for a in acts]
        for col, values in enumerate(acts):
            ax = axes[row, col]
            # ReLU outputs are mostly exact zeros; leaving them out shows the rest of the shape.
            shown = values[values > 0] if activation == "relu" else values
            # Each layer on its own x range, holding all its values: with ReLU and std 1 the
            # activations grow ~40x per layer, so a shared range shows later layers as empty.
            # The growth or shrinking reads off the x ticks and the σ in the corner.
            high = 1.0 if activation == "sigmoid" else float(shown.max()) if shown.size else 1.0
            ax.hist(shown.ravel(), bins=30, range=(0.0, high), color=f"C{row}")
            ax.text(0.97, 0.95, f"σ={values.std():.3g}", transform=ax.transAxes, ha="right",
                    va="top", fontsize=8, bbox={"facecolor": "white", "alpha": 0.7, "lw": 0})
            ax.set_yticks([])
            ax.tick_params(axis="x", labelsize=7)
            ax.locator_params(axis="x", nbins=3)  # ranges from 1e-6 to 1e5: few, short ticks
            ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
            if row == 0:
                ax.set_title(f"layer {col + 1}")
            if col == 0:
                ax.set_ylabel(label)
    extra = " (zeros left out; each layer on its own x range)" if activation == "relu" else ""
    fig.suptitle(f"{activation} activations by weight initialization{extra}")
    fig.tight_layout()
    return fig, spreads


def plot_histograms(activation: str, outputs: Outputs, cfg: Config) -> dict[str, list[float]]:
    """Save histograms_<activation>.png; returns the std of each layer per initialization."""
    fig, spreads = histogram_figure(activation, cfg)
    plots.save(fig, outputs.path(f"histograms_{activation}.png"))
    return spreads


def run(cfg: Config, outputs: Outputs) -> dict:
    spreads = {act: plot_histograms(act, outputs, cfg) for act in ACTIVATIONS}
    data = load_data(cfg, layout="flat")
    histories, results = {}, {}
    for label, init in INITS.items():
        if label == "std 1":
            continue  # with ReLU it explodes (the book leaves it out too)
        model = zoo.mlp(**data.model_args, hidden=(100,) * 4, init=init, rng=demo_rng(cfg, 2))
        history = fit(model, data, cfg, f"init {label}", rng=demo_rng(cfg, 3))
        histories[label] = history
        results[label] = run_record(history)
    title = f"five-layer ReLU net on {data.title}, {cfg.optimizer} lr {cfg.lr}"
    plots.loss_curves({k: h.iteration_loss for k, h in histories.items()},
                      outputs.path("loss.png"), title)
    plots.accuracy_curves(histories, outputs.path("accuracy.png"), title, train=False)
    return {**data.summary(), "activation_std": spreads, "networks": results}
