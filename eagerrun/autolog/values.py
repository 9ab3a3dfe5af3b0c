"""A step's moments and numbers, as the collector and the fit callback keep them."""

from __future__ import annotations

from typing import Any, NamedTuple

from eagerrun.autolog.graph_values import DirectValue


def to_float(value: Any) -> float | None:
    """A value as a Python float (the mean where it is not a scalar); None when it is not a number.

    Custom-loop values are kept as tensors until their step is recorded, one step later, so eagerrun adds
    no host sync the script does not do itself: the plain loop's next step is already on its way."""
    if value is None:
        return None
    if isinstance(value, DirectValue):
        return value.resolve()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if getattr(value, "ndim", None) == 0 and getattr(getattr(value, "dtype", None), "is_floating", False):
        return float(value)  # a scalar float tensor: the common loss
    import numpy as np

    try:
        array = np.asarray(value, dtype="float64")  # a tensor: one copy to the host
    except (TypeError, ValueError):
        return None
    return float(array) if array.ndim == 0 else float(array.mean()) if array.size else None


class Clock(NamedTuple):
    """A moment of the run: the time and how many traces had happened by then (a tuple: one is made every
    step)."""

    at: float
    traces: int


_new_tuple = tuple.__new__  # makes a Clock without NamedTuple's own __new__, which is Python code (2x slower)
