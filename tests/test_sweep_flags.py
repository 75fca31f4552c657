"""scripts/sweep.py's flags: a sweep file with --base/--grid/--seeds on top, usage errors."""

import json

import pytest

from rl.sweep import SweepError
from scripts import sweep as sweep_script


def parse(argv):
    return sweep_script.config_from_args(sweep_script.build_parser().parse_args(["run", *argv]))


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
    with pytest.raises(SweepError, match=message):
        parse(argv)
