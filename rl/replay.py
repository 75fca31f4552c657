"""Experience replay: a preallocated circular buffer of transitions, with n-step returns.

Layout. Observations are stored once, as a ring of *frames*: the transition in slot i is
(frames[i], action[i], reward[i]) and its next observation is frames[i + 1]. When the next call
to `add` continues the same episode (its `obs` equals the previous `next_obs`, the usual case),
that frame is shared, so a transition costs one observation instead of two; at an episode end
the final `next_obs` occupies a slot of its own that is never sampled as a transition start.
A buffer built with `n_actions` also keeps each frame's action mask (the legal actions,
Gymnasium's info["action_mask"]), so a sample says which actions its next_obs allows.
This halves the memory of the obvious (obs, next_obs) layout without losing the true final
observation of a truncated episode, which the bootstrap of a time-limit cut needs.

Observations keep their own dtype (uint8 grids stay uint8). With `pack_bits=True`, 0/1
observations (the Pac-Man grid channels) are packed 8 per byte with np.packbits, which makes a
1,000,000-transition buffer of an 11x20x6 grid about 165 MB instead of 1.3 GB.

n-step returns (Sutton & Barto 2018, eq. 7.1) are computed at sampling time from the consecutive
slots: R = r_t + γ r_{t+1} + ... + γ^{k-1} r_{t+k-1}, stopping early (k < n) at the end of an
episode, with the bootstrap discount γ^k returned per sample. Only `terminated` stops the
bootstrap; a truncation ends the sum but the target still bootstraps from the last observation.
"""

from __future__ import annotations

import os
from collections import deque
from typing import NamedTuple

import numpy as np

EMPTY_BUFFER = "the replay buffer holds no complete transition yet; add more first"


class Batch(NamedTuple):
    """A sampled minibatch; arrays share the leading batch dimension B."""

    obs: np.ndarray  # (B, *obs_shape), stored dtype
    action: np.ndarray  # (B,) int64
    reward: np.ndarray  # (B,) float32, the n-step discounted reward sum
    next_obs: np.ndarray  # (B, *obs_shape): the observation the target bootstraps from
    terminated: np.ndarray  # (B,) float32, 1.0 when the window reached a true terminal state
    truncated: np.ndarray  # (B,) float32, 1.0 when the window ended by a time-limit cut
    discount: np.ndarray  # (B,) float32, γ^k: the factor in front of the bootstrapped value
    indices: np.ndarray  # (B,) int64 slots, to update priorities
    weights: np.ndarray  # (B,) float32 importance-sampling weights (all 1 for uniform replay)
    # (B, n_actions) bool: the actions legal in next_obs, for a buffer that keeps action masks.
    next_mask: np.ndarray | None = None
    # (B, n_actions) bool: the actions legal in obs (same condition).
    mask: np.ndarray | None = None


def stacked(batch: Batch) -> np.ndarray:
    """np.concatenate([batch.obs, batch.next_obs]), without the copy when they are the two
    halves of one array (as ReplayBuffer.sample decodes them): a DQN update runs its two
    networks over both in one pass."""
    whole = batch.obs.base
    if (whole is not None and batch.next_obs.base is whole
            and whole.shape == (len(batch.obs) + len(batch.next_obs), *batch.obs.shape[1:])
            and whole.flags.c_contiguous and batch.obs.ctypes.data == whole.ctypes.data
            and batch.next_obs.ctypes.data == whole.ctypes.data + batch.obs.nbytes):
        return whole
    return np.concatenate([batch.obs, batch.next_obs])


# Bytes per slot besides the frame: action (int64), reward (float32), four flags.
_SLOT_BYTES = 8 + 4 + 4


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX: no check
        return None


def _too_large(capacity: int, needed: int, why: str) -> str:
    return (f"a replay buffer of {capacity:,} transitions needs {needed:,} bytes "
            f"({needed / 2**30:.1f} GiB), {why}: lower --buffer-size")


def _check_memory(capacity: int, needed: int) -> None:
    """Raise MemoryError, saying how much is needed, for a buffer larger than the machine."""
    memory = _physical_memory()
    if memory is not None and needed > memory:
        raise MemoryError(_too_large(capacity, needed,
                                     f"more than this machine's {memory / 2**30:.1f} GiB"))


