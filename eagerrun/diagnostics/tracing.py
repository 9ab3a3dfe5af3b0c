"""Counting tf.function traces, per function, and saying why a function traced again.

TensorFlow counts traces per function (`experimental_get_tracing_count`) but not globally, and says nothing
of why a function traced again. Every trace of every tf.function goes through one private function, which
`autolog/hooks.py` wraps to call `TraceCounter.traced` with the trace's function type: the shape and dtype of each
tensor argument, each Python value, each Python object. A retrace is a trace whose inputs differ from every
earlier trace of that function; what differs, against the closest earlier trace, is the reason, with the
fix TensorFlow's guide gives for it.

TensorFlow traces a first call that creates variables twice with the same inputs: the second is not a
retrace. Off (`enabled=False`) in eager mode, where every tf.function body runs op by op and nothing a user
wrote is traced.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

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


@dataclass
class FunctionTraces:
    """How often one tf.function was traced into a graph, where it is defined, and why it retraced."""

    name: str
    file: str | None
    line: int | None
    traces: int = 0
    signatures: list[Signature] = field(default_factory=list)  # one per distinct trace
    retraces: list[list[Change]] = field(default_factory=list)  # for each retrace, what changed

    @property
    def place(self) -> str:
        return f"{self.file}:{self.line}" if self.file else "?"

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "file": self.file, "line": self.line, "traces": self.traces,
                "distinct_traces": len(self.signatures),
                "retraces": [[change.as_json() for change in changes] for changes in self.retraces]}


class TooManyRetraces(EagerrunError):
    def __init__(self, function: FunctionTraces, limit: int) -> None:
        super().__init__(f"{function.name} ({function.place}) traced {len(function.signatures)} times, more than "
                         f"--max-retraces {limit} allows; the report above says why", exit_code=EXIT_RETRACES)


class TraceCounter:
    """`count` grows by one for each trace; `functions` says, per function of the user's, how often and why."""

    def __init__(self, *, enabled: bool = True, max_retraces: int | None = None) -> None:
        self.enabled = enabled
        self.max_retraces = max_retraces
        self.count = 0
        self._traced: dict[Any, FunctionTraces] = {}  # one per tf.function object, TensorFlow's and Keras' too
        self._retrace_at: list[bool] = []  # for each trace: whether it was a retrace

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
            into = merged.setdefault(key, FunctionTraces(name=entry.name, file=entry.file, line=entry.line))
            into.traces += entry.traces
            into.signatures.extend(s for s in entry.signatures if s not in into.signatures)
            into.retraces.extend(entry.retraces)
        return merged

    def traced(self, python_function: Any, name: str, function_type: Any = None) -> None:
        """One trace of `python_function` (TensorFlow's wrapper of the user's function) for `function_type`.
        Raises TooManyRetraces, before the trace, when it would pass --max-retraces."""
        if not self.enabled:
            return
        key, file, line = function_identity(python_function)
        entry = self._traced.get(key)
        if entry is None:
            entry = self._traced[key] = FunctionTraces(name=name, file=file, line=line)
        signature = describe_inputs(function_type)
        retrace = bool(entry.signatures) and signature not in entry.signatures
        if retrace:
            entry.retraces.append(changes_against_closest(signature, entry.signatures))
        if not entry.signatures or retrace:
            entry.signatures.append(signature)
        entry.traces += 1
        self._retrace_at.append(retrace)
        self.count += 1
        if retrace and self.max_retraces is not None and len(entry.retraces) > self.max_retraces:
            raise TooManyRetraces(entry, self.max_retraces)

    def retraced_between(self, start: int, end: int) -> bool:
        """Whether a trace among `start`..`end` (counts) was a retrace."""
        return any(self._retrace_at[start:end])

    def retraced_functions(self) -> list[FunctionTraces]:
        return [entry for entry in self._traced.values() if entry.retraces]


def function_identity(python_function: Any) -> tuple[Any, str | None, int | None]:
    """A key for one tf.function whatever TensorFlow wraps it in (the object it wraps: the user's function,
    or the bound method of one instance), and where its code is."""
    wrapped = getattr(python_function, "__wrapped__", python_function)
    key = wrapped if getattr(wrapped, "__hash__", None) is not None else id(wrapped)
    unwrapped = inspect.unwrap(python_function)
    code = getattr(getattr(unwrapped, "__func__", unwrapped), "__code__", None)
    if code is None:
        return key, None, None
    return key, code.co_filename, code.co_firstlineno


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
