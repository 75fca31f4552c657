"""Replay buffers: storage, wrap-around, n-step windows, prioritized sampling, checkpoints."""

import numpy as np
import pytest

from rl.prioritized import PrioritizedReplayBuffer, SumTree
from rl.replay import ReplayBuffer, stacked


def fill_episode(buffer, start, length, terminated=True, obs_dim=2):
    """Add an episode whose observation at step t is [start + t] * obs_dim, reward = start + t."""
    for t in range(length):
        obs = np.full(obs_dim, start + t, dtype=np.float32)
        next_obs = np.full(obs_dim, start + t + 1, dtype=np.float32)
        last = t == length - 1
        buffer.add(obs, t % 3, float(start + t), next_obs, last and terminated,
                   last and not terminated)


def all_transitions(buffer, rng, draws=4000):
    batch = buffer.sample(draws, rng)
    return batch


def test_one_step_transitions_are_stored_exactly():
    buffer = ReplayBuffer(50, (2,), np.float32)
    fill_episode(buffer, 0, 5, terminated=True)
    fill_episode(buffer, 100, 4, terminated=False)
    assert len(buffer) == 9
    batch = buffer.sample(2000, np.random.default_rng(0))
    # next_obs is always obs + 1 and reward equals obs in this synthetic data.
    np.testing.assert_array_equal(batch.next_obs, batch.obs + 1)
    np.testing.assert_array_equal(batch.reward, batch.obs[:, 0])
    assert set(batch.obs[:, 0].tolist()) == {0, 1, 2, 3, 4, 100, 101, 102, 103}
    last_of_first = batch.obs[:, 0] == 4
    assert np.all(batch.terminated[last_of_first] == 1) and np.all(batch.truncated == (
        batch.obs[:, 0] == 103))
    assert np.all(batch.terminated[~last_of_first] == 0)
    assert np.all(batch.discount == np.float32(0.99))
    assert np.all(batch.weights == 1.0)


def test_frames_are_shared_within_an_episode():
    buffer = ReplayBuffer(50, (2,), np.float32)
    fill_episode(buffer, 0, 5)
    fill_episode(buffer, 100, 5)
    # 5 transitions + 1 final frame per episode.
    assert buffer.size == 12


