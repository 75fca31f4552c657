"""Errors raised by nets, each saying what was wrong and how to fix it."""

# A file that cannot be read and a state dict that does not fit a model are one error for the
# user: the class lives with the file I/O, and nets raises it for state dicts too.
from fileio import CheckpointError

__all__ = ["CheckpointError", "NonFiniteLossError", "ShapeError", "check_finite"]


class ShapeError(ValueError):
    """An input had the wrong shape; the message names the layer, expected and received shapes."""


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite (usually a learning rate that is too high)."""


def check_finite(loss: float, what: str = "loss") -> float:
    """Return `loss` unchanged, or raise NonFiniteLossError if it is NaN or infinite."""
    if loss != loss or loss in (float("inf"), float("-inf")):
        raise NonFiniteLossError(
            f"the {what} is {loss}: training diverged. Usual causes: a learning rate that is too "
            "high (try 10x lower), missing input scaling (e.g. pixels not divided by 255), or no "
            "gradient clipping (try clip_norm=10)."
        )
    return loss
