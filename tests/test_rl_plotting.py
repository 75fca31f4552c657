"""rl.plotting: smoothing, averaging over seeds, and the PNG it writes."""

import json

import numpy as np
import pytest
from PIL import Image

from rl.logging import CsvLogger
from rl.plotting import _mean_band, learning_curves_figure, plot_learning_curves, smooth


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


def fake_run(run_dir, algo, seed, wins=False, env_id="Toy-v0", episodes=40):
    run_dir.mkdir(parents=True)
    config = {"algo": algo, "env_id": env_id, "env_kwargs": {}, "seed": seed, "agent": {},
              "loop": {}}
    (run_dir / "config.json").write_text(json.dumps(config))
    rng = np.random.default_rng(seed)
    with CsvLogger(run_dir / "metrics.csv") as logger:
        for episode in range(1, episodes + 1):
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


def curves_by_label(axis):
    return {line.get_label(): line.get_color() for line in axis.get_lines()}


def test_each_environment_gets_its_own_row_and_an_algorithm_one_colour(tmp_path):
    runs = [fake_run(tmp_path / "a0", "qlearning", 0, env_id="FrozenLake-v1"),
            fake_run(tmp_path / "a1", "sarsa", 1, env_id="FrozenLake-v1"),
            fake_run(tmp_path / "b0", "sarsa", 2, env_id="CliffWalking-v0"),
            fake_run(tmp_path / "b1", "qlearning", 3, env_id="CliffWalking-v0")]
    figure = learning_curves_figure(runs)
    axes = figure.get_axes()
    assert len(axes) == 4  # two environments x (training, evaluation)
    titles = [axis.get_title() for axis in axes]
    assert titles[0].startswith("FrozenLake-v1: training episodes")
    assert titles[1].startswith("FrozenLake-v1: greedy evaluation")
    assert titles[2].startswith("CliffWalking-v0: training episodes")
    assert titles[3].startswith("CliffWalking-v0: greedy evaluation")
    colours = [curves_by_label(axis) for axis in axes]
    assert all(sorted(c) == ["qlearning", "sarsa"] for c in colours)  # no env mixes into another
    assert len({c["qlearning"] for c in colours}) == 1  # the same colour in every panel
    assert len({c["sarsa"] for c in colours}) == 1
    assert colours[0]["qlearning"] != colours[0]["sarsa"]
    assert figure.get_suptitle() == "Learning curves of 4 runs"


def test_one_environment_is_the_title_and_a_win_panel_stays_empty_without_wins(tmp_path):
    pacman = fake_run(tmp_path / "pac", "dqn", 0, wins=True, env_id="PacGrid/Tiny-v1")
    figure = learning_curves_figure([pacman])
    assert figure.get_suptitle() == "PacGrid/Tiny-v1"
    assert [axis.get_title() for axis in figure.get_axes()] == [
        "training episodes (moving average of 20)",
        "greedy evaluation (mean return ± std)",
        "greedy evaluation (win rate)",
    ]
    cart = fake_run(tmp_path / "cart", "dqn", 1, env_id="CartPole-v1")
    figure = learning_curves_figure([pacman, cart], title="mine")
    assert figure.get_suptitle() == "mine"
    cart_row = figure.get_axes()[3:]
    assert [axis.axison for axis in cart_row] == [True, True, False]  # no win rate for CartPole
    assert not cart_row[2].get_lines()


def test_a_win_rate_reference_is_a_dashed_line_in_its_environments_row(tmp_path):
    pacman = fake_run(tmp_path / "pac", "dqn", 0, wins=True, env_id="PacGrid/Tiny-v1")
    cart = fake_run(tmp_path / "cart", "dqn", 1, env_id="CartPole-v1")
    figure = learning_curves_figure([pacman, cart], win_rate_references={"PacGrid/Tiny-v1": 0.9})
    win_axis = figure.axes[2]
    lines = [line for line in win_axis.get_lines() if line.get_linestyle() == "--"]
    assert len(lines) == 1 and np.allclose(lines[0].get_ydata(), 0.9)
    assert "planner (0.90)" in [text.get_text() for text in win_axis.get_legend().get_texts()]
    with pytest.raises(ValueError, match="PacGrid/Small-v1"):
        learning_curves_figure([pacman], win_rate_references={"PacGrid/Small-v1": 0.9})


def test_labels_group_runs_of_one_algorithm_into_separate_curves(tmp_path):
    runs = [fake_run(tmp_path / f"r{seed}", "dqn", seed) for seed in range(3)]
    figure = learning_curves_figure(runs, labels=["preset", "preset", "no PER"])
    curves = curves_by_label(figure.get_axes()[0])
    assert sorted(curves) == ["no PER", "preset (2 runs, mean ± std)"]
    assert len(set(curves.values())) == 2
    with pytest.raises(ValueError, match="2 labels for 3 runs"):
        learning_curves_figure(runs, labels=["a", "b"])


def test_runs_of_one_curve_that_end_early_are_named_in_a_warning(tmp_path):
    runs = [fake_run(tmp_path / "r0", "dqn", 0), fake_run(tmp_path / "r1", "dqn", 1, episodes=80)]
    with pytest.warns(UserWarning, match=r"1 of 2 runs end before step 2,000 \(at 1,000\)"):
        learning_curves_figure(runs)
