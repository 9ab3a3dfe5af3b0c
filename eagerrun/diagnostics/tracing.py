"""Counting tf.function traces, per function, and saying why a function traced again.

TensorFlow counts traces per function (`experimental_get_tracing_count`) but not globally, and says nothing
of why a function traced again. Every trace of every tf.function goes through one private function, which
`autolog/hooks.py` wraps to call `TraceCounter.traced` with the trace's function type: the shape and dtype of each
tensor argument, each Python value, each Python object. A retrace is a trace whose inputs differ from every
earlier trace of that function; what differs, against the closest earlier trace, is the reason, with the
fix TensorFlow's guide gives for it.

TensorFlow traces a first call that creates variables twice with the same inputs: the second is not a
retrace. A new tf.function object at the same place (`step = tf.function(f)` each epoch, a `@tf.function`
defined inside the loop, `tf.function(lambda ...)` per call) traces once for itself and never retraces
(tensorflow#46012): it is a re-creation when every earlier object of that place is gone, which is what a
loop that makes one per turn leaves; objects that live side by side (one per model from a factory, a
method's per-instance function) are not. Each trace's wall time and graph size (ops) are kept; what the
retraces and re-creations cost is their time, a trace inside another counted one counted once.

Traces made in a MirroredStrategy's replica threads are counted when the hook says so (`replica_graph`):
each replica traces the same function for its own device, so a trace whose inputs another replica already
traced into the same graph is not counted again. Off (`enabled=False`) in eager mode, where every
tf.function body runs op by op and nothing a user wrote is traced.
"""

from __future__ import annotations

import inspect
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any, Literal

from eagerrun.errors import EXIT_RETRACES, EagerrunError
from eagerrun.user_code import is_library_file

Signature = dict[str, tuple[str, str]]  # argument path -> (kind, what it was): ("tensor", "(32, 8) float32")

FIXES = {
    "shape": "a new shape makes a new graph: @tf.function(reduce_retracing=True), or an input_signature with "
             "None where the size varies (a ragged last batch: batch(..., drop_remainder=True))",
    "dtype": "a new dtype makes a new graph: cast the argument to one dtype before the call",
    "python": "each Python value makes a new graph: pass a tensor (tf.constant, or a tf.Variable you assign)",
    "object": "each new Python object makes a new graph: pass the same object each time, or tensors",
    "kind": "an argument that is sometimes a tensor and sometimes a Python value makes a graph for each: "
            "always pass a tensor",
    "arguments": "another number or structure of arguments makes a new graph: call it the same way each time",
}


@dataclass(frozen=True)
class Change:
    """One difference between a retrace's inputs and an earlier trace's."""

    argument: str
    kind: str  # a key of FIXES
    before: str
    after: str

    def as_json(self) -> dict[str, str]:
        return {"argument": self.argument, "kind": self.kind, "before": self.before, "after": self.after,
                "fix": FIXES[self.kind]}


# why a trace happened: the function's first; a retrace (new inputs); a re-created tf.function object's
# first; again with inputs it had (TensorFlow's second trace of a first call that creates variables, a
# trace inside an enclosing function's new graph, another replica's device)
Why = Literal["first", "retrace", "recreated", "again"]
COSTLY: tuple[Why, ...] = ("retrace", "recreated")


@dataclass
class Trace:
    """One trace: why it happened, its wall time (the user's Python run into a graph, with the traces
    inside it) and the number of ops of the graph it made."""

    why: Why
    seconds: float = 0.0
    ops: int = 0
    in_cost: bool = False  # counted in the retraces' cost: costly, and inside no other costly trace
    stopped: bool = False  # --max-retraces stopped the run before this trace
    retrace: bool = False  # new inputs for its function (a re-created object's trace can be one too)

    def as_json(self) -> dict[str, Any]:
        return {"why": self.why, "seconds": round(self.seconds, 6), "ops": self.ops, "stopped": self.stopped}


