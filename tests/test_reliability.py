"""Issue 17: what a hostile or careless user meets. No data loss, no traceback, no silent wrong
result: each case either works or stops with a one-line error that says what was wrong and how
to fix it."""

import fcntl
import io
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import reliability_entries

from agents.q_learning import QLearningAgent, QLearningConfig, greedy_action
from rl import run as run_folder
from rl import schedules, trials
from rl.checkpoint import (
    NonFiniteStateError,
    load_agent,
    load_checkpoint,
    save_agent,
    save_checkpoint,
)
from rl.loop import LoopConfig, NonFiniteMetricError, train
from rl.run import RunFolderError
from rl.seeding import make_rng, rng_state, set_rng_state
from scripts import evaluate as evaluate_script
from scripts import train as train_script

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def run_main(main, argv, capsys) -> tuple[int, str]:
    """(exit status, stderr) of a script's main, whether it returns or exits."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


def quiet(**kwargs) -> LoopConfig:
    return LoopConfig(progress=False, eval_every=0, **kwargs)


class Chain(gym.Env):
    """States 0..4, action 1 moves right; the right end ends the episode with `goal_reward`."""

    def __init__(self, step_reward: float = 0.0) -> None:
        self.step_reward = step_reward
        self.observation_space = gym.spaces.Discrete(5)
        self.action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.state = 0
        return self.state, {}

    def step(self, action):
        self.state = min(max(self.state + (1 if action == 1 else -1), 0), 4)
        terminated = self.state == 4
        return self.state, 1.0 if terminated else self.step_reward, terminated, False, {}


class PoisonedAgent:
    """A finite loss every step, but weights that turn NaN at step `poison_at` (an update that
    overshot): only a check of the state itself can notice."""

    def __init__(self, poison_at: int) -> None:
        self.weights = np.zeros(3)
        self.rng = make_rng(0)
        self.steps, self.poison_at = 0, poison_at

    def act(self, obs, greedy: bool = False) -> int:
        return int(self.rng.integers(2))

    def observe(self, obs, action, reward, next_obs, terminated, truncated):
        self.steps += 1
        if self.steps == self.poison_at:
            self.weights[1] = math.nan
        return {"loss": 0.5}

    def state_dict(self):
        return {"weights": self.weights.copy()}, {"steps": self.steps, "rng": rng_state(self.rng)}

    def load_state_dict(self, arrays, meta):
        self.weights = arrays["weights"].copy()
        self.steps = meta["steps"]
        set_rng_state(self.rng, meta["rng"])


# --- 1. the NaN guard never keeps a poisoned checkpoint ------------------------------------------


def test_save_agent_refuses_a_non_finite_state_and_keeps_the_old_file(tmp_path):
    agent, path = PoisonedAgent(poison_at=1), tmp_path / "checkpoint.npz"
    save_agent(path, agent, Chain())
    before = path.read_bytes()
    agent.observe(0, 1, 0.0, 1, False, False)
    with pytest.raises(NonFiniteStateError, match=r"weights \(1 of 3 values\)"):
        save_agent(path, agent, Chain())
    assert path.read_bytes() == before


def test_loop_stops_before_checkpointing_a_poisoned_agent(tmp_path):
    with pytest.raises(NonFiniteMetricError, match=r"not finite: weights.*last good"):
        train(Chain(), PoisonedAgent(poison_at=30), quiet(total_steps=200, checkpoint_every=1),
              tmp_path)
    arrays, meta = load_checkpoint(tmp_path / "checkpoint.npz")
    assert meta["loop"]["step"] < 30 and np.isfinite(arrays["agent/weights"]).all()


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_q_table_that_overflows_is_caught_at_the_update(tmp_path):
    agent = QLearningAgent(Chain().observation_space, Chain().action_space,
                           QLearningConfig(gamma=1.0, alpha=schedules.constant(1.0)), make_rng(0))
    cfg = quiet(total_steps=2000, checkpoint_every=1)
    with pytest.raises(NonFiniteMetricError, match=r"Q\(s, [01]\) became (inf|nan).*α") as info:
        train(Chain(step_reward=1e306), agent, cfg, tmp_path)
    assert "learning rate, gradient-norm" not in str(info.value)  # advice fits the table
    arrays, _ = load_checkpoint(tmp_path / "checkpoint.npz")
    assert np.isfinite(arrays["agent/q_table"]).all()


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
@pytest.mark.parametrize("epsilon", [None, "0"])
def test_dqn_update_that_breaks_the_weights_keeps_a_finite_checkpoint(tmp_path, capsys, epsilon):
    run_dir = tmp_path / "run"
    argv = ["--algo", "dqn", "--env", "CartPole-v1", "--total-steps", 400, "--learning-starts",
            300, "--train-freq", 50, "--checkpoint-every", 1, "--learning-rate", "1e39",
            "--max-grad-norm", "none", "--hidden", 8, "--no-progress", "--run-dir", run_dir]
    if epsilon is not None:  # greedy acting: NaN Q-values would reach greedy_action first
        argv += ["--epsilon", epsilon]
    code, err = run_main(train_script.main, argv, capsys)
    assert code == 1
    assert "made the Q-network's weights non-finite" in err and "lower learning rate" in err
    assert "last good checkpoint" in err
    arrays, _ = load_checkpoint(run_dir / "checkpoint.npz")
    assert all(np.isfinite(v).all() for v in arrays.values() if v.dtype.kind == "f")
    code, err = run_main(evaluate_script.main, [run_dir, "--episodes", 1], capsys)
    assert code == 0, err


def test_nan_action_values_are_a_divergence_not_an_index_error():
    with pytest.raises(FloatingPointError, match=r"hold NaN.*diverged"):
        greedy_action(np.array([math.nan, math.nan]), make_rng(0))


def test_a_non_finite_config_value_is_not_blamed_on_the_learning_rate(tmp_path):
    class NanEpsilon(PoisonedAgent):
        def observe(self, *args):
            super().observe(*args)
            return {"epsilon": math.nan}

    with pytest.raises(NonFiniteMetricError, match="'epsilon' comes from the agent's config") as e:
        train(Chain(), NanEpsilon(poison_at=-1), quiet(total_steps=10), tmp_path)
    assert "learning rate" not in str(e.value)


def test_loading_a_checkpoint_with_nan_parameters_is_refused(tmp_path):
    agent = PoisonedAgent(poison_at=-1)
    path = save_agent(tmp_path / "checkpoint.npz", agent, Chain())
    arrays, meta = load_checkpoint(path)
    arrays["agent/weights"][0] = math.nan  # as written by a run from before the guard
    save_checkpoint(path, arrays, meta)
    with pytest.raises(ValueError, match=r"non-finite values in weights.*diverged"):
        load_agent(path, PoisonedAgent(poison_at=-1))
    arrays["agent/weights"] = arrays["agent/weights"].astype(complex)
    arrays["agent/weights"][0] = 1
    save_checkpoint(path, arrays, meta)
    with pytest.raises(ValueError, match="complex-valued"):
        load_agent(path, PoisonedAgent(poison_at=-1))


# --- 2. one writer per run folder; sweep workers die with their driver ---------------------------


def alive(pid: int) -> bool:
    """Whether process `pid` still runs (a zombie, exited but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (macOS): ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and flock are POSIX")
def test_killing_the_sweep_driver_kills_its_workers_and_frees_the_trial(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT)])}
    command = [sys.executable, str(ROOT / "scripts" / "sweep.py"), "run", "--name", "k",
               "--out", str(tmp_path), "--seeds", "0", "1", "--workers", "1",
               "--entry", "reliability_entries:blocking_trial"]
    driver = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        trial_dir = tmp_path / "k" / "base" / "seed=0"
        pid_file = trial_dir / reliability_entries.PID_FILE
        # The known point: the first trial is running in a worker (which holds its folder).
        wait_for(pid_file.is_file, 120, "the sweep's first trial to start")
        worker = int(pid_file.read_text())
        with pytest.raises(RunFolderError, match=rf"written by process {worker}.*one writer"):
            with run_folder.lock(trial_dir):
                pass
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
        wait_for(lambda: not alive(worker), 30, f"the orphaned worker {worker} to exit")
    finally:
        if driver.poll() is None:
            driver.kill()
    # The queued trial never started, and the folder is free for the rerun.
    assert not (tmp_path / "k" / "base" / "seed=1" / reliability_entries.PID_FILE).exists()
    with run_folder.lock(trial_dir):
        pass


