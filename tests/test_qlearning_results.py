"""The README's Q-learning results, through scripts/train.py and the shared loop (short ones)."""

import json

import pytest

from scripts import eval_qlearning


@pytest.mark.slow
def test_eval_script_reaches_cliffwalking_and_pacman_tiny_targets(tmp_path, capsys):
    out_dir = tmp_path / "eval"
    argv = [
        "--tasks",
        "cliffwalking",
        "pacman_tiny",
        "--seed",
        "0",
        "--no-progress",
        "--out-dir",
        str(out_dir),
    ]
    status = eval_qlearning.main(argv)
    report = json.loads(capsys.readouterr().out)  # exactly one JSON object on stdout
    assert report["cliffwalking_return"] == -13.0
    assert report["pacman_tiny_win_rate"] >= 0.90
    assert report["pacman_tiny_train_episodes"] <= 2_000
    assert report["all_targets_met"] and status == 0
    assert "taxi_mean_return" not in report  # only the tasks asked for
    for task in ("cliffwalking", "pacman_tiny"):
        assert (out_dir / task / "config.json").is_file()
        assert (out_dir / task / "checkpoint.npz").is_file()


def test_eval_script_rejects_unknown_tasks_and_used_folders(tmp_path):
    with pytest.raises(SystemExit):
        eval_qlearning.main(["--tasks", "pong", "--out-dir", str(tmp_path / "a")])
    used = tmp_path / "used"
    used.mkdir()
    (used / "something").write_text("x")
    with pytest.raises(SystemExit):
        eval_qlearning.main(["--tasks", "taxi", "--out-dir", str(used)])