@dataclass
class FunctionTraces:
    """How often one tf.function was traced into a graph, where it is defined, why it retraced, how many
    tf.function objects were made of it, and what each trace cost."""

    name: str
    file: str | None
    line: int | None
    traces: int = 0
    signatures: list[Signature] = field(default_factory=list)  # one per distinct trace
    retraces: list[list[Change]] = field(default_factory=list)  # for each retrace, what changed
    each_trace: list[Trace] = field(default_factory=list)
    created: int = 0  # tf.function objects made of it that traced
    recreated: int = 0  # of those, made after every earlier one was gone
    xla: bool = False  # jit_compile=True: XLA compiles each trace anew

    @property
    def place(self) -> str:
        return f"{self.file}:{self.line}" if self.file else "?"

    @property
    def trace_seconds(self) -> float:
        return sum(trace.seconds for trace in self.each_trace)

    @property
    def cost_seconds(self) -> float:
        """The time of its retraces and re-creations (those not inside another counted trace)."""
        return sum(trace.seconds for trace in self.each_trace if trace.in_cost)

    def traces_for(self, why: Why) -> list[Trace]:
        """Its traces for `why`; for "retrace", every trace with new inputs, one per `retraces`' entry."""
        return [trace for trace in self.each_trace if (trace.retrace if why == "retrace" else trace.why == why)]

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "file": self.file, "line": self.line, "traces": self.traces,
                "distinct_traces": len(self.signatures),
                "retraces": [[change.as_json() for change in changes] for changes in self.retraces],
                "created": self.created, "recreated": self.recreated, "jit_compile": self.xla,
                "trace_seconds": round(self.trace_seconds, 6), "cost_seconds": round(self.cost_seconds, 6),
                "each_trace": [trace.as_json() for trace in self.each_trace]}


@dataclass
class Place:
    """The tf.function objects made at one place (name, file, line), the user's or not."""

    objects: weakref.WeakSet[Any] = field(default_factory=weakref.WeakSet)  # those alive
    created: int = 0
    recreated: int = 0
    retraces: int = 0


class TooManyRetraces(EagerrunError):
    def __init__(self, function: FunctionTraces, place: Place, limit: int) -> None:
        what = f"traced {len(function.signatures)} times" if not place.recreated else \
            f"created {place.created} times" if not place.retraces else \
            f"retraced {place.retraces} and created {place.created} times"
        super().__init__(f"{function.name} ({function.place}) {what}, more than --max-retraces {limit} allows; "
                         "the report above says why", exit_code=EXIT_RETRACES)


