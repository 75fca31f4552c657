"""DQN scripts with tiny budgets: train.py on other envs, the benchmark JSON, the demo."""

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import numpy as np
import pytest

from agents import dqn, dqn_presets
from agents.dqn import env_fixed_planes
from rl import schedules
from scripts import bench_dqn, bench_update, demo, train
from scripts import evaluate as evaluate_script

from tolerance import assert_close_f32, forward_reduction_length


def train_small_dqn(env_id: str, run_dir: Path, total_steps: int, *flags: str) -> int:
    """train.py's DQN with a tiny network and buffer warm-up: seconds, not minutes."""
    return train.main(["--algo", "dqn", "--env", env_id, "--total-steps", str(total_steps),
                       "--learning-starts", "100", "--batch-size", "8", "--hidden", "8",
                       "--no-progress", "--run-dir", str(run_dir), *flags])


def summary_line(out: str) -> dict:
    """The JSON summary that train.py prints among its other lines."""
    return json.loads(next(line for line in out.splitlines() if line.startswith("{")))


@pytest.mark.parametrize("env_id", ["Acrobot-v1", "envs:PacGrid/Tiny-v0"])
def test_train_script_runs_dqn_on_any_box_discrete_env(tmp_path, env_id, capsys):
    run_dir = tmp_path / "run"
    status = train_small_dqn(env_id, run_dir, 300, "--eval-every", "0", "--eval-episodes", "1")
    assert status == 0
    assert (run_dir / "checkpoint.npz").is_file() and (run_dir / "config.json").is_file()
    config = json.loads((run_dir / "config.json").read_text())
    assert config["agent"]["learning_starts"] == 100 and config["agent"]["hidden"] == [8]


