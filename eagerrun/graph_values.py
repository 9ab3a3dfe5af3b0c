"""Getting a loss out of a graph-mode tf.function that does not return it, without changing what it computes.

In graph mode a training step's losses live inside the graph; a step function may return nothing (the
DCGAN tutorial's does). At the end of the trace (hooks.py has the traced function end in
`StepCollector.function_traced`), eagerrun adds ops that write the losses the function does not return into
a variable of its own, and reads that variable on the host. A loss the function returns is read from what
the call returned and adds nothing to the graph: every op added here runs on every call (about 2.5 µs each
on the CI-sized machine).

Reading it after every call would cost a host sync per step that the script does not do (a plain loop has
its next step on its way already; measured: +30% on a 0.45 ms step). So the variable is a ring: call n
takes row n % RING (a counter incremented inside the graph) and stamps it with its call number; the host
reads the whole ring once per flush (every 0.1 s) and takes each call's row, checking its stamp: a row
overwritten or never written is a missing value, never a wrong one.

A loss made inside a nested tf.function or a loop body (a whole training loop in one tf.function) cannot
use the ring, whose row is picked once per call in the outer graph: it goes to a row of its own, read
right after the call (one sync per call, which is then a whole loop long).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RING = 512  # rows: calls whose values can wait for a flush (the collector flushes every 128 steps at most)
SLOTS = 64  # losses per row; the last column is the row's stamp
STAMP = SLOTS - 1
DIRECT = RING  # the row of losses made in a nested function or a loop body
STAMP_MODULO = 2**24  # call numbers as exact float32 stamps


@dataclass(frozen=True)
class RingValue:
    """A loss written by call number `call` into its ring row, read at the next flush."""

    call: int
    slot: int


@dataclass(frozen=True)
class DirectValue:
    """A loss read right after its call: a snapshot of the variable (an asynchronous read) and its slot."""

    snapshot: Any
    slot: int

    def resolve(self) -> float:
        return float(self.snapshot.numpy()[DIRECT, self.slot])


class GraphValues:
    """The variable, the counter, and which slot each (function, loss) writes to."""

    def __init__(self) -> None:
        import tensorflow as tf

        self.variable = tf.Variable(tf.zeros([RING + 1, SLOTS]), trainable=False, name="eagerrun_step_values")
        self.counter = tf.Variable(0, dtype=tf.int64, trainable=False, name="eagerrun_step_calls")
        self.calls = 0  # the host's count of calls that took a ring row: the counter's value, mirrored
        self._slots: dict[tuple[int, int], int] = {}
        self._row: Any = None  # the ring row of the graph being traced (a tensor of that graph)
        self._row_graph: Any = None

    def write(self, targets: list[Any], *, function: Any, ordinals: list[int]) -> list[tuple[int, bool] | None]:
        """At trace time: add the ops writing `targets` (the `ordinals`-th losses of `function`); for each,
        (its slot, whether it is in the ring) or None. Those of the outer graph share one update of the
        ring, with their row's stamp: every op here runs on every call (measured: about 2.5 µs each)."""
        import tensorflow as tf
        from tensorflow.python.framework.func_graph import FuncGraph

        written: list[tuple[int, bool] | None] = []
        ring_slots, ring_values, graph = [], [], None
        for target, ordinal in zip(targets, ordinals):
            key = (id(function), ordinal)
            slot = self._slots.get(key)
            if slot is None:
                if len(self._slots) >= STAMP:
                    written.append(None)
                    continue
                slot = self._slots[key] = len(self._slots)
            try:
                value = tf.convert_to_tensor(target)
                if value.shape.rank != 0 or value.dtype != tf.float32:
                    value = tf.cast(tf.reduce_mean(value), tf.float32)
            except (TypeError, ValueError):
                written.append(None)
                continue
            if isinstance(getattr(value.graph, "outer_graph", None), FuncGraph):  # a nested function, a loop
                self.variable.scatter_nd_update([[DIRECT, slot]], tf.reshape(value, [1]))
                written.append((slot, False))
                continue
            ring_slots.append(slot)
            ring_values.append(value)
            graph = value.graph
            written.append((slot, True))
        if ring_values:
            try:
                if self._row_graph is not graph:  # a new trace (TensorFlow may trace a call twice)
                    self._row_graph = graph
                    call = self.counter.assign_add(1)
                    self._row = call % RING
                    ring_slots.append(STAMP)
                    ring_values.append(tf.cast(call % STAMP_MODULO, tf.float32))
                indices = tf.stack([tf.fill([len(ring_slots)], self._row), tf.constant(ring_slots, tf.int64)], axis=1)
                self.variable.scatter_nd_update(indices, tf.stack(ring_values))
            except (TypeError, ValueError):
                return [None if entry is not None and entry[1] else entry for entry in written]
        return written

    def call_returned(self, *, ring: bool, direct: bool) -> tuple[int | None, Any]:
        """A call whose graph writes values returned: (its call number, or None; a snapshot for its
        direct values, or None)."""
        call = None
        if ring:
            self.calls += 1
            call = self.calls
        return call, self.variable.read_value() if direct else None

    def read_ring(self) -> Any:
        """The whole ring on the host: one read, at a flush."""
        return self.variable.numpy()


def ring_value(ring: Any, call: int, slot: int) -> float | None:
    """Call number `call`'s loss in `slot` from a ring read, if its row still holds that call (its stamp
    says so)."""
    row = ring[call % RING]
    if int(row[STAMP]) != call % STAMP_MODULO:
        return None
    return float(row[slot])