def test_wrap_around_keeps_only_the_newest_and_consistent_pairs():
    buffer = ReplayBuffer(16, (2,), np.float32)
    for episode in range(10):
        fill_episode(buffer, 1000 * episode, 7)
    assert buffer.size == 16
    batch = buffer.sample(3000, np.random.default_rng(1))
    np.testing.assert_array_equal(batch.next_obs, batch.obs + 1)
    episodes = set((batch.obs[:, 0] // 1000).astype(int).tolist())
    assert episodes <= {7, 8, 9} and 9 in episodes
    # 16 slots hold at most two full 8-slot episodes (7 transitions + final frame each).
    assert len(buffer) <= 14


def test_uint8_observations_stay_uint8_and_bits_pack():
    rng = np.random.default_rng(2)
    plain = ReplayBuffer(100, (5, 6, 3), np.uint8)
    packed = ReplayBuffer(100, (5, 6, 3), np.uint8, pack_bits=True)
    observations = rng.integers(0, 2, size=(21, 5, 6, 3), dtype=np.uint8)
    for t in range(20):
        for buffer in (plain, packed):
            buffer.add(observations[t], 1, 0.0, observations[t + 1], t == 19, False)
    assert plain.frames.dtype == np.uint8
    assert packed.frames.nbytes * 7 < plain.frames.nbytes
    batch_plain = plain.sample(64, np.random.default_rng(3))
    batch_packed = packed.sample(64, np.random.default_rng(3))
    assert batch_plain.obs.dtype == np.uint8 and batch_packed.obs.dtype == np.uint8
    np.testing.assert_array_equal(batch_plain.obs, batch_packed.obs)
    np.testing.assert_array_equal(batch_plain.next_obs, batch_packed.next_obs)
    with pytest.raises(ValueError, match="0/1"):
        packed.add(observations[0] * 3, 0, 0.0, observations[1], False, False)


def test_wrong_observation_shape_is_a_clear_error():
    buffer = ReplayBuffer(10, (4,))
    with pytest.raises(ValueError, match="shape"):
        buffer.add(np.zeros(3), 0, 0.0, np.zeros(3), False, False)


def test_n_step_returns_by_hand():
    gamma = 0.5
    buffer = ReplayBuffer(64, (2,), np.float32, n_step=3, gamma=gamma)
    fill_episode(buffer, 0, 5, terminated=True)  # rewards 0,1,2,3,4; terminal after obs 4
    fill_episode(buffer, 10, 2, terminated=False)  # rewards 10, 11; truncated after obs 11
    batch = buffer.sample(3000, np.random.default_rng(4))
    expected = {
        # obs: (reward sum, next obs, terminated, truncated, discount)
        0: (0 + 0.5 * 1 + 0.25 * 2, 3, 0, 0, 0.125),
        1: (1 + 0.5 * 2 + 0.25 * 3, 4, 0, 0, 0.125),
        2: (2 + 0.5 * 3 + 0.25 * 4, 5, 1, 0, 0.125),
        3: (3 + 0.5 * 4, 5, 1, 0, 0.25),
        4: (4.0, 5, 1, 0, 0.5),
        10: (10 + 0.5 * 11, 12, 0, 1, 0.25),
        11: (11.0, 12, 0, 1, 0.5),
    }
    seen = set()
    for i in range(len(batch.obs)):
        start = int(batch.obs[i, 0])
        seen.add(start)
        reward, next_obs, terminated, truncated, discount = expected[start]
        assert batch.reward[i] == pytest.approx(reward)
        assert batch.next_obs[i, 0] == next_obs
        assert (batch.terminated[i], batch.truncated[i]) == (terminated, truncated)
        assert batch.discount[i] == pytest.approx(discount)
    assert seen == set(expected)


def test_n_step_window_waits_for_future_steps():
    buffer = ReplayBuffer(64, (2,), np.float32, n_step=3)
    buffer.add(np.zeros(2), 0, 1.0, np.ones(2), False, False)
    buffer.add(np.ones(2), 0, 1.0, np.full(2, 2.0), False, False)
    assert len(buffer) == 0  # neither window has its 3 steps nor an episode end yet
    buffer.add(np.full(2, 2.0), 0, 1.0, np.full(2, 3.0), False, False)
    assert len(buffer) == 1


def test_a_non_continuing_obs_starts_a_new_segment():
    buffer = ReplayBuffer(64, (2,), np.float32, n_step=2, gamma=1.0)
    buffer.add(np.zeros(2), 0, 1.0, np.ones(2), False, False)
    buffer.add(np.full(2, 7.0), 0, 5.0, np.full(2, 8.0), False, False)  # not obs == [1, 1]
    batch = buffer.sample(200, np.random.default_rng(0))
    first = batch.obs[:, 0] == 0
    assert first.any()
    assert np.all(batch.reward[first] == 1.0) and np.all(batch.next_obs[first, 0] == 1.0)


@pytest.mark.parametrize("buffer_cls", [ReplayBuffer, PrioritizedReplayBuffer])
def test_len_counts_the_ready_slots_through_episode_ends_wrap_around_and_reload(buffer_cls):
    """len() is kept up to date as slots turn ready or are overwritten, not summed per call:
    it equals the ready slots after every add (episodes that end, are cut off, or do not
    continue; a buffer that wraps around several times) and after a checkpoint is loaded."""
    rng = np.random.default_rng(3)
    buffer = buffer_cls(23, (2,), np.float32, n_step=3)
    for t in range(120):
        continues = rng.random() < 0.8
        obs = np.full(2, t, dtype=np.float32) if continues else rng.random(2).astype(np.float32)
        buffer.add(obs, 0, 1.0, np.full(2, t + 1, dtype=np.float32), rng.random() < 0.1,
                   rng.random() < 0.05)
        assert len(buffer) == np.count_nonzero(buffer.ready)
    arrays, meta = buffer.state_dict()
    clone = buffer_cls(23, (2,), np.float32, n_step=3)
    clone.load_state_dict(arrays, meta)
    assert len(clone) == len(buffer) > 0


def test_sampling_is_reproducible_with_the_same_rng():
    buffer = ReplayBuffer(64, (2,), np.float32)
    fill_episode(buffer, 0, 30)
    first = buffer.sample(16, np.random.default_rng(9))
    second = buffer.sample(16, np.random.default_rng(9))
    np.testing.assert_array_equal(first.indices, second.indices)


def test_empty_buffer_sampling_is_a_clear_error():
    with pytest.raises(ValueError, match="no complete transition"):
        ReplayBuffer(10, (2,)).sample(4, np.random.default_rng(0))


def test_state_dict_round_trip_continues_identically():
    rng_data = np.random.default_rng(5)
    buffer = ReplayBuffer(40, (3,), np.float32, n_step=2)
    for t in range(55):
        buffer.add(rng_data.random(3), t % 2, 1.0, rng_data.random(3), t % 9 == 8, False)
    arrays, meta = buffer.state_dict()
    clone = ReplayBuffer(40, (3,), np.float32, n_step=2)
    clone.load_state_dict(arrays, meta)
    for buf in (buffer, clone):
        buf.add(np.zeros(3), 0, 2.0, np.ones(3), False, False)
    a, b = buffer.sample(32, np.random.default_rng(6)), clone.sample(32, np.random.default_rng(6))
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    with pytest.raises(ValueError, match="n_step"):
        ReplayBuffer(40, (3,), np.float32, n_step=3).load_state_dict(arrays, meta)


def test_memory_report_names_the_size():
    buffer = ReplayBuffer(1000, (11, 20, 6), np.uint8, pack_bits=True)
    assert buffer.nbytes < 1000 * 200
    assert "MiB" in buffer.memory_report()


# --- prioritized replay ---


def test_sum_tree_updates_one_leaf_or_many_to_the_sums_of_its_leaves():
    # One leaf walks up in plain Python, many leaves a level at a time with repeated parents:
    # both leave every inner node exactly the sum of its children, as a rebuild computes it.
    rng = np.random.default_rng(3)
    tree = SumTree(300)
    for _ in range(200):
        size = int(rng.choice([1, 1, 5, 32]))
        tree.update(rng.integers(0, 300, size=size), rng.random(size))
        if rng.random() < 0.1:
            tree.update(np.array([int(rng.integers(0, 300))]), np.array([0.0]))
    rebuilt = SumTree(300)
    rebuilt.nodes[rebuilt.leaf_offset:] = tree.nodes[tree.leaf_offset:]
    rebuilt.rebuild()
    np.testing.assert_array_equal(tree.nodes, rebuilt.nodes)
    assert tree.total == rebuilt.total > 0


def test_sum_tree_matches_a_cumulative_sum_search():
    rng = np.random.default_rng(7)
    tree = SumTree(37)
    priorities = rng.random(37)
    priorities[[3, 10]] = 0.0
    tree.update(np.arange(37), priorities)
    assert tree.total == pytest.approx(priorities.sum())
    values = rng.random(500) * priorities.sum()
    expected = np.searchsorted(np.cumsum(priorities), values, side="right")
    np.testing.assert_array_equal(tree.find(values), expected)
    tree.update(np.array([5, 5, 6]), np.array([2.0, 3.0, 0.5]))
    priorities[5], priorities[6] = 3.0, 0.5
    assert tree.total == pytest.approx(priorities.sum())


def test_prioritized_sampling_follows_priorities_and_weights():
    buffer = PrioritizedReplayBuffer(64, (2,), np.float32, alpha=1.0, epsilon=0.0)
    fill_episode(buffer, 0, 4)  # four transitions, obs 0..3
    buffer.update_priorities(np.array([0, 1, 2, 3]), np.array([1.0, 1.0, 1.0, 5.0]))
    batch = buffer.sample(8000, np.random.default_rng(8), beta=1.0)
    share_of_last = np.mean(batch.obs[:, 0] == 3)
    assert share_of_last == pytest.approx(5 / 8, abs=0.02)
    # w ∝ 1/P: the frequent transition gets the smallest weight; max weight is 1.
    assert batch.weights.max() == pytest.approx(1.0)
    assert np.all(batch.weights[batch.obs[:, 0] == 3] == pytest.approx(0.2))
    assert 0 not in buffer.tree.leaves(np.arange(4)).tolist()
    assert buffer.tree.leaves(np.array([4]))[0] == 0.0  # the final frame is never sampled


def test_prioritized_state_dict_round_trip():
    buffer = PrioritizedReplayBuffer(32, (2,), np.float32)
    fill_episode(buffer, 0, 10)
    buffer.update_priorities(np.arange(10), np.linspace(0.1, 3.0, 10))
    arrays, meta = buffer.state_dict()
    clone = PrioritizedReplayBuffer(32, (2,), np.float32)
    clone.load_state_dict(arrays, meta)
    assert clone.tree.total == pytest.approx(buffer.tree.total)
    a = buffer.sample(16, np.random.default_rng(1))
    b = clone.sample(16, np.random.default_rng(1))
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.weights, b.weights)


@pytest.mark.parametrize("buffer_cls", [ReplayBuffer, PrioritizedReplayBuffer])
def test_action_masks_travel_with_their_frames_to_the_next_obs(buffer_cls):
    """Each frame keeps the legal actions of its observation; a sample's next_mask is the one of
    the observation it bootstraps from (n steps on), also across a shared frame and a save."""
    buffer = buffer_cls(64, (1,), n_step=2, gamma=0.9, n_actions=3)
    masks = [np.array([1, t % 2, 1], np.uint8) for t in range(6)]  # action 1 legal at odd t
    for t in range(5):
        buffer.add([t], 0, 1.0, [t + 1], t == 4, False, mask=masks[t], next_mask=masks[t + 1])
    rng = np.random.default_rng(0)
    for _ in range(20):
        batch = buffer.sample(8, rng)
        starts = batch.obs[:, 0].astype(int)
        nexts = batch.next_obs[:, 0].astype(int)
        np.testing.assert_array_equal(nexts, np.minimum(starts + 2, 5))
        np.testing.assert_array_equal(batch.next_mask, np.stack([masks[t] for t in nexts]) > 0)
    arrays, meta = buffer.state_dict()
    restored = buffer_cls(64, (1,), n_step=2, gamma=0.9, n_actions=3)
    restored.load_state_dict(arrays, meta)
    np.testing.assert_array_equal(restored.masks[:buffer.size], buffer.masks[:buffer.size])
    plain = buffer_cls(64, (1,), n_step=2, gamma=0.9)
    assert plain.masks is None
    with pytest.raises(ValueError, match="action masks"):
        plain.load_state_dict(arrays, meta)
    with pytest.raises(ValueError, match="one entry per action"):
        buffer.add([9], 0, 0.0, [10], False, False, mask=[1, 1], next_mask=[1, 1, 1])


def test_stacked_is_the_sampled_obs_and_next_obs_without_a_copy():
    """A sample decodes obs and next_obs as the two halves of one array, which `stacked` hands
    back as it is (a DQN update's one pass over both); other batches are concatenated."""
    buffer = ReplayBuffer(32, (2, 3, 4), obs_dtype=bool, n_step=2, pack_bits=True)
    rng = np.random.default_rng(0)
    frames = rng.random((9, 2, 3, 4)) < 0.5
    for t in range(8):
        buffer.add(frames[t], t % 3, 1.0, frames[t + 1], t == 7, False)
    batch = buffer.sample(5, rng)
    both = stacked(batch)
    np.testing.assert_array_equal(both, np.concatenate([batch.obs, batch.next_obs]))
    assert np.shares_memory(both, batch.obs) and np.shares_memory(both, batch.next_obs)
    apart = batch._replace(obs=batch.obs.copy())  # no longer a half of one array
    np.testing.assert_array_equal(stacked(apart), both)
    assert not np.shares_memory(stacked(apart), apart.obs)
