"""DQN through rl.loop: a killed run resumes to the same parameters; NaN stops the run."""

import gymnasium as gym
import numpy as np
import pytest

from agents.dqn import DQNAgent, DQNConfig, env_symmetries
from agents.registry import new_run
from rl.checkpoint import CheckpointError, load_agent, load_checkpoint, save_agent
from rl.loop import LoopConfig, LoopState, NonFiniteMetricError, restore, run_steps, train
from rl.starts import PartialFoodStarts


class KilledAgent(DQNAgent):
    """A DQN agent whose process 'dies' (KeyboardInterrupt) when it reaches step `crash_at`."""

    crash_at: int | None = None

    def observe(self, *args, **kwargs):
        if self.crash_at is not None and self.steps == self.crash_at:
            raise KeyboardInterrupt("simulated kill")
        return super().observe(*args, **kwargs)


def make_agent(seed, crash_at=None, **overrides):
    env = gym.make("CartPole-v1")
    settings = dict(hidden=(16,), batch_size=16, learning_starts=50, train_freq=2,
                    target_update_interval=20, n_step=2)
    config = DQNConfig(**{**settings, **overrides})
    agent = KilledAgent(env.observation_space, env.action_space, config,
                        np.random.default_rng(seed))
    agent.crash_at = crash_at
    return agent


def loop_config(**overrides):
    settings = dict(total_steps=600, eval_every=200, eval_episodes=2, checkpoint_every=100,
                    log_every=50, seed=3, progress=False)
    settings.update(overrides)
    return LoopConfig(**settings)


@pytest.mark.parametrize("settings", [{}, {"prioritized": True}, {"greedy_ema": 0.05}])
def test_killed_run_resumes_to_the_same_parameters(tmp_path, settings):
    straight = make_agent(seed=1, **settings)
    train(gym.make("CartPole-v1"), straight, loop_config(), tmp_path / "straight",
          eval_env=gym.make("CartPole-v1"))

    killed = make_agent(seed=1, crash_at=420, **settings)
    with pytest.raises(KeyboardInterrupt):
        train(gym.make("CartPole-v1"), killed, loop_config(), tmp_path / "killed",
              eval_env=gym.make("CartPole-v1"))
    _, meta = load_checkpoint(tmp_path / "killed" / "checkpoint.npz")
    assert 300 <= meta["loop"]["step"] < 420  # resumes from an earlier checkpoint

    resumed = make_agent(seed=999, **settings)  # a fresh process
    train(gym.make("CartPole-v1"), resumed, loop_config(resume=True), tmp_path / "killed",
          eval_env=gym.make("CartPole-v1"))
    assert resumed.steps == straight.steps == 600
    assert resumed.updates == straight.updates
    for name, value in straight.q_net.state_dict().items():
        np.testing.assert_array_equal(resumed.q_net.state_dict()[name], value)
    for name, value in straight.target_net.state_dict().items():
        np.testing.assert_array_equal(resumed.target_net.state_dict()[name], value)
    for name, value in straight.greedy_net.state_dict().items():
        np.testing.assert_array_equal(resumed.greedy_net.state_dict()[name], value)


def test_several_envs_killed_and_resumed_end_with_the_same_parameters(tmp_path):
    """Lockstep envs: checkpoints wait until every episode has ended, so resume stays exact."""
    def envs():
        return [gym.make("CartPole-v1") for _ in range(3)]

    cfg = loop_config(num_envs=3)
    straight = make_agent(seed=1)
    train(envs(), straight, cfg, tmp_path / "straight", eval_env=gym.make("CartPole-v1"))
    killed = make_agent(seed=1, crash_at=450)
    with pytest.raises(KeyboardInterrupt):
        train(envs(), killed, cfg, tmp_path / "killed", eval_env=gym.make("CartPole-v1"))
    _, meta = load_checkpoint(tmp_path / "killed" / "checkpoint.npz")
    assert meta["loop"]["episode_boundary"] and 100 <= meta["loop"]["step"] < 450
    resumed = make_agent(seed=999)
    train(envs(), resumed, loop_config(num_envs=3, resume=True), tmp_path / "killed",
          eval_env=gym.make("CartPole-v1"))
    assert resumed.steps == straight.steps == 600 and resumed.updates == straight.updates
    for name, value in straight.q_net.state_dict().items():
        np.testing.assert_array_equal(resumed.q_net.state_dict()[name], value)
    # The best checkpoints, taken mid-episode, are the same too.
    (best, meta), (best_killed, meta_killed) = (
        load_checkpoint(tmp_path / name / "best.npz") for name in ("straight", "killed"))
    assert meta["best"] == meta_killed["best"] and best.keys() == best_killed.keys()
    for name, value in best.items():
        np.testing.assert_array_equal(best_killed[name], value)


