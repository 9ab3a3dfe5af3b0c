"""Which of the Python lines that ran while a function traced can make eager and graph runs differ.

In graph mode a tf.function's Python runs once, at trace time; in eager mode it runs at every call. So a
`print`, a list append, a dict or attribute counter, a draw from NumPy's or Python's random generator that
runs inside a traced function, however many calls down, happens once in one mode and every step in the
other. `trace_evidence.TraceEvidence` records which of the user's lines ran during the graph run's traces;
this reads those lines' source and names the ones that change state outliving the call. It is evidence,
not proof: a line found here is where to look first. A line that never ran in a trace (a branch the trace
did not take) is never named.
"""

from __future__ import annotations

import ast
import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from eagerrun.diagnostics.trace_evidence import RandomOp, TraceEvidence
from eagerrun.user_code import is_library_file

KINDS = {
    "print": "print runs once, at trace time, in graph mode and at every step in eager mode (tf.print runs in both)",
    "python_container": "a Python list, dict or set changes once, at trace time, in graph mode and at every step "
                        "in eager mode",
    "python_counter": "a Python counter advances once, at trace time, in graph mode and at every step in eager mode",
    "python_state": "Python state outside the function (an attribute, a global) is set once, at trace time, in "
                    "graph mode and at every step in eager mode",
    "python_random": "drawn once at trace time in graph mode (then a constant of the graph), at every step in eager "
                     "mode: use tf.random with a seed",
    "unseeded_random_op": "a TensorFlow random op without a seed of its own draws other numbers in eager and graph "
                          "mode: pass seed=, or use tf.random.stateless_* / a tf.random.Generator",
    "python_clock": "read once at trace time in graph mode, at every step in eager mode",
    "seed_at_trace": "a seed set inside a tf.function is set once, at trace time, in graph mode and at every "
                     "step in eager mode: seed once, before training",
}
SIDE_EFFECTS = ("print", "python_container", "python_counter", "python_state", "python_random", "python_clock",
                "seed_at_trace")
RANDOMNESS = ("python_random", "unseeded_random_op", "seed_at_trace")
SEEDING = {"tf.random.set_seed", "keras.utils.set_random_seed", "tf.keras.utils.set_random_seed", "np.random.seed",
           "numpy.random.seed", "random.seed"}
MUTATORS = {"append", "extend", "insert", "add", "update", "pop", "remove", "clear", "setdefault"}
SET_ONCE = ("__init__", "build")  # a layer's own set-up: once in both modes


@dataclass(frozen=True)
class Suspect:
    """One line that ran in a trace and can make the modes differ."""

    file: str
    line: int
    code: str
    kind: str  # a key of KINDS
    detail: str | None = None  # for a random op: its type and the user's calls down to it

    @property
    def why(self) -> str:
        return KINDS[self.kind]

    def as_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "code": self.code, "kind": self.kind, "why": self.why,
                "detail": self.detail}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Suspect:
        return cls(file=data["file"], line=data["line"], code=data["code"], kind=data["kind"],
                   detail=data.get("detail"))


def suspects_of(evidence: TraceEvidence) -> list[Suspect]:
    """What the traces ran and built that can make the modes differ: the random ops without a seed of
    their own, then the side effects, each group in file order."""
    randoms = [random_op_suspect(op) for op in evidence.random_ops.values()]
    found = sorted((s for s in randoms if s is not None), key=lambda s: (s.file, s.line))
    return found + side_effects_at(evidence.executed)


def side_effects_at(executed: dict[str, set[int]]) -> list[Suspect]:
    """The side effects among the lines that ran (file -> line numbers), in file order."""
    found: dict[tuple[str, int, str], Suspect] = {}
    for file, lines in executed.items():
        if is_library_file(file) or not os.path.isfile(file):
            continue
        tree, source = parsed(file)
        if tree is None:
            continue
        for function in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
            if function.name in SET_ONCE:
                continue
            local = local_names(function)
            declared = {name for n in own_nodes(function) if isinstance(n, (ast.Global, ast.Nonlocal))
                        for name in n.names}
            for node in own_nodes(function):
                line = getattr(node, "lineno", None)
                if line not in lines:
                    continue
                kind = suspect_kind(node, local - declared, declared)
                if kind is not None:
                    found.setdefault((file, line, kind), Suspect(file, line, source[line - 1].strip(), kind))
    return sorted(found.values(), key=lambda s: (s.file, s.line, s.kind))


def random_op_suspect(op: RandomOp) -> Suspect | None:
    """A stateful random op of a traced graph, unless its line gives it a seed of its own."""
    file, line = op.file, op.line
    tree, source = parsed(file)
    code = source[line - 1].strip() if 0 < line <= len(source) else ""
    if tree is not None and any(isinstance(n, ast.Call) and n.lineno == line and
                                any(k.arg == "seed" for k in n.keywords) for n in ast.walk(tree)):
        return None
    scope = f", name scope {op.scope}" if op.scope else ""
    within = f" in {' → '.join(op.calls)}" if op.calls else ""
    if op.in_library:
        made = f"{op.op_type}, made by the Keras code this line calls{within}"
        if ".fit(" in code:
            made += ": fit shuffles arrays with it (fit(..., shuffle=False), or a tf.data dataset, draws alike)"
        return Suspect(file, line, code, "unseeded_random_op", detail=made)
    return Suspect(file, line, code, "unseeded_random_op", detail=f"{op.op_type}{within}{scope}")


def own_nodes(function: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a function's body, not those of the functions and classes defined inside it."""
    for child in ast.iter_child_nodes(function):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        yield child
        yield from own_nodes(child)


def local_names(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Names the function binds itself (its parameters are the caller's objects, so they are not)."""
    return {n.id for n in own_nodes(function) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def root_name(node: ast.AST) -> str | None:
    """`state` for `state["calls"]`, `self.a.b`, `seen.append`; None for anything but a name at the root."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def suspect_kind(node: ast.AST, local: set[str], declared: set[str]) -> str | None:
    """What a node of a traced function does that outlives the call, if anything."""
    if isinstance(node, ast.AugAssign):
        target = node.target
        if isinstance(target, ast.Name):
            return "python_counter" if target.id in declared else None
        return "python_counter" if root_name(target) not in local else None
    if isinstance(node, ast.Assign):
        for assigned in node.targets:
            if isinstance(assigned, ast.Name) and assigned.id in declared:
                return "python_state"
            if isinstance(assigned, ast.Subscript) and root_name(assigned) not in local:
                return "python_container"
            if isinstance(assigned, ast.Attribute) and root_name(assigned) not in local:
                return "python_state"
        return None
    if not isinstance(node, ast.Call):
        return None
    name = dotted(node.func)
    if name == "print":
        return "print"
    last = name.rsplit(".", 1)[-1]
    if (isinstance(node.func, ast.Attribute) and last in MUTATORS and root_name(node.func.value) not in local
            and not name.startswith(("tf.", "self.optimizer"))):
        return "python_container"
    if name in SEEDING:
        return "seed_at_trace"
    if name.startswith(("np.random.", "numpy.random.", "random.")):
        return "python_random"
    if name in ("time.time", "time.perf_counter", "datetime.now", "datetime.datetime.now"):
        return "python_clock"
    return None


def dotted(node: ast.AST) -> str:
    """`np.random.rand` for the callee of `np.random.rand(3)`; '' where it is not a plain dotted name."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else node.attr
    return ""


@functools.cache
def parsed(file: str) -> tuple[ast.Module | None, list[str]]:
    try:
        with open(file, encoding="utf-8") as source:
            text = source.read()
        return ast.parse(text, filename=file), text.splitlines()
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None, []
