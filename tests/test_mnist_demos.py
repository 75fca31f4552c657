"""scripts/mnist.py: every demo runs through main([...]) on tiny synthetic IDX data."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from scripts import mnist
from supervised import datasets
from supervised.datasets import write_idx

# Tiny budgets per demo: enough to run every code path, not to learn.
TINY = {
    "twolayer": ["--subset", "60", "--hidden", "10"],
    "gradcheck": ["--samples", "2", "--hidden", "4"],
    "optimizers": ["--subset", "60", "--toy-steps", "5"],
    "init": ["--subset", "60", "--hist-samples", "50", "--hist-units", "20",
             "--hist-layers", "2"],
    "batchnorm": ["--train-samples", "40", "--test-samples", "40", "--epochs", "2",
                  "--weight-scales", "1", "0.01"],
    "overfit": ["--train-samples", "40", "--test-samples", "40", "--epochs", "3"],
    "convnet": ["--subset", "60"],
    "deep": ["--subset", "40", "--show-wrong", "6", "--dropout", "0.25",
             "--label-smoothing", "0.1"],
    "zoo": ["--subset", "40", "--batch-size", "20"],
    "transfer": ["--subset", "120", "--finetune-samples", "30", "--finetune-epochs", "2"],
}
# Files each demo must write besides metrics.json.
FILES = {
    "twolayer": ["accuracy.png", "loss.png", "twolayer_best.npz", "twolayer_history.json"],
    "gradcheck": ["gradcheck.png"],
    "optimizers": ["toy_paths.png", "loss.png", "accuracy.png"],
    "init": ["histograms_sigmoid.png", "histograms_relu.png", "loss.png", "accuracy.png"],
    "batchnorm": ["batchnorm.png"],
    "overfit": ["overfit_plain.png", "overfit_weight.png", "overfit_dropout.png",
                "overfit_all.png"],
    "convnet": ["filters_before.png", "filters_after.png", "accuracy.png", "loss.png",
                "convnet_best.npz"],
    "deep": ["accuracy.png", "misclassified.png", "confusion.png", "deep_best.npz"],
    "zoo": ["zoo.png", "accuracy.png", "table.md"],
    "transfer": ["transfer.png"],
}
SLOW = {"zoo", "deep", "transfer"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """A tiny MNIST-like dataset whose class shows as a bright row, so nets can learn it."""
    folder = tmp_path_factory.mktemp("idx")
    rng = np.random.default_rng(0)
    for split, n in (("train", 200), ("t10k", 60)):
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        images = rng.integers(0, 60, (n, 28, 28), dtype=np.uint8)
        images[np.arange(n), 2 + 2 * labels, :] = 255
        images[:, :, :8] = 0  # a blank margin, as in MNIST: whole 5x5 patches of exact zeros
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", labels.astype(np.uint8))
    return folder


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No real cache, no system folder, and downloads that fail at once."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name, spec in list(datasets.DATASETS.items()):
        monkeypatch.setitem(datasets.DATASETS, name, replace(
            spec, system_dirs=(tmp_path / "no-system-dir",),
            mirrors=((tmp_path / "no-mirror").as_uri() + "/",)))


def run_demo(demo: str, data_dir: Path, out: Path, *extra: str) -> dict:
    excluded = getattr(mnist.DEMOS[demo], "EXCLUDE", ())
    common = [(f"--{name.replace('_', '-')}", value)
              for name, value in (("epochs", "1"), ("batch_size", "20"), ("progress", None))
              if name not in excluded]
    argv = [demo, "--data-dir", str(data_dir), "--out", str(out)]
    for flag, value in common:
        argv += [flag, value] if value is not None else ["--no-progress"]
    argv += [*TINY[demo], *extra]
    assert mnist.main(argv) == 0
    return json.loads((out / "metrics.json").read_text())


@pytest.mark.parametrize("demo", [
    pytest.param(d, marks=pytest.mark.slow) if d in SLOW else d for d in mnist.DEMOS])
def test_demo_runs_and_writes_its_files(demo, data_dir, tmp_path, capsys):
    out = tmp_path / demo
    metrics = run_demo(demo, data_dir, out)
    assert metrics["demo"] == demo and metrics["config"]["seed"] == 0
    for name in FILES[demo]:
        path = out / name
        assert path.is_file() and path.stat().st_size > 0, f"{demo} did not write {name}"
        if name.endswith(".png"):
            assert path.read_bytes()[:4] == b"\x89PNG"
    printed = capsys.readouterr().out
    assert f"wrote to {out}" in printed and str(out / "metrics.json") in printed
    assert not list(out.glob(".*.part")) and not list(out.glob("*.tmp"))


def test_twolayer_learns_and_is_reproducible(data_dir, tmp_path):
    first = run_demo("twolayer", data_dir, tmp_path / "a", "--epochs", "8", "--subset", "0")
    second = run_demo("twolayer", data_dir, tmp_path / "b", "--epochs", "8", "--subset", "0")
    # the class is written in the image as a bright row: the net must find it
    assert first["final_test_acc"] >= 0.9
    assert first["history"]["test_loss"] == second["history"]["test_loss"]
    assert first["train_samples"] == 200 and first["params"] == 784 * 10 + 10 + 10 * 10 + 10


def test_gradcheck_passes_and_prints_a_table(data_dir, tmp_path, capsys):
    metrics = run_demo("gradcheck", data_dir, tmp_path)
    printed = capsys.readouterr().out
    assert metrics["all_ok"], metrics["rows"]
    names = {(row["model"], row["param"]) for row in metrics["rows"]}
    assert ("two-layer net", "fc1.W") in names and ("small conv net", "conv1.W") in names
    assert "fc2.b" in printed and "max rel. error" in printed


def test_optimizer_paths_approach_the_minimum(data_dir, tmp_path):
    metrics = run_demo("optimizers", data_dir, tmp_path, "--toy-steps", "30")
    for name, point in metrics["toy_final"].items():
        start = (-7.0) ** 2 / 20 + 2.0**2
        assert point["f"] < 0.2 * start, name
    assert set(metrics["networks"]) == {"sgd", "momentum", "nesterov", "adagrad", "rmsprop",
                                        "adam"}


def test_init_histograms_show_the_books_effects(data_dir, tmp_path):
    metrics = run_demo("init", data_dir, tmp_path, "--hist-units", "100", "--hist-layers", "5",
                       "--hist-samples", "300")
    sigmoid, relu = metrics["activation_std"]["sigmoid"], metrics["activation_std"]["relu"]
    # std 0.01: sigmoid outputs collapse near 0.5, ReLU outputs vanish layer by layer
    assert sigmoid["std 0.01"][-1] < 0.2 * sigmoid["Xavier"][-1]
    assert relu["std 0.01"][-1] < 1e-3 * relu["He"][-1]
    # std 1: sigmoid saturates (outputs near 0 and 1 have a std close to 0.5)
    assert sigmoid["std 1"][-1] > 0.4
    # with ReLU, Xavier shrinks the activations layer by layer while He keeps their scale
    assert relu["Xavier"][-1] < 0.5 * relu["Xavier"][0]
    assert 0.7 * relu["He"][0] < relu["He"][-1] < 1.5 * relu["He"][0]


def test_help_explains_every_demo(capsys):
    with pytest.raises(SystemExit) as info:
        mnist.main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for demo in mnist.DEMOS:
        assert demo in text
    with pytest.raises(SystemExit):
        mnist.main(["convnet", "--help"])
    text = capsys.readouterr().out
    for flag in ("--data", "--data-dir", "--epochs", "--batch-size", "--optimizer", "--lr",
                 "--subset", "--seed", "--out"):
        assert flag in text
    assert "SimpleConvNet" in text and "default: 20" in text


def test_bad_values_and_missing_data_are_reported(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        mnist.main(["convnet", "--optimizer", "adamw"])
    assert info.value.code == 2 and "invalid choice" in capsys.readouterr().err
    assert mnist.main(["convnet", "--epochs", "0", "--out", str(tmp_path)]) == 2
    assert "--epochs" in capsys.readouterr().err
    assert mnist.main(["zoo", "--models", "VGG", "--out", str(tmp_path)]) == 2
    assert "unknown --models" in capsys.readouterr().err
    for flag, value in (("--dropout", "1"), ("--label-smoothing", "-0.1"),
                        ("--weight-decay", "-1")):
        assert mnist.main(["deep", flag, value, "--out", str(tmp_path)]) == 2
        assert flag in capsys.readouterr().err

    code = mnist.main(["convnet", "--data", "fashion", "--out", str(tmp_path / "o"),
                       "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Fashion-MNIST was not found" in err
    assert "sudo apt-get install dataset-fashion-mnist" in err and "--data-dir" in err


def test_init_histograms_give_each_layer_its_own_range_and_drop_nothing():
    from scripts.mnist_demos import init

    cfg = init.Config(hist_samples=300, hist_units=100, hist_layers=5)
    figure, spreads = init.histogram_figure("relu", cfg)
    rows = figure.get_axes()
    std_one = rows[:cfg.hist_layers]  # the first row: weights with std 1, which explode
    assert spreads["std 1"][-1] > 100 * spreads["std 1"][0]
    assert std_one[-1].get_xlim()[1] > 100 * std_one[0].get_xlim()[1]  # not layer 1's range
    for ax, values in zip(std_one, init.layer_activations("relu", 1.0, cfg), strict=True):
        assert sum(bar.get_height() for bar in ax.patches) == (values > 0).sum()
    assert "each layer on its own x range" in figure.get_suptitle()


def test_titles_name_the_subset_and_count_epochs_in_words(data_dir, tmp_path, monkeypatch):
    from scripts.mnist_demos import common, convnet

    titles = []
    monkeypatch.setattr(convnet, "draw_filters", lambda filters, path, title: titles.append(title))
    run_demo("convnet", data_dir, tmp_path)  # --subset 60 --epochs 1
    assert titles[-1] == "conv1.W after 1 epoch on MNIST (--subset 60)"
    assert common.pluralize(1, "epoch") == "1 epoch" and common.pluralize(4, "epoch") == "4 epochs"
    cfg = common.DemoConfig(data_dir=data_dir, progress=False)
    assert common.load_data(cfg).title == "MNIST"  # the whole dataset: no subset to name


def test_each_run_without_out_gets_a_new_timestamped_folder(data_dir, tmp_path, monkeypatch,
                                                            capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["twolayer", "--data-dir", str(data_dir), "--epochs", "1", "--batch-size", "20",
            "--no-progress", *TINY["twolayer"]]
    assert mnist.main(argv) == 0 and mnist.main(argv) == 0  # most likely in the same second
    printed = capsys.readouterr().out
    folders = sorted((tmp_path / "runs" / "mnist").iterdir())
    assert len(folders) == 2, "the second run overwrote the first"
    # Named as RL runs are (rl.run.default_run_dir): <demo>-<data>-<seed>-<YYYYmmdd-HHMMSS>.
    assert re.fullmatch(r"twolayer-mnist-0-\d{8}-\d{6}", folders[0].name)
    assert re.fullmatch(r"twolayer-mnist-0-\d{8}-\d{6}(-2)?", folders[1].name)
    for folder in folders:
        assert (folder / "metrics.json").is_file() and (folder / "accuracy.png").is_file()
        assert f"twolayer: wrote to {Path('runs', 'mnist', folder.name)}/" in printed


def test_a_run_that_fails_before_writing_leaves_no_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert mnist.main(["convnet", "--data", "fashion", "--no-progress"]) == 2
    assert "Fashion-MNIST was not found" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