def test_with_greedy_ema_the_best_checkpoint_holds_the_average(tmp_path):
    agent = make_agent(seed=2, learning_starts=100, greedy_ema=0.05)
    env = gym.make("CartPole-v1")
    run_steps([env], agent, np.random.default_rng(0), LoopState(), 300)
    obs = np.array([0.01, -0.2, 0.03, 0.1], dtype=np.float32)
    assert not np.array_equal(agent.q_values(obs), agent.q_net.forward(obs[None])[0])
    save_agent(tmp_path / "best.npz", agent, env, acting_only=True,
               best={"step": 300, "return_mean": 9.0})
    fresh = make_agent(seed=5, learning_starts=100, greedy_ema=0.05)
    load_agent(tmp_path / "best.npz", fresh, env)
    for net in (fresh.greedy_net, fresh.q_net, fresh.target_net):  # all start from the average
        np.testing.assert_array_equal(net.forward(obs[None])[0], agent.q_values(obs))


def test_several_envs_store_each_episode_as_one_trajectory():
    """Each env's steps reach the buffer together at its episode end, frames shared."""
    agent = make_agent(seed=2, learning_starts=10**6, n_step=3)
    envs = [gym.make("CartPole-v1") for _ in range(4)]
    state = LoopState()
    run_steps(envs, agent, np.random.default_rng(0), state, 400)
    buffer = agent.buffer
    stored = buffer.num_added
    held = sum(len(steps) for steps in agent._episodes.values())
    assert stored + held == state.step == 400 and held > 0
    # One frame per step plus one final frame per stored episode (steps of different envs
    # interleaved would each need two), and n-step windows cut only at episode ends.
    assert buffer.size == stored + state.episode
    assert buffer.segment_end[:buffer.size].sum() == state.episode
    agent.state_dict()  # a checkpoint stores the held steps first
    assert buffer.num_added == 400 and not agent._episodes


def test_the_best_checkpoint_holds_the_q_network_and_leaves_training_alone(tmp_path):
    """Saved mid-episode with several envs, it stores no held steps, and loads for acting."""
    agent = make_agent(seed=2, learning_starts=100, n_step=3)
    envs = [gym.make("CartPole-v1") for _ in range(3)]
    run_steps(envs, agent, np.random.default_rng(0), LoopState(), 300)
    held = {index: len(steps) for index, steps in agent._episodes.items()}
    stored = agent.buffer.num_added
    assert sum(held.values()) > 0
    path = tmp_path / "best.npz"
    save_agent(path, agent, envs[0], acting_only=True, best={"step": 300, "return_mean": 9.0})
    assert agent.buffer.num_added == stored
    assert {index: len(steps) for index, steps in agent._episodes.items()} == held

    arrays, meta = load_checkpoint(path)
    assert arrays and all(name.startswith("agent/q/") for name in arrays)  # no replay, optimizer
    assert meta["acting_only"] and meta["loop"] is None and meta["best"]["step"] == 300
    fresh = make_agent(seed=5, learning_starts=100, n_step=3)
    load_agent(path, fresh, envs[0])
    obs = np.array([0.01, -0.2, 0.03, 0.1], dtype=np.float32)
    np.testing.assert_array_equal(fresh.q_values(obs), agent.q_values(obs))
    np.testing.assert_array_equal(fresh.target_net.forward(obs[None]), fresh.q_values(obs)[None])
    assert fresh.steps == agent.steps and fresh.updates == agent.updates
    with pytest.raises(CheckpointError, match="cannot be resumed"):
        restore(path, make_agent(seed=5, learning_starts=100, n_step=3), np.random.default_rng(0),
                envs[0])


