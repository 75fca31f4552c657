"""The float32 tolerance rule of the test suite, written down once.

Why a rule. A float32 matrix product does not have one right answer to the last bit: the BLAS
picks a kernel for the shape, the CPU and the thread count, and each kernel sums the K products
of a dot product in its own order (blocking, FMA, several accumulators). A batch of 2 and a
batch of 5, or numpy and PyTorch, or 1 and 2 threads, therefore differ by rounding, and a
tolerance that one kernel happens to meet (rtol=1e-6, say) fails on another machine.

The rule. Two float32 computations of a sum of K terms, s = sum_i a_i*b_i, or one against a
float64 reference, may differ by

    |actual - expected| <= C * eps32 * sqrt(K) * sum_i |a_i*b_i|        (C = 8, eps32 = 2**-23)

The worst case grows like K (Higham, Accuracy and Stability of Numerical Algorithms, 3.1), but
rounding errors behave like independent random variables, so with overwhelming probability
they grow like sqrt(K) (Higham & Mary, "A new approach to probabilistic rounding error
analysis", 2019). C = 8 covers both sides of a comparison having rounded, that probabilistic
margin, and correlated roundings. Measured over this suite's comparisons on five OpenBLAS
kernels (OPENBLAS_CORETYPE=Prescott, Nehalem, Sandybridge, Haswell, SkylakeX), 1 and 2
threads, and against PyTorch: every difference stays below 0.6 * eps32 * sqrt(K) * magnitude,
13x inside the tolerance, while one weight off by 0.1% shows 20-80x outside it
(tests/test_tolerance.py).

- K, `reduction_length`: the number of terms of each summed element. Errors that add up along
  a chain count as one longer sum: for a network, the fan-ins of the layers on the path from
  input to output (`forward_reduction_length`); for a run of training steps, steps x the terms
  each step sums.
- sum |a_i*b_i|, `magnitude`: the size of the summed terms, not of the result. A result near
  zero by cancellation keeps the rounding of its large terms, so it needs an absolute
  tolerance of that size, not a relative one of its own. Best computed by running the
  reference on absolute values (e.g. |x| @ |W|); the default, the largest |expected| of the
  array, is right where the terms are not much larger than the results (no heavy
  cancellation): the array's scale then bounds every element's error.

Where not to use it: a claim of exactness (same seed, same parameters; kill-and-resume;
the same code path run twice) stays `assert_array_equal`.
"""

from __future__ import annotations

import math

import numpy as np

EPS32 = float(np.finfo(np.float32).eps)  # 2**-23, the spacing of float32 numbers at 1.0
C = 8.0


def float32_tol(reduction_length: int) -> float:
    """Relative tolerance C * eps32 * sqrt(K) for float32 sums of K terms (see the module)."""
    return C * EPS32 * math.sqrt(max(int(reduction_length), 1))


def assert_close_f32(actual, expected, reduction_length: int, magnitude=None,
                     err_msg: str = "") -> float:
    """Assert |actual - expected| <= float32_tol(K) * magnitude, element by element.

    magnitude: sum |a_i*b_i| of each element's sum, an array like `expected` or one number;
    default: the largest |expected|. It is never taken below an element's own |expected|.
    Returns the largest |actual - expected| / allowed, at most 1 when the assertion holds.
    """
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if expected.shape != actual.shape and expected.ndim > 0:
        raise AssertionError(f"{err_msg}: shapes differ, {actual.shape} != {expected.shape}")
    expected = np.broadcast_to(expected, actual.shape)
    if magnitude is None:
        magnitude = np.max(np.abs(expected)) if expected.size else 0.0
    magnitude = np.maximum(np.abs(np.asarray(magnitude, dtype=np.float64)), np.abs(expected))
    tol = float32_tol(reduction_length)
    allowed = tol * magnitude
    error = np.abs(actual - expected)
    same = (actual == expected) | (np.isnan(actual) & np.isnan(expected))
    ratio = np.where(same, 0.0, error / np.maximum(allowed, np.finfo(np.float64).tiny))
    ratio = np.where(np.isnan(ratio), np.inf, ratio)  # a NaN on one side only
    worst = np.unravel_index(np.argmax(ratio), ratio.shape) if ratio.size else ()
    if ratio.size and ratio[worst] > 1.0:
        raise AssertionError(
            f"{err_msg + ': ' if err_msg else ''}{int(np.sum(ratio > 1))} of {ratio.size} "
            f"elements differ by more than float32 rounding of a {reduction_length}-term sum "
            f"(tolerance {tol:.2e} x magnitude); worst at {tuple(int(i) for i in worst)}: "
            f"actual {actual[worst]!r}, expected {expected[worst]!r}, "
            f"difference {error[worst]:.3e}, allowed {allowed[worst]:.3e} "
            f"({ratio[worst]:.3g} x the tolerance)"
        )
    return float(ratio[worst]) if ratio.size else 0.0


def forward_reduction_length(model) -> int:
    """Sum of the fan-ins of a network's weight layers: K for comparing its outputs.

    Dense weights (in, out) sum `in` terms per output, convolution weights (F, C, KH, KW) sum
    C*KH*KW. Parallel branches are all counted, which errs on the loose side.
    """
    total = 0
    for name, value in model.named_params():
        if name.endswith("W"):
            total += value.shape[0] if value.ndim == 2 else math.prod(value.shape[1:])
    return total