class TraceCounter:
    """`count` grows by one for each trace; `functions` says, per function of the user's, how often and why."""

    def __init__(self, *, enabled: bool = True, max_retraces: int | None = None) -> None:
        self.enabled = enabled
        self.max_retraces = max_retraces
        self.count = 0
        self._traced: dict[Any, FunctionTraces] = {}  # one per wrapped function, TensorFlow's and Keras' too
        self._places: dict[tuple[str, str | None, int | None], Place] = {}
        self._retrace_at: list[bool] = []  # for each trace: whether it was a retrace or a re-creation
        self._open: list[Trace] = []  # the traces now running, outermost first (replica threads run in turn)
        self._replica_traced: weakref.WeakKeyDictionary[Any, set[Any]] = weakref.WeakKeyDictionary()
        self._lock = threading.RLock()

    @property
    def functions(self) -> dict[tuple[str, str | None, int | None], FunctionTraces]:
        """The user's own tf.functions, each once (by name and place) however many objects TensorFlow made of
        it (Keras makes one per `make_train_function`, a method one per instance), their traces added up.
        TensorFlow's, Keras' and other installed code (`initialize_variables`, tf.data's functions, Keras'
        `one_step_on_data`) is left out by the file its code is in."""
        merged: dict[tuple[str, str | None, int | None], FunctionTraces] = {}
        for entry in self._traced.values():
            if entry.file is not None and is_library_file(entry.file):
                continue
            key = (entry.name, entry.file, entry.line)
            into = merged.get(key)
            if into is None:
                place = self._places.get(key, Place())
                into = merged[key] = FunctionTraces(name=entry.name, file=entry.file, line=entry.line,
                                                    created=place.created, recreated=place.recreated)
            into.traces += entry.traces
            into.signatures.extend(s for s in entry.signatures if s not in into.signatures)
            into.retraces.extend(entry.retraces)
            into.each_trace.extend(entry.each_trace)
            into.xla = into.xla or entry.xla
        return merged

    def traced(self, python_function: Any, name: str, function_type: Any = None, *, made_by: Any = None,
               xla: bool = False, replica_graph: Any = None) -> Trace | None:
        """One trace of `python_function` (TensorFlow's wrapper of the user's function) for `function_type`,
        by the tf.function object `made_by` stands for (one object per tf.function, weakly referenced);
        with `replica_graph`, made in a replica thread into that graph. The trace returned is to be passed
        to `ended`; None where it is not counted. Raises TooManyRetraces, before the trace, when it would
        pass --max-retraces."""
        if not self.enabled:
            return None
        key, file, line = function_identity(python_function)
        signature = describe_inputs(function_type)
        with self._lock:
            if replica_graph is not None and not self._first_in_replicas(replica_graph, key, signature):
                return None
            entry = self._traced.get(key)
            if entry is None:
                entry = self._traced[key] = FunctionTraces(name=name, file=file, line=line)
            entry.xla = entry.xla or xla
            place = self._places.setdefault((name, file, line), Place())
            users = file is not None and not is_library_file(file)
            recreated = False
            if made_by is not None and made_by not in place.objects:
                # Keras makes its train function anew for each fit call: the user's functions only
                recreated = users and place.created > 0 and not place.objects
                place.objects.add(made_by)
                place.created += 1
                place.recreated += recreated
            retrace = bool(entry.signatures) and signature not in entry.signatures
            if retrace:
                entry.retraces.append(changes_against_closest(signature, entry.signatures))
                place.retraces += 1
            why: Why = "recreated" if recreated else "retrace" if retrace else \
                "first" if not entry.signatures else "again"
            if not entry.signatures or retrace:
                entry.signatures.append(signature)
            entry.traces += 1
            entry.created, entry.recreated = place.created, place.recreated
            self._retrace_at.append(why in COSTLY)
            self.count += 1
            limit = self.max_retraces
            if limit is not None and why in COSTLY and (
                    len(entry.retraces) > limit or (users and place.retraces + place.recreated > limit)):
                entry.each_trace.append(Trace(why, stopped=True, retrace=retrace))
                raise TooManyRetraces(entry, place, limit)
            trace = Trace(why, retrace=retrace)
            trace.in_cost = why in COSTLY and not any(outer.why in COSTLY for outer in self._open)
            entry.each_trace.append(trace)
            self._open.append(trace)
            return trace

    def ended(self, trace: Trace | None, seconds: float, ops: int) -> None:
        """The trace `traced` returned is over: it took `seconds` and made a graph of `ops` ops (0 where it
        failed)."""
        if trace is None:
            return
        with self._lock:
            trace.seconds, trace.ops = seconds, ops
            if trace in self._open:
                self._open.remove(trace)

    def _first_in_replicas(self, graph: Any, key: Any, signature: Signature) -> bool:
        """Whether no other replica traced this function for these inputs into `graph` yet."""
        seen = self._replica_traced.setdefault(graph, set())
        traced = (id(key) if getattr(key, "__hash__", None) is None else key, tuple(sorted(signature.items())))
        if traced in seen:
            return False
        seen.add(traced)
        return True

    def cost_seconds(self) -> float:
        """What the retraces and re-creations of every function cost, in seconds of tracing."""
        return sum(trace.seconds for entry in self._traced.values() for trace in entry.each_trace if trace.in_cost)

    def retraced_between(self, start: int, end: int) -> bool:
        """Whether a trace among `start`..`end` (counts) was a retrace."""
        return any(self._retrace_at[start:end])

    def retraced_functions(self) -> list[FunctionTraces]:
        return [entry for entry in self._traced.values() if entry.retraces]

    def recreated_functions(self) -> list[FunctionTraces]:
        """The user's functions re-created (a new tf.function object at the same place, the old one gone)."""
        return [function for function in self.functions.values() if function.recreated]