class ReplayBuffer:
    """Uniform replay over the last `capacity` stored frames (see the module docstring)."""

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        obs_dtype: np.dtype | type = np.float32,
        n_step: int = 1,
        gamma: float = 0.99,
        pack_bits: bool = False,
        n_actions: int | None = None,
    ) -> None:
        if n_step < 1:
            raise ValueError(f"n_step must be >= 1, got {n_step}")
        if capacity < 2 * n_step + 2:
            raise ValueError(f"capacity {capacity} is too small for n_step={n_step}")
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {gamma}")
        self.capacity = int(capacity)
        self.obs_shape = tuple(int(d) for d in obs_shape)
        self.obs_dtype = np.dtype(obs_dtype)
        self.n_step = int(n_step)
        self.gamma = float(gamma)
        self.pack_bits = bool(pack_bits)
        self.n_actions = None if n_actions is None else int(n_actions)
        self.obs_size = int(np.prod(self.obs_shape))
        frame_bytes = (self.obs_size + 7) // 8 if self.pack_bits else (
            self.obs_size * self.obs_dtype.itemsize)
        # np.zeros reserves memory lazily: a buffer larger than the machine would be "allocated"
        # now and kill the run by running out of memory hours later. Refuse it up front.
        slot_bytes = _SLOT_BYTES + (self.n_actions or 0)
        _check_memory(self.capacity, self.capacity * (frame_bytes + slot_bytes))
        try:
            if self.pack_bits:
                frame_shape: tuple[int, ...] = ((self.obs_size + 7) // 8,)
                self.frames = np.zeros((self.capacity, *frame_shape), dtype=np.uint8)
            else:
                self.frames = np.zeros((self.capacity, *self.obs_shape), dtype=self.obs_dtype)
            self.action = np.zeros(self.capacity, dtype=np.int64)
            self.reward = np.zeros(self.capacity, dtype=np.float32)
            self.terminated = np.zeros(self.capacity, dtype=bool)
            self.truncated = np.zeros(self.capacity, dtype=bool)
            # segment_end: the n-step window stops after this slot (terminated, truncated, or
            # the next add did not continue from this next_obs).
            self.segment_end = np.zeros(self.capacity, dtype=bool)
            # ready: slot i starts a transition whose whole n-step window is stored.
            self.ready = np.zeros(self.capacity, dtype=bool)
            self.ready_count = 0  # ready.sum(), kept up to date (a sum per sample cost 0.15 ms)
            # masks[i]: the actions legal in frames[i] (only with n_actions).
            self.masks = (None if self.n_actions is None
                          else np.ones((self.capacity, self.n_actions), dtype=bool))
        except MemoryError:
            raise MemoryError(_too_large(self.capacity, self.capacity * (frame_bytes + slot_bytes),
                                         "more than can be allocated here")) from None
        self.head = 0  # next slot to write
        self.size = 0  # slots written so far, up to capacity
        self.num_added = 0  # transitions added over the buffer's life
        self._last_frame: int | None = None  # slot of the previous next_obs if it may continue
        self._pending: deque[int] = deque()  # transitions whose n-step window is still open
        # Constants of sampling: the offsets of an n-step window, γ^i for the rewards in it
        # (float64, summed before rounding to float32), and the bootstrap discounts γ^k.
        self._window_offsets = np.arange(self.n_step)
        self._powers = self.gamma ** np.arange(self.n_step, dtype=np.float64)
        self._discounts = (self.gamma ** np.arange(self.n_step + 1)).astype(np.float32)

    # -- storing --

    def _encode(self, obs) -> np.ndarray:
        obs = np.asarray(obs)
        if obs.shape != self.obs_shape:
            raise ValueError(
                f"observation has shape {obs.shape}, the buffer stores {self.obs_shape}; "
                "build the buffer from the environment's observation_space.shape"
            )
        if self.pack_bits:
            if obs.dtype != np.bool_ and (obs.min() < 0 or obs.max() > 1):
                raise ValueError("pack_bits=True needs 0/1 observations; got values outside {0,1}")
            return np.packbits(obs.reshape(-1).astype(bool))
        return obs

    def _write_frame(self, frame: np.ndarray, mask=None) -> int:
        slot = self.head
        self.frames[slot] = frame
        if self.masks is not None:
            self.masks[slot] = True if mask is None else self._check_mask(mask)
        # Whatever transition lived here is overwritten; it can no longer be sampled.
        self._set_ready(np.array([slot]), False)
        self.segment_end[slot] = False
        self.head = (self.head + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)
        return slot

    def _set_ready(self, slots: np.ndarray, value: bool) -> None:
        """Mark slots (distinct) sampleable or not; the prioritized buffer also updates its tree
        here."""
        self.ready_count += (len(slots) if value else 0) - np.count_nonzero(self.ready[slots])
        self.ready[slots] = value

    def _check_mask(self, mask) -> np.ndarray:
        mask = np.asarray(mask)
        if mask.shape != (self.n_actions,):
            raise ValueError(f"action mask has shape {mask.shape}, expected ({self.n_actions},): "
                             "one entry per action, 1 where the action is legal")
        return mask.astype(bool)

    def add(self, obs, action: int, reward: float, next_obs, terminated: bool,
            truncated: bool, mask=None, next_mask=None) -> None:
        """Store one transition (Gymnasium's step outputs; the action masks of obs and next_obs
        when the buffer keeps them, all actions legal when not given)."""
        frame = self._encode(obs)
        previous = self._last_frame
        if previous is not None and np.array_equal(self.frames[previous], frame):
            slot = previous  # the same episode goes on: reuse the stored next_obs frame
        else:
            if previous is not None:
                # Not a continuation (the caller skipped or restarted): close the open window.
                self.segment_end[(previous - 1) % self.capacity] = True
                self._flush_pending()
            slot = self._write_frame(frame, mask)
        self.action[slot] = int(action)
        self.reward[slot] = float(reward)
        self.terminated[slot] = bool(terminated)
        self.truncated[slot] = bool(truncated)
        self.segment_end[slot] = bool(terminated or truncated)
        self._write_frame(self._encode(next_obs), next_mask)
        self.num_added += 1
        self._pending.append(slot)
        if terminated or truncated:
            self._flush_pending()
            self._last_frame = None
        else:
            if len(self._pending) == self.n_step:
                self._set_ready(np.array([self._pending.popleft()]), True)
            self._last_frame = (slot + 1) % self.capacity

    def _flush_pending(self) -> None:
        if self._pending:
            self._set_ready(np.array(self._pending), True)
            self._pending.clear()

    def __len__(self) -> int:
        """Number of transitions that can be sampled now."""
        return self.ready_count

    # -- sampling --

    def _sample_slots(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """Uniform over ready slots, by rejection (nearly every stored slot is ready)."""
        if self.size == 0:
            raise ValueError(EMPTY_BUFFER)
        slots = rng.integers(0, self.size, size=batch_size)
        ready = self.ready[slots]
        while not ready.all():  # redraw only the misses (the final frames of episodes)
            # Scan the whole buffer only when no drawn slot was ready: is any ready at all?
            if not ready.any() and not self.ready.any():
                raise ValueError(EMPTY_BUFFER)
            misses = np.flatnonzero(~ready)
            slots[misses] = rng.integers(0, self.size, size=len(misses))
            ready[misses] = self.ready[slots[misses]]
        return slots

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        """A uniform minibatch of `batch_size` n-step transitions (with replacement)."""
        slots = self._sample_slots(batch_size, rng)
        return self._gather(slots, np.ones(batch_size, dtype=np.float32))

    def _gather(self, slots: np.ndarray, weights: np.ndarray) -> Batch:
        n = self.n_step
        if n == 1:  # one-step transitions need none of the window arithmetic below
            steps, last, rewards = np.ones(len(slots), np.int64), slots, self.reward[slots]
        else:
            window = slots[:, None] + self._window_offsets  # (B, n)
            window %= self.capacity
            ends = self.segment_end[window]
            # Steps after the first segment end do not belong to this transition.
            after_end = np.cumsum(ends, axis=1) - ends > 0
            steps = n - after_end.sum(axis=1)  # k in 1..n
            rewards = np.where(after_end, 0.0, self.reward[window]) @ self._powers
            last = (slots + steps - 1) % self.capacity
        next_slot = (last + 1) % self.capacity
        # obs and next_obs decoded as one array, whose halves they are (see `stacked`).
        both = self._decode(self.frames[np.concatenate([slots, next_slot])])
        return Batch(
            obs=both[: len(slots)],
            action=self.action[slots],
            reward=rewards.astype(np.float32),
            next_obs=both[len(slots) :],
            terminated=self.terminated[last].astype(np.float32),
            truncated=self.truncated[last].astype(np.float32),
            discount=self._discounts[steps],
            indices=slots.astype(np.int64),
            weights=weights.astype(np.float32),
            next_mask=None if self.masks is None else self.masks[next_slot],
            mask=None if self.masks is None else self.masks[slots],
        )

    def _decode(self, frames: np.ndarray) -> np.ndarray:
        if not self.pack_bits:
            return frames
        bits = np.unpackbits(frames, axis=1, count=self.obs_size)
        return bits.reshape(len(frames), *self.obs_shape).astype(self.obs_dtype, copy=False)

    # -- memory and checkpoints --

    @property
    def nbytes(self) -> int:
        """Bytes held by the preallocated arrays."""
        arrays = (self.frames, self.action, self.reward, self.terminated, self.truncated,
                  self.segment_end, self.ready, self.masks)
        return int(sum(a.nbytes for a in arrays if a is not None))

    def memory_report(self) -> str:
        """One line: capacity, storage dtype and total size."""
        kind = "bit-packed" if self.pack_bits else str(self.obs_dtype)
        return (f"replay buffer: {self.capacity:,} slots of {self.obs_shape} ({kind}), "
                f"{self.nbytes / 2**20:.1f} MiB")

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict]:
        """Arrays (the stored part only) and JSON-able meta, to save with a checkpoint."""
        n = self.size
        arrays = {
            "frames": self.frames[:n], "action": self.action[:n], "reward": self.reward[:n],
            "terminated": self.terminated[:n], "truncated": self.truncated[:n],
            "segment_end": self.segment_end[:n], "ready": self.ready[:n],
        }
        if self.masks is not None:
            arrays["masks"] = self.masks[:n]
        meta = {
            "capacity": self.capacity, "obs_shape": list(self.obs_shape),
            "obs_dtype": self.obs_dtype.str, "n_step": self.n_step, "gamma": self.gamma,
            "pack_bits": self.pack_bits, "head": self.head, "size": self.size,
            "num_added": self.num_added, "last_frame": self._last_frame,
            "pending": list(self._pending),
        }
        return arrays, meta

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        """Restore a `state_dict()` into a buffer built with the same settings."""
        expected = {
            "capacity": self.capacity, "obs_shape": list(self.obs_shape),
            "obs_dtype": self.obs_dtype.str, "n_step": self.n_step, "pack_bits": self.pack_bits,
        }
        names = ["frames", "action", "reward", "terminated", "truncated", "segment_end", "ready"]
        if self.masks is not None:
            names.append("masks")
        for key, value in expected.items():
            if meta.get(key) != value:
                raise ValueError(
                    f"replay checkpoint has {key}={meta.get(key)!r}, this buffer {value!r}; "
                    "build the buffer with the checkpoint's settings"
                )
        n, head = int(meta["size"]), int(meta["head"])
        if not (0 <= n <= self.capacity and 0 <= head < self.capacity):
            raise ValueError(f"replay checkpoint has size {n} / head {head} outside its capacity "
                             f"{self.capacity}")
        if (self.masks is None) != ("masks" not in arrays):
            raise ValueError("replay checkpoint and this buffer disagree on keeping action masks; "
                             "build the buffer with the checkpoint's settings (action_mask)")
        for name in names:
            target = getattr(self, name)
            if name not in arrays or arrays[name].shape != (n, *target.shape[1:]):
                raise ValueError(f"replay checkpoint array {name!r} is missing or misshapen")
            target[:n] = arrays[name]
            target[n:] = 0
        self.head, self.size = int(meta["head"]), n
        self.ready_count = int(np.count_nonzero(self.ready))
        self.num_added = int(meta["num_added"])
        self._last_frame = meta["last_frame"]
        self._pending = deque(int(s) for s in meta["pending"])
        self._after_load()

    def _after_load(self) -> None:
        """Hook for subclasses that keep derived structures (the priority tree)."""