def test_a_second_writer_of_a_run_folder_is_refused_and_writes_nothing(tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = ["--algo", "qlearning", "--env", "CliffWalking-v1", "--total-steps", 200,
            "--no-progress", "--run-dir", run_dir]
    assert run_main(train_script.main, argv, capsys)[0] == 0
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.name != ".lock"}
    with open(run_dir / ".lock", "a+") as other:  # as another process holding the folder
        fcntl.flock(other, fcntl.LOCK_EX)
        other.truncate(0)
        other.write("process 4242 (since today)")
        other.flush()
        code, err = run_main(train_script.main, ["--resume", run_dir, "--total-steps", 400],
                             capsys)
        assert code == 1 and "written by process 4242" in err and "one writer" in err
        trial = trials.Trial("t", "t", {}, 0, {"total_steps": 400}, str(run_dir),
                             "agents.registry:train_settings")
        result = trials.run_trial(trial, resume=True)
        assert result.status == "failed" and "one writer" in result.error
    after = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.name != ".lock"}
    assert after == before  # neither wrote config.json, metrics.csv nor trial.json


def test_temp_files_of_a_killed_write_are_removed_when_the_run_resumes(tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = ["--algo", "qlearning", "--env", "CliffWalking-v1", "--total-steps", 200,
            "--no-progress", "--run-dir", run_dir]
    assert run_main(train_script.main, argv, capsys)[0] == 0
    leftover = run_dir / ".checkpoint.npz.k3x9a2.tmp"  # as atomic_write leaves it when killed
    leftover.write_bytes(b"\0" * 1000)
    assert run_main(train_script.main, ["--resume", run_dir, "--total-steps", 300], capsys)[0] == 0
    assert not leftover.exists()


# --- 3. a checkpoint of another environment, config or state is refused before any write -----

TINY_GRID = ["--algo", "qlearning", "--env", "PacGrid/Custom-v1", "--total-steps", 300,
             "--eval-every", 0, "--checkpoint-every", 100, "--no-progress"]


def snapshot(run_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run_dir.iterdir()) if p.name != ".lock"}


