"""Where the losses of a training call are, and how they are named: the gradient targets and optimizer
updates of a call (`Updates`), the layout of a traced call's losses (`graph_layout`: in what the function
returns, or where its trace wrote them), the plan each call's values are read through (`CallPlan`), and the
one rule that names a step's values (`name_values`). Used by the collector (autolog/collector.py) and the
step bookkeeping (autolog/steps.py); nothing here keeps state across calls."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from eagerrun import _tf_compat as private
from eagerrun.autolog.graph_values import DirectCount, DirectValue, RingValue, ring_value
from eagerrun.autolog.values import to_float


@dataclass(slots=True)
class LossTarget:
    """One `GradientTape.gradient` call over variables: a loss, if an optimizer applies its gradients."""

    name: str | None  # the script's own name for it
    value: Any  # the target tensor (symbolic while a graph is traced)
    slot: int | None = None  # graph mode: where the trace writes it in eagerrun's variable
    ring: bool = True  # ... in the ring (read at a flush), or in the row read right after the call
    optimizer: int | None = None  # id() of the optimizer that applied its gradients
    returned_as: tuple[Any, ...] | None = None  # graph mode: where the function's result holds it
    unwritten: bool = False  # graph mode: written at the trace's end, unless the function returns it
    site: Any = None  # eager mode: the script's line that asked for the gradient


def matching_target(by_gradient: dict[int, LossTarget], targets: list[LossTarget],
                    grads: list[Any]) -> LossTarget | None:
    """The gradient call an optimizer update applies: the one that gave these very gradients, else (they
    were clipped or rebuilt) the oldest target no optimizer has taken yet."""
    target = next((by_gradient[id(g)] for g in grads if g is not None and id(g) in by_gradient), None)
    return target or next((t for t in targets if t.optimizer is None), None)


@dataclass(slots=True)
class Updates:
    """The gradient targets and optimizer updates of one unit, in order."""

    targets: list[LossTarget] = field(default_factory=list)
    by_gradient: dict[int, LossTarget] = field(default_factory=dict)  # id of a target's first gradient
    optimizers: list[int] = field(default_factory=list)
    replicated: bool = False  # a gradient was taken in a tf.distribute replica (strategy.run)
    runs: int = 0  # strategy.run calls: while running eagerly, or traced outside any loop
    counters: list[int] = field(default_factory=list)  # graph mode: columns counting strategy.run in loops

    def eager_batches(self) -> int:
        """Batches a call that ran eagerly trained: its strategy.run calls, else how often its first
        gradient call's line came round (a loop inside the function)."""
        if self.runs:
            return self.runs
        first = self.targets[0].site if self.targets else None
        return max(1, sum(1 for t in self.targets if t.site == first)) if first is not None else 1

    @property
    def trains(self) -> bool:
        return bool(self.targets or self.optimizers or self.replicated)

    def apply(self, optimizer: Any, grads: Any) -> None:
        """Match an update to its gradient call: by the gradients' identity, else the oldest unmatched."""
        key = id(optimizer)
        if key not in self.optimizers:
            self.optimizers.append(key)
        target = matching_target(self.by_gradient, self.targets, grads)
        if target is not None:
            target.optimizer = key

    def losses(self) -> list[LossTarget]:
        """Each optimizer's last target, in update order; without optimizers, every target."""
        if not self.optimizers:
            return list(self.targets)
        last = {t.optimizer: t for t in self.targets if t.optimizer is not None}
        return [last[key] for key in self.optimizers if key in last]


@dataclass(slots=True)
class Loss:
    name: str | None
    value: Any  # a tensor, a RingValue or a DirectValue until the step is recorded
    from_dict: bool = False  # named by the key of the dict the step function returned


