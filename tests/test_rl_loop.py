"""rl.loop.train with a tiny deterministic agent on a toy chain: counts, logs, resume, NaN guard."""

import math

import gymnasium as gym
import numpy as np
import pytest

from rl.checkpoint import CheckpointError, load_agent, load_checkpoint
from rl.evaluate import evaluate, write_gif
from rl.logging import read_metrics, read_rows
from rl.loop import LoopConfig, LoopState, NonFiniteMetricError, evaluation_rank, restore, train
from rl.protocol import Agent
from rl.run import RunFolderError
from rl.seeding import make_rng, rng_state, set_rng_state


class SlipperyChain(gym.Env):
    """States 0..n-1; action 1 moves right, 0 left, but with prob. `slip` the move is reversed.

    Reaching the right end terminates with reward 1; every step costs 0.01. Episodes are cut
    (truncated) after `limit` steps. The slip makes the episode seed matter.
    """

    def __init__(self, n: int = 5, slip: float = 0.2, limit: int = 12) -> None:
        self.n, self.slip, self.limit = n, slip, limit
        self.observation_space = gym.spaces.Discrete(n)
        self.action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.state, self.t = 0, 0
        return self.state, {}

    def step(self, action):
        move = 1 if action == 1 else -1
        if self.np_random.random() < self.slip:
            move = -move
        self.state = min(max(self.state + move, 0), self.n - 1)
        self.t += 1
        terminated = self.state == self.n - 1
        reward = (1.0 if terminated else 0.0) - 0.01
        info = {"win": terminated, "score": 10 * reward}
        return self.state, reward, terminated, self.t >= self.limit and not terminated, info


class FixedLengthEnv(gym.Env):
    """Every episode lasts exactly `length` steps; the observation is a noisy step counter."""

    def __init__(self, length: int = 5) -> None:
        self.length = length
        self.observation_space = gym.spaces.Discrete(length + 1)
        self.action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return 0, {}

    def step(self, action):
        self.t += 1
        reward = float(action) * self.np_random.random()
        return self.t, reward, self.t == self.length, False, {}


class TinyQAgent:
    """ε-greedy Q-table; deterministic given its rng. `nan_at` makes the loss NaN at that step."""

    def __init__(self, n_states: int, n_actions: int, rng, nan_at: int | None = None,
                 crash_at: int | None = None) -> None:
        self.q = np.zeros((n_states, n_actions))
        self.rng = rng
        self.steps = 0
        self.nan_at, self.crash_at = nan_at, crash_at

    def act(self, obs, greedy: bool = False) -> int:
        if not greedy and self.rng.random() < 0.3:
            return int(self.rng.integers(self.q.shape[1]))
        return int(np.argmax(self.q[obs]))

    def observe(self, obs, action, reward, next_obs, terminated, truncated):
        self.steps += 1
        if self.crash_at is not None and self.steps == self.crash_at:
            raise KeyboardInterrupt("simulated kill")
        target = reward + (0.0 if terminated else 0.9 * self.q[next_obs].max())
        td_error = target - self.q[obs, action]
        self.q[obs, action] += 0.5 * td_error
        loss = math.nan if self.steps == self.nan_at else td_error**2
        return {"loss": loss, "epsilon": 0.3}

    def state_dict(self):
        return {"q": self.q.copy()}, {"steps": self.steps, "rng": rng_state(self.rng)}

    def load_state_dict(self, arrays, meta):
        if arrays["q"].shape != self.q.shape:
            raise ValueError(f"q has shape {arrays['q'].shape}, expected {self.q.shape}")
        self.q = arrays["q"].copy()
        self.steps = meta["steps"]
        set_rng_state(self.rng, meta["rng"])


def make_agent(seed=1, **kwargs) -> TinyQAgent:
    return TinyQAgent(5, 2, make_rng(seed), **kwargs)


def quiet(**kwargs) -> LoopConfig:
    return LoopConfig(progress=False, **kwargs)


def without_time(rows):
    return [{k: v for k, v in row.items() if k != "time_s"} for row in rows]


def test_fake_agent_follows_the_protocol():
    assert isinstance(make_agent(), Agent)


