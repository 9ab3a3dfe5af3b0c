"""`--check-numerics`: the first op that makes an Inf or NaN, named in a few lines instead of 60.

TensorFlow's `tf.debugging.enable_check_numerics()` (switched on by modes.apply_mode, before the script is
imported, so every op of every graph the script traces is checked, forward and backward) raises an
InvalidArgumentError at the first op whose output holds an Inf or NaN. Its message has what a user needs,
buried in a long dump: the op's type and name, dtype and shape, its input, the function (graph) it ran in,
and the stack of the op's creation. This reads those facts back and adds the user's own source line (the
innermost frame of the user's code, and the class whose method it is), the step, and whether the op's
input was already non-finite (bad data) or the op made it (bad math).

Bad data is caught one step earlier where eagerrun can see it: with --check-numerics, the tensors passed to
an outermost training tf.function are checked before the call (`non_finite_inputs`), so a NaN in a batch is
named as that batch and that argument.
"""

from __future__ import annotations

import ast
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from eagerrun.diagnostics.side_effects import parsed
from eagerrun.errors import EXIT_NONFINITE_LOSS, EagerrunError
from eagerrun.user_code import is_library_file

MARKER = "!!! Detected Infinity or NaN in output"


@dataclass(frozen=True)
class NumericsReport:
    """The first non-finite value: where it was made and what made it."""

    op: str  # the op's type, e.g. "Log"
    output: int
    dtype: str
    shape: str
    function: str | None  # the tf.function (graph) it ran in; None for an eager op outside one
    node: str | None  # the op's name in its graph: its layer's path ("sequential/log_layer/Log")
    where: str | None  # the user's line that created it: "model.py:42 in LogLayer.call"
    inputs: str  # "finite" (the op made it), "non-finite" (bad data came in), "unknown"
    counts: dict[str, int] = field(default_factory=dict)  # "+NaN": 4, "-Inf": 1, where TensorFlow says
    step: int | None = None
    full: str = ""  # TensorFlow's own message, for -v

    @property
    def layer(self) -> str | None:
        """The op's name scope: the path of the Keras layer that made it, where there is one."""
        return self.node.rsplit("/", 1)[0] if self.node and "/" in self.node else None

    def cause(self) -> str:
        if self.op in DATA_OPS:
            return (f"the dataset's batch held it: bad data (output {self.output} of the batch: its part "
                    f"{self.output + 1}, e.g. {'xy'[self.output] if self.output < 2 else 'a later part'} of (x, y) "
                    "batches)")
        if self.inputs == "non-finite":
            return "its input was already non-finite: bad data came in"
        if self.inputs == "finite":
            return "its inputs were finite: the op made it (bad math)"
        return "its input could not be checked"

    def as_json(self) -> dict[str, Any]:
        return {"op": self.op, "output": self.output, "dtype": self.dtype, "shape": self.shape,
                "function": self.function, "layer": self.layer, "where": self.where, "inputs": self.inputs,
                "counts": self.counts, "step": self.step}


class NonFiniteInput(EagerrunError):
    """A training function was called with a tensor holding Inf or NaN: bad data, named before the call."""

    def __init__(self, *, function: str, argument: str, step: int, bad: int, total: int) -> None:
        super().__init__(f"--check-numerics: the input {argument} of {function} at step {step} holds {bad} "
                         f"non-finite values of {total}: bad data, before any op ran on it",
                         exit_code=EXIT_NONFINITE_LOSS)


def is_numerics_error(error: BaseException | None) -> bool:
    return error is not None and MARKER in str(error)


def numerics_report(error: BaseException, *, step: int | None, function: str | None = None,
                    script: Any = None) -> NumericsReport:
    """Read TensorFlow's check-numerics error back into its facts; `function`: the tf.function that was
    running, for an eager op (whose message names no graph)."""
    text = str(error)
    head = re.search(r'Detected Infinity or NaN in output (\d+) of (graph|eagerly-executing) op "([^"]+)"', text)
    graph = head is not None and head.group(2) == "graph"
    dtype = re.search(r"dtype: <dtype: '([^']+)'>", text)
    shape = re.search(r"\n\s*shape: (\([^)]*\))", text)
    graph_name = re.search(r'Graph name: "([^"]+)"', text)
    node = re.search(r"\{\{node ([^}]+)/CheckNumericsV2\}\}", text)
    counts = {kind: int(count) for kind, count in re.findall(r"# of ([+-](?:NaN|Inf)) elements: (\d+)", text)}
    return NumericsReport(
        op=head.group(3) if head else "?", output=int(head.group(1)) if head else 0,
        dtype=dtype.group(1) if dtype else "?", shape=shape.group(1) if shape else "?",
        function=graph_name.group(1) if graph_name else function, node=node.group(1) if node else None,
        where=creation_site(text, loaded_files(script)) if graph else error_site(error),
        inputs=graph_inputs(text, head.group(3) if head else "") if graph else eager_inputs(text), counts=counts,
        step=step, full=text)


