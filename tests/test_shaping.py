"""Reward shaping (rl.shaping): potential-based food shaping and the loss penalty of the DQN."""

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401 (registers PacGrid/*)
from agents.dqn import DQNConfig
from agents.registry import UsageError, new_run
from envs.pacman.planner import food_distance, maze_distances
from rl.shaping import OutcomePenalty, PotentialShaping


@pytest.mark.parametrize("zero_at_end", [True, False])
@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_discounted_shaping_of_a_game_is_minus_the_start_potential(gamma, zero_at_end):
    """Σ γᵗ·(γ·Φ(sₜ₊₁) − Φ(sₜ)) telescopes to −Φ(s₀) when Φ = 0 at the end: the same for
    every way of playing, which is why the best policy stays the best. With the end's own
    potential kept, γᵀ·Φ(s_T) is added."""
    env = PotentialShaping(gym.make("PacGrid/Small-v1", max_episode_steps=10_000),
                           lambda game: -5.0 * game.food_distance(), gamma, zero_at_end)
    distances = maze_distances(env.unwrapped.maze)
    rng = np.random.default_rng(0)
    for seed in range(3):
        _, info = env.reset(seed=seed)
        state = env.unwrapped.state
        start = 5.0 * food_distance(distances, state, state.pacman)
        total, discount, terminated, steps = 0.0, 1.0, False, 0
        while not terminated:
            legal = np.flatnonzero(info["action_mask"])
            _, _, terminated, truncated, info = env.step(int(rng.choice(legal)))
            total += discount * info["shaping"]
            discount *= gamma
            steps += 1
            assert not truncated
        assert start > 0 and steps > 1
        end = 0.0 if zero_at_end else -5.0 * env.unwrapped.food_distance()
        assert total == pytest.approx(start + discount * end, rel=1e-9)
        if not zero_at_end and seed == 0:
            assert end < 0  # a random walk dies with food left: the case that differs


def test_a_move_toward_the_nearest_food_pays_and_the_score_is_the_games():
    plain = gym.make("PacGrid/Small-v1")
    shaped = PotentialShaping(gym.make("PacGrid/Small-v1"),
                              lambda game: -5.0 * game.food_distance(), 0.95)
    maze = shaped.unwrapped.maze
    distances = maze_distances(maze)
    plain.reset(seed=1)
    shaped.reset(seed=1)
    for _ in range(5):  # same seed, same moves: the games stay identical
        state = shaped.unwrapped.state
        before = food_distance(distances, state, state.pacman)
        # The walker's move: one cell closer to the nearest food.
        action = min(range(1, 5), key=lambda a: food_distance(distances, state,
                                                               maze.next_cell[state.pacman][a]))
        _, reward, terminated, _, info = shaped.step(action)
        _, plain_reward, _, _, plain_info = plain.step(action)
        assert info["score"] == plain_info["score"]
        assert reward == pytest.approx(plain_reward + info["shaping"])
        if terminated:
            break
        after = food_distance(distances, shaped.unwrapped.state, shaped.unwrapped.state.pacman)
        assert info["shaping"] == pytest.approx(0.95 * -5.0 * after + 5.0 * before)
        if after == before - 1:
            assert info["shaping"] > 4.0


def test_only_the_training_envs_of_a_run_are_shaped(tmp_path):
    run = new_run("dqn", "PacGrid/Tiny-v1", {"food_shaping": 2.0}, run_dir=tmp_path / "run")
    training, evaluation = run.make_env(training=True), run.make_env()
    assert isinstance(training, PotentialShaping) and training.gamma == run.agent_config.gamma
    assert not training.zero_at_end  # being caught keeps its distance to food
    training.reset(seed=0)
    assert training.potential(training.unwrapped) == -2.0 * training.unwrapped.food_distance()
    assert not isinstance(evaluation, PotentialShaping)
    plain = new_run("dqn", "PacGrid/Tiny-v1").make_env(training=True)
    assert not isinstance(plain, PotentialShaping)


def test_maze_distance_to_the_nearest_food():
    env = gym.make("PacGrid/Tiny-v1")
    env.reset(seed=0)
    game = env.unwrapped
    distances = maze_distances(game.maze)
    food = np.flatnonzero(np.frombuffer(game.state.food, dtype=np.uint8))
    assert game.food_distance() == min(distances[game.state.pacman][cell] for cell in food) >= 1


def test_shaping_a_non_pacgrid_env_or_a_negative_weight_is_refused():
    with pytest.raises(UsageError, match=r"food_distance\(\) .*CartPoleEnv.*--food-shaping 0"):
        new_run("dqn", "CartPole-v1", {"food_shaping": 1.0}).make_env(training=True)
    with pytest.raises(ValueError, match="--food-shaping must be >= 0"):
        DQNConfig(food_shaping=-1.0)


def test_the_loss_penalty_comes_off_the_last_reward_of_a_lost_game_only():
    outcomes = set()
    for seed in range(8):  # random play on Tiny: lost, or cut by a time limit of 3 moves
        limit = 3 if seed % 2 else 100
        penalized = OutcomePenalty(gym.make("PacGrid/Tiny-v1", max_episode_steps=limit), 1000.0)
        plain = gym.make("PacGrid/Tiny-v1", max_episode_steps=limit)
        penalized.reset(seed=seed)
        plain.reset(seed=seed)
        rng = np.random.default_rng(seed)
        done = False
        while not done:
            action = int(rng.choice(5))
            _, reward, terminated, truncated, info = penalized.step(action)
            _, plain_reward, *_ = plain.step(action)
            lost = terminated and info["loss"]
            assert info["penalty"] == (1000.0 if lost else 0.0)
            assert reward == plain_reward - info["penalty"]
            done = terminated or truncated
        outcomes.add("lost" if info["loss"] else "won" if info["win"] else "cut")
    assert "lost" in outcomes and len(outcomes) > 1
    with pytest.raises(ValueError, match=r"no info\['score'\]|no info\['nope'\]"):
        OutcomePenalty(gym.make("PacGrid/Tiny-v1"), 1.0, key="nope").reset(seed=0)


def test_only_the_training_envs_of_a_run_pay_the_loss_penalty():
    run = new_run("dqn", "PacGrid/Tiny-v1", {"loss_penalty": 500.0})
    training, evaluation = run.make_env(training=True), run.make_env()
    assert isinstance(training, OutcomePenalty) and training.penalty == 500.0
    assert not isinstance(evaluation, OutcomePenalty)
    with pytest.raises(UsageError, match=r"info\['loss'\].*CartPoleEnv.*--loss-penalty 0"):
        new_run("dqn", "CartPole-v1", {"loss_penalty": 1.0}).make_env(training=True)
    with pytest.raises(ValueError, match="--loss-penalty must be >= 0"):
        DQNConfig(loss_penalty=-1.0)
