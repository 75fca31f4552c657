"""The shape of the RL plumbing: one run-folder module, one loop core, one checkpoint schema,
a short path from a flag to the optimizer, and scripts that never import each other."""

import ast
import dataclasses
import inspect
import json
import shutil
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from agents import registry
from agents.dqn import DQNAgent, DQNConfig
from agents.q_learning import QLearningAgent, QLearningConfig
from fileio import save_arrays
from rl import loop, run, schedules, sweep
from rl.checkpoint import (
    FORMAT,
    CheckpointError,
    load_agent,
    load_checkpoint,
    save_agent,
    save_checkpoint,
)
from rl.evaluate import EVALUATE_STREAM, evaluate
from rl.seeding import make_rng
from rl.trials import Trial, run_trial
from scripts import evaluate as evaluate_script
from scripts import train as train_script

ROOT = Path(__file__).resolve().parent.parent
V1_RUNS = Path(__file__).resolve().parent / "data" / "v1_runs"  # written by the code of 21fb1c8
# scripts/mnist.py runs the demos of its own package scripts/mnist_demos (not entry points).
ALLOWED_SCRIPT_IMPORTS = {"scripts/mnist.py": "scripts.mnist_demos"}


def imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_script_imports_another_script():
    offenders = []
    for path in sorted((ROOT / "scripts").glob("*.py")):
        relative = str(path.relative_to(ROOT))
        allowed = ALLOWED_SCRIPT_IMPORTS.get(relative)
        for name in imports_of(path):
            if allowed and (name == allowed or name.startswith(allowed + ".")):
                continue
            if name == "scripts" or name.startswith("scripts."):
                offenders.append(f"{relative} imports {name}")
    assert not offenders, "\n".join(offenders)


def string_literals(path: Path) -> list[tuple[int, str]]:
    """String constants of the code, without docstrings (comments are not in the tree)."""
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings]


def test_run_folder_file_names_are_spelled_in_rl_run_only():
    names = [run.CONFIG_NAME, run.METRICS_NAME, run.CURVE_NAME, *run.CHECKPOINT_NAMES.values()]
    offenders = []
    for package in ("rl", "agents", "scripts"):
        for path in sorted((ROOT / package).rglob("*.py")):
            # The MNIST demos (supervised, no RL run folder) keep their own best.npz.
            if path == ROOT / "rl" / "run.py" or "mnist_demos" in path.parts:
                continue
            for line, text in string_literals(path):
                offenders += [f"{path.relative_to(ROOT)}:{line} spells {name!r}"
                              for name in names if name in text]
    assert not offenders, "\n".join(offenders)


def test_the_sweep_runs_a_trial_by_calling_a_function(tmp_path, monkeypatch):
    module, _, function = sweep.DEFAULT_ENTRY.partition(":")
    assert (module, function) == ("agents.registry", "train_settings")
    calls = []
    monkeypatch.setattr(registry, "train_settings", lambda *args: calls.append(args))
    cfg = sweep.SweepConfig(name="s", base={"algo": "qlearning", "env": "FrozenLake-v1"},
                            grid={"gamma": [0.9]}, seeds=[3], out=str(tmp_path))
    (trial,) = sweep.expand(cfg)
    assert run_trial(trial, resume=False).status == "done"
    assert calls == [(trial.run_dir, {"algo": "qlearning", "env": "FrozenLake-v1",
                                      "progress": False, "gamma": 0.9, "seed": 3}, False)]
    assert not any("argv" in field for field in Trial.__dataclass_fields__)


def test_one_loop_core_is_used_by_train_the_tests_and_the_benchmark():
    assert "run_steps(" in inspect.getsource(loop.train)
    users = ["scripts/bench_dqn.py", "tests/test_dqn.py", "tests/test_qlearning.py"]
    for relative in users:
        assert "rl.loop.run_steps" in imports_of(ROOT / relative), relative


