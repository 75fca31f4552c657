"""scripts/train.py, evaluate.py, watch.py and plot.py through `main([...])` with tiny budgets."""

import dataclasses
import json
import shlex
import shutil
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from PIL import Image

from agents.q_learning import QLearningAgent, QLearningConfig
from rl import schedules
from rl.checkpoint import load_checkpoint
from rl.logging import read_rows
from rl.loop import LoopConfig, train
from rl.seeding import HELD_OUT_SEEDS, episode_seed, make_rng
from scripts import evaluate as evaluate_script
from scripts import plot as plot_script
from scripts import train as train_script
from scripts import watch as watch_script

CLIFF = ["--algo", "qlearning", "--env", "CliffWalking-v1", "--no-progress"]


def last_json(text: str) -> dict:
    lines = [line for line in text.splitlines() if line.startswith("{")]
    return json.loads(lines[-1])


@pytest.fixture(scope="module")
def cliff_run(tmp_path_factory):
    """One trained CliffWalking run shared by the tests that only read it."""
    run_dir = tmp_path_factory.mktemp("runs") / "cliff"
    status = train_script.main(
        [*CLIFF, "--total-steps", "20000", "--eval-every", "5000", "--run-dir", str(run_dir)]
    )
    assert status == 0
    return run_dir


def test_train_writes_the_run_folder(cliff_run, capsys):
    for name in ("config.json", "metrics.csv", "checkpoint.npz", "learning_curve.png"):
        assert (cliff_run / name).is_file(), name
    config = json.loads((cliff_run / "config.json").read_text())
    assert config["algo"] == "qlearning" and config["env_id"] == "CliffWalking-v1"
    assert config["loop"]["total_steps"] == 20000 and config["agent"]["method"] == "qlearning"
    assert {"python", "numpy", "gymnasium"} <= set(config["versions"])
    rows = read_rows(cliff_run / "metrics.csv")
    assert [r["step"] for r in rows if "eval_return_mean" in r] == [5000, 10000, 15000, 20000]
    with Image.open(cliff_run / "learning_curve.png") as image:
        assert image.format == "PNG" and image.size[0] > 400


def test_trained_cliff_agent_walks_the_optimal_path(cliff_run, capsys):
    assert evaluate_script.main([str(cliff_run), "--episodes", "5"]) == 0
    result = last_json(capsys.readouterr().out)
    assert result["return_mean"] == -13.0 and result["return_std"] == 0.0
    assert result["episodes"] == 5 and result["checkpoint_step"] == 20000


def test_the_final_evaluation_plays_none_of_the_games_of_training(tmp_path, capsys,
                                                                 monkeypatch):
    """Training's evaluations choose the best checkpoint; evaluate.py must not replay them."""
    import rl.evaluate
    import rl.loop

    seeds: dict[str, list[int]] = {"training": [], "during training": [], "final": []}
    phase = "during training"

    def recorder(key):
        def draw(rng, held_out=False):
            seed = episode_seed(rng, held_out)
            seeds[key or phase].append(seed)
            return seed
        return draw

    monkeypatch.setattr(rl.loop, "episode_seed", recorder("training"))
    monkeypatch.setattr(rl.evaluate, "episode_seed", recorder(None))
    run_dir = tmp_path / "run"
    assert train_script.main([*CLIFF, "--total-steps", "3000", "--eval-every", "500",
                              "--eval-episodes", "4", "--run-dir", str(run_dir)]) == 0
    phase = "final"
    assert evaluate_script.main([str(run_dir), "--episodes", "50"]) == 0
    assert len(seeds["during training"]) == 6 * 4 and len(seeds["final"]) == 50
    assert seeds["training"]
    assert not set(seeds["final"]) & set(seeds["training"] + seeds["during training"])
    assert all(seed in HELD_OUT_SEEDS for seed in seeds["final"])


