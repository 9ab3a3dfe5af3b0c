"""Counting tf.function traces, so a step whose time includes tracing can be marked as such.

TensorFlow counts traces per function (`experimental_get_tracing_count`) but not globally, and steps from
a plain script come from functions eagerrun never sees. Every trace of every tf.function (tf.data's
included) goes through `tracing_compilation._create_concrete_function`, so counting calls there is exact.
It is a private function: where a TensorFlow lacks it, counting is off and no step is marked as traced.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator
from typing import Any

log = logging.getLogger("eagerrun")


class TraceCounter:
    """`count` grows by one for each tf.function trace while `counting()` is active."""

    def __init__(self) -> None:
        self.count = 0

    @contextlib.contextmanager
    def counting(self) -> Iterator[TraceCounter]:
        try:
            from tensorflow.python.eager.polymorphic_function import tracing_compilation as tc
        except ImportError:
            tc = None
        original = getattr(tc, "_create_concrete_function", None)
        if original is None:
            log.info("this TensorFlow does not expose tracing; steps are not marked as traced")
            yield self
            return

        @functools.wraps(original)
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return original(*args, **kwargs)

        tc._create_concrete_function = counted
        try:
            yield self
        finally:
            tc._create_concrete_function = original