def test_counts_rows_and_evaluations(tmp_path):
    agent = make_agent()
    cfg = quiet(total_steps=100, eval_every=25, eval_episodes=3, log_every=10, checkpoint_every=0)
    history = train(SlipperyChain(), agent, cfg, tmp_path, eval_env=SlipperyChain())

    assert history.steps == 100 and agent.steps == 100
    episode_rows = [r for r in history.rows if "episode_return" in r]
    assert len(episode_rows) == history.episodes > 0
    assert [r["episode"] for r in episode_rows] == list(range(1, history.episodes + 1))
    assert sum(r["episode_length"] for r in episode_rows) <= 100
    assert all(1 <= r["episode_length"] <= 12 for r in episode_rows)
    assert [r["step"] for r in history.evaluations] == [25, 50, 75, 100]
    assert all(r["eval_win_rate"] in (0, 1 / 3, 2 / 3, 1) for r in history.evaluations)
    metric_rows = [r for r in history.rows if "loss" in r]
    assert [r["step"] for r in metric_rows] == list(range(10, 101, 10))
    assert all(r["epsilon"] == pytest.approx(0.3) for r in metric_rows)

    columns = read_metrics(tmp_path / "metrics.csv")
    for name in ("step", "episode", "episode_return", "episode_length", "eval_return_mean",
                 "eval_return_std", "loss", "time_s"):
        assert name in columns
    eval_filled = ~np.isnan(columns["eval_return_mean"])
    assert eval_filled.sum() == 4
    assert np.isnan(columns["episode_return"][eval_filled]).all()  # eval rows: eval cells only
    assert without_time(read_rows(tmp_path / "metrics.csv")) == without_time(history.rows)

    _, meta = load_checkpoint(tmp_path / "checkpoint.npz")
    assert meta["loop"]["step"] == 100 and meta["agent_state"]["steps"] == 100


def test_the_agent_learns_the_chain(tmp_path):
    agent = make_agent()
    train(SlipperyChain(slip=0.0), agent, quiet(total_steps=300, eval_every=0), tmp_path)
    result = evaluate(SlipperyChain(slip=0.0), agent, 5, make_rng(0))
    assert result["return_mean"] == pytest.approx(1 - 4 * 0.01)
    assert result["win_rate"] == 1.0


def test_same_seed_same_run_different_seed_differs(tmp_path):
    def run(name, seed):
        agent = make_agent()
        train(SlipperyChain(), agent, quiet(total_steps=150, seed=seed), tmp_path / name)
        return agent.q

    assert np.array_equal(run("a", 3), run("b", 3))
    assert not np.array_equal(run("a2", 3), run("c", 4))


def test_killed_run_resumes_to_the_same_parameters(tmp_path):
    cfg = quiet(total_steps=200, checkpoint_every=20, eval_every=30, eval_episodes=2, log_every=7)
    straight = make_agent()
    history = train(SlipperyChain(), straight, cfg, tmp_path / "straight", eval_env=SlipperyChain())

    killed = make_agent(crash_at=130)
    with pytest.raises(KeyboardInterrupt):
        train(SlipperyChain(), killed, cfg, tmp_path / "killed", eval_env=SlipperyChain())
    _, meta = load_checkpoint(tmp_path / "killed" / "checkpoint.npz")
    assert 100 <= meta["loop"]["step"] < 130 and meta["loop"]["episode_boundary"]

    resumed = make_agent(seed=999)  # a fresh process: its rng state comes from the checkpoint
    cfg_resume = quiet(total_steps=200, checkpoint_every=20, eval_every=30, eval_episodes=2,
                       log_every=7, resume=True)
    history_resumed = train(
        SlipperyChain(), resumed, cfg_resume, tmp_path / "killed", eval_env=SlipperyChain()
    )
    assert np.array_equal(resumed.q, straight.q)
    assert resumed.steps == straight.steps == 200
    assert rng_state(resumed.rng) == rng_state(straight.rng)
    assert history_resumed.episodes == history.episodes
    assert history_resumed.best == history.best is not None
    assert without_time(history_resumed.rows) == without_time(history.rows)
    assert without_time(read_rows(tmp_path / "killed" / "metrics.csv")) == without_time(
        history.rows
    )


def test_extending_a_finished_run_at_an_episode_end_matches_one_long_run(tmp_path):
    # Episodes of 5 steps, so the first run's last step (50) is an episode end.
    straight = make_agent()
    train(FixedLengthEnv(), straight, quiet(total_steps=100), tmp_path / "a")
    half = make_agent()
    train(FixedLengthEnv(), half, quiet(total_steps=50), tmp_path / "b")
    resumed = make_agent(seed=5)
    history = train(FixedLengthEnv(), resumed, quiet(total_steps=100, resume=True), tmp_path / "b")
    assert history.steps == 100 and history.episodes == 20
    assert np.array_equal(resumed.q, straight.q)


