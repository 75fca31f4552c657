"""Proportional prioritized replay (Schaul et al., 2016) on a sum tree.

A transition i is sampled with probability P(i) = p_i^α / Σ_k p_k^α, where p_i = |δ_i| + ε is
its last TD error. New transitions get the largest priority seen so far, so each is replayed at
least about once. The bias of non-uniform sampling is corrected by importance-sampling weights
w_i = (N · P(i))^(-β) / max_j w_j, with β annealed towards 1 over training (paper, section 3.4);
here the maximum is taken over the sampled batch, which keeps the weights in (0, 1].
"""

from __future__ import annotations

import numpy as np

from rl.replay import EMPTY_BUFFER, Batch, ReplayBuffer


class SumTree:
    """A complete binary tree whose leaves hold priorities and inner nodes their sums.

    Stored in one array: node 1 is the root, node k has children 2k and 2k+1, and leaf i is
    node `leaf_offset + i`. Updates and searches walk one level per step for the whole batch
    at once, so a batch costs O(B log N) NumPy work rather than B Python loops.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = int(capacity)
        self.leaf_offset = 1 << max(0, (self.capacity - 1).bit_length())
        self.depth = self.leaf_offset.bit_length() - 1
        self.nodes = np.zeros(2 * self.leaf_offset, dtype=np.float64)

    @property
    def total(self) -> float:
        return float(self.nodes[1])

    def leaves(self, indices: np.ndarray) -> np.ndarray:
        return self.nodes[self.leaf_offset + np.asarray(indices)]

    def update(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        """Set leaves `indices` to `priorities` (a repeated index keeps its last value)."""
        nodes = self.leaf_offset + np.asarray(indices, dtype=np.int64)
        self.nodes[nodes] = priorities
        if len(nodes) == 1:
            # One leaf (a transition stored: twice every env step): walk up in plain Python,
            # a few times faster than a level of array calls on one element.
            tree, node = self.nodes, int(nodes[0]) // 2
            while node:
                tree[node] = tree[2 * node] + tree[2 * node + 1]
                node //= 2
            return
        for _ in range(self.depth):
            # Leaves sharing a parent repeat it; each copy is set to the same sum, so no unique.
            nodes = nodes // 2
            self.nodes[nodes] = self.nodes[2 * nodes] + self.nodes[2 * nodes + 1]

    def find(self, values: np.ndarray) -> np.ndarray:
        """Leaf index i for each value v in [0, total): Σ_{k<i} p_k <= v < Σ_{k<=i} p_k."""
        values = np.array(values, dtype=np.float64)
        nodes = np.ones(len(values), dtype=np.int64)
        for _ in range(self.depth):
            nodes *= 2  # the left child
            left = self.nodes[nodes]
            go_right = values >= left
            np.subtract(values, left, out=values, where=go_right)
            nodes += go_right
        return nodes - self.leaf_offset

    def rebuild(self) -> None:
        """Recompute every inner node from the leaves (after loading)."""
        for level in range(self.depth - 1, -1, -1):
            start = 1 << level
            nodes = np.arange(start, 2 * start)
            self.nodes[nodes] = self.nodes[2 * nodes] + self.nodes[2 * nodes + 1]


class PrioritizedReplayBuffer(ReplayBuffer):
    """ReplayBuffer whose `sample` draws proportionally to priority and returns IS weights."""

    def __init__(self, capacity: int, obs_shape: tuple[int, ...],
                 obs_dtype: np.dtype | type = np.float32, n_step: int = 1, gamma: float = 0.99,
                 pack_bits: bool = False, alpha: float = 0.6, epsilon: float = 1e-6,
                 n_actions: int | None = None) -> None:
        if alpha < 0:
            raise ValueError(f"priority exponent alpha must be >= 0, got {alpha}")
        self.tree = SumTree(capacity)
        self.alpha = float(alpha)
        self.epsilon = float(epsilon)
        self.max_priority = 1.0  # p^α given to new transitions
        super().__init__(capacity, obs_shape, obs_dtype, n_step, gamma, pack_bits, n_actions)

    def _set_ready(self, slots: np.ndarray, value: bool) -> None:
        super()._set_ready(slots, value)
        # Only ready slots carry probability mass, so the tree never returns a partial window.
        self.tree.update(slots, np.full(len(slots), self.max_priority if value else 0.0))

    def sample(self, batch_size: int, rng: np.random.Generator, beta: float = 0.4) -> Batch:
        """Stratified proportional sample: one draw in each of `batch_size` equal mass bands."""
        total = self.tree.total
        if total <= 0.0:
            raise ValueError(EMPTY_BUFFER)
        bounds = total * (np.arange(batch_size) + rng.random(batch_size)) / batch_size
        slots = self.tree.find(np.minimum(bounds, np.nextafter(total, 0.0)))
        priorities = self.tree.leaves(slots)
        # Rounding can land on an empty leaf at a band edge; redraw those uniformly from ready.
        bad = priorities <= 0.0
        if bad.any():
            slots[bad] = super()._sample_slots(int(bad.sum()), rng)
            priorities = self.tree.leaves(slots)
        probabilities = priorities / total
        weights = (len(self) * probabilities) ** (-beta)
        return self._gather(slots, weights / weights.max())

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray) -> None:
        """Set p_i = (|δ_i| + ε)^α for the sampled slots that are still stored and ready."""
        indices = np.asarray(indices, dtype=np.int64)
        priorities = (np.abs(np.asarray(td_errors, dtype=np.float64)) + self.epsilon) ** self.alpha
        keep = self.ready[indices]
        self.tree.update(indices[keep], priorities[keep])
        if keep.any():
            self.max_priority = max(self.max_priority, float(priorities[keep].max()))

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict]:
        arrays, meta = super().state_dict()
        arrays["priorities"] = self.tree.leaves(np.arange(self.size))
        meta["max_priority"] = self.max_priority
        meta["alpha"] = self.alpha
        return arrays, meta

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        self._loaded_priorities = arrays.get("priorities")
        if self._loaded_priorities is None or len(self._loaded_priorities) != int(meta["size"]):
            raise ValueError("prioritized replay checkpoint lacks a matching 'priorities' array")
        self.max_priority = float(meta["max_priority"])
        super().load_state_dict(arrays, meta)

    def _after_load(self) -> None:
        self.tree.nodes[:] = 0.0
        leaves = self.tree.leaf_offset + np.arange(self.size)
        self.tree.nodes[leaves] = self._loaded_priorities
        self.tree.rebuild()
        del self._loaded_priorities
