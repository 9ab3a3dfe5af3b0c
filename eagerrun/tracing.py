"""Counting tf.function traces, per function, so a step whose time includes tracing is marked as such and a
retrace (a function tracing again because its inputs changed) is told apart from a first trace.

TensorFlow counts traces per function (`experimental_get_tracing_count`) but not globally, and steps from a
plain script come from functions eagerrun never sees. Every trace of every tf.function goes through one
private function, which `hooks.py` wraps to call `TraceCounter.traced`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any


@dataclass
class FunctionTraces:
    """How often one Python function was traced into a graph, and where it is defined."""

    name: str
    file: str | None
    line: int | None
    traces: int = 0


class TraceCounter:
    """`count` grows by one for each trace. A retrace is a trace of a function that had already traced
    before the step in question began: TensorFlow's own second trace of a first call that created variables
    is part of that call, not a retrace.

    Off (`enabled=False`) in eager mode: there every tf.function body runs op by op, nothing a user wrote is
    traced, and no step may be marked as traced.
    """

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.count = 0
        self.functions: dict[Any, FunctionTraces] = {}
        self._previous: list[int] = []  # for each trace, the index of its function's trace before (or -1)
        self._last: dict[Any, int] = {}

    def traced(self, python_function: Any, name: str) -> None:
        """One trace of `python_function`: TensorFlow's per-function wrapper, one per tf.function object (and
        per variable-creation scope), so two models' train functions sharing Keras' code are not one."""
        if not self.enabled:
            return
        key = python_function if python_function.__hash__ is not None else id(python_function)
        entry = self.functions.get(key)
        if entry is None:
            _, file, line = function_identity(python_function)
            entry = self.functions[key] = FunctionTraces(name=name, file=file, line=line)
        entry.traces += 1
        self._previous.append(self._last.get(key, -1))
        self._last[key] = self.count
        self.count += 1

    def retraced_between(self, start: int, end: int) -> bool:
        """Whether a trace among `start`..`end` (counts) was of a function that had traced before `start`."""
        return any(0 <= self._previous[index] < start for index in range(start, min(end, len(self._previous))))


def function_identity(python_function: Any) -> tuple[Any, str | None, int | None]:
    """A stable key for the user's function behind TensorFlow's wrappers (its code object), and its place."""
    unwrapped = inspect.unwrap(python_function)
    code = getattr(getattr(unwrapped, "__func__", unwrapped), "__code__", None)
    if code is None:
        return id(unwrapped), None, None
    return code, code.co_filename, code.co_firstlineno