def test_the_core_with_one_env_draws_the_same_episode_seeds_as_a_plain_loop():
    class Counter:
        rng = np.random.default_rng(0)

        def __init__(self):
            self.seen = []

        def act(self, obs, greedy=False):
            return 1

        def observe(self, obs, action, reward, next_obs, terminated, truncated):
            self.seen.append((obs, reward, terminated, truncated))
            return {}

    env, agent = gym.make("FrozenLake-v1"), Counter()
    state = loop.LoopState()
    loop.run_steps([env], agent, np.random.default_rng(5), state, 200)
    # The same 200 steps written out by hand.
    rng, plain, obs = np.random.default_rng(5), [], None
    for _ in range(200):
        if obs is None:
            obs, _ = env.reset(seed=int(rng.integers(0, 2**31 - 1)))
        next_obs, reward, terminated, truncated, _ = env.step(1)
        plain.append((obs, reward, terminated, truncated))
        obs = None if terminated or truncated else next_obs
    assert agent.seen == plain
    assert state.step == 200 and state.episode == sum(t or u for _, _, t, u in plain)


def test_learning_rate_flag_reaches_the_optimizer_in_three_hops(tmp_path):
    # Hop 1: rl.config.add_dataclass_args parses the flag into a Schedule (parse_schedule).
    # Hop 2: rl.config.from_args (called by agents.registry.new_run) puts it in DQNConfig.
    # Hop 3: DQNAgent.update sets optimizer.lr = config.learning_rate(updates).
    new_run, _, _ = train_script.prepare(["--algo", "dqn", "--env", "CartPole-v1",
                                          "--learning-rate", "0.0123", "--batch-size", "2",
                                          "--n-step", "1", "--run-dir", str(tmp_path / "r")])
    assert new_run.agent_config.learning_rate == schedules.constant(0.0123)
    env = new_run.make_env()
    agent = new_run.make_agent(env)
    obs, _ = env.reset(seed=0)
    for _ in range(2):
        agent.buffer.add(obs, 0, 1.0, obs, False, False)
    agent.update()
    assert agent.optimizer.lr == pytest.approx(0.0123)


@pytest.mark.parametrize("kind", ["qlearning", "dqn"])
def test_both_agents_checkpoint_through_the_one_schema(tmp_path, kind):
    if kind == "qlearning":
        env = gym.make("FrozenLake-v1", is_slippery=False)
        config = QLearningConfig(alpha=schedules.constant(0.5))
        make = QLearningAgent
    else:
        env = gym.make("CartPole-v1")
        config = DQNConfig(hidden=(8,), buffer_size=64, learning_starts=4, batch_size=4)
        make = DQNAgent
    agent = make(env.observation_space, env.action_space, config, np.random.default_rng(0))
    loop.run_steps([env], agent, np.random.default_rng(1), loop.LoopState(), 30)
    path = save_agent(tmp_path / "agent.npz", agent, env)
    _, meta = load_checkpoint(path)
    assert meta["agent"] == type(agent).__name__
    assert meta["config"] == json.loads(json.dumps(meta["config"]))  # JSON, no pickle
    assert set(meta["env"]) == {"id", "kwargs", "observation_space", "action_space"}
    assert meta["env"]["kwargs"].get("is_slippery", True) == (kind != "qlearning")
    assert "rng_state" in meta["agent_state"] and meta["loop"] is None
    clone = make(env.observation_space, env.action_space, config, np.random.default_rng(9))
    load_agent(path, clone, env)
    assert clone.rng.random() == agent.rng.random()
    assert not hasattr(make, "save") and not hasattr(make, "load")
    other_env = gym.make(env.spec.id)  # other kwargs (FrozenLake) or the same env (CartPole)
    if kind == "qlearning":
        with pytest.raises(CheckpointError, match="another environment: kwargs"):
            load_agent(path, clone, other_env)


