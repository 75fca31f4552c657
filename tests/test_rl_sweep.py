"""rl.sweep and rl.trials: sweep files, trial names, plans, trials that fail or run elsewhere."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from rl import sweep, trials
from rl.trials import MARKER


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


def test_variants_are_named_configurations_over_the_base(tmp_path):
    """An ablation: the preset and one change at a time, each variant run with every seed."""
    path = tmp_path / "ablation.toml"
    path.write_text('seeds = [0, 1]\n[base]\nalgo = "dqn"\ntotal-steps = 100\n'
                    '[variants.preset]\n[variants.no-dueling]\ndueling = false\n'
                    '[variants.one-step]\nn-step = 1\ngamma = 0.9\n')
    cfg = sweep.load_sweep_file(path)
    sweep.check_config(cfg)
    trials = sweep.expand(cfg)
    assert [t.name for t in trials] == [
        "preset/seed=0", "preset/seed=1", "no-dueling/seed=0", "no-dueling/seed=1",
        "one-step/seed=0", "one-step/seed=1"]
    assert trials[0].settings == {"algo": "dqn", "total_steps": 100, "progress": False,
                                  "seed": 0}
    assert trials[5].settings == {"algo": "dqn", "total_steps": 100, "progress": False,
                                  "n_step": 1, "gamma": 0.9, "seed": 1}
    assert trials[2].params == {"dueling": False}
    # With a grid too, every variant meets every grid point.
    cfg.grid = {"batch_size": [32, 64]}
    names = [t.config_name for t in sweep.expand(cfg)][::2]
    assert names == ["preset,batch_size=32", "preset,batch_size=64", "no-dueling,batch_size=32",
                     "no-dueling,batch_size=64", "one-step,batch_size=32",
                     "one-step,batch_size=64"]


def test_folder_names_are_filesystem_safe():
    assert sweep.value_label("PacGrid/Tiny-v0") == "PacGrid_Tiny-v0"
    assert sweep.value_label({"kind": "linear", "start": 1, "end": 0.1}) == "linear-1-0.1"
    assert sweep.value_label(None) == "null"
    assert sweep.value_label(1e-05) == "1e-05"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"base": {"seed": 3}}, "sets seed itself"),
        ({"base": {"gamma": 0.9}, "grid": {"gamma": [0.9, 0.99]}}, "both base and grid"),
        ({"grid": {"alpha": []}}, "non-empty list"),
        ({"seeds": [1, 1]}, "distinct"),
        ({"name": "a/b"}, "sweep name"),
        ({"variants": {"a b": {}}}, "variant name"),
        ({"variants": {"off": 3}}, "table of settings"),
        ({"variants": {"s": {"seed": 2}}}, "variant 's' sets seed"),
        ({"grid": {"gamma": [0.9]}, "variants": {"g": {"gamma": 0.5}}}, "sets gamma"),
    ],
)
def test_bad_sweeps_are_rejected_with_a_clear_message(changes, message):
    with pytest.raises(sweep.SweepError, match=message):
        sweep.check_config(sweep.SweepConfig(**changes))


def test_bad_sweep_files_are_rejected(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("[grid\nalpha = [")
    with pytest.raises(sweep.SweepError, match="not valid toml"):
        sweep.load_sweep_file(broken)
    unknown = tmp_path / "unknown.json"
    unknown.write_text('{"grids": {}}')
    with pytest.raises(sweep.SweepError, match="unknown sweep file key"):
        sweep.load_sweep_file(unknown)
    with pytest.raises(sweep.SweepError, match="does not exist"):
        sweep.load_sweep_file(tmp_path / "missing.toml")


def test_a_sweep_file_names_the_sweep_and_may_spell_keys_with_dashes(tmp_path):
    path = tmp_path / "alpha.toml"
    path.write_text('[base]\ntotal-steps = 500\n[grid]\ninitial-q = [0, 1]\n')
    cfg = sweep.load_sweep_file(path)
    assert cfg.name == "alpha" and cfg.base == {"total_steps": 500}
    assert cfg.grid == {"initial_q": [0, 1]}


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
    with pytest.raises(sweep.SweepError, match="different settings"):
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
        entry=f"tests.test_rl_sweep:{entry}",
    )
    result = trials.run_trial(trial, resume=False)
    assert result.status == "failed" and expected in result.error
    written = json.loads((tmp_path / "trial" / MARKER).read_text())
    assert written["status"] == "failed" and written["error"] == result.error
    log = (tmp_path / "trial" / "train.log").read_text()
    assert "start: {'x': 1, 'seed': 0}" in log and "Traceback" in log


# A trial trains tabular Q-learning for up to 2000 steps: well under a second of training.
TINY = {"algo": "qlearning", "env": "FrozenLake-v1", "total_steps": 2000, "eval_every": 500,
        "eval_episodes": 5, "checkpoint_every": 500}


def test_a_trial_run_elsewhere_brings_its_files_home_and_resumes_from_shipped_ones(tmp_path):
    # What a Ray task on another machine does: train in a scratch folder, return every file.
    def one_trial(total_steps: int) -> trials.Trial:
        base = {**TINY, "total_steps": total_steps}
        cfg = sweep.SweepConfig(name="far", base=base, grid={"alpha": [0.5]}, seeds=[3],
                                out=str(tmp_path))
        return sweep.expand(cfg)[0]

    short_trial = one_trial(1000)
    result, files = trials.run_trial_elsewhere(short_trial, False, {})
    assert result.status == "done", result.error
    assert {"config.json", "metrics.csv", "checkpoint.npz", "trial.json", "train.log"} <= set(files)
    home = Path(short_trial.run_dir)
    assert not home.exists()  # nothing was written on the driver's side...
    trials.write_files(home, files)  # ...until the driver writes what came back
    assert json.loads((home / MARKER).read_text())["status"] == "done"

    # Resuming ships the checkpoint to the worker and the continued run back.
    long_trial = one_trial(2000)
    result, files = trials.run_trial_elsewhere(
        long_trial, True, trials.read_files(home)
    )
    assert result.status == "done" and result.resumed, result.error
    trials.write_files(home, files)
    steps, _ = sweep.read_eval_curve(home)
    assert steps.tolist() == [500, 1000, 1500, 2000]


@pytest.mark.parametrize("path", sorted(Path(__file__).parents[1].glob("examples/sweeps/*")))
def test_the_example_sweeps_are_valid_and_their_trials_build(path):
    """Each shipped sweep file loads, passes the checks, and every trial's settings make a run."""
    from agents.registry import settings_warnings

    cfg = sweep.load_sweep_file(path)
    sweep.check_config(cfg)
    trials = sweep.expand(cfg)
    assert len(trials) == len(cfg.seeds) * max(len(cfg.variants), 1) * int(
        np.prod([len(v) for v in cfg.grid.values()]))
    for trial in trials[::len(cfg.seeds)]:
        settings_warnings(dict(trial.settings))  # raises on a setting that cannot run
