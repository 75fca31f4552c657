"""Sweeps end to end: real Q-learning trials on FrozenLake through scripts/sweep.py."""

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agents.registry import train_settings
from rl import sweep
from scripts import sweep as sweep_script

# A trial trains tabular Q-learning for 2000 steps: well under a second of training.
TINY = {"algo": "qlearning", "env": "FrozenLake-v1", "total_steps": 2000, "eval_every": 500,
        "eval_episodes": 5, "checkpoint_every": 500}
BASE_FLAGS = [flag for key, value in TINY.items() for flag in ("--base", f"{key}={value}")]


def run_sweep(out: Path, name: str, *extra: str) -> int:
    return sweep_script.main(["run", "--out", str(out), "--name", name, *BASE_FLAGS, *extra])


def eval_returns(run_dir: Path) -> list[float]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return [float(row["eval_return_mean"]) for row in csv.DictReader(f)
                if row["eval_return_mean"]]


def marker(run_dir: Path) -> dict:
    return json.loads((run_dir / "trial.json").read_text())


def check_sweep_results(sweep_dir: Path, names: list[str], capsys) -> None:
    """Every trial is an ordinary finished run, and the report covers each of them."""
    for name in names:
        run_dir = sweep_dir / name
        assert marker(run_dir)["status"] == "done", name
        config = json.loads((run_dir / "config.json").read_text())
        assert config["algo"] == "qlearning" and config["env_id"] == "FrozenLake-v1"
        assert config["seed"] == int(name.rsplit("seed=", 1)[1])
        assert config["loop"]["total_steps"] == 2000
        assert (run_dir / "checkpoint.npz").is_file()
        assert len(eval_returns(run_dir)) == 4  # at 500, 1000, 1500 and 2000 steps

    assert sweep_script.main(["report", str(sweep_dir), "--reps", "400"]) == 0
    printed = capsys.readouterr().out
    table = (sweep_dir / "report.md").read_text()
    assert table in printed
    for name in names:
        assert f"| {name} | done |" in table

    # The report's numbers are those of the runs' own metrics.csv.
    summary = json.loads((sweep_dir / "report.json").read_text())
    configs = sorted({name.split("/")[0] for name in names})
    assert sorted(summary) == configs
    for config in configs:
        runs = [sweep_dir / name for name in names if name.startswith(config + "/")]
        final = [eval_returns(run_dir)[-1] for run_dir in runs]
        best = [max(eval_returns(run_dir)) for run_dir in runs]
        assert summary[config]["final"]["mean"]["value"] == pytest.approx(np.mean(final))
        assert summary[config]["best"]["median"]["value"] == pytest.approx(np.median(best))
        estimate = summary[config]["final"]["iqm"]
        assert estimate["low"] <= estimate["value"] <= estimate["high"]

    for png in ("learning_curves.png", "performance_profile.png"):
        with Image.open(sweep_dir / png) as image:
            assert image.size[0] > 400 and image.size[1] > 300
            # A real plot, not a blank canvas: many distinct colours (lines, bands, text).
            assert len(image.convert("RGB").getcolors(maxcolors=1 << 20)) > 50


TRIALS_2x2 = ["alpha=0.1/seed=0", "alpha=0.1/seed=1", "alpha=0.5/seed=0", "alpha=0.5/seed=1"]


@pytest.mark.slow
def test_local_backend_runs_a_2x2_sweep_and_reports_every_trial(tmp_path, capsys):
    code = run_sweep(tmp_path, "tiny", "--grid", "alpha=0.1,0.5", "--seeds", "0", "1",
                     "--workers", "2")
    printed = capsys.readouterr().out
    assert code == 0
    for name in TRIALS_2x2:  # one line per finished trial
        assert f"done    {name}  final" in printed
    check_sweep_results(tmp_path / "tiny", TRIALS_2x2, capsys)


