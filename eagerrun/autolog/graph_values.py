"""Getting a loss out of a graph-mode tf.function that does not return it, without changing what it computes.

In graph mode a training step's losses live inside the graph; a step function may return nothing (the
DCGAN tutorial's does). At the end of each trace (autolog/hooks.py has the traced function end in
`StepCollector.function_traced`), eagerrun adds ops that write the losses the function does not return into
a variable of its own, and reads that variable on the host. A loss the function returns is read from what
the call returned and adds nothing to the graph: every op added here runs on every call (about 2.5 µs each
on the CI-sized machine).

Reading it after every call would cost a host sync per step that the script does not do (a plain loop has
its next step on its way already; measured: +30% on a 0.45 ms step). So the variable is a ring: call n
takes row n % RING (a counter incremented inside the graph) and stamps it with its call number **and the
number of the trace that wrote it**; the host reads the whole ring once per flush (every 0.1 s) and reads
each call's row only through the layout of the trace its stamps name. A function has one graph per trace
(a new input shape, TensorFlow's second trace when the first one made variables), each writing its losses
to its own columns: a row overwritten, never written, or written by another trace than the one the host
expects is a missing value, never a wrong one.

A loss made inside a nested tf.function or a loop body (a whole training loop in one tf.function) cannot
use the ring, whose row is picked once per call in the outer graph: it goes to a column of its own in the
row read right after the call, and each write also counts itself in the row below. The host takes the
value only if the count moved during the call (a loop that ran no iteration, a branch not taken, leave a
stale value there: it is then missing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eagerrun import _tf_compat as private

RING = 512  # rows: calls whose values can wait for a flush (the collector flushes every 128 steps at most)
SLOTS = 64  # columns per row; the last two are the row's stamps
TRACE = SLOTS - 2  # the stamp column naming the trace that wrote the row
STAMP = SLOTS - 1  # the stamp column holding the call number
VALUE_SLOTS = TRACE  # losses per trace (ring) or per run (direct)
DIRECT = RING  # the row of losses made in a nested function or a loop body
DIRECT_WRITES = RING + 1  # how often each direct column was written
STAMP_MODULO = 2**24  # call and trace numbers as exact float32 stamps


@dataclass(frozen=True)
class RingValue:
    """A loss written by call number `call` into column `slot` of its ring row, by trace number `trace`."""

    call: int
    slot: int
    trace: int


@dataclass(frozen=True)
class DirectValue:
    """A loss read right after its call: a snapshot of the variable (an asynchronous read), its column, and
    the snapshot taken after the same trace's previous call (None: the first)."""

    snapshot: Any
    slot: int
    before: Any = None

    def resolve(self) -> float | None:
        after = self.snapshot.numpy()
        writes_before = float(self.before.numpy()[DIRECT_WRITES, self.slot]) if self.before is not None else 0.0
        if float(after[DIRECT_WRITES, self.slot]) == writes_before:
            return None  # this call did not write it (a loop without iterations, a branch not taken)
        return float(after[DIRECT, self.slot])


@dataclass(frozen=True)
class DirectCount:
    """How often a direct column was written during one call (the iterations of the loop that writes it),
    from the snapshots after this call and after the same trace's previous one."""

    snapshot: Any
    slot: int
    before: Any = None

    def resolve(self) -> int:
        after = float(self.snapshot.numpy()[DIRECT_WRITES, self.slot])
        return int(after - (float(self.before.numpy()[DIRECT_WRITES, self.slot]) if self.before is not None else 0.0))


@dataclass(frozen=True)
class Written:
    """Where one loss of a trace went: its column, and whether in the ring (else in the direct row)."""

    slot: int
    ring: bool