def test_a_config_field_added_later_reads_as_its_default_in_older_checkpoints(tmp_path):
    """A checkpoint written before a config field existed holds that field's default then."""
    env = gym.make("CartPole-v1")
    config = DQNConfig(hidden=(8,), buffer_size=64, learning_starts=4, batch_size=4)
    agent = DQNAgent(env.observation_space, env.action_space, config, np.random.default_rng(0))
    path = save_agent(tmp_path / "agent.npz", agent, env)
    arrays, meta = load_checkpoint(path)
    del meta["config"]["action_mask"]  # as a checkpoint from before the field was added
    save_checkpoint(path, arrays, meta)
    load_agent(path, agent, env)
    masked = DQNAgent(env.observation_space, env.action_space,
                      dataclasses.replace(config, action_mask=True), np.random.default_rng(0))
    with pytest.raises(CheckpointError, match="action_mask differ"):
        load_agent(path, masked, env)


@pytest.mark.parametrize("kind", ["qlearning", "dqn"])
def test_both_agents_save_an_acting_only_checkpoint_that_loads_for_acting(tmp_path, kind):
    if kind == "qlearning":
        env = gym.make("FrozenLake-v1")
        config, make, obs = QLearningConfig(alpha=schedules.constant(0.5)), QLearningAgent, 0
    else:
        env = gym.make("CartPole-v1")
        config = DQNConfig(hidden=(8,), buffer_size=64, learning_starts=4, batch_size=4)
        make, obs = DQNAgent, np.zeros(4, dtype=np.float32)
    agent = make(env.observation_space, env.action_space, config, np.random.default_rng(0))
    loop.run_steps([env], agent, np.random.default_rng(1), loop.LoopState(), 60)
    path = save_agent(tmp_path / "best.npz", agent, env, acting_only=True,
                      best={"step": 60, "return_mean": 1.0})
    _, meta = load_checkpoint(path)
    assert meta["acting_only"] and meta["agent_state"]["acting_only"]
    assert "rng_state" not in meta["agent_state"] and meta["loop"] is None
    clone = make(env.observation_space, env.action_space, config, np.random.default_rng(9))
    load_agent(path, clone, env)
    np.testing.assert_array_equal(clone.q_values(obs), agent.q_values(obs))
    assert clone.steps == agent.steps


@pytest.mark.parametrize(
    ("name", "old_evaluation"),
    [
        # scripts/evaluate.py RUN --episodes 3, run by the code that wrote these folders.
        ("qlearning_v1", {"return_mean": 0.0, "length_mean": 10.333333333333334}),
        ("dqn_v1", {"return_mean": 9.0, "length_mean": 9.0}),
    ],
)
def test_version_1_run_folders_evaluate_as_before_and_resume(tmp_path, capsys, name,
                                                             old_evaluation):
    run_dir = tmp_path / name
    shutil.copytree(V1_RUNS / name, run_dir)
    assert load_checkpoint(run_dir / "checkpoint.npz")[1]["env"]["kwargs"] is None  # v1: id only
    run = registry.load_run(run_dir)
    env = run.make_env()
    agent, _ = run.load_agent(env)
    # The games that evaluate.py played then; it now plays held-out ones (rl.seeding).
    before = evaluate(env, agent, 3, make_rng([run.seed, EVALUATE_STREAM]))
    assert {k: before[k] for k in old_evaluation} == old_evaluation
    assert evaluate_script.main([str(run_dir), "--episodes", "3"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["episodes"] == 3 and result["checkpoint_step"] == run.loop_config.total_steps
    total = run.loop_config.total_steps
    assert train_script.main(["--resume", str(run_dir), "--total-steps", str(2 * total),
                              "--no-progress"]) == 0
    _, meta = load_checkpoint(run_dir / "checkpoint.npz")
    assert meta["loop"]["step"] == 2 * total and meta["env"]["kwargs"] is not None


def test_an_unknown_checkpoint_version_is_refused_naming_it(tmp_path):
    path = tmp_path / "future.npz"
    save_arrays(path, {}, {"format": FORMAT, "version": 7, "meta": {}})
    with pytest.raises(CheckpointError, match="format version 7, this code reads versions 1 and 2"):
        load_checkpoint(path)