def test_nan_metric_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    cfg = quiet(total_steps=200, checkpoint_every=10)
    agent = make_agent(nan_at=57)
    with pytest.raises(NonFiniteMetricError, match=r"step 57.*'loss' is nan.*last good checkpoint"):
        train(SlipperyChain(), agent, cfg, tmp_path)
    _, meta = load_checkpoint(tmp_path / "checkpoint.npz")
    assert 10 <= meta["loop"]["step"] < 57
    # The checkpoint holds the agent as it was then, not the diverged one.
    restored = make_agent()
    load_agent(tmp_path / "checkpoint.npz", restored)
    assert restored.steps == meta["loop"]["step"]
    # ...and the run can be resumed from it (with a healthy agent).
    history = train(SlipperyChain(), make_agent(), quiet(total_steps=200, resume=True), tmp_path)
    assert history.steps == 200


def test_nan_before_any_checkpoint_says_so(tmp_path):
    with pytest.raises(NonFiniteMetricError, match="no checkpoint had been written yet"):
        train(SlipperyChain(), make_agent(nan_at=3), quiet(total_steps=50), tmp_path)
    assert not (tmp_path / "checkpoint.npz").exists()


def test_resume_without_checkpoint_and_overwriting_a_run_are_errors(tmp_path):
    with pytest.raises(RunFolderError, match="cannot resume"):
        train(SlipperyChain(), make_agent(), quiet(total_steps=10, resume=True), tmp_path / "x")
    train(SlipperyChain(), make_agent(), quiet(total_steps=10), tmp_path / "y")
    with pytest.raises(RunFolderError, match="already holds a run"):
        train(SlipperyChain(), make_agent(), quiet(total_steps=10), tmp_path / "y")


def test_resume_with_fewer_total_steps_than_done_is_an_error(tmp_path):
    train(SlipperyChain(), make_agent(), quiet(total_steps=30), tmp_path)
    with pytest.raises(ValueError, match="at step 30, beyond total_steps 20"):
        train(SlipperyChain(), make_agent(), quiet(total_steps=20, resume=True), tmp_path)
    history = train(SlipperyChain(), make_agent(), quiet(total_steps=30, resume=True), tmp_path)
    assert history.steps == 30  # resuming a finished run with the same budget does nothing


def test_resume_with_a_mismatched_agent_is_a_clear_error(tmp_path):
    train(SlipperyChain(), make_agent(), quiet(total_steps=10), tmp_path)
    wrong_shape = TinyQAgent(7, 2, make_rng(0))
    with pytest.raises(CheckpointError, match=r"checkpoint.npz does not fit this agent.*shape"):
        train(SlipperyChain(), wrong_shape, quiet(total_steps=20, resume=True), tmp_path)

    class OtherAgent(TinyQAgent):
        pass

    with pytest.raises(CheckpointError, match="holds a TinyQAgent agent, but a OtherAgent"):
        train(SlipperyChain(), OtherAgent(5, 2, make_rng(0)), quiet(total_steps=20, resume=True),
              tmp_path)