def test_train_script_steps_several_envs_for_dqn_and_refuses_them_for_tables(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert train_small_dqn("PacGrid/Tiny-v1", run_dir, 400, "--num-envs", "4",
                           "--eval-every", "0", "--eval-episodes", "1") == 0
    config = json.loads((run_dir / "config.json").read_text())
    assert config["loop"]["num_envs"] == 4
    with pytest.raises(SystemExit) as stopped:
        train.main(["--algo", "qlearning", "--env", "FrozenLake-v1", "--num-envs", "2",
                    "--total-steps", "100", "--no-progress", "--run-dir", str(tmp_path / "t")])
    assert stopped.value.code == 2
    assert "--num-envs 1" in capsys.readouterr().err


def test_benchmark_prints_one_json_object(capsys):
    assert bench_dqn.main(["--steps", "1100", "--workloads", "cartpole", "--no-sb3",
                           "--repeats", "1"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    result = json.loads(out[0])
    ours = result["cartpole"]["ours"]
    assert ours["steps_per_s"] > 0 and ours["update_ms"] > 0 and ours["act_us"] > 0
    assert result["sb3"] == "skipped"


def test_benchmark_times_the_pacman_preset_in_its_number_of_envs(capsys):
    assert bench_dqn.main(["--steps", "300", "--learning-starts", "200", "--workloads",
                           "pacgrid_small", "--no-sb3", "--repeats", "1"]) == 0
    entry = json.loads(capsys.readouterr().out)["pacgrid_small"]
    preset = dqn_presets.presets["PacGrid/Small-v1"]
    settings = entry["settings"]
    assert settings["num_envs"] == preset["num_envs"] and settings["learning_starts"] == 200
    assert settings["center_channel"] == preset["center_channel"] and settings["dueling"]
    assert settings["conv_strides"] == list(preset["conv_strides"])
    assert settings["action_mask"] == preset["action_mask"]
    assert entry["ours"]["update_ms"] > 0


def test_benchmark_settings_change_the_network_of_every_workload(capsys):
    assert bench_dqn.main(["--steps", "300", "--learning-starts", "200", "--workloads",
                           "pacgrid_small", "--no-sb3", "--repeats", "1", "--settings",
                           '{"conv_channels": [4, 8], "hidden": [64]}']) == 0
    entry = json.loads(capsys.readouterr().out)["pacgrid_small"]
    assert entry["settings"]["conv_channels"] == [4, 8] and entry["settings"]["hidden"] == [64]
    assert dqn_presets.presets["PacGrid/Small-v1"]["conv_channels"] == (8, 16)  # a change
    assert 0 < entry["ours"]["params"] < 100_000  # the preset's network has 154,358


@pytest.mark.parametrize("settings", ['{"conv_channels": ', '[8, 16]', '{"no_such_field": 1}'])
def test_benchmark_refuses_bad_settings_before_timing(settings, capsys):
    with pytest.raises(SystemExit) as stopped:
        bench_dqn.main(["--workloads", "pacgrid_small", "--no-sb3", "--settings", settings])
    assert stopped.value.code == 2 and "--settings" in capsys.readouterr().err


@pytest.mark.slow  # two worker processes, each building and filling an agent
def test_update_benchmark_times_two_checkouts_side_by_side(capsys):
    # This checkout against itself: two worker processes taking turns.
    here = str(Path(bench_update.__file__).resolve().parent.parent)
    assert bench_update.main(["--envs", "PacGrid/Tiny-v1", "--against", here, "--rounds", "2",
                              "--updates", "1", "--transitions", "100",
                              "--settings", '{"munchausen": true}']) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and json.loads(out[0])["settings"] == {"munchausen": True}
    entry = json.loads(out[0])["PacGrid/Tiny-v1"]
    assert entry["this_update_ms"] > 0 and entry["against_update_cpu_ms"] > 0
    assert entry["ratio"] > 0 and len(entry["ratio_cpu_range"]) == 2


def test_update_breakdown_says_where_an_update_goes(capsys):
    assert bench_update.main(["--envs", "PacGrid/Tiny-v1", "--breakdown", "--rounds", "1",
                              "--updates", "3", "--transitions", "100"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    result = json.loads(out[0])
    assert result["benchmark"] == "dqn_update_breakdown" and result["updates"] == 3
    entry = result["PacGrid/Tiny-v1"]
    parts = entry["parts_cpu_ms"]
    # The parts are timed inside the update and each counted once (the networks' passes in
    # their parts, not again): together they stay within the update's own CPU time.
    assert parts["other"] >= -0.01
    assert sum(parts.values()) - parts["other"] <= entry["update_cpu_ms"] + 0.01
    # Tiny's preset: Double DQN, so the online network's pass over next_obs comes first.
    assert min(parts[name] for name in ("sample", "next_action", "twin_forward", "td_target",
                                        "backward", "optimizer")) > 0
    online, target = entry["layers_cpu_ms"]["online"], entry["layers_cpu_ms"]["target"]
    assert online["conv1"]["forward"] > 0 and online["conv1"]["forward_twin"] > 0
    assert online["conv1"]["backward"] > 0
    assert "backward" not in target["conv1"]  # no gradients
    # The online network's pass over next_obs outside the twin pass is the next_action part.
    assert parts["next_action"] >= online["conv1"]["forward"] > 0


def test_update_breakdown_times_this_tree_alone(capsys):
    with pytest.raises(SystemExit) as stopped:
        bench_update.main(["--breakdown", "--against", "."])
    assert stopped.value.code == 2 and "leave out --against" in capsys.readouterr().err


@pytest.mark.parametrize(("num_envs", "train_freq", "sb3_freq", "sb3_gradient_steps"),
                         [(1, 4, 4, 1), (4, 4, 1, 1), (8, 4, 1, 2), (2, 3, 3, 2)])
def test_benchmark_gives_sb3_the_same_updates_per_env_step(num_envs, train_freq, sb3_freq,
                                                           sb3_gradient_steps):
    config = dqn.DQNConfig(train_freq=train_freq, target_update_interval=1000,
                           epsilon=schedules.linear(1.0, 0.1, 500))
    settings = bench_dqn.sb3_settings(config, num_envs, steps=2000)
    # SB3 counts train_freq in vector steps of num_envs environment steps each.
    assert settings["train_freq"] == sb3_freq
    assert settings["gradient_steps"] == sb3_gradient_steps
    assert sb3_freq * num_envs / sb3_gradient_steps == train_freq
    assert settings["target_update_interval"] == 1000 * train_freq  # env steps, ours updates
    assert settings["exploration_fraction"] * 2000 == 500
    rate = settings["learning_rate"]  # our update-count schedule on SB3's progress clock
    assert rate(1.0) == config.learning_rate(0)


def _small_with_position(steps: int, learning_starts: int) -> dict:
    return {**bench_dqn._preset_as_is(steps, learning_starts), "agent_position": True,
            "agent_window": 0}


def _small_with_fixed_planes(steps: int, learning_starts: int) -> dict:
    return {**bench_dqn._preset_as_is(steps, learning_starts), "fixed_planes": True}


@pytest.mark.parametrize("workload", ["pacgrid_small", "pacgrid_medium", "cartpole",
                                      "small_position", "small_fixed_planes"])
def test_benchmark_sb3_network_computes_our_q_values(workload):
    torch = pytest.importorskip("torch")
    pytest.importorskip("stable_baselines3")
    lib = bench_dqn.sb3_library()
    workloads = {**bench_dqn.WORKLOADS,
                 "small_position": bench_dqn.Workload("PacGrid/Small-v1", _small_with_position),
                 "small_fixed_planes": bench_dqn.Workload("PacGrid/Small-v1",
                                                          _small_with_fixed_planes)}
    run = bench_dqn.make_run(workloads[workload], steps=2000)
    env = run.make_env()
    agent = run.make_agent(env)
    planes = env_fixed_planes(env, run.agent_config)
    body, width = lib.body(run.agent_config, env.observation_space, planes)
    head = lib.head(run.agent_config, width, env.action_space.n)
    ours = list(agent.q_net.named_params())
    theirs = list(body.parameters()) + list(head.parameters())
    assert len(ours) == len(theirs)
    with torch.no_grad():
        for (_name, value), param in zip(ours, theirs, strict=True):
            # Dense weights are (in, out) in nets, (out, in) in torch.
            param.copy_(torch.as_tensor(value.T if value.ndim == 2 else value))
    env.action_space.seed(0)
    obs, seen = env.reset(seed=0)[0], []
    for _ in range(12):  # observations along a random walk: Pac-Man in several places
        seen.append(obs)
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            obs = env.reset()[0]
    obs = np.stack(seen)
    with torch.no_grad():
        q_torch = head(body(torch.as_tensor(obs).float())).numpy()
    assert_close_f32(q_torch, agent.q_net.forward(obs), forward_reduction_length(agent.q_net))


def test_demo_writes_curve_and_gif_and_its_hints_work_as_printed(tmp_path, capsys,
                                                                   monkeypatch):
    monkeypatch.chdir(tmp_path)  # as `make demo` does: hints relative to the current folder
    run_dir = Path("demo")
    status = demo.main(["--total-steps", "400", "--eval-episodes", "2", "--run-dir",
                        str(run_dir), "--json"])
    assert status == 0
    assert (run_dir / "learning_curve.png").stat().st_size > 0
    assert (run_dir / "play.gif").read_bytes()[:3] == b"GIF"
    out = capsys.readouterr().out
    assert str(run_dir / "play.gif") in out and str(run_dir / "learning_curve.png") in out
    assert re.search(r"^demo: won \d of 2 games, mean score -?\d+$", out, re.MULTILINE)
    numbers = json.loads((run_dir / "evaluation.json").read_text())
    assert numbers["evaluation"]["episodes"] == 2 and numbers["training"]["steps"] == 400
    assert json.loads(out.strip().splitlines()[-1]) == numbers  # --json: the same object
    hints = [line.split(": ", 1)[1] for line in out.splitlines() if "scripts/" in line]
    assert len(hints) == 3 and all("watch.py" in hint for hint in hints)
    assert hints[2].endswith("examples/pacman-medium")  # the shipped agent, watched as printed
    for hint in hints:  # run as printed, in the folder where it was printed (headless: a GIF)
        short = (["--max-episode-steps", "20", "--gif", str(tmp_path / "medium.gif")]
                 if "pacman-medium" in hint else [])
        done = subprocess.run([*shlex.split(hint), *short], capture_output=True, text=True,
                              timeout=120, env={**os.environ, "SDL_VIDEODRIVER": "dummy"})
        assert done.returncode == 0, done.stderr
        assert "wrote" in done.stdout and ("medium.gif" if short else "watch.gif") in done.stdout


@pytest.mark.slow  # 20 games of up to 1,000 moves
def test_the_shipped_medium_agent_loads_without_pickle_and_wins(capsys):
    """examples/pacman-medium: config.json and best.npz only, as a user downloads them."""
    folder = Path(__file__).resolve().parent.parent / "examples" / "pacman-medium"
    shipped = {path.name for path in folder.iterdir()}
    assert {"README.md", "best.npz", "config.json"} <= shipped
    assert "checkpoint.npz" not in shipped  # 140 MB with its replay buffer
    assert (folder / "best.npz").stat().st_size <= 5 * 2**20
    assert evaluate_script.main([str(folder), "--episodes", "20"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["checkpoint"] == "best" and result["env_id"] == "PacGrid/Medium-v1"
    assert result["mirror_greedy"] is True  # its config.json acts on mirror-averaged values
    assert result["win_rate"] >= 0.55  # 0.85 on 100 held-out games; a random walk wins none


def test_evaluate_and_watch_can_turn_mirror_greedy_acting_on_or_off(tmp_path, capsys):
    from scripts import watch as watch_script

    run_dir = tmp_path / "small"
    assert train_small_dqn("PacGrid/Small-v1", run_dir, 300, "--eval-every", "300",
                           "--eval-episodes", "1", "--mirror-greedy") == 0
    capsys.readouterr()
    for flag, expected in (("--no-mirror-greedy", False), ("--mirror-greedy", True), (None, True)):
        argv = [str(run_dir), "--episodes", "2", *([flag] if flag else [])]
        assert evaluate_script.main(argv) == 0
        assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["mirror_greedy"] is (
            expected)
    gif = tmp_path / "watch.gif"
    assert watch_script.main([str(run_dir), "--no-mirror-greedy", "--gif", str(gif),
                              "--max-episode-steps", "5"]) == 0
    assert gif.is_file()
    tiny = tmp_path / "tiny"
    assert train_small_dqn("PacGrid/Tiny-v1", tiny, 200) == 0
    with pytest.raises(SystemExit):  # Tiny-v1 has no mirror symmetry
        evaluate_script.main([str(tiny), "--episodes", "1", "--mirror-greedy"])
    assert "no such symmetry" in capsys.readouterr().err
    table = tmp_path / "table"
    assert train.main(["--algo", "qlearning", "--env", "PacGrid/Tiny-v0", "--total-steps", "200",
                       "--no-progress", "--run-dir", str(table)]) == 0
    with pytest.raises(SystemExit):
        evaluate_script.main([str(table), "--episodes", "1", "--mirror-greedy"])
    assert "not an acting setting of the qlearning agent" in capsys.readouterr().err


def test_training_stops_once_an_evaluation_reaches_the_target(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert train_small_dqn("CartPole-v1", run_dir, 2000, "--eval-every", "200",
                           "--eval-episodes", "2", "--stop-at-return", "5") == 0
    out = capsys.readouterr().out
    # Any CartPole episode returns at least 8, so the first evaluation (step 200) reaches 5.
    assert "stopped at step 200: mean greedy return" in out and "--stop-at-return 5" in out
    assert summary_line(out)["steps"] == 200
    assert (run_dir / "checkpoint.npz").is_file()


def test_stop_at_win_rate_waits_for_wins(tmp_path, capsys):
    """A win rate that never comes (Tiny with 300 steps of training) does not stop the run."""
    assert train_small_dqn("PacGrid/Tiny-v1", tmp_path / "run", 400, "--eval-every", "200",
                           "--eval-episodes", "2", "--stop-at-win-rate", "1") == 0
    out = capsys.readouterr().out
    assert "stopped at step" not in out
    assert summary_line(out)["steps"] == 400


def test_pacman_diagnose_reports_the_games_of_a_trained_run(tmp_path, capsys):
    from scripts import pacman_diagnose

    assert train_small_dqn("envs:PacGrid/Tiny-v1", tmp_path / "t", 300, "--action-mask",
                           "--eval-every", "0") == 0
    capsys.readouterr()
    assert pacman_diagnose.main([str(tmp_path / "t"), "--games", "4"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["games"] == 4 and 0.0 <= report["win_rate"] <= 1.0
    deaths = report["deaths"]
    assert deaths["count"] <= 4 - round(4 * report["win_rate"])
    assert deaths["onto_a_certain_ghost"] <= deaths["with_a_safe_move"] <= deaths["count"]
    assert 0 <= deaths["eating_a_ghost"] <= deaths["count"]
    assert deaths["count"] == len(deaths["food_left"])
    share = report["endgame"]["share_closer_to_food"]
    assert share is None or 0.0 <= share <= 1.0
    with pytest.raises(SystemExit) as exit_info:
        pacman_diagnose.main([str(tmp_path / "t"), "--games", "0"])
    assert exit_info.value.code == 2
    # The planner on the same games: the yardstick, measured the same way.
    assert pacman_diagnose.main([str(tmp_path / "t"), "--games", "3", "--planner", "2"]) == 0
    planner = json.loads(capsys.readouterr().out)
    assert planner["player"] == "planner, depth 2" and "checkpoint" not in planner
    assert planner["games"] == 3 and planner["win_rate"] >= 2 / 3  # it wins Tiny-v1
    with pytest.raises(SystemExit) as exit_info:
        pacman_diagnose.main([str(tmp_path / "t"), "--planner", "9"])
    assert exit_info.value.code == 2


def test_diagnose_counts_the_ghosts_eaten_in_a_move_from_the_score():
    from types import SimpleNamespace

    from scripts.pacman_diagnose import ghosts_eaten

    def after(change: int, food: int, win: bool = False, loss: bool = False):
        return SimpleNamespace(score=1000 + change, food_left=20 - food, win=win, loss=loss)

    assert ghosts_eaten(after(-1, 0), 1000, 20) == 0  # a plain move
    assert ghosts_eaten(after(-1 + 10, 1), 1000, 20) == 0  # food
    assert ghosts_eaten(after(-1 + 200 - 500, 0, loss=True), 1000, 20) == 1  # eaten, then caught
    assert ghosts_eaten(after(-1 + 10 + 400, 1), 1000, 20) == 2
    assert ghosts_eaten(after(-1 + 10 + 500, 1, win=True), 1000, 20) == 0  # the last pellet
    assert ghosts_eaten(after(-1 - 500, 0, loss=True), 1000, 20) == 0


def test_diagnose_tells_a_ghost_eaten_on_its_own_start():
    from types import SimpleNamespace

    from scripts.pacman_diagnose import caught_on_its_start

    maze = SimpleNamespace(ghost_starts=[30, 31, 32])
    # Ghost 1 was scared, eaten on its start (cell 31), and is back there, unscared, on Pac-Man.
    caught = SimpleNamespace(pacman=31, ghosts=[5, 31, 40], scared=[12, 0, 12])
    assert caught_on_its_start(maze, caught, [13, 13, 13])
    assert not caught_on_its_start(maze, caught, [13, 0, 13])  # ghost 1 was not scared: no meal
    # Eaten beside its start, it walked onto Pac-Man from there: not on its start.
    beside = SimpleNamespace(pacman=30, ghosts=[5, 30, 40], scared=[12, 0, 12])
    assert not caught_on_its_start(maze, beside, [13, 13, 13])


def test_a_cell_is_reachable_by_a_ghost_that_stands_on_it_or_beside_it():
    import gymnasium as gym

    import envs  # noqa: F401 - registers PacGrid
    from scripts.pacman_diagnose import reachable_by_a_ghost

    game = gym.make("PacGrid/Tiny-v1").unwrapped
    game.reset(seed=0)
    maze, state = game.maze, game._state
    ghost = state.ghosts[0]
    neighbours = {cell for _, cell in maze.ghost_moves[ghost][state.ghost_dirs[0]]}
    far = [c for c in range(len(maze.next_cell)) if c != ghost and c not in neighbours
           and not maze.layout.walls.reshape(-1)[c]]
    assert reachable_by_a_ghost(maze, state, ghost)
    assert all(reachable_by_a_ghost(maze, state, cell) for cell in neighbours)
    assert not reachable_by_a_ghost(maze, state, far[0])
    state.scared[0] = 5  # a scared ghost threatens nothing
    assert not reachable_by_a_ghost(maze, state, ghost)


def test_a_ghost_is_certain_on_its_cell_and_on_its_only_next_move():
    import gymnasium as gym

    import envs  # noqa: F401 - registers PacGrid
    from scripts.pacman_diagnose import certain_ghost

    game = gym.make("PacGrid/Tiny-v1").unwrapped  # one ghost
    game.reset(seed=0)
    maze, state = game.maze, game._state
    ways_on = set()
    for step in range(60):  # the ghost walks: positions with one way on and with several
        state = game._state
        ghost, heading = state.ghosts[0], state.ghost_dirs[0]
        options = {cell for _, cell in maze.ghost_moves[ghost][heading]}
        ways_on.add(len(options) == 1)
        assert certain_ghost(maze, state, ghost)
        for cell in options:
            assert certain_ghost(maze, state, cell) == (options == {cell})
        state.scared[0] = 5
        assert not certain_ghost(maze, state, ghost)
        state.scared[0] = 0
        _, _, terminated, truncated, _ = game.step(4)  # stand still
        if terminated or truncated:
            game.reset(seed=step)
    assert ways_on == {True, False}


@pytest.mark.filterwarnings("ignore:.*is out of date")  # PacGrid/Tiny-v0, refused on purpose
def test_the_food_probe_teaches_the_dqn_network_where_the_food_is(capsys):
    from scripts import pacman_food_probe

    assert pacman_food_probe.main(["--env", "PacGrid/Tiny-v1", "--positions", "600",
                                   "--test-positions", "200", "--updates", "500",
                                   "--report-every", "250", "--max-food", "3",
                                   "--no-progress"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [r["updates"] for r in result["reports"]] == [250, 500]
    assert 0.3 < result["chance"] < 0.6  # a random legal move is often a shortest one on 7x7
    assert result["reports"][-1]["held_out"] >= 0.9  # measured 0.97-0.99
    for bad in (["--env", "CartPole-v1"], ["--env", "PacGrid/Tiny-v0"], ["--updates", "0"]):
        with pytest.raises(SystemExit) as exit_info:
            pacman_food_probe.main([*bad, "--positions", "5", "--no-progress"])
        assert exit_info.value.code == 2
    assert "not a PacGrid -v1 id" in capsys.readouterr().err


def test_init_from_starts_a_run_from_another_runs_network(tmp_path, capsys):
    """--init-from: a curriculum's second part (chasing ghosts) starts from the first's network
    (random ghosts), online and target networks alike; other networks or spaces are refused."""
    from rl.checkpoint import load_checkpoint

    first, second = tmp_path / "random", tmp_path / "chasing"
    assert train_small_dqn("PacGrid/Tiny-v1", first, 300, "--eval-every", "0") == 0
    # learning_starts 100 > 50 steps: no update, so the second run's weights are still the first's.
    assert train_small_dqn("PacGrid/Tiny-v1", second, 50, "--eval-every", "0",
                           "--env-kwargs", '{"ghosts": "directional"}',
                           "--init-from", str(first)) == 0
    assert "starting from the network of" in capsys.readouterr().err
    trained, _ = load_checkpoint(first / "checkpoint.npz")
    started, _ = load_checkpoint(second / "checkpoint.npz")
    q_names = [name for name in trained if name.startswith("agent/q/")]
    assert q_names
    for name in q_names:
        np.testing.assert_array_equal(started[name], trained[name])
        np.testing.assert_array_equal(started[name.replace("/q/", "/target/")], trained[name])
    config = json.loads((second / "config.json").read_text())
    assert config["agent"]["init_from"] == str(first)

    refused = {
        "no such checkpoint": str(tmp_path / "nowhere"),
        "network differs": str(first),  # with --hidden 16 below
    }
    for message, source in refused.items():
        flags = ["--hidden", "16"] if message == "network differs" else []
        with pytest.raises(SystemExit) as stopped:
            train.main(["--algo", "dqn", "--env", "PacGrid/Tiny-v1", "--total-steps", "50",
                        "--learning-starts", "100", "--batch-size", "8", "--hidden", "8",
                        *flags, "--no-progress", "--run-dir", str(tmp_path / message),
                        "--init-from", source])
        assert stopped.value.code == 2
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit) as stopped:  # other spaces: Small's grid is not Tiny's
        train_small_dqn("PacGrid/Small-v1", tmp_path / "small", 50, "--init-from", str(first))
    assert stopped.value.code == 2
    assert "trained on other spaces" in capsys.readouterr().err


def test_chasing_ghosts_on_medium_get_the_noisy_variant_of_the_preset(tmp_path):
    """--env-kwargs '{"ghosts": "directional"}' alone gives the settings session 26 trained
    with flags (docs/results.md); random ghosts keep the Medium preset."""
    from agents.registry import new_run

    def agent_config(env_kwargs, values=None):
        return new_run("dqn", "PacGrid/Medium-v1", values or {}, env_kwargs=env_kwargs,
                       run_dir=tmp_path / "unused").agent_config

    chasing = agent_config({"ghosts": "directional"})
    flags = agent_config({"ghosts": "directional"}, {
        "munchausen": True, "huber_delta": 20.0, "agent_window": 9, "n_step": 5, "noisy": True,
        "epsilon": schedules.constant(0.0)})
    assert chasing == flags
    assert chasing.noisy and chasing.epsilon(0) == chasing.epsilon(10**6) == 0.0
    random = agent_config({"ghosts": "random"})
    assert not random.noisy and random.agent_window == 0 and not random.munchausen
    assert random.n_step == 3