def train_grid(run_dir: Path, layout: str, capsys=None) -> None:
    argv = [*TINY_GRID, "--env-kwargs", f'{{"layout": "{layout}"}}', "--run-dir", run_dir]
    assert train_script.main([str(a) for a in argv]) == 0


@pytest.fixture(scope="module")
def trained_tiny(tmp_path_factory) -> Path:
    """A finished Q-learning run on the Tiny layout; tests change copies of it."""
    run_dir = tmp_path_factory.mktemp("trained") / "tiny"
    train_grid(run_dir, "tiny-v1")
    return run_dir


@pytest.fixture
def tiny_run(trained_tiny, tmp_path) -> Path:
    return Path(shutil.copytree(trained_tiny, tmp_path / "run"))


def test_resume_and_evaluate_refuse_a_checkpoint_of_another_layout(tmp_path, capsys,
                                                                  trained_tiny):
    small = tmp_path / "small"
    train_grid(small, "small-v1", capsys)
    (small / "checkpoint.npz").write_bytes((trained_tiny / "checkpoint.npz").read_bytes())
    before = snapshot(small)
    code, err = run_main(train_script.main, ["--resume", small, "--total-steps", 600], capsys)
    assert code == 1 and "another environment" in err and "'tiny-v1'" in err
    assert snapshot(small) == before  # metrics.csv not cut, config.json not rewritten
    code, err = run_main(evaluate_script.main, [small, "--episodes", 1], capsys)
    assert code == 2 and "another environment" in err and "kwargs" in err


def edit_checkpoint(path: Path, change) -> None:
    arrays, meta = load_checkpoint(path)
    change(meta)
    save_checkpoint(path, arrays, meta)