def function_identity(python_function: Any) -> tuple[Any, str | None, int | None]:
    """A key for one tf.function whatever TensorFlow wraps it in (the object it wraps: the user's function,
    or the bound method of one instance), and where its code is."""
    wrapped = getattr(python_function, "__wrapped__", python_function)
    unwrapped = inspect.unwrap(python_function)
    code = getattr(getattr(unwrapped, "__func__", unwrapped), "__code__", None)
    replica_function = _behind_replica_wrapper(unwrapped, code)
    if replica_function is not None:
        wrapped = unwrapped = inspect.unwrap(replica_function)
        code = getattr(getattr(unwrapped, "__func__", unwrapped), "__code__", None)
    key = wrapped if getattr(wrapped, "__hash__", None) is not None else id(wrapped)
    if code is None:
        return key, None, None
    return key, code.co_filename, code.co_firstlineno


def _behind_replica_wrapper(unwrapped: Any, code: Any) -> Any:
    """The user's function behind MirroredStrategy's `wrapped_fn`: `strategy.run(f)` of a tf.function `f`
    outside any graph traces a clone of `f` whose Python function is TensorFlow's closure over `f`
    (mirrored_run.call_for_each_replica); None for any other function."""
    if code is None or code.co_name != "wrapped_fn" or "fn" not in code.co_freevars or \
            not is_library_file(code.co_filename):
        return None
    closure = getattr(unwrapped, "__closure__", None) or ()
    try:
        inner = closure[code.co_freevars.index("fn")].cell_contents
    except (IndexError, ValueError):
        return None
    return getattr(inner, "python_function", None)


def describe_inputs(function_type: Any) -> Signature:
    """Each argument of a trace, flattened: a tensor's shape and dtype, a Python value, an object's type."""
    described: Signature = {}
    parameters = getattr(function_type, "parameters", None) or {}
    for parameter in parameters.values():
        describe(parameter.type_constraint, parameter.name, described)
    return described


def describe(constraint: Any, path: str, into: Signature) -> None:
    kind = type(constraint).__name__
    if hasattr(constraint, "shape") and hasattr(constraint, "dtype"):
        shape = getattr(constraint.shape, "as_list", lambda: None)() if constraint.shape.rank is not None else None
        into[path] = ("tensor", f"{tuple(shape) if shape is not None else 'unknown shape'} "
                                f"{getattr(constraint.dtype, 'name', constraint.dtype)}")
    elif kind == "Literal":
        into[path] = ("python", repr(constraint.value))
    elif kind == "Weakref":
        target = constraint._ref()
        into[path] = ("object", f"a {type(target).__name__} at {id(target):#x}")
    elif kind in ("Tuple", "List", "NamedTuple"):
        for index, component in enumerate(getattr(constraint, "components", ())):
            describe(component, f"{path}[{index}]", into)
    elif kind == "Dict":
        for key, component in constraint.mapping.items():
            describe(component, f"{path}[{key!r}]", into)
    else:
        into[path] = ("other", repr(constraint)[:80])


def changes_against_closest(signature: Signature, earlier: list[Signature]) -> list[Change]:
    """What differs from the earlier trace it differs from least."""
    candidates = [changes_between(before, signature) for before in earlier]
    return min(candidates, key=len)


def changes_between(before: Signature, after: Signature) -> list[Change]:
    changes = []
    for path in dict.fromkeys([*before, *after]):
        if path not in before or path not in after:
            changes.append(Change(path, "arguments", "absent" if path not in before else describe_value(before[path]),
                                  "absent" if path not in after else describe_value(after[path])))
            continue
        (old_kind, old), (new_kind, new) = before[path], after[path]
        if (old_kind, old) == (new_kind, new):
            continue
        if old_kind != new_kind:
            changes.append(Change(path, "kind", describe_value(before[path]), describe_value(after[path])))
        elif old_kind == "tensor":
            (old_shape, old_dtype), (new_shape, new_dtype) = old.rsplit(" ", 1), new.rsplit(" ", 1)
            if old_dtype != new_dtype:
                changes.append(Change(path, "dtype", old_dtype, new_dtype))
            if old_shape != new_shape:
                changes.append(Change(path, "shape", old_shape, new_shape))
        else:
            changes.append(Change(path, old_kind if old_kind in FIXES else "arguments", old, new))
    return changes


def describe_value(entry: tuple[str, str]) -> str:
    kind, what = entry
    return {"tensor": f"a tensor {what}", "python": f"the Python value {what}", "object": what}.get(kind, what)
