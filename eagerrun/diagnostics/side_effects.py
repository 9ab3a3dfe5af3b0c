"""What in a traced function's source can make eager and graph runs differ, for `compare` to name.

In graph mode a tf.function's Python runs once, at trace time; in eager mode it runs at every call. So a
`print`, a list append, a Python counter, a draw from NumPy's or Python's random generator inside a traced
function happens once in one mode and every step in the other, and a TensorFlow random op without a seed of
its own draws other numbers in the two modes (its op seed comes from how the graph was built). `compare`
knows which functions traced (the graph run's report); this reads their source and lists such lines. It is
evidence, not proof: a line found here is where to look first.
"""

from __future__ import annotations

import ast
import functools
import os
from dataclasses import dataclass
from typing import Any

from eagerrun.user_code import is_library_file

KINDS = {
    "print": "print runs once, at trace time, in graph mode and at every step in eager mode (tf.print runs in both)",
    "python_container": "a Python list, dict or set changes once, at trace time, in graph mode and at every step "
                        "in eager mode",
    "python_counter": "a Python counter advances once, at trace time, in graph mode and at every step in eager mode",
    "python_random": "drawn once at trace time in graph mode (then a constant of the graph), at every step in eager "
                     "mode: use tf.random with a seed",
    "unseeded_random_op": "a TensorFlow random op without a seed of its own draws other numbers in eager and graph "
                          "mode: pass seed=, or use tf.random.stateless_* / a tf.random.Generator",
    "python_clock": "read once at trace time in graph mode, at every step in eager mode",
    "seed_at_trace": "a seed set inside a tf.function is set once, at trace time, in graph mode and at every "
                     "step in eager mode: seed once, before training",
}
SIDE_EFFECTS = ("print", "python_container", "python_counter", "python_random", "python_clock", "seed_at_trace")
SEEDING = {"tf.random.set_seed", "keras.utils.set_random_seed", "tf.keras.utils.set_random_seed", "np.random.seed",
           "numpy.random.seed", "random.seed"}
MUTATORS = {"append", "extend", "insert", "add", "update", "pop", "remove", "clear", "setdefault"}
RANDOM_OPS = {"uniform", "normal", "truncated_normal", "shuffle", "categorical", "gamma", "poisson",
              "random_uniform", "random_normal", "random_shuffle"}


@dataclass(frozen=True)
class Suspect:
    """One line of a traced function that can make the modes differ."""

    file: str
    line: int
    code: str
    kind: str  # a key of KINDS

    @property
    def why(self) -> str:
        return KINDS[self.kind]

    def as_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "code": self.code, "kind": self.kind, "why": self.why}


def suspects_in(functions: list[dict[str, Any]]) -> list[Suspect]:
    """The suspect lines of the user's traced functions (a run report's `functions`), in file order."""
    found: dict[tuple[str, int, str], Suspect] = {}
    for function in functions:
        file, line = function.get("file"), function.get("line")
        if not file or not line or is_library_file(file) or not os.path.isfile(file):
            continue
        for suspect in suspects_in_function(file, line):
            found.setdefault((suspect.file, suspect.line, suspect.kind), suspect)
    return sorted(found.values(), key=lambda s: (s.file, s.line, s.kind))


def suspects_in_function(file: str, line: int) -> list[Suspect]:
    tree, lines = parsed(file)
    if tree is None:
        return []
    node = next((n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                 and line in (n.lineno, *(d.lineno for d in getattr(n, "decorator_list", [])))), None)
    if node is None:
        return []
    declared = {name for n in ast.walk(node) if isinstance(n, (ast.Global, ast.Nonlocal)) for name in n.names}
    suspects = []
    for child in ast.walk(node):
        kind = suspect_kind(child, declared)
        if kind is not None:
            line = child.lineno  # type: ignore[attr-defined]  # suspect_kind only names statements and expressions
            suspects.append(Suspect(file, line, lines[line - 1].strip(), kind))
    return suspects


def suspect_kind(node: ast.AST, declared: set[str]) -> str | None:
    if isinstance(node, ast.AugAssign):
        target = node.target
        if isinstance(target, ast.Attribute) or (isinstance(target, ast.Name) and target.id in declared):
            return "python_counter"
        return None
    if not isinstance(node, ast.Call):
        return None
    name = dotted(node.func)
    if name == "print":
        return "print"
    last = name.rsplit(".", 1)[-1]
    if isinstance(node.func, ast.Attribute) and last in MUTATORS and not name.startswith(("tf.", "self.optimizer")):
        return "python_container"
    if name in SEEDING:
        return "seed_at_trace"
    if name.startswith(("np.random.", "numpy.random.", "random.")):
        return "python_random"
    if name in ("time.time", "time.perf_counter", "datetime.now", "datetime.datetime.now"):
        return "python_clock"
    if name.startswith(("tf.random.", "keras.random.")) and last in RANDOM_OPS and \
            not any(keyword.arg == "seed" for keyword in node.keywords):
        return "unseeded_random_op"
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