@pytest.mark.parametrize(("change", "words"), [
    (lambda m: m["loop"].update(csv_rows=-5), "csv_rows must be >= 0"),
    (lambda m: m["loop"].update(step="12"), "loop.step"),
    (lambda m: m.pop("loop"), "loop.step is None"),
    (lambda m: m["loop"].update(metric_counts={"loss": 0}), "metric_counts"),
    (lambda m: m["config"].update(method="evil", gamma=5), "QLearningConfig: gamma, method"),
    (lambda m: m.update(config=[1]), "malformed config"),
    (lambda m: m.update(env="CartPole"), "malformed env"),
])
def test_resume_refuses_bad_checkpoint_metadata_before_any_write(tiny_run, capsys, change, words):
    run_dir = tiny_run
    edit_checkpoint(run_dir / "checkpoint.npz", change)
    before = snapshot(run_dir)
    code, err = run_main(train_script.main, ["--resume", run_dir, "--total-steps", 600], capsys)
    assert code in (1, 2) and words in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert snapshot(run_dir) == before


def test_a_config_json_with_an_unknown_method_or_gamma_is_refused(tiny_run, capsys):
    run_dir = tiny_run
    config = json.loads((run_dir / "config.json").read_text())
    config["agent"].update(method="evil")
    (run_dir / "config.json").write_text(json.dumps(config))
    for main, argv in ((train_script.main, ["--resume", run_dir, "--total-steps", 600]),
                       (evaluate_script.main, [run_dir])):
        code, err = run_main(main, argv, capsys)
        assert code == 2 and "method must be one of" in err and "'evil'" in err
    config["agent"].update(method="sarsa", gamma=5)
    (run_dir / "config.json").write_text(json.dumps(config))
    code, err = run_main(evaluate_script.main, [run_dir], capsys)
    assert code == 2 and "--gamma must be in [0, 1], got 5" in err


# --- tracebacks become one-line errors; meaningless settings are refused --------------------------

DQN = ["--algo", "dqn", "--env", "CartPole-v1", "--total-steps", 50, "--no-progress"]
QL = ["--algo", "qlearning", "--env", "PacGrid/Custom-v1", "--total-steps", 50, "--no-progress"]


def layout_file(tmp_path: Path, name: str) -> str:
    """Layout files that are not layouts: a folder, a device, binary, or one without food."""
    path = tmp_path / name
    if name == "folder":
        path.mkdir()
    elif name == "binary.lay":
        path.write_bytes(bytes(range(256)))
    elif name == "nofood.lay":
        path.write_text("%%%%%%\n%Po G%\n%%%%%%\n")
    return "/dev/null" if name == "devnull" else str(path)


TRAIN_CASES = [  # (flags after the algorithm's, words the one-line error must hold)
    ([*DQN, "--train-freq", 0], "--train-freq must be at least 1"),
    ([*DQN, "--target-update-interval", 0], "--target-update-interval must be at least 1"),
    ([*DQN, "--buffer-size", 10**11], "needs 3,200,000,000,000 bytes"),
    ([*DQN, "--batch-size", -1], "--batch-size must be at least 1"),
    ([*DQN, "--batch-size", 0], "--batch-size must be at least 1"),
    ([*DQN, "--gradient-steps", 0], "--gradient-steps must be at least 1"),
    ([*DQN, "--huber-delta", 0], "--huber-delta must be > 0"),
    ([*DQN, "--hidden", 0], "--hidden must be a list of sizes >= 1"),
    ([*DQN, "--epsilon", 2], "--epsilon must stay in [0, 1]"),
    ([*DQN, "--max-grad-norm", "nan"], "max_grad_norm must be a finite number"),
    ([*DQN, "--frame-stack", 0], "--frame-stack must be at least 1"),
    ([*DQN, "--learning-rate", "nan"], "must be a finite number, got nan"),
    ([*DQN, "--learning-rate", "inf"], "must be a finite number, got inf"),
    ([*DQN, "--learning-rate", 0], "--learning-rate must stay in (0, inf]"),
    ([*QL, "--env-kwargs", '{"layout": "@folder"}'], "is a folder"),
    ([*QL, "--env-kwargs", '{"layout": "@devnull"}'], "is not a regular file"),
    ([*QL, "--env-kwargs", '{"layout": "@binary.lay"}'], "binary.lay: not a text file"),
    ([*QL, "--env-kwargs", '{"layout": "@nofood.lay"}'], "could never be won"),
    ([*QL, "--env-kwargs", '{"layout": "tiny-v1", "obs_type": "rgb", "tile_size": 100000}'],
     "use a smaller tile_size"),
    ([*QL, "--env-kwargs", '{"layout": "tiny-v1", "render_fps": NaN}'],
     "render_fps must be a positive number, got nan"),
    ([*QL, "--alpha", '{"kind": "linear", "start": 0.1, "end": 1e300, "duration": 50000}'],
     "--alpha must stay in [0, 1]"),
]