class GraphValues:
    """The variable, the counter, and which trace and column each loss writes to."""

    def __init__(self) -> None:
        import tensorflow as tf

        self.variable = tf.Variable(tf.zeros([RING + 2, SLOTS]), trainable=False, name="eagerrun_step_values")
        self.counter = tf.Variable(0, dtype=tf.int64, trainable=False, name="eagerrun_step_calls")
        self.calls = 0  # the host's count of calls that took a ring row: the counter's value, mirrored
        self._traces: dict[int, tuple[Any, int]] = {}  # id(graph) -> (graph, its trace number)
        self._ring_columns: dict[int, int] = {}  # id(graph) -> ring columns that trace has taken
        self._direct: dict[tuple[int, Any], int] = {}  # (id(graph), ordinal or counter) -> direct column
        self._row: Any = None  # the ring row of the graph being traced (a tensor of that graph)
        self._row_graph: Any = None

    def trace_number(self, graph: Any) -> int:
        """The number stamped into the rows `graph` (an outermost trace) writes: 1, 2, … in trace order."""
        known = self._traces.get(id(graph))
        if known is None or known[0] is not graph:
            known = self._traces[id(graph)] = (graph, len(self._traces) + 1)
        return known[1]

    def _direct_slot(self, graph: Any, key: Any) -> int | None:
        slot = self._direct.get((id(graph), key))
        if slot is None and len(self._direct) < VALUE_SLOTS:
            slot = self._direct[(id(graph), key)] = len(self._direct)
        return slot

    def count(self, *, graph: Any, key: Any) -> int | None:
        """At trace time, inside a loop body of the trace of the outermost graph `graph`: add the op counting
        that body's iterations in a direct column of its own; the column, or None."""
        slot = self._direct_slot(graph, ("count", key))
        if slot is not None:
            self.variable.scatter_nd_add([[DIRECT_WRITES, slot]], [1.0])
        return slot

    def write(self, targets: list[Any], *, graph: Any, ordinals: list[int]) -> list[Written | None]:
        """At trace time: add the ops writing `targets` (the `ordinals`-th losses of the trace of the outermost
        graph `graph`); for each, where it went, or None. Those of the outer graph share one update of the
        ring, with their row's two stamps: every op here runs on every call (measured: about 2.5 µs each)."""
        import tensorflow as tf
        FuncGraph = private.get("FuncGraph")

        written: list[Written | None] = []
        ring_slots, ring_values = [], []
        for target, ordinal in zip(targets, ordinals):
            try:
                value = tf.convert_to_tensor(target)
                if value.shape.rank != 0 or value.dtype != tf.float32:
                    value = tf.cast(tf.reduce_mean(value), tf.float32)
            except (TypeError, ValueError):
                written.append(None)
                continue
            if isinstance(getattr(value.graph, "outer_graph", None), FuncGraph):  # a nested function, a loop
                slot = self._direct_slot(graph, ordinal)
                if slot is None:
                    written.append(None)
                    continue
                self.variable.scatter_nd_update([[DIRECT, slot]], tf.reshape(value, [1]))
                self.variable.scatter_nd_add([[DIRECT_WRITES, slot]], [1.0])
                written.append(Written(slot, ring=False))
                continue
            slot = self._ring_columns.get(id(graph), 0)
            if slot >= VALUE_SLOTS:
                written.append(None)
                continue
            self._ring_columns[id(graph)] = slot + 1
            ring_slots.append(slot)
            ring_values.append(value)
            written.append(Written(slot, ring=True))
        if ring_values:
            try:
                if self._row_graph is not graph:  # the first ring write of this trace: its row and stamps
                    self._row_graph = graph
                    call = self.counter.assign_add(1)
                    self._row = call % RING
                    ring_slots += [TRACE, STAMP]
                    ring_values += [tf.constant(float(self.trace_number(graph) % STAMP_MODULO), tf.float32),
                                    tf.cast(call % STAMP_MODULO, tf.float32)]
                indices = tf.stack([tf.fill([len(ring_slots)], self._row), tf.constant(ring_slots, tf.int64)], axis=1)
                self.variable.scatter_nd_update(indices, tf.stack(ring_values))
            except (TypeError, ValueError):
                return [None if entry is not None and entry.ring else entry for entry in written]
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


def ring_value(ring: Any, call: int, slot: int, trace: int) -> float | None:
    """Call number `call`'s loss in column `slot` from a ring read, if its row still holds that call and was
    written by trace number `trace` (its stamps say so)."""
    row = ring[call % RING]
    if int(row[STAMP]) != call % STAMP_MODULO or int(row[TRACE]) != trace % STAMP_MODULO:
        return None
    return float(row[slot])
