"""Small runs that would silently learn nothing say so, by these words (issue 18)."""

import json

import pytest

from agents.registry import new_run, run_warnings, settings_warnings
from scripts import train as train_script


def test_learning_starts_beyond_the_run_is_said_with_the_fix():
    run = new_run("dqn", "PacGrid/Small-v1", {"total_steps": 2000})
    assert run_warnings(run) == [
        "learning_starts 5,000 >= total_steps 2,000: the dqn agent makes no update in this run, "
        "so it learns nothing. Lower --learning-starts (e.g. --learning-starts 200) or raise "
        "--total-steps"
    ]


def test_schedules_longer_than_the_run_say_by_how_much_and_where_they_end():
    run = new_run("qlearning", "FrozenLake-v1", {"total_steps": 20_000})
    alpha, epsilon = run_warnings(run)
    assert alpha.startswith("alpha's schedule runs 300,000 steps, 280,000 more than this run's "
                            "20,000: it ends at 0.094 instead of 0.01.")
    assert epsilon.startswith("epsilon's schedule runs 200,000 steps, 180,000 more than this "
                              "run's 20,000: it ends at 0.905 instead of 0.05.")
    assert "Pass --fit-schedules (in a sweep: --base fit_schedules=true)" in epsilon
    # The sweep says the same before its trials start.
    settings = {"algo": "qlearning", "env": "FrozenLake-v1", "total_steps": 20_000}
    assert settings_warnings(settings) == [alpha, epsilon]
    assert settings_warnings({**settings, "fit_schedules": True}) == []


def test_the_learning_rate_schedule_is_compared_with_the_updates_made():
    # 20,000 steps, 5,000 of them before learning, an update every 4: 3,750 updates.
    run = new_run("dqn", "PacGrid/Tiny-v1", {"total_steps": 20_000, "epsilon": 0.1})
    [warning] = run_warnings(run)
    assert warning.startswith("learning_rate's schedule runs 7,500 updates, 3,750 more than "
                              "this run's 3,750")
    assert run_warnings(new_run("dqn", "PacGrid/Tiny-v1")) == []  # the preset's own budget


def test_fit_schedules_scales_the_preset_schedules_but_not_the_given_ones(tmp_path, capsys):
    run = new_run("qlearning", "FrozenLake-v1", {"total_steps": 30_000, "alpha": 0.2}, fit=True)
    assert run.agent_config.epsilon.duration == 20_000  # 200k x 30k / 300k
    assert run.agent_config.alpha(0) == 0.2 and run_warnings(run) == []
    run_dir = tmp_path / "fit"
    assert train_script.main(["--algo", "qlearning", "--env", "FrozenLake-v1", "--total-steps",
                              "600", "--eval-episodes", "1", "--fit-schedules", "--no-progress",
                              "--run-dir", str(run_dir)]) == 0
    config = json.loads((run_dir / "config.json").read_text())
    assert config["agent"]["epsilon"]["duration"] == 400
    assert "warning" not in capsys.readouterr().err


def test_train_prints_the_warnings_before_training(tmp_path, capsys):
    assert train_script.main(["--algo", "qlearning", "--env", "FrozenLake-v1", "--total-steps",
                              "300", "--eval-episodes", "1", "--no-progress",
                              "--run-dir", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    assert "warning: epsilon's schedule runs 200,000 steps, 199,700 more than this run's 300" in err


def test_a_tabular_agent_refuses_float_observations_with_nothing_written(tmp_path, capsys):
    run_dir = tmp_path / "cart"
    with pytest.raises(SystemExit) as exit_info:
        train_script.main(["--algo", "qlearning", "--env", "CartPole-v1", "--total-steps", "100",
                           "--run-dir", str(run_dir)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert ("tabular qlearning keeps one table row per observation, but the observations (Box "
            "of shape (4,), float32) are floats, which (almost) never repeat: it can never "
            "learn. Use --algo dqn") in err
    assert not run_dir.exists()


def test_help_with_an_env_shows_the_preset_values(capsys):
    with pytest.raises(SystemExit):
        train_script.main(["--algo", "dqn", "--env", "PacGrid/Tiny-v1", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "first update. (PacGrid/Tiny-v1 preset: 5000)" in text
    assert "(PacGrid/Tiny-v1 preset: 30000)" in text  # --total-steps
    assert "dqn hyperparameters (DQNConfig), with the PacGrid/Tiny-v1 preset" in text
    with pytest.raises(SystemExit):
        train_script.main(["--algo", "dqn", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "first update. (default: " in text and "preset:" not in text