@pytest.mark.parametrize(("argv", "words"), TRAIN_CASES, ids=[" ".join(map(str, c[0][4:]))
                                                              for c in TRAIN_CASES])
def test_train_refuses_with_one_line(tmp_path, capsys, argv, words):
    for i, value in enumerate(argv):
        if isinstance(value, str) and "@" in value:
            name = value.split("@")[1].split('"')[0]
            argv[i] = value.replace(f"@{name}", layout_file(tmp_path, name))
    run_dir = tmp_path / "run"
    code, err = run_main(train_script.main, [*argv, "--run-dir", run_dir], capsys)
    assert code == 2, err
    assert words in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (run_dir / "config.json").exists()  # nothing written: the folder stays usable


def test_a_ghost_policy_returning_garbage_is_named():
    from envs.pacman.env import PacmanEnv

    env = PacmanEnv("tiny-v1", ghosts=lambda maze, state, index, options, rng: "north")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"returned 'north' for ghost 0.*legal moves"):
        for _ in range(5):
            env.step(4)


@pytest.mark.parametrize(("argv", "words"), [
    (["--seed", -1], "--seed must be >= 0"),
    (["--max-episode-steps", 0], "--max-episode-steps must be >= 1"),
])
def test_evaluate_refuses_meaningless_flags(trained_tiny, capsys, argv, words):
    code, err = run_main(evaluate_script.main, [trained_tiny, *argv], capsys)
    assert code == 2 and words in err and err.count("\n") == 1


@pytest.mark.parametrize(("argv", "words"), [
    (["--fps", "nan"], "--fps must be a positive number"),
    (["--gif", "@folder"], "is a folder: give a file name"),
    (["--seed", -1], "--seed must be >= 0"),
])
def test_watch_refuses_meaningless_flags(trained_tiny, tmp_path, capsys, argv, words):
    from scripts import watch as watch_script

    argv = [str(tmp_path) if a == "@folder" else a for a in argv]
    code, err = run_main(watch_script.main, [trained_tiny, *argv], capsys)
    assert code == 2 and words in err and err.count("\n") == 1


@pytest.mark.parametrize(("argv", "words"), [
    (["twolayer", "--hidden", 0], "--hidden must be at least 1"),
    (["twolayer", "--hidden", -3], "--hidden must be at least 1"),
    (["twolayer", "--lr", 1e6], "--lr must be in (0, 10]"),
    (["convnet", "--shift", 30], "--shift must be 0 (off) or a pixel count up to 14"),
])
def test_mnist_refuses_meaningless_settings_before_loading_data(capsys, argv, words):
    from scripts import mnist as mnist_script

    code, err = run_main(mnist_script.main, argv, capsys)
    assert code == 2 and words in err


def test_sweep_usage_errors_exit_2_with_one_line(tmp_path, capsys):
    from scripts import sweep as sweep_script

    code, err = run_main(sweep_script.main, ["run", "--out", tmp_path, "--base", "oops"], capsys)
    assert code == 2 and err == "sweep.py: error: --base takes KEY=VALUE, got 'oops'\n"


def denied(*args, **kwargs):
    raise PermissionError(13, "Permission denied", "/read-only/x")


def test_read_only_folders_are_one_line_errors(tmp_path, capsys, monkeypatch, trained_tiny):
    import rl.sweep
    from scripts import sweep as sweep_script
    from scripts import watch as watch_script

    with monkeypatch.context() as patch:  # tests run as root: chmod would not stop a write
        patch.setattr(Path, "mkdir", denied)
        code, err = run_main(train_script.main, [*QL, "--env-kwargs", '{"layout": "tiny-v1"}',
                                                 "--run-dir", tmp_path / "ro"], capsys)
    assert code == 2 and "Permission denied" in err and "writable --run-dir" in err
    with monkeypatch.context() as patch:
        patch.setattr(watch_script, "write_gif", denied)
        code, err = run_main(watch_script.main, [trained_tiny, "--gif", tmp_path / "a.gif"],
                             capsys)
    assert code == 2 and "cannot write" in err and "writable --gif" in err
    with monkeypatch.context() as patch:
        patch.setattr(rl.sweep, "write_json", denied)
        code, err = run_main(sweep_script.main, ["run", "--out", tmp_path, "--base", "x=1",
                                                 "--seeds", 0], capsys)
    assert code == 2 and "Permission denied" in err and "writable --out" in err
    file = tmp_path / "a-file"
    file.write_text("x")
    code, err = run_main(train_script.main, [*QL, "--run-dir", file], capsys)
    assert code == 2 and "is a file, not a folder" in err