def creation_site(text: str, known_files: list[str]) -> str | None:
    """The innermost frame of the user's code in the op's creation stack (eagerrun's own, TensorFlow's and
    Keras' frames are skipped). TensorFlow cuts a long path to `...` and its last characters: such a path is
    matched against `known_files` (the script, the modules loaded) to read its source."""
    frames = re.findall(r"\+ (\S.*?) \(L(\d+)\) (\S+)", text)
    user = [(file, int(line), name) for file, line, name in frames if not is_library_file(file)]
    if not user:
        return None
    file, line, name = user[-1]
    if file.startswith("..."):
        file = next((known for known in known_files if known.endswith(file[3:])), file[3:])
    return f"{os.path.basename(file)}:{line} in {qualified(file, line, name)}"


def loaded_files(script: Any = None) -> list[str]:
    """The files a shortened path can be: the script's, and every loaded module's."""
    files = [str(script)] if script is not None else []
    return files + [path for module in list(sys.modules.values())
                    if isinstance(path := getattr(module, "__file__", None), str)]


def error_site(error: BaseException) -> str | None:
    """An eager op's error: the innermost frame of the user's code in the exception's own traceback."""
    tb, found = error.__traceback__, None
    while tb is not None:
        file = tb.tb_frame.f_code.co_filename
        if not is_library_file(file):
            found = (file, tb.tb_lineno, tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    if found is None:
        return None
    file, line, name = found
    return f"{os.path.basename(file)}:{line} in {qualified(file, line, name)}"


def qualified(file: str, line: int, name: str) -> str:
    """`LogLayer.call` for a method `call` at `line`, found in the file's source; else `name`."""
    tree, _ = parsed(file)
    if tree is None:
        return name
    for klass in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        for method in klass.body:
            if isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) and method.name == name and \
                    method.lineno <= line <= (method.end_lineno or method.lineno):
                return f"{klass.name}.{name}"
    return name


DATA_OPS = ("IteratorGetNext", "IteratorGetNextSync", "IteratorGetNextAsOptional")


def graph_inputs(text: str, op: str) -> str:
    """In a graph every op's output is checked, so an input made by another op was finite, or that op
    would have been named; so were the function's tensor arguments, which eagerrun checks when the function
    is called. An op that reads the data (an iterator's next batch) making it means the data was bad."""
    if op in DATA_OPS:
        return "non-finite"
    return "finite" if re.search(r'Input tensors?', text) else "unknown"


def eager_inputs(text: str) -> str:
    """An eager op's message prints its input's values: non-finite when they show nan or inf."""
    block = text.split("Input tensor", 1)[-1].split(": Tensor had", 1)[0] if "Input tensor" in text else ""
    if not block:
        return "unknown"
    return "non-finite" if re.search(r"\b(nan|inf)\b", block) else "finite"


def non_finite_inputs(function: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, int, int] | None:
    """(argument, non-finite count, size) of the first floating tensor argument holding Inf or NaN."""
    import inspect

    try:
        bound = inspect.signature(function.python_function).bind(*args, **kwargs).arguments
    except (TypeError, ValueError, AttributeError):
        bound = {f"argument {index + 1}": value for index, value in enumerate(args)} | kwargs
    return first_non_finite(bound)


def first_non_finite(named: dict[str, Any]) -> tuple[str, int, int] | None:
    """(name, non-finite count, size) of the first floating tensor among `named` values holding Inf or NaN."""
    import numpy as np
    import tensorflow as tf

    for name, value in named.items():
        for leaf in tf.nest.flatten(value):
            if not hasattr(leaf, "dtype"):
                continue
            try:
                array = np.asarray(leaf)
            except (TypeError, ValueError):  # a distributed batch's per-replica values: not checked here
                continue
            if not np.issubdtype(array.dtype, np.floating):
                continue
            bad = int(array.size - np.count_nonzero(np.isfinite(array)))
            if bad:
                return name, bad, int(array.size)
    return None