def test_a_worker_process_makes_the_projects_own_environments(tmp_path, capsys):
    # Workers start as fresh interpreters: PacGrid ids must register there without the
    # `import envs` that the scripts do (this sweep once failed every trial with
    # "Namespace PacGrid not found").
    code = sweep_script.main(["run", "--out", str(tmp_path), "--name", "pacgrid",
                              "--base", "algo=qlearning", "--base", "env=PacGrid/Tiny-v0",
                              "--base", "total_steps=300", "--base", "eval_every=300",
                              "--base", "eval_episodes=2", "--seeds", "0", "--workers", "1"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert marker(tmp_path / "pacgrid" / "base" / "seed=0")["status"] == "done"
    assert "done    base/seed=0  final" in printed and "(win rate final " in printed


@pytest.mark.slow
def test_rerun_skips_finished_trials_and_resumes_interrupted_ones(tmp_path, capsys):
    sweep_dir = tmp_path / "resume"
    assert run_sweep(tmp_path, "resume", "--grid", "alpha=0.5", "--seeds", "0", "1") == 0
    finished = sweep_dir / "alpha=0.5/seed=0"
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in finished.iterdir()}

    # Seed 1 interrupted half way: a checkpoint at step 1000 and no trial.json.
    interrupted = sweep_dir / "alpha=0.5/seed=1"
    full_run = eval_returns(interrupted)
    for path in interrupted.iterdir():
        path.unlink()
    sweep_settings = sweep.expand(sweep.SweepConfig(
        name="resume", base=TINY, grid={"alpha": [0.5]}, seeds=[1], out=str(tmp_path)
    ))[0].settings
    train_settings(interrupted, {**sweep_settings, "total_steps": 1000}, resume=False)
    half_run = eval_returns(interrupted)
    assert len(half_run) == 2 and not (interrupted / "trial.json").exists()
    capsys.readouterr()

    assert run_sweep(tmp_path, "resume", "--grid", "alpha=0.5", "--seeds", "0", "1") == 0
    printed = capsys.readouterr().out
    assert "1 already done, 1 to resume, 0 to start" in printed
    assert "alpha=0.5/seed=1" in printed and "alpha=0.5/seed=0" not in printed.split("backend")[1]
    # The finished trial was not touched at all.
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in finished.iterdir()}
    assert after == before
    # The interrupted one continued from its checkpoint: its first half is kept as it was, and
    # it now reaches 2000 steps under the sweep's flags.
    resumed = marker(interrupted)
    assert resumed["status"] == "done" and resumed["resumed"] is True
    assert resumed["settings"] == sweep_settings
    returns = eval_returns(interrupted)
    assert returns[:2] == half_run and len(returns) == len(full_run) == 4
    steps, _ = sweep.read_eval_curve(interrupted)
    assert steps.tolist() == [500, 1000, 1500, 2000]
    assert "resume: {" in (interrupted / "train.log").read_text()


@pytest.mark.slow
def test_a_failing_trial_is_reported_while_the_others_finish(tmp_path, capsys):
    code = run_sweep(tmp_path, "failing", "--grid", "alpha=0.5,oops", "--seeds", "0", "1",
                     "--workers", "2")
    printed = capsys.readouterr().out
    assert code == 1
    for seed in (0, 1):
        assert f"done    alpha=0.5/seed={seed}" in printed
        failed = marker(tmp_path / "failing" / f"alpha=oops/seed={seed}")
        assert failed["status"] == "failed"
        # The trial's own error message (the config rejecting the value) comes back.
        assert "alpha" in failed["error"] and "oops" in failed["error"]
        assert f"FAILED  alpha=oops/seed={seed}: {failed['error']}" in printed

    assert sweep_script.main(["report", str(tmp_path / "failing"), "--reps", "200"]) == 0
    table = (tmp_path / "failing" / "report.md").read_text()
    assert "2 of 4 trials finished" in table
    assert "| alpha=0.5/seed=0 | done |" in table and "| alpha=oops/seed=1 | failed:" in table


@pytest.mark.slow
def test_ray_backend_runs_the_same_sweep_on_a_local_ray_instance(tmp_path, capsys):
    if os.environ.get("CI"):
        import ray  # `make test` installs the ray extra: in CI a missing ray is a failure
    else:
        ray = pytest.importorskip("ray", reason="install the ray extra: pip install -e '.[ray]'")
    try:
        # Without --address the sweep starts a local Ray instance (ray.init(num_cpus=2,
        # include_dashboard=False)) and shuts it down when the trials are done.
        code = run_sweep(tmp_path, "tiny-ray", "--grid", "alpha=0.1,0.5", "--seeds", "0", "1",
                         "--backend", "ray", "--workers", "2")
        assert not ray.is_initialized()
    finally:
        ray.shutdown()  # in case the sweep failed before shutting down its instance
    printed = capsys.readouterr().out
    assert code == 0, printed
    for name in TRIALS_2x2:
        assert f"done    {name}  final" in printed
    # The trials ran in scratch folders of Ray workers; their files came back to the driver.
    check_sweep_results(tmp_path / "tiny-ray", TRIALS_2x2, capsys)


def test_report_of_a_missing_folder_says_what_to_pass(tmp_path, capsys):
    # A usage error, with argparse's status.
    assert sweep_script.main(["report", str(tmp_path / "nope")]) == 2
    assert "sweep.py: error:" in capsys.readouterr().err
    assert sweep_script.main(["report", str(tmp_path)]) == 2
    assert "no finished trials" in capsys.readouterr().err


