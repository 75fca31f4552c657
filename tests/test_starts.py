"""Games that start partly eaten: PacGrid's reset option food_share and rl.starts."""

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401 - registers PacGrid
from agents.dqn import DQNConfig
from agents.registry import UsageError, new_run
from envs.pacman.env import FOOD
from rl.starts import PartialFoodStarts


def food_cells(env) -> np.ndarray:
    return np.flatnonzero(np.frombuffer(bytes(env.unwrapped.state.food), dtype=np.uint8))


@pytest.mark.parametrize("env_id", ["PacGrid/Medium-v1", "PacGrid/Medium-v0"])
def test_a_reset_keeps_the_share_of_food_asked_for_and_the_observation_shows_it(env_id):
    env = gym.make(env_id)
    obs, info = env.reset(seed=3)
    total = info["food_left"]
    whole = food_cells(env)
    obs, info = env.reset(seed=3, options={"food_share": 0.25})
    kept = food_cells(env)
    assert info["food_left"] == len(kept) == round(0.25 * total)
    assert set(kept) <= set(whole) and info["score"] == 0
    food_plane = obs[..., 1] if env_id.endswith("v1") else obs[..., FOOD]
    assert set(np.flatnonzero(food_plane)) == set(kept)
    again = gym.make(env_id)
    again.reset(seed=3, options={"food_share": 0.25})
    assert np.array_equal(food_cells(again), kept)  # the seed fixes which pellets stay
    env.reset(seed=4, options={"food_share": 1e-9})
    assert len(food_cells(env)) == 1  # at least one pellet: a game to win
    obs, info = env.reset()  # the next plain reset starts whole again
    assert info["food_left"] == total and np.array_equal(food_cells(env), whole)


def test_a_bad_food_share_says_what_it_must_be():
    env = gym.make("PacGrid/Tiny-v1")
    for share in (0.0, 1.5, "half", True):
        with pytest.raises(ValueError, match=r"food_share must be a number in \(0, 1\]"):
            env.reset(seed=0, options={"food_share": share})


def test_a_partly_eaten_game_ends_in_a_win_when_its_last_pellet_is_eaten():
    env = gym.make("PacGrid/Tiny-v1", ghosts="random")
    rng = np.random.default_rng(0)
    wins = 0
    for seed in range(30):  # one pellet left: random legal moves often reach it
        _, info = env.reset(seed=seed, options={"food_share": 1e-9})
        terminated = truncated = False
        while not (terminated or truncated):
            action = int(rng.choice(np.flatnonzero(info["action_mask"])))
            _, reward, terminated, truncated, info = env.step(action)
        wins += info["win"]
        if info["win"]:
            assert info["food_left"] == 0 and reward == 500 + 10 - 1
    assert wins > 0


def test_partial_starts_thin_that_share_of_games_reproducibly():
    def shares(probability, seed):
        env = PartialFoodStarts(gym.make("PacGrid/Small-v1"), probability)
        out = [env.reset(seed=seed)[1]]
        out += [env.reset()[1] for _ in range(199)]
        return [(info["food_share"], info["food_left"]) for info in out]

    total = gym.make("PacGrid/Small-v1").reset(seed=0)[1]["food_left"]
    some = shares(0.5, seed=1)
    partial = [share for share, _ in some if share < 1.0]
    assert 70 <= len(partial) <= 130  # about half of 200
    assert 0.3 < np.mean(partial) < 0.7  # uniform shares
    assert all(left == (total if share == 1.0 else max(1, round(share * total)))
               for share, left in some)
    assert shares(0.5, seed=1) == some  # the env's seed fixes them
    assert shares(0.5, seed=2) != some
    assert all(share == 1.0 for share, _ in shares(0.0, seed=1))
    with pytest.raises(ValueError, match=r"partial starts must be in \[0, 1\]"):
        PartialFoodStarts(gym.make("PacGrid/Small-v1"), 1.5)


def test_only_the_training_envs_of_a_run_start_partly_eaten(tmp_path):
    run = new_run("dqn", "PacGrid/Tiny-v1", {"partial_food": 0.5}, run_dir=tmp_path / "run")
    assert isinstance(run.make_env(training=True), PartialFoodStarts)
    assert not isinstance(run.make_env(), PartialFoodStarts)
    shaped = new_run("dqn", "PacGrid/Tiny-v1", {"partial_food": 0.5, "food_shaping": 2.0},
                     run_dir=tmp_path / "shaped").make_env(training=True)
    assert isinstance(shaped.env, PartialFoodStarts)  # innermost: the shaping sees one reset
    with pytest.raises(UsageError, match=r"--partial-food .*CartPoleEnv.*--partial-food 0"):
        new_run("dqn", "CartPole-v1", {"partial_food": 0.5}).make_env(training=True)
    with pytest.raises(ValueError, match=r"--partial-food must be a share of games in \[0, 1\]"):
        DQNConfig(partial_food=2.0)