class NaNRewardEnv(gym.Wrapper):
    """CartPole whose reward turns NaN after `after` steps (a broken reward function)."""

    def __init__(self, after: int) -> None:
        super().__init__(gym.make("CartPole-v1"))
        self.after, self.count = after, 0

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.count += 1
        return obs, (float("nan") if self.count > self.after else reward), terminated, \
            truncated, info


def test_nan_loss_stops_the_run_and_keeps_the_last_checkpoint(tmp_path):
    agent = make_agent(seed=2)
    with pytest.raises(NonFiniteMetricError, match="diverged") as info:
        train(NaNRewardEnv(after=300), agent, loop_config(eval_every=0), tmp_path)
    assert "checkpoint" in str(info.value)
    arrays, meta = load_checkpoint(tmp_path / "checkpoint.npz")
    assert meta["loop"]["step"] <= 300
    assert all(np.all(np.isfinite(v)) for k, v in arrays.items() if k.startswith("agent/q/"))


def test_evaluation_games_side_by_side_are_the_games_played_one_by_one():
    """evaluate() over several envs plays episode k on the k-th seed, with one batched forward
    pass per step for all games, and gives the results of playing them in turn."""
    import envs  # noqa: F401 - registers PacGrid
    from rl.evaluate import evaluate
    from rl.seeding import make_rng

    games = [gym.make("PacGrid/Tiny-v1") for _ in range(4)]
    config = DQNConfig(hidden=(16,), conv_channels=(4,), conv_strides=(1,), action_mask=True)
    agent = DQNAgent(games[0].observation_space, games[0].action_space, config,
                     np.random.default_rng(0))  # untrained: varied, unequal Q-values
    forward_calls = []
    forward = agent.q_net.forward
    agent.q_net.forward = lambda x, train=False: forward_calls.append(len(x)) or forward(x, train)
    one_by_one = evaluate(games[0], agent, 9, make_rng(5), max_episode_steps=40)
    steps_one_by_one = len(forward_calls)
    forward_calls.clear()
    side_by_side = evaluate(games, agent, 9, make_rng(5), max_episode_steps=40)
    assert side_by_side == one_by_one
    assert max(forward_calls) == 4 and len(forward_calls) < steps_one_by_one / 2
    assert evaluate(games[:2], agent, 1, make_rng(5), max_episode_steps=40)["episodes"] == 1


def test_partial_starts_resume_to_the_same_parameters(tmp_path):
    """--partial-food draws from each env's own generator, which the resume replays: a killed
    PacGrid run with partial starts still ends where the straight one does."""
    import envs  # noqa: F401 - registers PacGrid

    run = new_run("dqn", "PacGrid/Tiny-v1", {
        "partial_food": 0.5, "conv_channels": (4,), "conv_strides": (1,), "hidden": (16,),
        "batch_size": 16, "learning_starts": 50, "train_freq": 2, "target_update_interval": 20,
        "buffer_size": 1000})

    def agent(seed, crash_at=None):
        env = run.make_env(training=True)
        assert isinstance(env, PartialFoodStarts)
        made = KilledAgent(env.observation_space, env.action_space, run.agent_config,
                           np.random.default_rng(seed),
                           symmetries=env_symmetries(env, run.agent_config))
        made.crash_at = crash_at
        return made

    def training_envs():
        return [run.make_env(training=True) for _ in range(2)]

    cfg = loop_config(num_envs=2)
    straight = agent(1)
    train(training_envs(), straight, cfg, tmp_path / "straight", eval_env=run.make_env())
    killed = agent(1, crash_at=450)
    with pytest.raises(KeyboardInterrupt):
        train(training_envs(), killed, cfg, tmp_path / "killed", eval_env=run.make_env())
    resumed = agent(999)
    train(training_envs(), resumed, loop_config(num_envs=2, resume=True), tmp_path / "killed",
          eval_env=run.make_env())
    assert resumed.steps == straight.steps == 600 and resumed.updates == straight.updates
    for name, value in straight.q_net.state_dict().items():
        np.testing.assert_array_equal(resumed.q_net.state_dict()[name], value)
