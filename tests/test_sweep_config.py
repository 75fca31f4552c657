"""Sweep files, command-line grids, trial names and flags (scripts/sweep.py), without training."""

import json
import sys

import pytest

from rl import trials
from rl.trials import MARKER
from scripts import sweep


def parse(argv):
    return sweep.config_from_args(sweep.build_parser().parse_args(["run", *argv]))


def test_toml_file_and_command_line_combine(tmp_path):
    path = tmp_path / "alpha.toml"
    path.write_text(
        'seeds = [1, 2]\n[base]\nalgo = "qlearning"\ntotal-steps = 500\n'
        "[grid]\nalpha = [0.1, 0.5]\n"
    )
    cfg = parse([str(path), "--base", "gamma=0.9", "--grid", "initial_q=0,1", "--out", "x"])
    assert cfg.name == "alpha"  # the file's stem when it has no name key
    assert cfg.base == {"algo": "qlearning", "total_steps": 500, "gamma": 0.9}
    assert cfg.grid == {"alpha": [0.1, 0.5], "initial_q": [0, 1]}
    assert cfg.seeds == [1, 2] and cfg.out == "x"


def test_json_file_and_json_list_grid(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"name": "dqn-width", "base": {"algo": "dqn"}, "seeds": [0]}))
    cfg = parse([str(path), "--grid", "hidden=[[64], [64, 64]]", "--seeds", "3", "4"])
    assert cfg.name == "dqn-width"
    assert cfg.grid == {"hidden": [[64], [64, 64]]}
    assert cfg.seeds == [3, 4]


def test_trials_have_readable_names_and_training_settings(tmp_path):
    cfg = sweep.SweepConfig(
        name="s",
        base={"algo": "dqn", "env": "PacGrid/Tiny-v0", "double": True, "total_steps": 100},
        grid={"learning_rate": [0.001, 0.0003], "hidden": [[64, 64]]},
        seeds=[0, 1],
        out=str(tmp_path),
    )
    trials = sweep.expand(cfg)
    assert [t.name for t in trials] == [
        "learning_rate=0.001,hidden=64-64/seed=0",
        "learning_rate=0.001,hidden=64-64/seed=1",
        "learning_rate=0.0003,hidden=64-64/seed=0",
        "learning_rate=0.0003,hidden=64-64/seed=1",
    ]
    first = trials[0]
    assert first.run_dir == str(tmp_path.resolve() / "s" / first.name)
    assert first.settings == {
        "algo": "dqn", "env": "PacGrid/Tiny-v0", "double": True, "total_steps": 100,
        "progress": False, "learning_rate": 0.001, "hidden": [64, 64], "seed": 0,
    }


def test_folder_names_are_filesystem_safe():
    assert sweep.value_label("PacGrid/Tiny-v0") == "PacGrid_Tiny-v0"
    assert sweep.value_label({"kind": "linear", "start": 1, "end": 0.1}) == "linear-1-0.1"
    assert sweep.value_label(None) == "null"
    assert sweep.value_label(1e-05) == "1e-05"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--base", "seed=3"], "sets seed itself"),
        (["--base", "gamma=0.9", "--grid", "gamma=0.9,0.99"], "both base and grid"),
        (["--base", "novalue"], "KEY=VALUE"),
        (["--grid", "alpha=[]"], "non-empty list"),
        (["--seeds", "1", "1"], "distinct"),
        (["--name", "a/b"], "sweep name"),
    ],
)
def test_bad_sweeps_are_rejected_with_a_clear_message(argv, message):
    with pytest.raises(SystemExit, match=message):
        parse(argv)


def test_bad_sweep_files_are_rejected(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("[grid\nalpha = [")
    with pytest.raises(SystemExit, match="not valid toml"):
        parse([str(broken)])
    unknown = tmp_path / "unknown.json"
    unknown.write_text('{"grids": {}}')
    with pytest.raises(SystemExit, match="unknown sweep file key"):
        parse([str(unknown)])
    with pytest.raises(SystemExit, match="does not exist"):
        parse([str(tmp_path / "missing.toml")])


def test_plan_skips_done_trials_resumes_checkpointed_ones_and_guards_changed_flags(tmp_path):
    cfg = sweep.SweepConfig(name="p", grid={"alpha": [0.1]}, seeds=[0, 1, 2], out=str(tmp_path))
    done, interrupted, fresh = sweep.expand(cfg)
    for trial in (done, interrupted):
        (tmp_path / "p" / trial.name).mkdir(parents=True)
    (tmp_path / "p" / done.name / MARKER).write_text(
        json.dumps({"status": "done", "settings": done.settings})
    )
    (tmp_path / "p" / interrupted.name / "checkpoint.npz").write_bytes(b"")
    finished, to_run = sweep.plan([done, interrupted, fresh])
    assert finished == [done]
    assert to_run == [(interrupted, True), (fresh, False)]

    changed = sweep.expand(
        sweep.SweepConfig(name="p", base={"gamma": 0.5}, grid={"alpha": [0.1]}, seeds=[0],
                          out=str(tmp_path))
    )
    with pytest.raises(SystemExit, match="different settings"):
        sweep.plan(changed)


def _entry_that_raises(run_dir, settings, resume):
    raise ValueError("learning rate too large for this test")


def _entry_that_diverges(run_dir, settings, resume):
    print("about to diverge", file=sys.stderr)
    raise FloatingPointError("loss became NaN at step 120")


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("_entry_that_raises", "ValueError: learning rate too large for this test"),
        ("_entry_that_diverges", "FloatingPointError: loss became NaN at step 120"),
    ],
)
def test_run_trial_reports_what_went_wrong(tmp_path, entry, expected):
    trial = trials.Trial(
        name="x=1/seed=0", config_name="x=1", params={"x": 1}, seed=0,
        settings={"x": 1, "seed": 0}, run_dir=str(tmp_path / "trial"),
        entry=f"tests.test_sweep_config:{entry}",
    )
    result = trials.run_trial(trial, resume=False)
    assert result.status == "failed" and expected in result.error
    written = json.loads((tmp_path / "trial" / MARKER).read_text())
    assert written["status"] == "failed" and written["error"] == result.error
    log = (tmp_path / "trial" / "train.log").read_text()
    assert "start: {'x': 1, 'seed': 0}" in log and "Traceback" in log