def test_disk_full_while_checkpointing_keeps_the_old_checkpoint_and_says_so(
        tmp_path, capsys, monkeypatch):
    import rl.loop

    real, calls = rl.loop.save_agent, []

    def fills_the_disk(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(rl.loop, "save_agent", fills_the_disk)
    run_dir = tmp_path / "run"
    argv = [*QL, "--env-kwargs", '{"layout": "tiny-v1"}', "--total-steps", 400,
            "--checkpoint-every", 100, "--run-dir", run_dir]
    code, err = run_main(train_script.main, argv, capsys)
    assert code == 2 and "No space left on device" in err
    assert "previous checkpoint (step" in err and "is intact" in err and "--resume" in err
    _, meta = load_checkpoint(run_dir / "checkpoint.npz")
    assert 100 <= meta["loop"]["step"] < 400


def test_corrupt_checkpoint_files_are_one_line_errors(tiny_run, capsys):
    path = tiny_run / "checkpoint.npz"
    np.save(tiny_run / "x.npy", np.zeros(3))
    path.write_bytes((tiny_run / "x.npy").read_bytes())  # a .npy given as the checkpoint
    code, err = run_main(evaluate_script.main, [tiny_run], capsys)
    assert code == 2 and "not an .npz file (a single .npy array)" in err
    # A member whose header claims 10**12 elements: refused before NumPy allocates them.
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (10**12,)})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("__meta__.npy", header.getvalue())
    code, err = run_main(evaluate_script.main, [tiny_run], capsys)
    assert code == 2 and "claims shape (1000000000000,)" in err and "corrupt" in err


def test_replay_actions_out_of_range_are_refused(tmp_path):
    from agents.dqn import DQNAgent, DQNConfig

    env = gym.make("CartPole-v1")
    config = DQNConfig(hidden=(4,), buffer_size=100, batch_size=4, learning_starts=10)
    agent = DQNAgent(env.observation_space, env.action_space, config, make_rng(0))
    obs, _ = env.reset(seed=0)
    for _ in range(5):
        next_obs, reward, terminated, truncated, _ = env.step(0)
        agent.observe(obs, 0, reward, next_obs, terminated, truncated)
        obs = next_obs
    path = save_agent(tmp_path / "checkpoint.npz", agent, env)
    arrays, meta = load_checkpoint(path)
    arrays["agent/replay/action"][0] = 7
    save_checkpoint(path, arrays, meta)
    fresh = DQNAgent(env.observation_space, env.action_space, config, make_rng(0))
    with pytest.raises(ValueError, match=r"actions from 0 to 7, outside Discrete\(2\)"):
        load_agent(path, fresh, env)


def test_an_env_id_importing_a_module_needs_consent(tiny_run, capsys):
    config = json.loads((tiny_run / "config.json").read_text())
    config["env_id"] = "this:PacGrid/Custom-v1"  # importing `this` prints the Zen of Python
    (tiny_run / "config.json").write_text(json.dumps(config))
    for main, argv in ((evaluate_script.main, [tiny_run]),
                       (train_script.main, ["--resume", tiny_run, "--total-steps", 600])):
        code, err = run_main(main, argv, capsys)
        assert code == 2 and "imports the module 'this'" in err and "--allow-import" in err
    assert "this" not in sys.modules


def test_play_without_a_display_says_so_instead_of_hanging(capsys):
    from scripts import play as play_script

    code, err = run_main(play_script.main, ["--layout", "tiny-v1"], capsys)
    assert code == 2 and "no display" in err


def test_the_readme_does_not_promise_that_extending_a_finished_run_is_exact():
    readme = (ROOT / "README.md").read_text()
    assert "continue a stopped run exactly" not in readme
    assert "not identical" in readme
