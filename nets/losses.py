"""Losses: `forward(pred, target, weights=None) -> float` then `backward() -> dpred`.

`weights` (shape (N,)) multiplies each sample's loss, e.g. the importance-sampling weights of
prioritized replay; the batch reduction stays a division by N. `backward` returns the gradient
of the float that `forward` returned. A NaN/Inf loss raises NonFiniteLossError.
"""

import numpy as np

from nets.errors import ShapeError, check_finite

__all__ = ["MSE", "Huber", "Loss", "QuantileHuber", "SoftmaxCrossEntropy", "SumSquares",
           "check_finite"]


class Loss:
    """Shared checks and per-sample weighting."""

    def _setup(self, pred: np.ndarray, target: np.ndarray, weights: np.ndarray | None) -> None:
        self.n = len(pred)
        if weights is None:
            self.weights = None
            return
        weights = np.asarray(weights, dtype=pred.dtype)
        if weights.shape != (self.n,):
            raise ShapeError(
                f"{type(self).__name__} expected weights of shape ({self.n},), "
                f"received {weights.shape}"
            )
        # Broadcast a per-sample weight over the sample's other dimensions.
        self.weights = weights.reshape((self.n,) + (1,) * (pred.ndim - 1))

    def _weighted(self, elementwise: np.ndarray) -> np.ndarray:
        return elementwise if self.weights is None else elementwise * self.weights

    @staticmethod
    def _same_shape(name: str, pred: np.ndarray, target: np.ndarray) -> None:
        if pred.shape != target.shape:
            raise ShapeError(
                f"{name} expected target of the prediction's shape {pred.shape}, "
                f"received {target.shape}"
            )


class SumSquares(Loss):
    """The book's sum of squared errors: 0.5 * sum over all elements of (pred - target)^2."""

    def forward(self, pred: np.ndarray, target: np.ndarray, weights=None) -> float:
        target = np.asarray(target, dtype=pred.dtype)
        self._same_shape("SumSquares", pred, target)
        self._setup(pred, target, weights)
        self.diff = pred - target
        return check_finite(float(0.5 * np.sum(self._weighted(self.diff * self.diff))))

    def backward(self) -> np.ndarray:
        return self._weighted(self.diff)


class MSE(Loss):
    """Mean squared error: mean over all elements of (pred - target)^2."""

    def forward(self, pred: np.ndarray, target: np.ndarray, weights=None) -> float:
        target = np.asarray(target, dtype=pred.dtype)
        self._same_shape("MSE", pred, target)
        self._setup(pred, target, weights)
        self.diff = pred - target
        return check_finite(float(np.mean(self._weighted(self.diff * self.diff))))

    def backward(self) -> np.ndarray:
        return self._weighted(self.diff) * np.asarray(2.0 / self.diff.size, self.diff.dtype)


class Huber(Loss):
    """Mean over elements of the Huber loss: 0.5 d^2 where |d| <= delta, else
    delta (|d| - 0.5 delta). Quadratic near zero, linear beyond delta, so a large TD error
    gives a bounded gradient (DQN's "error clipping", Mnih et al. 2015)."""

    def __init__(self, delta: float = 1.0) -> None:
        self.delta = float(delta)

    def forward(self, pred: np.ndarray, target: np.ndarray, weights=None) -> float:
        target = np.asarray(target, dtype=pred.dtype)
        self._same_shape("Huber", pred, target)
        self._setup(pred, target, weights)
        diff = pred - target
        abs_diff = np.abs(diff)
        capped = np.minimum(abs_diff, self.delta)
        self.grad = np.copysign(capped, diff)  # derivative of each element: d clipped to ±δ
        # 0.5 d^2 inside and delta (|d| - 0.5 delta) outside are both capped * (|d| - capped / 2).
        loss = capped * (abs_diff - 0.5 * capped)
        return check_finite(float(np.mean(self._weighted(loss))))

    def backward(self) -> np.ndarray:
        return self._weighted(self.grad) * np.asarray(1.0 / self.grad.size, self.grad.dtype)