def test_watch_records_a_gif_when_there_is_no_display(cliff_run, capsys, tmp_path):
    out = tmp_path / "play.gif"
    argv = [str(cliff_run), "--episodes", "2", "--fps", "20", "--gif", str(out)]
    assert watch_script.main(argv) == 0
    text = capsys.readouterr().out
    assert "episode 2: return -13 in 13 steps" in text and str(out) in text
    with Image.open(out) as gif:
        assert gif.n_frames == 2 * (13 + 1)  # a frame after each reset and each step
        assert gif.info["duration"] == 50
    assert watch_script.main([str(cliff_run)]) == 0  # no --gif, no display: RUN_DIR/watch.gif
    assert (cliff_run / "watch.gif").is_file()


def test_plot_several_seeds_into_one_png(tmp_path, capsys):
    runs = []
    for seed in (1, 2):
        run_dir = tmp_path / f"s{seed}"
        train_script.main([*CLIFF, "--total-steps", "3000", "--eval-every", "1000",
                           "--eval-episodes", "1", "--seed", str(seed), "--run-dir", str(run_dir)])
        runs.append(str(run_dir))
    out = tmp_path / "curves.png"
    assert plot_script.main([*runs, "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    with Image.open(out) as image:
        assert image.format == "PNG"
    with pytest.raises(SystemExit):
        plot_script.main([str(tmp_path / "missing")])
    for bad in ("0.9", "CliffWalking-v1=1.5", "CliffWalking-v1=high", "Other-v0=0.5"):
        with pytest.raises(SystemExit):  # not ENV_ID=RATE in [0, 1], or an env none ran on
            plot_script.main([*runs, "--out", str(out), "--reference", bad])
    assert "ENV_ID=RATE" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # one label for two runs
        plot_script.main([*runs, "--out", str(out), "--label", "preset"])
    assert "once per run" in capsys.readouterr().err
    longer = tmp_path / "s3"
    train_script.main([*CLIFF, "--total-steps", "6000", "--eval-every", "1000",
                       "--eval-episodes", "1", "--seed", "3", "--run-dir", str(longer)])
    assert plot_script.main([*runs, str(longer), "--out", str(out)]) == 0
    assert "2 of 3 runs end before step 6,000" in capsys.readouterr().err  # the mean stops early
    assert plot_script.main([*runs, str(longer), "--out", str(out),
                             "--label", "a", "--label", "a", "--label", "b"]) == 0
    assert "warning" not in capsys.readouterr().err  # each curve's runs end together


def test_resume_continues_a_finished_run_with_more_steps(tmp_path, capsys):
    run_dir = tmp_path / "run"
    train_script.main([*CLIFF, "--total-steps", "1000", "--run-dir", str(run_dir)])
    assert train_script.main(["--resume", str(run_dir), "--total-steps", "2500"]) == 0
    _, meta = load_checkpoint(run_dir / "checkpoint.npz")
    assert meta["loop"]["step"] == 2500 and meta["agent_state"]["steps"] == 2500
    config = json.loads((run_dir / "config.json").read_text())
    assert config["loop"]["total_steps"] == 2500 and len(config["resumed"]) == 1
    with pytest.raises(SystemExit):
        train_script.main(["--resume", str(run_dir), "--total-steps", "2000"])
    assert "is at step 2500, beyond total_steps 2000" in capsys.readouterr().err
    assert json.loads((run_dir / "config.json").read_text()) == config  # left as it was


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--algo", "ppo", "--env", "CartPole-v1"], "unknown algorithm 'ppo'"),
        (["--env", "CartPole-v1"], "--algo is required"),
        (["--algo", "qlearning"], "--env ID is required"),
        (["--algo", "qlearning", "--env", "NoSuch-v0"], "cannot make environment 'NoSuch-v0'"),
        ([*CLIFF, "--total-steps", "-5"], "total_steps must be >= 1"),
        ([*CLIFF, "--gamma", "1.5"], "gamma must be in"),
        ([*CLIFF, "--total-steps", "ten"], "invalid int value: 'ten'"),
        (["--algo", "qlearning", "--env", "nosuchmodule:Foo-v0"], "cannot make environment"),
    ],
)
def test_bad_command_lines_are_argparse_errors(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        train_script.main([*argv, "--run-dir", str(tmp_path / "r")])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_resume_folders_are_argparse_errors(tmp_path, capsys):
    with pytest.raises(SystemExit):
        train_script.main(["--resume", str(tmp_path)])
    assert "has no config.json" in capsys.readouterr().err
    run_dir = tmp_path / "run"
    train_script.main([*CLIFF, "--total-steps", "200", "--run-dir", str(run_dir)])
    with pytest.raises(SystemExit):
        train_script.main(["--resume", str(run_dir), "--gamma", "0.5"])
    assert "--gamma cannot change when resuming" in capsys.readouterr().err
    (run_dir / "checkpoint.npz").unlink()
    with pytest.raises(SystemExit):
        train_script.main(["--resume", str(run_dir)])
    assert "has no checkpoint.npz" in capsys.readouterr().err
    # A folder with a best checkpoint alone (a shipped model) is evaluated from it ...
    assert evaluate_script.main([str(run_dir), "--episodes", "2"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["checkpoint"] == "best" and line["checkpoint_step"] == 200
    (run_dir / "best.npz").unlink()  # ... and without either there is nothing to evaluate
    with pytest.raises(SystemExit):
        evaluate_script.main([str(run_dir)])
    assert "has no checkpoint.npz" in capsys.readouterr().err


def test_config_starts_a_new_run_like_another_with_the_flags_on_top(cliff_run, tmp_path, capsys):
    run_dir = tmp_path / "again"
    argv = ["--config", str(cliff_run / "config.json"), "--seed", "3", "--total-steps", "4000",
            "--run-dir", str(run_dir)]
    assert train_script.main(argv) == 0
    assert "training qlearning on CliffWalking-v1 (seed 3)" in capsys.readouterr().out
    old, new = (json.loads((path / "config.json").read_text()) for path in (cliff_run, run_dir))
    assert (new["algo"], new["env_id"], new["env_kwargs"]) == (old["algo"], old["env_id"],
                                                               old["env_kwargs"])
    assert new["agent"] == old["agent"] and new["preset"] == old["preset"]
    assert new["seed"] == new["loop"]["seed"] == 3 and new["loop"]["total_steps"] == 4000
    changed = {key for key in old["loop"] if old["loop"][key] != new["loop"][key]}
    assert changed == {"seed", "total_steps"}  # eval_every 5000 and the rest come from the config
    assert new["command"] == ["scripts/train.py", *argv] and new["resumed"] == []
    assert (run_dir / "checkpoint.npz").is_file()
    assert train_script.main(["--config", str(cliff_run), "--gamma", "0.9", "--total-steps",
                              "100", "--run-dir", str(tmp_path / "folder")]) == 0  # the folder
    assert json.loads((tmp_path / "folder" / "config.json").read_text())["agent"]["gamma"] == 0.9


def test_a_config_named_on_the_command_line_may_import_its_env_module(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    env_id = "gymnasium.envs.toy_text:FrozenLake-v1"  # not the project's own envs module
    assert train_script.main(["--algo", "qlearning", "--env", env_id, "--total-steps", "100",
                              "--run-dir", str(first), "--no-progress"]) == 0
    with pytest.raises(SystemExit):  # a folder found on disk needs --allow-import...
        train_script.main(["--resume", str(first), "--total-steps", "200"])
    assert train_script.main(["--config", str(first / "config.json"), "--run-dir",
                              str(second)]) == 0  # ...a config file named here does not
    assert json.loads((second / "config.json").read_text())["env_id"] == env_id


def bad_configs(cliff_config: dict) -> list[tuple[object, str]]:
    """(content of the config file, words of the error) for config files that are wrong."""
    agent_typo = {**cliff_config, "agent": {**cliff_config["agent"], "gama": 0.9}}
    return [
        (None, "no run config at"),  # no such file
        ("{not json", "is not a valid run config: Expecting property name"),
        ([1, 2], "holds a JSON list, not an object"),
        ({k: v for k, v in cliff_config.items() if k != "env_id"}, "missing 1 required"),
        ({**cliff_config, "algo": "ppo"}, "unknown algorithm 'ppo'"),
        ({**cliff_config, "agent": [0.9]}, "agent must be a JSON object, got [0.9]"),
        (agent_typo, "unknown QLearningConfig field(s) gama"),
    ]


@pytest.mark.parametrize("case", range(7))
def test_a_bad_config_file_is_a_clear_error_and_writes_nothing(cliff_run, tmp_path, monkeypatch,
                                                               capsys, case):
    monkeypatch.chdir(tmp_path)  # where a default run folder (runs/...) would be written
    content, message = bad_configs(json.loads((cliff_run / "config.json").read_text()))[case]
    path = tmp_path / "config.json"
    if content is not None:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(SystemExit) as exit_info:
        train_script.main(["--config", str(path), "--seed", "3"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and str(path) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == (["config.json"] if content else [])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--resume", "RUN"], "--config starts a new run and --resume continues one"),
        (["--algo", "dqn"], "the run config"),
    ],
)
def test_config_with_resume_or_another_algo_is_refused(cliff_run, tmp_path, capsys, extra,
                                                       message):
    argv = ["--config", str(cliff_run / "config.json"), "--run-dir", str(tmp_path / "r"),
            *[str(cliff_run) if word == "RUN" else word for word in extra]]
    with pytest.raises(SystemExit) as exit_info:
        train_script.main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_module_colon_id_and_the_default_run_dir(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["--algo", "expected_sarsa", "--env", "gymnasium.envs.toy_text:FrozenLake-v1",
            "--total-steps", "300", "--seed", "4", "--no-progress"]
    assert train_script.main(argv) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert run_dir.name.startswith("gymnasium.envs.toy_text_FrozenLake-v1-expected_sarsa-4-")
    assert str(run_dir.relative_to(tmp_path)) in capsys.readouterr().out
    assert json.loads((run_dir / "config.json").read_text())["agent"]["method"] == "expected_sarsa"


def test_flags_and_presets_layer_over_the_defaults(monkeypatch, tmp_path):
    preset = {"gamma": 0.9, "initial_q": 1.0, "eval_every": 100}
    original = train_script.ALGOS["sarsa"]

    def with_preset():
        algo = original()
        return train_script.Algo(algo.config_cls, algo.make_agent, {"FrozenLake-v1": preset},
                                 algo.fixed, algo.wrap_env)

    monkeypatch.setitem(train_script.ALGOS, "sarsa", with_preset)
    run_dir = tmp_path / "run"
    train_script.main(["--algo", "sarsa", "--env", "FrozenLake-v1", "--total-steps", "200",
                       "--initial-q", "0.5", "--alpha", "0.3", "--run-dir", str(run_dir),
                       "--no-progress"])
    config = json.loads((run_dir / "config.json").read_text())
    assert config["agent"]["gamma"] == 0.9  # preset
    assert config["agent"]["initial_q"] == 0.5  # flag beats preset
    # A bare number is a constant schedule, and config.json records the schedule.
    assert config["agent"]["alpha"] == {"kind": "constant", "value": 0.3}
    assert config["agent"]["method"] == "sarsa"
    assert config["loop"]["eval_every"] == 100  # presets may set loop fields too


def test_a_preset_variant_layers_over_the_preset_for_its_env_kwargs(monkeypatch, tmp_path,
                                                                   capsys):
    preset = {"gamma": 0.9, "eval_every": 100}
    variant = ({"is_slippery": False}, {"gamma": 0.8, "initial_q": 2.0})
    original = train_script.ALGOS["sarsa"]

    def with_variant():
        algo = original()
        return dataclasses.replace(algo, presets={"FrozenLake-v1": preset},
                                   variants={"FrozenLake-v1": [variant]})

    monkeypatch.setitem(train_script.ALGOS, "sarsa", with_variant)
    configs = []
    for name, kwargs in (("plain", None), ("slippery", '{"is_slippery": true}'),
                         ("variant", '{"is_slippery": false, "map_name": "4x4"}')):
        argv = ["--algo", "sarsa", "--env", "FrozenLake-v1", "--total-steps", "200",
                "--initial-q", "0.5", "--run-dir", str(tmp_path / name), "--no-progress"]
        assert train_script.main(argv + (["--env-kwargs", kwargs] if kwargs else [])) == 0
        configs.append(json.loads((tmp_path / name / "config.json").read_text()))
    plain, slippery, varied = configs
    assert plain["agent"]["gamma"] == slippery["agent"]["gamma"] == 0.9  # the preset
    assert varied["agent"]["gamma"] == 0.8  # its kwargs given (others beside): the variant
    assert varied["agent"]["initial_q"] == 0.5  # flags still beat it
    assert varied["loop"]["eval_every"] == 100  # the rest of the preset stays
    assert varied["preset"]["gamma"] == 0.8  # config.json records what the run started from
    capsys.readouterr()
    with pytest.raises(SystemExit):
        train_script.main(["--algo", "sarsa", "--env", "FrozenLake-v1", "--env-kwargs",
                           '{"is_slippery": false}', "--help"])
    shown = capsys.readouterr().out
    assert 'FrozenLake-v1 {"is_slippery": false} preset' in shown


class Killed(Exception):
    """Stands for the process being killed in the middle of a run."""


def kill_and_resume(new_agent, env_id: str, cfg: LoopConfig, kill_at: int, tmp_path: Path):
    """Train one agent straight through, and another killed at step `kill_at` then resumed
    from its last checkpoint; returns both (each from `new_agent()`, same seed)."""
    straight = new_agent()
    train(gym.make(env_id), straight, cfg, tmp_path / "straight", eval_env=gym.make(env_id))

    doomed = new_agent()
    observe = doomed.observe

    def observe_then_die(*args):
        if doomed.steps == kill_at:
            raise Killed
        return observe(*args)

    doomed.observe = observe_then_die
    with pytest.raises(Killed):
        train(gym.make(env_id), doomed, cfg, tmp_path / "killed", eval_env=gym.make(env_id))
    resumed = new_agent()
    train(gym.make(env_id), resumed, LoopConfig(**{**vars(cfg), "resume": True}),
          tmp_path / "killed", eval_env=gym.make(env_id))
    return straight, resumed


@pytest.mark.parametrize("method", ["qlearning", "sarsa", "expected_sarsa"])
def test_q_learning_killed_and_resumed_ends_with_the_same_table(method, tmp_path):
    def new_agent():
        env = gym.make("FrozenLake-v1")
        config = QLearningConfig(method=method, epsilon=schedules.linear(1, 0.1, 2000))
        return QLearningAgent(env.observation_space, env.action_space, config, make_rng([7, 0]))

    cfg = LoopConfig(total_steps=3000, checkpoint_every=250, eval_every=1000, eval_episodes=3,
                     seed=7, progress=False)
    straight, resumed = kill_and_resume(new_agent, "FrozenLake-v1", cfg, 1800, tmp_path)
    assert resumed.steps == straight.steps == 3000
    assert np.array_equal(resumed.table, straight.table)
    assert np.abs(straight.table).sum() > 0  # it did learn something


def test_dqn_trains_through_the_registry(tmp_path, capsys):
    run_dir = tmp_path / "dqn"
    argv = ["--algo", "dqn", "--env", "CartPole-v1", "--total-steps", "300", "--eval-every", "0",
            "--eval-episodes", "1", "--learning-starts", "100", "--batch-size", "16",
            "--hidden", "16", "--run-dir", str(run_dir), "--no-progress"]
    assert train_script.main(argv) == 0
    assert evaluate_script.main([str(run_dir), "--episodes", "2"]) == 0
    result = last_json(capsys.readouterr().out)
    assert result["algo"] == "dqn" and result["episodes"] == 2


def test_dqn_killed_and_resumed_ends_with_the_same_parameters(tmp_path):
    from agents.dqn import DQNAgent, DQNConfig

    def new_agent():
        env = gym.make("CartPole-v1")
        config = DQNConfig(hidden=(32,), batch_size=16, learning_starts=100, buffer_size=2000)
        return DQNAgent(env.observation_space, env.action_space, config, make_rng([3, 0]))

    cfg = LoopConfig(total_steps=1500, checkpoint_every=200, eval_every=500, eval_episodes=2,
                     seed=3, progress=False)
    straight, resumed = kill_and_resume(new_agent, "CartPole-v1", cfg, 1100, tmp_path)
    expected, _ = straight.state_dict()
    found, _ = resumed.state_dict()
    assert expected.keys() == found.keys()
    assert all(np.array_equal(expected[name], found[name]) for name in expected)


def test_help_lists_the_algorithm_flags(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_script.main(["--algo", "dqn", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "--learning-rate" in text and "--double-dqn, --no-double-dqn" in text
    assert "--total-steps" in text and "--resume RUN_DIR" in text


def scripted_pygame_events(monkeypatch, script):
    """pygame.event.get hands out the lists of `script` one per call, then nothing; returns the
    list of calls made so far (one item per call)."""
    import pygame

    calls = []

    def get(*args, **kwargs):
        calls.append(len(calls))
        return script[len(calls) - 1] if len(calls) <= len(script) else []

    monkeypatch.setattr(pygame.event, "get", get)
    return calls


def keydown(name):
    import pygame

    return pygame.event.Event(pygame.KEYDOWN, key=getattr(pygame, name))


def test_watch_plays_in_a_window_and_holds_the_last_frame(cliff_run, monkeypatch, capsys):
    # SDL's dummy video driver (tests/conftest.py) accepts a window, so the window path runs.
    import pygame

    monkeypatch.setattr(watch_script, "has_display", lambda: True)
    (cliff_run / "watch.gif").unlink(missing_ok=True)
    # 13 steps at 500 moves/s poll at least 14 times; the held last frame polls until the key.
    calls = scripted_pygame_events(monkeypatch, [[]] * 200 + [[keydown("K_RETURN")]])
    assert watch_script.main([str(cliff_run), "--fps", "500"]) == 0
    out = capsys.readouterr().out
    assert "episode 1: return -13 in 13 steps" in out
    assert "the last frame stays until a key is pressed" in out
    assert len(calls) == 201  # it waited for the key, then closed the window
    assert not (cliff_run / "watch.gif").exists()
    assert not pygame.display.get_init()


@pytest.mark.parametrize("stop", [("KEYDOWN", "K_ESCAPE"), ("QUIT", None)])
def test_watch_stops_on_escape_or_closing_the_window(cliff_run, monkeypatch, capsys, stop):
    import pygame

    monkeypatch.setattr(watch_script, "has_display", lambda: True)
    event = keydown(stop[1]) if stop[1] else pygame.event.Event(pygame.QUIT)
    scripted_pygame_events(monkeypatch, [[]] * 3 + [[event]])
    assert watch_script.main([str(cliff_run), "--episodes", "3", "--fps", "500"]) == 0
    captured = capsys.readouterr()
    assert "stopped" in captured.err and "episode 1:" not in captured.out


def test_watch_show_q_draws_the_values_beside_the_board(cliff_run, tmp_path, monkeypatch):
    from rl.viewer import PANEL_WIDTH, FrameComposer

    shown = []
    compose = FrameComposer.compose_surface

    def recording(self, frame, caption=(), q_values=None, chosen=None, banner=None):
        shown.append((caption, None if q_values is None else list(q_values), chosen, banner))
        return compose(self, frame, caption, q_values, chosen, banner)

    monkeypatch.setattr(FrameComposer, "compose_surface", recording)
    plain, with_q = tmp_path / "plain.gif", tmp_path / "q.gif"
    assert watch_script.main([str(cliff_run), "--gif", str(plain)]) == 0
    shown.clear()
    assert watch_script.main([str(cliff_run), "--gif", str(with_q), "--show-q"]) == 0
    with Image.open(plain) as a, Image.open(with_q) as b:
        assert b.size[0] == a.size[0] + PANEL_WIDTH and b.n_frames == a.n_frames == 14
    caption, q_values, chosen, _ = shown[0]
    assert len(q_values) == 4 and chosen == int(np.argmax(q_values))  # the greedy action
    assert caption == ["episode 1/1   step 0   return 0"]
    assert shown[-1][3] == "done" and shown[-1][1] is None  # the end: no action chosen


def test_train_keeps_the_best_checkpoint_and_evaluate_and_watch_take_it(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert train_script.main([*CLIFF, "--total-steps", "20000", "--eval-every", "2000",
                              "--run-dir", str(run_dir)]) == 0
    out = capsys.readouterr().out
    best_step = last_json(out)["best_step"]
    assert f"step {best_step:,}: best evaluation so far (mean return -13 over 1 episode)" in out
    assert "checkpoint.npz, best.npz" in out
    hint = out.split("watch it with ")[1].strip()
    assert shlex.split(hint)[-3:] == [str(run_dir), "--checkpoint", "best"]

    assert evaluate_script.main([str(run_dir), "--checkpoint", "best", "--episodes", "2"]) == 0
    result = last_json(capsys.readouterr().out)
    assert result["checkpoint"] == "best" and result["checkpoint_step"] == best_step < 20000
    assert result["return_mean"] == -13.0
    gif = tmp_path / "best.gif"
    assert watch_script.main([str(run_dir), "--checkpoint", "best", "--gif", str(gif)]) == 0
    assert "episode 1: return -13 in 13 steps" in capsys.readouterr().out

    (run_dir / "best.npz").replace(run_dir / "checkpoint.npz")  # passed off as the last one
    with pytest.raises(SystemExit) as exit_info:  # it holds no training state to resume
        train_script.main(["--resume", str(run_dir), "--total-steps", "30000"])
    assert exit_info.value.code == 2
    assert "checkpoint.npz is the best checkpoint" in capsys.readouterr().err


def test_a_run_without_a_best_checkpoint_says_why(cliff_run, tmp_path, capsys):
    run_dir = tmp_path / "old"
    shutil.copytree(cliff_run, run_dir)
    (run_dir / "best.npz").unlink()  # as a run trained before best checkpoints were kept
    for main in (watch_script.main, evaluate_script.main):
        with pytest.raises(SystemExit) as exit_info:
            main([str(run_dir), "--checkpoint", "best"])
        assert exit_info.value.code == 2
        assert ("has no best.npz: training writes it after its first greedy evaluation"
                in capsys.readouterr().err)


def test_watch_scales_the_tiny_maze_to_a_readable_size(tmp_path, capsys):
    run_dir = tmp_path / "tiny"
    train_script.main(["--algo", "qlearning", "--env", "PacGrid/Tiny-v1", "--total-steps", "50",
                       "--eval-every", "0", "--run-dir", str(run_dir), "--no-progress"])
    assert watch_script.main([str(run_dir), "--max-episode-steps", "3"]) == 0
    with Image.open(run_dir / "watch.gif") as gif:
        assert gif.size[0] >= 480
    assert watch_script.main([str(run_dir), "--max-episode-steps", "3", "--zoom", "1",
                              "--gif", str(tmp_path / "small.gif")]) == 0
    with Image.open(tmp_path / "small.gif") as gif:
        assert gif.size[0] == 168


def test_watch_and_evaluate_report_the_pacman_game(tmp_path, capsys):
    run_dir = tmp_path / "pac"
    train_script.main(["--algo", "qlearning", "--env", "PacGrid/Tiny-v0", "--total-steps", "500",
                       "--eval-every", "0", "--eval-episodes", "2", "--run-dir", str(run_dir),
                       "--no-progress"])
    assert evaluate_script.main([str(run_dir), "--episodes", "3"]) == 0
    result = last_json(capsys.readouterr().out)
    assert 0.0 <= result["win_rate"] <= 1.0 and "mean_score" in result
    assert watch_script.main([str(run_dir), "--max-episode-steps", "30"]) == 0
    assert "score" in capsys.readouterr().out
    with Image.open(run_dir / "watch.gif") as gif:
        assert 2 <= gif.n_frames <= 31


def test_a_folder_with_metrics_but_no_checkpoint_is_not_overwritten(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.csv").write_text("step\n1\n")
    with pytest.raises(SystemExit):
        train_script.main([*CLIFF, "--total-steps", "100", "--run-dir", str(run_dir)])
    assert "never wrote a checkpoint" in capsys.readouterr().err
    assert (run_dir / "metrics.csv").read_text() == "step\n1\n"
    assert not (run_dir / "config.json").exists()
