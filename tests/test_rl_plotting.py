"""rl.plotting: smoothing, averaging over seeds, and the PNG it writes."""

import json

import numpy as np
import pytest
from PIL import Image

from rl.logging import CsvLogger
from rl.plotting import _mean_band, plot_learning_curves, smooth


def test_smooth_is_a_trailing_mean():
    values = np.array([1.0, 3.0, 5.0, 7.0])
    assert np.allclose(smooth(values, 2), [1.0, 2.0, 4.0, 6.0])
    assert np.allclose(smooth(values, 10), [1.0, 2.0, 3.0, 4.0])
    assert np.array_equal(smooth(values, 1), values)


def test_mean_band_averages_same_steps_point_by_point_and_interpolates_others():
    x = np.array([10.0, 20.0, 30.0])
    same = _mean_band([(x, np.array([1.0, 2.0, 3.0])), (x, np.array([3.0, 4.0, 5.0]))])
    assert np.array_equal(same[0], x)
    assert np.allclose(same[1], [2.0, 3.0, 4.0]) and np.allclose(same[2], [1.0, 1.0, 1.0])
    grid, mean, std = _mean_band(
        [(np.array([0.0, 100.0]), np.array([0.0, 100.0])),
         (np.array([50.0, 150.0]), np.array([50.0, 150.0]))]
    )
    assert grid[0] == 50.0 and grid[-1] == 100.0  # only the range both runs cover
    assert np.allclose(mean, grid) and np.allclose(std, 0.0)


def fake_run(run_dir, algo, seed, wins=False):
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({"algo": algo, "env_id": "Toy-v0"}))
    rng = np.random.default_rng(seed)
    with CsvLogger(run_dir / "metrics.csv") as logger:
        for episode in range(1, 41):
            logger.log({"step": 25 * episode, "episode": episode,
                        "episode_return": episode + rng.normal(), "episode_length": 25})
            if episode % 10 == 0:
                row = {"step": 25 * episode, "eval_return_mean": episode + rng.normal(),
                       "eval_return_std": 1.0}
                if wins:
                    row["eval_win_rate"] = episode / 40
                logger.log(row)
    return run_dir


def test_several_runs_and_algorithms_make_one_png(tmp_path):
    runs = [fake_run(tmp_path / f"{algo}{seed}", algo, seed)
            for algo in ("sarsa", "qlearning") for seed in range(3)]
    out = plot_learning_curves(runs, tmp_path / "out" / "curves.png")
    with Image.open(out) as image:
        assert image.format == "PNG"
        two_panels = image.size[0]
    pacman = fake_run(tmp_path / "pac", "dqn", 0, wins=True)
    out = plot_learning_curves([pacman], tmp_path / "w.png")
    with Image.open(out) as image:
        assert image.size[0] > two_panels  # a third panel for the win rate
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["curves.png"]


def test_bad_inputs_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"has no metrics\.csv"):
        plot_learning_curves([tmp_path], tmp_path / "x.png")
    with pytest.raises(ValueError, match="at least one run"):
        plot_learning_curves([], tmp_path / "x.png")
    empty = tmp_path / "empty"
    empty.mkdir()
    CsvLogger(empty / "metrics.csv").close()
    with pytest.raises(ValueError, match="nothing logged yet"):
        plot_learning_curves([empty], tmp_path / "x.png")