class CallPlan:
    """Where the losses of one trace of a training tf.function are (graph mode), worked out once from the
    trace: in what the call returns (a path into it), in eagerrun's ring, in the row read right after the
    call (autolog/graph_values.py), or nowhere. Each call's values are read through it, when its step is recorded,
    so a call costs no more than keeping what it returned."""

    def __init__(self, layout: list[LossTarget], trace: int = 0, *, runs: int = 0,
                 counters: tuple[int, ...] = ()) -> None:
        EagerTensor = private.get("EagerTensor")

        self.layout = layout
        self.trace = trace  # the number its ring rows are stamped with (autolog/graph_values.py)
        self.last_snapshot: Any = None  # the direct row after this trace's previous call
        unreturned = [t for t in layout if t.returned_as is None and t.slot is not None]
        self.ring = any(t.ring for t in unreturned)  # some loss is written to the ring
        # the batches of a call: strategy.run calls traced outside loops, plus the iterations of the loops
        # counted (strategy.run in a loop body; else the loop that writes the first loss made in one)
        self.runs = runs
        direct_slots = tuple(t.slot for t in unreturned if not t.ring and t.slot is not None)
        self.counters: tuple[int, ...] = tuple(counters) or direct_slots[:1]
        self.direct = any(not t.ring for t in unreturned) or bool(self.counters)  # the row read at once
        self.reads_result = any(t.returned_as is not None for t in layout)
        self._eager_tensor = EagerTensor
        # a result that is not a dict adds no values: the names are known now, and how to read each
        names = name_values([returned_loss(t, None) for t in layout], {})
        self._readers = [(name, t.returned_as, t.returned_as is not None and is_scalar_float(t.value),
                          t.slot if t.returned_as is None and t.ring else None) for name, t in zip(names, layout)]

    def losses(self, result: Any, call_number: int | None, snapshot: Any) -> list[Loss]:
        """A call's losses, as tensors, RingValues or DirectValues."""
        losses = []
        for target in self.layout:
            if target.returned_as is not None:
                losses.append(returned_loss(target, value_at(result, target.returned_as)))
            elif target.slot is not None and target.ring and call_number is not None:
                losses.append(Loss(target.name, RingValue(call_number, target.slot, self.trace)))
            elif target.slot is not None and not target.ring and snapshot is not None:
                losses.append(Loss(target.name, DirectValue(snapshot, target.slot, self.last_snapshot)))
            else:
                losses.append(Loss(target.name, None))
        return losses

    def batches(self, snapshot: Any) -> int | BatchCount:
        """How many batches a call trained: known from the trace, or counted in the graph as it ran."""
        if not self.counters or snapshot is None:
            return max(1, self.runs)
        return BatchCount(self.runs, [DirectCount(snapshot, slot, self.last_snapshot) for slot in self.counters])

    def numbers(self, result: Any, call_number: int | None, ring: Any) -> dict[str, float | None]:
        """A call's values as numbers, named, from what it returned and the ring read at the flush (no
        direct values: a plan that has some is not read this way)."""
        if isinstance(result, dict):
            losses = self.losses(result, call_number, None)
            return {name: number(value, ring)
                    for name, value in name_values(losses, returned_values(losses, result)).items()}
        numbers: dict[str, float | None] = {}
        for name, path, scalar_float, ring_slot in self._readers:
            if path is not None:
                value = value_at(result, path)
                numbers[name] = float(value) if scalar_float and type(value) is self._eager_tensor \
                    else to_float(value)
            elif ring_slot is not None and call_number is not None and ring is not None:
                numbers[name] = ring_value(ring, call_number, ring_slot, self.trace)
            else:
                numbers[name] = None
        return numbers


@dataclass(frozen=True)
class BatchCount:
    """A call's batches, counted inside its graph: read with its values, at the flush."""

    runs: int
    counts: list[DirectCount]

    def resolve(self) -> int:
        return max(1, self.runs + sum(count.resolve() for count in self.counts))


def batches_of(batches: int | BatchCount) -> int:
    return batches if isinstance(batches, int) else batches.resolve()


@functools.cache
def unknown_plan() -> CallPlan:
    """The plan of a graph eagerrun did not see traced (TensorFlow's own wrapper around a function that
    made variables it could not lift): its values are missing, never guessed from another trace's."""
    return CallPlan([])


def number(value: Any, ring: Any) -> float | None:
    """A value held until the flush as a number: a RingValue from the ring read then."""
    if isinstance(value, RingValue):
        return ring_value(ring, value.call, value.slot, value.trace) if ring is not None else None
    return to_float(value)


def returned_loss(target: LossTarget, value: Any) -> Loss:
    """A loss the function returns: named by its dict key, if it is returned under one."""
    path = target.returned_as
    key = path[-1] if path and isinstance(path[-1], str) else None
    return Loss(key or target.name, value, from_dict=key is not None)


def is_scalar_float(tensor: Any) -> bool:
    shape, dtype = getattr(tensor, "shape", None), getattr(tensor, "dtype", None)
    return getattr(shape, "rank", None) == 0 and bool(getattr(dtype, "is_floating", False))


def eager_call_losses(call: Updates | None, result: Any) -> list[Loss]:
    """The losses of a training call in eager mode, as tensors (converted when the step is recorded)."""
    returned = returned_paths(result)
    if call is not None and call.replicated:  # strategy.run: what the call returns (its reduced losses)
        return [returned_loss(LossTarget(name=None, value=value, returned_as=path), value)
                for path, value in returned if is_scalar_float(value)]
    losses = []
    for target in call.losses() if call is not None else []:
        key = next((path[-1] for path, value in returned if value is target.value
                    and path and isinstance(path[-1], str)), None)
        losses.append(Loss(key or target.name, target.value, from_dict=key is not None))
    return losses