class QuantileHuber(Loss):
    """The quantile Huber loss of distributional RL (Dabney et al., 2018, "Distributional
    Reinforcement Learning with Quantile Regression").

    pred (N, K): K quantile estimates per sample, of the fractions τ_i = (2i + 1) / 2K.
    target (N, M): M samples of the target distribution, equally likely or weighted by
    `target_weights` (N, M), rows summing to 1. A sample's loss is
    Σ_i Σ_j w_j |τ_i − 1{u_ij < 0}| · H_κ(u_ij) / κ with u_ij = target_j − pred_i and H_κ the
    Huber loss of threshold κ: under- and overestimates are priced τ_i and 1 − τ_i, so each
    pred_i settles at the τ_i-quantile of the targets (for small κ; large κ gives expectiles).
    The batch reduction is the mean over samples, as the other losses'.
    """

    def __init__(self, kappa: float = 1.0) -> None:
        if not kappa > 0:
            raise ValueError(f"kappa must be > 0, got {kappa}")
        self.kappa = float(kappa)

    @staticmethod
    def fractions(k: int, dtype: np.dtype | type = np.float32) -> np.ndarray:
        """The K quantile fractions τ_i = (2i + 1) / 2K, the midpoints of K equal slices."""
        return ((2 * np.arange(k) + 1) / (2 * k)).astype(dtype)

    def forward(self, pred: np.ndarray, target: np.ndarray, weights=None,
                target_weights=None) -> float:
        target = np.asarray(target, dtype=pred.dtype)
        if pred.ndim != 2 or target.ndim != 2 or len(target) != len(pred):
            raise ShapeError(f"QuantileHuber expected pred (N, K) and target (N, M), received "
                             f"{pred.shape} and {target.shape}")
        if target_weights is None:
            target_weights = np.full(target.shape, 1.0 / target.shape[1], dtype=pred.dtype)
        target_weights = np.asarray(target_weights, dtype=pred.dtype)
        if target_weights.shape != target.shape:
            raise ShapeError(f"QuantileHuber expected target_weights of the target's shape "
                             f"{target.shape}, received {target_weights.shape}")
        self._setup(pred, target, weights)
        tau = self.fractions(pred.shape[1], pred.dtype)[None, :, None]
        u = target[:, None, :] - pred[:, :, None]  # (N, K, M)
        price = np.abs(tau - (u < 0)) * target_weights[:, None, :] / self.kappa
        capped = np.minimum(np.abs(u), self.kappa)
        per_sample = np.sum(price * capped * (np.abs(u) - 0.5 * capped), axis=(1, 2))
        # d/dpred_i of the sample's loss: −Σ_j price_ij · clip(u_ij, −κ, κ).
        self.grad = -np.sum(price * np.clip(u, -self.kappa, self.kappa), axis=2)
        weighted = per_sample if self.weights is None else per_sample * self.weights[:, 0]
        return check_finite(float(np.mean(weighted)))

    def backward(self) -> np.ndarray:
        return self._weighted(self.grad) * np.asarray(1.0 / self.n, self.grad.dtype)


class SoftmaxCrossEntropy(Loss):
    """Mean over the batch of -log softmax(logits)[label].

    pred: logits (N, K). target: int labels (N,) or one-hot/probabilities (N, K).
    Computed through log-softmax (x - max - log sum exp) so it never overflows, and the
    gradient of the mean is (softmax - one_hot) / N.

    label_smoothing = e trains towards (1 - e) on the true class and e / K on every class
    (Szegedy et al. 2016) instead of a one-hot target: the logits stop growing once the
    prediction is confident enough, a regularizer for nets that fit their training set.
    """

    def __init__(self, label_smoothing: float = 0.0) -> None:
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)

    def forward(self, pred: np.ndarray, target: np.ndarray, weights=None) -> float:
        if pred.ndim != 2:
            raise ShapeError(f"SoftmaxCrossEntropy expected logits (N, K), received {pred.shape}")
        n, k = pred.shape
        target = np.asarray(target)
        if target.shape == (n,):
            if not np.issubdtype(target.dtype, np.integer):
                raise ValueError("integer class labels expected, got dtype " + str(target.dtype))
            if n and (target.min() < 0 or target.max() >= k):
                raise ValueError(f"labels must be in [0, {k}), got {target.min()}..{target.max()}")
            target = np.eye(k, dtype=pred.dtype)[target]
        elif target.shape != (n, k):
            raise ShapeError(
                f"SoftmaxCrossEntropy expected labels ({n},) or one-hot ({n}, {k}), "
                f"received {target.shape}"
            )
        if self.label_smoothing:
            eps = self.label_smoothing
            target = (1.0 - eps) * target + eps / k * target.sum(axis=1, keepdims=True)
        self._setup(pred, target, weights)
        shifted = pred - pred.max(axis=1, keepdims=True)
        log_sum = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        log_probs = shifted - log_sum
        self.probs = np.exp(log_probs)
        self.target = target.astype(pred.dtype, copy=False)
        per_sample = -np.sum(self.target * log_probs, axis=1, keepdims=True)
        return check_finite(float(np.sum(self._weighted(per_sample)) / n))

    def backward(self) -> np.ndarray:
        # d/dx of -sum_k t_k log softmax(x)_k is p * sum_k t_k - t, i.e. p - t for one-hot t.
        dpred = self.probs * self.target.sum(axis=1, keepdims=True) - self.target
        return self._weighted(dpred) / np.asarray(self.n, dpred.dtype)
