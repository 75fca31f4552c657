"""The commands scripts print as hints run as printed (rl/hints.py)."""

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rl import hints
from scripts import demo
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


# --- make watch / make play -----------------------------------------------------------------------

ROOT = hints.SCRIPTS.parent


def make_project(folder):
    """`folder` set up as the project's root for make: its Makefile, and its scripts by link."""
    (folder / "Makefile").write_text((ROOT / "Makefile").read_text())
    (folder / "scripts").symlink_to(hints.SCRIPTS)
    return folder


def run_make(words, folder, **env):
    """Run a make command line in `folder` with this interpreter's environment as the venv
    (-o: the install stamp counts as up to date, so nothing is installed)."""
    venv = Path(sys.prefix)
    if shutil.which("make") is None or not (venv / "bin" / "python").is_file():
        pytest.skip("needs make and a virtual environment")
    command = [*words, f"VENV={venv}", "-o", f"{venv}/.stamp-run"]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "SDL_VIDEODRIVER": "dummy", **env})


def test_make_demo_hints_make_watch_which_plays_that_demo(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(make_project(tmp_path))
    monkeypatch.setenv("MAKELEVEL", "1")  # as `make demo` runs it
    older = Path("runs/demo-older")
    assert train_script.main(["--algo", "qlearning", "--env", "PacGrid/Tiny-v1",
                              "--total-steps", "50", "--run-dir", str(older)]) == 0
    assert demo.main(["--total-steps", "100", "--eval-episodes", "1", "--gif-episodes", "1",
                      "--run-dir", "runs/demo-newer"]) == 0
    out = capsys.readouterr().out
    printed = [line.split(": ", 1)[1] for line in out.splitlines() if "from make: " in line]
    assert printed == ["make watch", 'make watch ARGS="--show-q --fps 4"']
    for hint in printed:  # as printed (headless, watch.py writes a GIF)
        done = run_make(shlex.split(hint), tmp_path)
        assert done.returncode == 0, done.stderr
        assert "wrote" in done.stdout and str(Path("runs/demo-newer/watch.gif")) in done.stdout
    assert not (older / "watch.gif").exists()
    done = run_make(["make", "watch", f"RUN={older}", "ARGS=--checkpoint best"], tmp_path)
    assert done.returncode == 0 and "runs/demo-older/watch.gif" in done.stdout, done.stderr


def test_make_watch_without_a_demo_run_says_what_to_do(tmp_path):
    done = run_make(["make", "watch"], make_project(tmp_path))
    assert done.returncode != 0
    assert "no demo run in runs/: run 'make demo' first" in done.stderr
    assert "make watch RUN=runs/<name>" in done.stderr


def test_make_play_passes_the_layout(tmp_path):
    folder = make_project(tmp_path)
    done = run_make(["make", "play", "LAYOUT=classic", "ARGS=--help"], folder)
    assert done.returncode == 0 and "--tile-size" in done.stdout, done.stderr
    assert 'scripts/play.py --layout "classic" --help' in done.stdout  # the command make ran
    done = run_make(["make", "play", "LAYOUT=no_such_maze"], folder)
    assert done.returncode != 0 and "no_such_maze" in done.stderr