def write_trial(sweep_dir: Path, config: str, seed: int, rows: list[dict]) -> None:
    """A finished trial as the report reads it: its trial.json and metrics.csv only."""
    run_dir = sweep_dir / config / f"seed={seed}"
    run_dir.mkdir(parents=True)
    marker = {"name": f"{config}/seed={seed}", "config_name": config, "params": {},
              "seed": seed, "settings": {}, "status": "done", "error": None,
              "resumed": False, "wall_s": 1.0}
    (run_dir / "trial.json").write_text(json.dumps(marker))
    with open(run_dir / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_report_scores_win_rates_where_runs_report_wins_and_draws_references(tmp_path, capsys):
    # Pac-Man runs log eval_win_rate beside the return; the report ranks by the win rate then.
    sweep_dir = tmp_path / "pacman"
    wins = {("preset", 0): [0.2, 0.9], ("preset", 1): [0.5, 0.7],
            ("no-mask", 0): [0.1, 0.3], ("no-mask", 1): [0.4, 0.2]}
    for (config, seed), rates in wins.items():
        write_trial(sweep_dir, config, seed, [
            {"step": 100 * (i + 1), "eval_return_mean": 1000 * rate + 7, "eval_win_rate": rate}
            for i, rate in enumerate(rates)])
    assert sweep_script.main(["report", str(sweep_dir), "--reps", "200",
                              "--reference", "planner, depth 3=0.97"]) == 0
    table = (sweep_dir / "report.md").read_text()
    assert "greedy win rate (`eval_win_rate`" in table
    assert "Reference, planner, depth 3: 0.97." in table
    summary = json.loads((sweep_dir / "report.json").read_text())
    assert summary["preset"]["final"]["mean"]["value"] == pytest.approx(0.8)
    assert summary["no-mask"]["best"]["mean"]["value"] == pytest.approx(0.35)
    assert "| preset/seed=0 | done | 0.9 | 0.9 | 200 |" in table

    # --metric return scores the same runs by their returns.
    assert sweep_script.main(["report", str(sweep_dir), "--reps", "200",
                              "--metric", "return"]) == 0
    summary = json.loads((sweep_dir / "report.json").read_text())
    assert summary["preset"]["final"]["mean"]["value"] == pytest.approx(807)
    assert "greedy evaluation return (`eval_return_mean`" in (sweep_dir / "report.md").read_text()

    # One run without wins (another env) makes the default the return, which every run has.
    write_trial(sweep_dir, "other", 0, [{"step": 100, "eval_return_mean": 3.0}])
    assert sweep_script.main(["report", str(sweep_dir), "--reps", "200"]) == 0
    assert "greedy evaluation return" in (sweep_dir / "report.md").read_text()
    capsys.readouterr()


@pytest.mark.parametrize("reference", ["0.97", "=0.97", "planner=high"])
def test_a_malformed_reference_says_what_it_wants(tmp_path, capsys, reference):
    with pytest.raises(SystemExit) as exit_info:
        sweep_script.main(["report", str(tmp_path), "--reference", reference])
    assert exit_info.value.code == 2
    assert "LABEL=SCORE" in capsys.readouterr().err


def test_an_archive_reports_like_the_sweep_and_lets_a_rerun_elsewhere_skip_its_trials(
        tmp_path, capsys):
    assert run_sweep(tmp_path / "here", "arch", "--seeds", "0", "1", "--workers", "1") == 0
    sweep_dir = tmp_path / "here" / "arch"
    assert sweep_script.main(["archive", str(sweep_dir), str(tmp_path / "kept")]) == 0
    kept = tmp_path / "kept"
    files = sorted(str(p.relative_to(kept)) for p in kept.rglob("*") if p.is_file())
    assert files == ["base/seed=0/config.json", "base/seed=0/metrics.csv", "base/seed=0/trial.json",
                     "base/seed=1/config.json", "base/seed=1/metrics.csv", "base/seed=1/trial.json",
                     "sweep.json"]  # no checkpoints, no plots
    assert eval_returns(kept / "base" / "seed=1") == eval_returns(sweep_dir / "base" / "seed=1")
    with open(kept / "base" / "seed=1" / "metrics.csv", newline="") as f:
        assert all(row["eval_return_mean"] for row in csv.DictReader(f))  # evaluation rows only

    for folder in (sweep_dir, kept):
        assert sweep_script.main(["report", str(folder), "--reps", "200"]) == 0
    assert json.loads((kept / "report.json").read_text()) == \
        json.loads((sweep_dir / "report.json").read_text())

    # Elsewhere: the archive under runs/ as the sweep's folder; the rerun runs only seed 2.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (kept / "report.json").unlink()
    kept.rename(elsewhere / "arch")
    capsys.readouterr()
    assert run_sweep(elsewhere, "arch", "--seeds", "0", "1", "2", "--workers", "1") == 0
    printed = capsys.readouterr().out
    assert "2 already done" in printed and "done    base/seed=2" in printed
    assert "base/seed=0" not in printed.split("already done", 1)[1]


def test_archive_of_a_folder_that_is_no_sweep_says_what_to_pass(tmp_path, capsys):
    assert sweep_script.main(["archive", str(tmp_path), str(tmp_path / "out")]) == 2
    assert "sweep.json" in capsys.readouterr().err
