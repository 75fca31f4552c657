"""The Gymnasium face of the game: API checks, seeding, vector envs, bad input, random fuzzing."""

import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.pacman import PacmanEnv, grid_from_state, parse_layout
from envs.pacman.env import CAPSULES, FOOD

BUILTIN_IDS = ["PacGrid/Tiny-v0", "PacGrid/Small-v0", "PacGrid/Medium-v0", "PacGrid/Classic-v0"]
V1_IDS = [env_id.replace("-v0", "-v1") for env_id in BUILTIN_IDS]

# Capsules everywhere, so random play eats scared ghosts often enough to check the +200.
CAPSULE_FUZZ = """\
%%%%%%%%%%
%o.o.Po.o%
%.%%o%%.%%
%oG.o.Go.%
%%%%%%%%%%
"""


def test_ids_are_registered_by_importing_envs():
    assert envs.ENV_IDS == [*BUILTIN_IDS, "PacGrid/Custom-v0", *V1_IDS, "PacGrid/Custom-v1"]
    for env_id in envs.ENV_IDS:
        assert env_id in gym.registry
    env = gym.make("envs:PacGrid/Tiny-v0")
    assert env.spec.max_episode_steps == 100
    assert env.observation_space.shape == (7, 7, 6)
    env.close()


@pytest.mark.parametrize("obs_type", [None, "grid", "markov", "rgb"])
@pytest.mark.parametrize("env_id", BUILTIN_IDS + V1_IDS)
def test_check_env_passes(env_id, obs_type):
    kwargs = {} if obs_type is None else {"obs_type": obs_type}  # None: the id's own
    env = gym.make(env_id, tile_size=8, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any checker warning fails the test
        check_env(env.unwrapped)
    env.close()


def test_v0_keeps_its_layouts_and_six_channel_grid_and_v1_is_markov():
    for old, new in zip(BUILTIN_IDS, V1_IDS, strict=True):
        env = gym.make(old)
        assert env.unwrapped.obs_type == "grid" and env.observation_space.shape[-1] == 6
        assert env.unwrapped.layout.name == old.split("/")[1].split("-")[0].lower()
        assert gym.make(new).unwrapped.obs_type == "markov"


@pytest.mark.parametrize("ghosts", ["random", "arcade"])
def test_check_env_passes_for_markov_observations_of_each_ghost_kind(ghosts):
    env = gym.make("PacGrid/Small-v1", ghosts=ghosts)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)


def test_spaces_actions_and_info():
    env = gym.make("PacGrid/Medium-v0")
    assert env.action_space == gym.spaces.Discrete(5)
    assert env.observation_space == gym.spaces.Box(0, 1, (11, 20, 6), np.uint8)
    assert env.unwrapped.get_action_meanings() == ["STOP", "NORTH", "SOUTH", "EAST", "WEST"]
    obs, info = env.reset(seed=0)
    assert set(info) == {"score", "food_left", "win", "loss", "action_mask"}
    assert info["action_mask"].dtype == np.uint8 and info["action_mask"].shape == (5,)
    assert info["food_left"] == int(obs[..., FOOD].sum())
    # Pac-Man starts on the bottom corridor of medium: east and west open, north and south not.
    assert info["action_mask"].tolist() == [1, 0, 0, 1, 1]
    env.close()


def test_custom_id_takes_a_layout_name_or_path(tmp_path):
    path = tmp_path / "corridor.lay"
    path.write_text("%%%%%%%\n%P...G%\n%%%%%%%\n")
    env = gym.make("PacGrid/Custom-v0", layout=str(path))
    obs, _ = env.reset(seed=0)
    assert obs.shape == (3, 7, 6)
    assert gym.make("PacGrid/Custom-v0", layout="tiny").observation_space.shape == (7, 7, 6)
    with pytest.raises(ValueError, match=r"needs layout=.*tiny"):
        gym.make("PacGrid/Custom-v0")


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"ghosts": "sneaky"}, "unknown ghost behaviour"),
        ({"obs_type": "pixels"}, "unknown obs_type"),
        ({"render_mode": "window"}, "unknown render_mode"),
        ({"layout": "nosuchmaze"}, "built-in layouts are"),
        ({"tile_size": 2}, "tile_size"),
        ({"render_fps": 0}, "render_fps"),
    ],
)
def test_bad_constructor_arguments_are_explained(kwargs, words):
    with pytest.raises(ValueError, match=words):
        PacmanEnv(**kwargs)


