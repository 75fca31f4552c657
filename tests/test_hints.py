"""The commands scripts print as hints run as printed (rl/hints.py)."""

import shlex
import subprocess
import sys

import pytest

from rl import hints
from scripts import train as train_script


def test_a_hint_names_this_interpreter_and_runs_as_printed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hint = hints.command("watch.py", "--help")
    words = shlex.split(hint)
    assert words[0] == sys.executable  # the venv's python, not whichever `python` is on PATH
    assert words[1].endswith("scripts/watch.py") and words[2] == "--help"
    done = subprocess.run(words, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--show-q" in done.stdout


def test_train_prints_a_working_resume_command_when_interrupted(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_script, "train_run", interrupted)
    run_dir = tmp_path / "run dir"  # a space: the hint must quote it
    status = train_script.main(["--algo", "qlearning", "--env", "FrozenLake-v1",
                                "--total-steps", "100", "--run-dir", str(run_dir)])
    assert status == 130
    hint = capsys.readouterr().err.strip().split("continue with: ")[1]
    assert shlex.split(hint)[-2:] == ["--resume", str(run_dir)]
    assert hint.startswith(hints.command("train.py"))


@pytest.mark.parametrize("script", ["train.py", "sweep.py", "watch.py", "play.py", "demo.py"])
def test_hints_name_scripts_that_exist(script):
    assert (hints.SCRIPTS / script).is_file()