@pytest.mark.parametrize(
    "bad",
    [{"total_steps": 0}, {"total_steps": -5}, {"eval_every": -1}, {"eval_episodes": 0}],
)
def test_loop_config_rejects_bad_values(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        LoopConfig(**bad)


def test_evaluate_caps_episodes_of_envs_without_a_time_limit():
    class Stuck:  # a greedy policy that never reaches the goal
        rng = make_rng(0)

        def act(self, obs, greedy=False):
            return 0

    result = evaluate(SlipperyChain(slip=0.0, limit=10**9), Stuck(), 2, make_rng(0),
                      max_episode_steps=30)
    assert result["length_mean"] == 30 and result["truncated"] == 2
    assert result["return_mean"] == pytest.approx(-0.3)
    assert result["return_std"] == 0.0


def test_a_gif_keeps_colours_first_seen_in_later_frames(tmp_path):
    from PIL import Image, ImageSequence

    black = np.zeros((8, 8, 3), np.uint8)
    frames = [black.copy() for _ in range(5)]
    for i, frame in enumerate(frames):
        frame[7, i] = 255  # no two frames alike (the GIF writer merges equal neighbours)
    frames[3][2:5, 2:5] = (40, 90, 200)  # a colour the first frame does not have
    frames[4][:, :] = (250, 220, 30)
    path = write_gif(tmp_path / "game.gif", frames, fps=10)
    with Image.open(path) as gif:
        decoded = [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(gif)]
    assert len(decoded) == 5
    assert tuple(decoded[3][3, 3]) == (40, 90, 200) and tuple(decoded[3][0, 0]) == (0, 0, 0)
    assert tuple(decoded[4][0, 0]) == (250, 220, 30)
    with pytest.raises(ValueError, match="at least one frame"):
        write_gif(tmp_path / "empty.gif", [], fps=10)


def test_tensorboard_gets_the_rows_when_a_writer_is_installed(tmp_path, monkeypatch):
    import sys
    import types

    scalars, closed = [], []

    class SummaryWriter:
        def __init__(self, log_dir, purge_step=None):
            assert log_dir == str(tmp_path)

        def add_scalar(self, tag, value, step):
            scalars.append((tag, value, step))

        def close(self):
            closed.append(True)

    fake = types.ModuleType("tensorboardX")
    fake.SummaryWriter = SummaryWriter
    monkeypatch.setitem(sys.modules, "torch", None)  # None in sys.modules makes import fail
    monkeypatch.setitem(sys.modules, "tensorboardX", fake)
    cfg = quiet(total_steps=40, eval_every=20, eval_episodes=1, log_every=10)
    train(SlipperyChain(), make_agent(), cfg, tmp_path, eval_env=SlipperyChain())
    tags = {tag for tag, _, _ in scalars}
    assert {"train/episode_return", "eval/return_mean", "train/loss"} <= tags
    loss_rows = [r for r in read_rows(tmp_path / "metrics.csv") if "loss" in r]
    assert [(value, step) for tag, value, step in scalars if tag == "train/loss"] == [
        (pytest.approx(r["loss"]), r["step"]) for r in loss_rows
    ]
    assert [r["step"] for r in loss_rows] == [10, 20, 30, 40]
    assert closed == [True]


def test_tensorboard_tags_are_grouped_into_train_and_eval(tmp_path, monkeypatch):
    import rl.loop

    class FakeWriter:
        def __init__(self):
            self.tags = set()

        def add_scalar(self, tag, value, step):
            self.tags.add(tag)

        def close(self):
            pass

    writer = FakeWriter()
    monkeypatch.setattr(rl.loop, "make_tensorboard_writer", lambda *args, **kwargs: writer)
    cfg = quiet(total_steps=40, eval_every=20, eval_episodes=1, log_every=10)
    train(SlipperyChain(), make_agent(), cfg, tmp_path, eval_env=SlipperyChain())
    columns = set().union(*read_rows(tmp_path / "metrics.csv"))
    assert {"episode", "time_s", "epsilon", "eval_length_mean"} <= columns
    assert writer.tags == {  # every column but the step, the episode counter and the time
        "train/episode_return", "train/episode_length", "train/loss", "train/epsilon",
        "eval/return_mean", "eval/return_std", "eval/length_mean", "eval/win_rate",
        "eval/mean_score",
    }


# --- the best checkpoint -------------------------------------------------------------------------


class PhasedAgent:
    """Its greedy policy changes with the steps it has trained: from step `start` on, each
    episode's first `phases[start]` moves are FixedLengthEnv's rewarding action 1."""

    def __init__(self, phases: dict[int, int], rng) -> None:
        self.phases, self.rng, self.steps = phases, rng, 0

    def act(self, obs, greedy: bool = False) -> int:
        if not greedy:
            return int(self.rng.integers(2))
        good_moves = self.phases[max(start for start in self.phases if start <= self.steps)]
        return int(obs < good_moves)

    def observe(self, obs, action, reward, next_obs, terminated, truncated):
        self.steps += 1
        return {}

    def state_dict(self):
        return {"steps": np.array(self.steps)}, {"rng": rng_state(self.rng)}

    def load_state_dict(self, arrays, meta):
        self.steps = int(arrays["steps"])
        set_rng_state(self.rng, meta["rng"])


# Greedy returns over FixedLengthEnv's 5 steps: about 0 before step 30, 2.5 from 30, 0.5 from 50.
PHASES = {0: 0, 30: 5, 50: 1}


def phased(phases=PHASES, **cfg):
    settings = dict(total_steps=100, eval_every=20, eval_episodes=20, checkpoint_every=20)
    return PhasedAgent(phases, make_rng(1)), quiet(**{**settings, **cfg})


def test_the_best_evaluation_is_kept_and_not_replaced_by_a_worse_one(tmp_path, capsys):
    agent, cfg = phased()
    history = train(FixedLengthEnv(), agent, cfg, tmp_path, eval_env=FixedLengthEnv())
    returns = {r["step"]: r["eval_return_mean"] for r in history.evaluations}
    assert returns[40] > 2 and all(returns[step] < 1 for step in (20, 60, 80, 100))
    assert history.best["step"] == 40 and history.best["return_mean"] == returns[40]
    out = capsys.readouterr().out
    assert "step 20: best evaluation so far (mean return 0 over 20 episodes)" in out
    assert f"step 40: best evaluation so far (mean return {returns[40]:.4g}" in out
    assert out.count("best evaluation so far") == 2  # the later, worse ones say nothing

    _, meta = load_checkpoint(tmp_path / "best.npz")
    assert meta["acting_only"] and meta["loop"] is None
    assert meta["best"] == history.best and meta["best"]["episodes"] == 20
    best = PhasedAgent(PHASES, make_rng(7))
    load_agent(tmp_path / "best.npz", best)
    assert best.steps == 40  # the agent as it was at that evaluation, not the last one
    again = evaluate(FixedLengthEnv(), best, 20, make_rng(0))
    assert again["return_mean"] > 2
    _, last = load_checkpoint(tmp_path / "checkpoint.npz")
    assert last["loop"]["best"] == history.best and not last["acting_only"]


def test_a_resumed_run_compares_with_the_best_before_it(tmp_path):
    agent, cfg = phased(total_steps=60)
    train(FixedLengthEnv(), agent, cfg, tmp_path, eval_env=FixedLengthEnv())
    # From step 70 on, better than the evaluation at 60 but worse than the best (40).
    agent, cfg = phased({**PHASES, 70: 3}, total_steps=100, resume=True)
    history = train(FixedLengthEnv(), agent, cfg, tmp_path, eval_env=FixedLengthEnv())
    returns = {r["step"]: r["eval_return_mean"] for r in history.evaluations}
    assert returns[60] < returns[80] < returns[40]
    assert history.best["step"] == 40
    _, meta = load_checkpoint(tmp_path / "best.npz")
    assert meta["best"]["step"] == 40


def test_between_equal_win_rates_the_return_decides():
    assert evaluation_rank({"win_rate": 0.9, "return_mean": 100.0}) > evaluation_rank(
        {"win_rate": 0.8, "return_mean": 400.0})
    assert evaluation_rank({"win_rate": 0.9, "return_mean": 120.0}) > evaluation_rank(
        {"win_rate": 0.9, "return_mean": 100.0})
    assert evaluation_rank({"return_mean": 3.0}) > evaluation_rank({"return_mean": 2.0})


def test_the_best_checkpoint_cannot_be_resumed(tmp_path):
    agent, cfg = phased()
    train(FixedLengthEnv(), agent, cfg, tmp_path, eval_env=FixedLengthEnv())
    message = r"best.npz is the best checkpoint \(step 40\).*cannot be resumed.*last checkpoint"
    with pytest.raises(CheckpointError, match=message):
        restore(tmp_path / "best.npz", PhasedAgent(PHASES, make_rng(0)), make_rng(0),
                FixedLengthEnv())
    (tmp_path / "best.npz").replace(tmp_path / "checkpoint.npz")  # passed off as the last one
    agent, cfg = phased(total_steps=120, resume=True)
    with pytest.raises(CheckpointError, match=r"checkpoint\.npz is the best checkpoint"):
        train(FixedLengthEnv(), agent, cfg, tmp_path, eval_env=FixedLengthEnv())


def test_a_loop_state_with_a_malformed_best_is_refused():
    with pytest.raises(ValueError, match="best must be an evaluation record"):
        LoopState(step=10, best={"step": 20, "return_mean": 1.0})  # after the state's step
    with pytest.raises(ValueError, match="best must be an evaluation record"):
        LoopState(step=10, best={"step": 5, "return_mean": math.nan})
    assert LoopState(step=10, best={"step": 5, "return_mean": 1.0}).best["step"] == 5