@pytest.mark.parametrize("action", [5, -1, 2.5, "north", None, np.array([1, 2])])
def test_actions_outside_the_space_are_rejected(action):
    env = PacmanEnv("tiny")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"invalid action .*integer in \[0, 5\)"):
        env.step(action)


def test_numpy_integer_actions_are_accepted():
    env = PacmanEnv("tiny")
    env.reset(seed=0)
    _, reward, *_ = env.step(np.int64(3))
    assert reward == -1.0


def test_stepping_a_finished_episode_asks_for_reset():
    env = PacmanEnv(parse_layout("%%%%\n%P.%\n%%%%\n"))
    env.reset(seed=0)
    *_, terminated, _, info = env.step(3)
    assert terminated and info["win"]
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)


def test_time_limit_truncates():
    env = gym.make("PacGrid/Tiny-v0", max_episode_steps=5)
    env.reset(seed=0)
    flags = [env.step(0)[2:4] for _ in range(5)]
    # Pac-Man waits in his corner 8 cells from the ghost: nothing can end it before the limit.
    assert flags == [(False, False)] * 4 + [(False, True)]


def rollout(env, seed, steps=300, action_seed=0):
    """A whole episode's transcript: observations, rewards, flags, infos and ghost cells."""
    rng = np.random.default_rng(action_seed)
    obs, info = env.reset(seed=seed)
    transcript = [(obs.tobytes(), info["score"])]
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(int(rng.integers(5)))
        state = env.unwrapped.state
        transcript.append((obs.tobytes(), reward, terminated, info["score"], tuple(state.ghosts)))
        if terminated or truncated:
            break
    return transcript


@pytest.mark.parametrize("ghosts", ["random", "directional", "arcade"])
def test_reset_with_a_seed_replays_the_whole_episode(ghosts):
    env, other = (
        gym.make("PacGrid/Medium-v0", ghosts=ghosts),
        gym.make("PacGrid/Medium-v0", ghosts=ghosts),
    )
    first = rollout(env, seed=123)
    assert len(first) > 5
    assert rollout(other, seed=123) == first
    rollout(env, seed=999)  # play something else in between
    assert rollout(env, seed=123) == first
    # Without a seed, reset continues the generator: the same in both envs.
    assert rollout(env, seed=None, action_seed=1) == rollout(other, seed=None, action_seed=1)


def test_different_seeds_move_the_ghosts_differently():
    env = gym.make("PacGrid/Classic-v0")
    ghost_paths = {tuple(step[-1] for step in rollout(env, seed=s, steps=40)[1:]) for s in range(5)}
    assert len(ghost_paths) > 1


def vector_transcript(vector_env, steps=60):
    rng = np.random.default_rng(3)
    obs, infos = vector_env.reset(seed=[11, 12])
    frames = [obs.copy()]
    for _ in range(steps):
        obs, rewards, _, _, infos = vector_env.step(rng.integers(5, size=2))
        frames.append(np.concatenate([obs.reshape(2, -1), rewards[:, None].astype(np.uint8)], 1))
    return frames, infos


