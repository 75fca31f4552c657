"""optimizers: SGD, Momentum, Nesterov, AdaGrad, RMSProp and Adam side by side.

1. The book's toy function f(x, y) = x^2/20 + y^2 (figure 6-8 and on): each optimizer starts at
   (-7, 2) and its path over 30 updates is drawn on the contour plot. The function is 20 times
   steeper along y than along x, which makes plain SGD zig-zag.
2. The same five-layer ReLU network (100 units per layer, He init) trained by each optimizer on
   the dataset: the minibatch loss curves in one plot (the book's figure 6-9).
The learning rates are the book's where it gives one; --lr and --optimizer do not apply.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from nets import optim, zoo
from scripts.mnist_demos import plots
from scripts.mnist_demos.common import DemoConfig, Outputs, demo_rng, fit, load_data, run_record

HELP = "six optimizers: paths on x^2/20 + y^2, and loss curves on the same network"
EXCLUDE = ("optimizer", "lr")

# name -> learning rate on the toy function (the book's, plus Nesterov and RMSProp)
TOY_LR = {"sgd": 0.95, "momentum": 0.1, "nesterov": 0.1, "adagrad": 1.5, "rmsprop": 0.1,
          "adam": 0.3}
# name -> learning rate on the network (the book's figure 6-9 settings, plus the two it omits)
NET_LR = {"sgd": 0.01, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.01, "rmsprop": 0.001,
          "adam": 0.001}


@dataclass
class Config(DemoConfig):
    epochs: int = 4
    batch_size: int = 128
    # Updates drawn on the toy function.
    toy_steps: int = 30


def toy_function(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return x**2 / 20.0 + y**2


def toy_path(name: str, steps: int) -> np.ndarray:
    """Positions (steps + 1, 2) of one optimizer minimizing the toy function from (-7, 2)."""
    params = {"x": np.array([-7.0]), "y": np.array([2.0])}
    optimizer = optim.make(name, lr=TOY_LR[name])
    path = [(params["x"][0], params["y"][0])]
    for _ in range(steps):
        grads = {"x": params["x"] / 10.0, "y": 2.0 * params["y"]}
        optimizer.update(params, grads)
        path.append((params["x"][0], params["y"][0]))
    return np.array(path)


def plot_toy_paths(paths: dict[str, np.ndarray], outputs: Outputs) -> None:
    grid_x, grid_y = np.meshgrid(np.linspace(-10, 10, 201), np.linspace(-5, 5, 101))
    z = toy_function(grid_x, grid_y)
    fig = Figure(figsize=(12, 6.4))
    axes = fig.subplots(2, 3).ravel()
    for ax, (name, path) in zip(axes, paths.items(), strict=False):
        ax.contour(grid_x, grid_y, z, levels=np.geomspace(0.05, 30, 14), cmap="Greys", alpha=0.7)
        ax.plot(path[:, 0], path[:, 1], "o-", color="C3", ms=3, lw=1)
        ax.plot(0, 0, "+", color="k", ms=10)
        ax.set(xlim=(-10, 10), ylim=(-5, 5), title=f"{name} (lr {TOY_LR[name]})",
               xlabel="x", ylabel="y")
    fig.suptitle("paths on f(x, y) = x²/20 + y² from (-7, 2)")
    fig.tight_layout()
    plots.save(fig, outputs.path("toy_paths.png"))


def run(cfg: Config, outputs: Outputs) -> dict:
    paths = {name: toy_path(name, cfg.toy_steps) for name in TOY_LR}
    plot_toy_paths(paths, outputs)
    toy_final = {name: {"x": float(p[-1, 0]), "y": float(p[-1, 1]),
                        "f": float(toy_function(p[-1, 0], p[-1, 1]))} for name, p in paths.items()}

    data = load_data(cfg, layout="flat")
    histories, results = {}, {}
    for name, lr in NET_LR.items():
        # The same initial weights and batch order for every optimizer: only the update differs.
        model = zoo.mlp(**data.model_args, hidden=(100,) * 4, rng=demo_rng(cfg, 1))
        history = fit(model, data, cfg, name, optimizer=name, lr=lr)
        histories[name] = history
        results[name] = {"lr": lr, **run_record(history)}
    title = f"five-layer ReLU net on {data.title}, batch {cfg.batch_size}"
    plots.loss_curves({n: h.iteration_loss for n, h in histories.items()},
                      outputs.path("loss.png"), title)
    plots.accuracy_curves(histories, outputs.path("accuracy.png"), title, train=False)
    return {**data.summary(), "toy_final": toy_final, "networks": results}
