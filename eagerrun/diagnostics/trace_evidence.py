"""What the graph run really traced, as evidence for `compare`: the random ops in its graphs and the Python
lines that ran while tracing.

Reading a traced function's source names too much (an `if eps is None:` branch no trace reached) and too
little (a helper two calls down, a layer's `call`, a `Dataset.map` function). The trace itself knows:

- every op of every graph traced (tf.functions, their `tf.cond`/`while` bodies, tf.data functions) keeps
  the stack that created it, already mapped by AutoGraph to the user's own lines. Stateful random ops there
  (`tf.random.normal`, `tf.random.categorical`, `tf.image.random_flip_left_right`, ...) draw other numbers
  in eager and graph mode even with one global seed: graph mode derives each op's seed from the graph
  being built, eager mode from a counter of the eager context.
- the Python that ran during a trace runs once in graph mode and at every call in eager mode: a side
  effect there (a dict counter, a list append, a `print`, a NumPy draw) is the other usual cause. Which
  lines ran is recorded with `sys.settrace` during each trace, for the user's files only; lines of an
  AutoGraph conversion are mapped back through AutoGraph's own source map.

Gathered only when asked (`compare`'s graph run, `--explain`), since a line tracer slows tracing (not the
steps: a traced graph runs without Python).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from eagerrun.user_code import is_autograph_file, is_library_file

# Stateful random kernels: their numbers depend on an op seed that eager and graph mode derive differently.
# A tf.random.Generator's ops (Stateful*) and stateless ops read their state from a variable or an input,
# the same in both modes, and Keras 3's own random ops are stateless on a seed generator's variable.
RANDOM_OPS = frozenset({
    "RandomStandardNormal", "RandomUniform", "RandomUniformInt", "TruncatedNormal", "ParameterizedTruncatedNormal",
    "Multinomial", "RandomShuffle", "RandomGamma", "RandomPoisson", "RandomPoissonV2", "RandomCrop",
})

KERAS_DIR = f"{os.sep}keras{os.sep}"


@dataclass(frozen=True)
class RandomOp:
    """One stateful random op of a traced graph, at the user's line that created it."""

    file: str
    line: int
    op_type: str
    scope: str  # the op's name scope in its graph: a Keras layer's name shows here ("sampling/random_normal")
    calls: tuple[str, ...]  # the user's functions from the outermost to the one with the line
    in_library: bool = False  # made by Keras' code that the line calls (fit's shuffle), not by a tf.random call

    def as_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "op": self.op_type, "scope": self.scope,
                "calls": list(self.calls), "in_library": self.in_library}


@dataclass
class TraceEvidence:
    """Collects, trace by trace, the random ops of the graphs built and the user's lines that ran."""

    random_ops: dict[tuple[str, int, str], RandomOp] = field(default_factory=dict)
    executed: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    _conversions: dict[str, dict[int, tuple[str, int]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def converted(self, function: Any) -> None:
        """AutoGraph converted a function: keep its generated file's map back to the user's lines."""
        source_map = getattr(function, "ag_source_map", None)
        code = getattr(function, "__code__", None)
        if not source_map or code is None:
            return
        lines = {loc.lineno: (origin.loc.filename, origin.loc.lineno) for loc, origin in source_map.items()
                 if loc.filename == code.co_filename and not is_library_file(origin.loc.filename)}
        if lines:
            with self._lock:
                self._conversions[code.co_filename] = lines

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """Record the user's lines that run in this thread inside the block (one trace). Another tracer
        already installed (a debugger, coverage) is left alone: then no lines are recorded."""
        if sys.gettrace() is not None and sys.gettrace() is not self._enter:
            yield
            return
        previous = sys.gettrace()
        sys.settrace(self._enter)
        try:
            yield
        finally:
            sys.settrace(previous)

    def _enter(self, frame: FrameType, event: str, arg: Any) -> Any:
        file = frame.f_code.co_filename
        if file in self._conversions or not (is_library_file(file) or is_autograph_file(file)):
            return self._line
        return None  # TensorFlow's, Keras', a conversion of theirs: not traced line by line

    def _line(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            file, line = frame.f_code.co_filename, frame.f_lineno
            origin = self._conversions.get(file, {}).get(line) if file in self._conversions else (file, line)
            if origin is not None:
                self.executed[origin[0]].add(origin[1])
        return self._line

    def graph_traced(self, graph: Any) -> None:
        """The random ops of a traced graph and of the graphs inside it (branches, loop bodies)."""
        for op in operations(graph):
            if op.type not in RANDOM_OPS:
                continue
            stack = list(op.traceback)
            frames = [frame for frame in stack if not is_library_file(frame.filename)]
            if not frames:
                continue
            where = frames[-1]
            found = RandomOp(file=where.filename, line=where.lineno, op_type=op.type,
                             scope=op.name.rpartition("/")[0],
                             calls=calls_of(frames),
                             in_library=any(KERAS_DIR in frame.filename for frame in stack[stack.index(where):]))
            with self._lock:
                self.random_ops.setdefault((found.file, found.line, found.op_type), found)


def calls_of(frames: list[Any]) -> tuple[str, ...]:
    """The user's function names from the outermost down, each once in a row (AutoGraph's loop and branch
    bodies repeat the function they are in), without the script's module level."""
    names: list[str] = []
    for frame in frames:
        if frame.name != "<module>" and (not names or names[-1] != frame.name):
            names.append(frame.name)
    return tuple(names)


def operations(graph: Any, seen: set[int] | None = None) -> Iterator[Any]:
    """Every op of `graph` and of the function graphs in its library, each graph once."""
    seen = set() if seen is None else seen
    if id(graph) in seen:
        return
    seen.add(id(graph))
    yield from graph.get_operations()
    for function in list(getattr(graph, "_functions", {}).values()):
        inner = getattr(function, "graph", None)
        if inner is not None:
            yield from operations(inner, seen)