def test_sync_and_async_vector_envs_agree():
    make = [lambda: gym.make("PacGrid/Small-v0") for _ in range(2)]
    sync_env = gym.vector.SyncVectorEnv(make)
    async_env = gym.vector.AsyncVectorEnv(make)
    try:
        assert sync_env.observation_space.shape == (2, 7, 20, 6)
        sync_frames, sync_infos = vector_transcript(sync_env)
        async_frames, async_infos = vector_transcript(async_env)
        for a, b in zip(sync_frames, async_frames, strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(sync_infos["score"], async_infos["score"])
        assert sync_infos["action_mask"].shape == (2, 5)
    finally:
        sync_env.close()
        async_env.close()


def test_make_vec_works():
    vector_env = gym.make_vec("PacGrid/Tiny-v0", num_envs=3, vectorization_mode="sync")
    obs, _ = vector_env.reset(seed=0)
    assert obs.shape == (3, 7, 7, 6)
    vector_env.close()


def test_the_game_never_loads_pygame_unless_asked_to_draw():
    code = (
        "import sys, gymnasium as gym, envs\n"
        "env = gym.make('PacGrid/Small-v0', render_mode='ansi')\n"
        "env.reset(seed=0)\n"
        "for _ in range(20):\n"
        "    if any(env.step(env.action_space.sample())[2:4]): env.reset()\n"
        "env.render()\n"
        "assert 'pygame' not in sys.modules, 'pygame was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def fuzz_layouts():
    return [("tiny", 100), ("small", 60), ("medium", 40), ("classic", 8), (CAPSULE_FUZZ, 100)]


@pytest.mark.parametrize("ghosts", ["random", "directional", "arcade"])
def test_random_play_keeps_every_invariant(ghosts):
    rng = np.random.default_rng(2024)
    ghosts_eaten = 0
    for layout_spec, episodes in fuzz_layouts():
        layout = parse_layout(layout_spec, "fuzz") if "\n" in layout_spec else layout_spec
        env = PacmanEnv(layout, ghosts=ghosts)
        maze, walls = env.maze, env.layout.walls
        for _ in range(episodes):
            obs, info = env.reset(seed=int(rng.integers(2**31)))
            state = env.state
            total = 0.0
            for _ in range(400):
                food_before, scared_before = info["food_left"], list(state.scared)
                previous_obs = obs
                obs, reward, terminated, truncated, info = env.step(int(rng.integers(5)))
                total += reward
                assert not truncated
                # The incremental grid equals the grid built from scratch.
                np.testing.assert_array_equal(obs, grid_from_state(maze, state))
                assert int(obs[..., FOOD].sum()) == info["food_left"] == state.food_left
                assert info["food_left"] <= food_before
                assert (obs[..., FOOD] <= previous_obs[..., FOOD]).all()
                for cell in [state.pacman, *state.ghosts]:
                    assert not walls[maze.coords[cell]]
                assert info["action_mask"].tolist() == [
                    int(maze.next_cell[state.pacman][a] != state.pacman or a == 0) for a in range(5)
                ]
                caught = any(
                    g == state.pacman and not s
                    for g, s in zip(state.ghosts, state.scared, strict=True)
                )
                assert info["win"] == (info["food_left"] == 0)
                assert info["loss"] == (caught and not info["win"])
                assert terminated == (info["win"] or info["loss"])
                # Whatever the reward does not explain by time, food, win and loss is ghosts.
                eaten_food = food_before - info["food_left"]
                rest = reward - (-1 + 10 * eaten_food + 500 * info["win"] - 500 * info["loss"])
                assert rest % 200 == 0 and 0 <= rest <= 200 * len(state.ghosts)
                if rest:  # only scared ghosts can be eaten: scared already, or by this capsule
                    capsule_eaten = obs[..., CAPSULES].sum() < previous_obs[..., CAPSULES].sum()
                    assert any(scared_before) or capsule_eaten
                    ghosts_eaten += int(rest // 200)
                if terminated:
                    break
            assert total == info["score"]
    assert ghosts_eaten > 0, "the fuzz never ate a ghost, so the +200 rule went unchecked"