def returned_values(losses: list[Loss], result: Any) -> dict[str, Any]:
    """The scalars of a dict the call returned that are not its losses."""
    return returned_scalars(result, exclude={loss.name for loss in losses if loss.from_dict}) \
        if isinstance(result, dict) else {}


def in_outermost_graph(value: Any) -> bool:
    """A tensor of the outermost tf.function's graph (not of a nested function or a loop body)."""
    FuncGraph = private.get("FuncGraph")

    graph = getattr(value, "graph", None)
    return isinstance(graph, FuncGraph) and not isinstance(getattr(graph, "outer_graph", None), FuncGraph)


def over_variables(sources: Any) -> bool:
    """Whether a gradient is taken over variables (training), not over input tensors (a gradient penalty,
    a saliency map)."""
    first = sources
    while isinstance(first, (list, tuple)) and first:
        first = first[0]
    if isinstance(first, dict):
        first = next(iter(first.values()), None)
    return hasattr(first, "assign")


def outermost_graph(graph: Any) -> Any:
    """The outermost tf.function graph `graph` belongs to (a loop body or nested function is inside it)."""
    FuncGraph = private.get("FuncGraph")

    while isinstance(getattr(graph, "outer_graph", None), FuncGraph):
        graph = graph.outer_graph
    return graph


def graph_layout(call: Updates, graph: Any = None) -> list[LossTarget]:
    """Where each loss of a traced call is: in the function's result when it returns it, else where the
    trace wrote it (graph_values). A call that trains in tf.distribute replicas has for losses what it
    returns (the script's reduced values)."""
    if call.replicated:
        return [LossTarget(name=None, value=value, returned_as=path)
                for path, value in returned_paths(getattr(graph, "structured_outputs", None))
                if is_scalar_float(value)]
    losses = call.losses()
    for target in losses:
        target.returned_as = returned_path_in_graph(target.value)
    return losses


def returned_path_in_graph(target: Any) -> tuple[Any, ...] | None:
    """The path in the traced function's outputs of a tensor it returns (TensorFlow wraps each returned
    tensor in an Identity op), or None. Read after the trace, from the graph's structured outputs."""
    FuncGraph = private.get("FuncGraph")

    graph = getattr(target, "graph", None)
    if isinstance(getattr(graph, "outer_graph", None), FuncGraph):
        return None  # made inside a nested function or a loop body: not among the outer function's outputs
    name = getattr(target, "name", None)
    for path, output in returned_paths(getattr(graph, "structured_outputs", None)):
        op = getattr(output, "op", None)
        if output is target or (op is not None and op.type == "Identity" and op.inputs[0].name == name):
            return path
    return None


def returned_paths(result: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    """(path, leaf) for a function's result made of dicts, lists and tuples."""
    if isinstance(result, dict):
        return [item for key, value in result.items() for item in returned_paths(value, (*prefix, key))]
    if isinstance(result, (list, tuple)):
        return [item for index, value in enumerate(result) for item in returned_paths(value, (*prefix, index))]
    return [(prefix, result)] if result is not None else []


def value_at(result: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        result = result[key]
    return result


def returned_scalars(result: Any, *, exclude: set[str | None]) -> dict[str, Any]:
    """A returned dict's scalar numbers (a step function's own named values), still as tensors."""
    if not isinstance(result, dict):
        return {}
    return {key: value for key, value in result.items()
            if isinstance(key, str) and key not in exclude and is_scalar_number(value)}


def is_scalar_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    dtype = getattr(value, "dtype", None)
    return dtype is not None and getattr(dtype, "is_floating", False) | getattr(dtype, "is_integer", False) \
        and not getattr(value, "shape", (1,))


def name_values(losses: list[Loss], returned: dict[str, Any]) -> dict[str, Any]:
    """A step's values by name: one loss is `loss`, several take their dict key, the script's variable
    name, or `loss_<n>`; then the returned dict's other entries, which keep their names."""
    if len(losses) == 1 and not returned and not losses[0].from_dict:
        return {"loss": losses[0].value}
    values: dict[str, Any] = {}
    if len(losses) == 1 and not losses[0].from_dict and "loss" not in returned:
        values["loss"] = losses[0].value
    else:
        for index, loss in enumerate(losses, start=1):
            name = loss.name or f"loss_{index}"
            suffix = 2
            while name in values or (name in returned and not loss.from_dict):
                name, suffix = f"{loss.name or 'loss'}_{suffix}", suffix + 1
            values[name] = loss.value
    values.update(returned)
    return values

