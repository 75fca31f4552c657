"""Errors raised by nets, each saying what was wrong and how to fix it."""


class ShapeError(ValueError):
    """An input had the wrong shape; the message names the layer, expected and received shapes."""


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite (usually a learning rate that is too high)."""


class CheckpointError(ValueError):
    """A saved file or state dict cannot be used: missing, corrupt, or not matching the model."""


def check_finite(loss: float, what: str = "loss") -> float:
    """Return `loss` unchanged, or raise NonFiniteLossError if it is NaN or infinite."""
    if loss != loss or loss in (float("inf"), float("-inf")):
        raise NonFiniteLossError(
            f"the {what} is {loss}: training diverged. Usual causes: a learning rate that is too "
            "high (try 10x lower), missing input scaling (e.g. pixels not divided by 255), or no "
            "gradient clipping (try clip_norm=10)."
        )
    return loss
