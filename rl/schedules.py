"""Schedules: pure functions of the step number (ε, learning rates, β of prioritized replay).

Each schedule is a small frozen dataclass that is called with a step and returns a float, and
that describes itself as a JSON-able dict (`schedule.config()`), so a run's config records it
and `from_config(d)` rebuilds it (rl.config does both for config fields typed `Schedule`). No
schedule keeps state: the value at step t depends on t only, which is what makes a resumed run
continue exactly.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Protocol, runtime_checkable


@runtime_checkable
class Schedule(Protocol):
    """What every schedule offers: a value per step and a JSON description."""

    def __call__(self, step: int) -> float: ...

    def config(self) -> dict: ...


def _check_finite(schedule: object) -> None:
    for name, value in asdict(schedule).items():
        if isinstance(value, float | int) and not math.isfinite(value):
            raise ValueError(f"a schedule's {name} must be a finite number, got {value}")


@dataclass(frozen=True)
class Constant:
    """The same value at every step."""

    value: float

    def __post_init__(self) -> None:
        _check_finite(self)

    def __call__(self, step: int) -> float:
        return float(self.value)

    def config(self) -> dict:
        return {"kind": "constant", **asdict(self)}


@dataclass(frozen=True)
class Linear:
    """From `start` at step 0 to `end` at step `duration` in a straight line, then `end`."""

    start: float
    end: float
    duration: int

    def __post_init__(self) -> None:
        _check_finite(self)
        if self.duration < 0:
            raise ValueError(f"linear schedule duration must be >= 0 steps, got {self.duration}")

    def __call__(self, step: int) -> float:
        if self.duration == 0 or step >= self.duration:
            return float(self.end)
        fraction = max(step, 0) / self.duration
        return float(self.start + fraction * (self.end - self.start))

    def config(self) -> dict:
        return {"kind": "linear", **asdict(self)}


@dataclass(frozen=True)
class Exponential:
    """`end + (start - end) * decay**step`: approaches `end` geometrically, never passes it.

    `decay` is the factor per step, e.g. 0.999 halves the distance to `end` every ~693 steps.
    """

    start: float
    end: float
    decay: float

    def __post_init__(self) -> None:
        _check_finite(self)
        if not 0.0 < self.decay <= 1.0:
            raise ValueError(f"exponential schedule decay must be in (0, 1], got {self.decay}")

    def __call__(self, step: int) -> float:
        # exp/log form instead of decay**step so a huge step underflows to 0 instead of erroring.
        factor = math.exp(max(step, 0) * math.log(self.decay))
        return float(self.end + (self.start - self.end) * factor)

    def config(self) -> dict:
        return {"kind": "exponential", **asdict(self)}


def value_range(schedule: Schedule) -> tuple[float, float]:
    """(lowest, highest) value the schedule takes at any step: each kind here is monotone, so
    its start and end (or its one value) bound it."""
    ends = [float(v) for k, v in schedule.config().items() if k in ("value", "start", "end")]
    return min(ends), max(ends)


def check_range(name: str, schedule: Schedule, low: float, high: float,
                low_open: bool = False) -> None:
    """Raise ValueError if `schedule` ever leaves [low, high] (or (low, high] with low_open)."""
    lowest, highest = value_range(schedule)
    if lowest < low or highest > high or (low_open and lowest <= low):
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise ValueError(
            f"{name} must stay in {interval}, but its schedule {schedule.config()} goes from "
            f"{lowest:g} to {highest:g}"
        )


def constant(value: float) -> Constant:
    """A schedule that always returns `value`."""
    return Constant(float(value))


def linear(start: float, end: float, duration: int) -> Linear:
    """Linear interpolation from `start` to `end` over `duration` steps, then `end`."""
    return Linear(float(start), float(end), int(duration))


def exponential(start: float, end: float, decay: float) -> Exponential:
    """Geometric approach from `start` toward `end` by the factor `decay` per step."""
    return Exponential(float(start), float(end), float(decay))


_KINDS = {"constant": Constant, "linear": Linear, "exponential": Exponential}


def from_config(d: dict | float | int) -> Schedule:
    """Rebuild a schedule from `schedule.config()`; a bare number means `constant(number)`."""
    if isinstance(d, int | float) and not isinstance(d, bool):
        return constant(d)
    if not isinstance(d, dict) or "kind" not in d:
        raise ValueError(
            f"a schedule config is a dict with a 'kind' key ({', '.join(_KINDS)}) or a number, "
            f"got {d!r}"
        )
    kind = d["kind"]
    if kind not in _KINDS:
        raise ValueError(f"unknown schedule kind {kind!r}; choose one of {', '.join(_KINDS)}")
    params = {k: v for k, v in d.items() if k != "kind"}
    try:
        return _KINDS[kind](**params)
    except TypeError as err:
        raise ValueError(f"bad parameters for a {kind} schedule {params}: {err}") from None
