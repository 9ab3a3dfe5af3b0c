"""What a run says besides its table: retraces, the first non-finite value, no steps, a stop before any
step, the script's traceback and exit message, another worker's lines."""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console, Group, RenderableType
from rich.text import Text

from eagerrun import interrupts
from eagerrun.report.console import Pairs, Raw, SoftWrapped, line, stderr

if TYPE_CHECKING:
    from eagerrun.diagnostics.numerics import NumericsReport
    from eagerrun.diagnostics.tracing import FunctionTraces, Trace


def worker_line(index: int, text: str) -> SoftWrapped:
    """One line of another worker's output, labelled with the worker it came from."""
    return line((f"worker {index} │ ", "dim"), text)


def script_traceback(exc: BaseException, *, console: Console = stderr) -> RenderableType:
    """The user's traceback (eagerrun's frames already cut), for `console`: Rich's on a terminal, Python's
    own in a pipe."""
    if console.is_terminal:
        from rich.traceback import Traceback

        return Traceback.from_exception(type(exc), exc, exc.__traceback__)
    return Raw("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))


def exit_message(message: str) -> Raw:
    """`sys.exit("text")` prints its text to stderr, as Python does."""
    return Raw(message + "\n")


def stopped_before_steps(signum: int) -> SoftWrapped:
    """A signal that stopped the run before it recorded a step: said once, above the closing line."""
    return line(("eagerrun: ", "bold"), f"{interrupts.STOPPED_BY[signum]} before any step was recorded")


CHANGE_LABELS = {"shape": "shape ", "dtype": "dtype ", "python": "Python value "}


def retraces(functions: list[FunctionTraces], recreated: Sequence[FunctionTraces] = ()) -> Group:
    """For each tf.function that traced again: how often, and for each retrace what changed in its inputs
    against the closest earlier trace, with the fix for that kind of change (once per kind), and what each
    trace took; for each one made anew each time (`recreated`), how often; then what all that cost."""
    from eagerrun.diagnostics.tracing import FIXES

    lines: list[RenderableType] = []
    for function in functions:
        times = len(function.signatures)
        compiled = f", so XLA compiled it {times} times (jit_compile)" if function.xla else ""
        lines.append(line(("retraced: ", "bold yellow"), (function.name, "bold"),
                          f" ({function.place}) traced {times} times{compiled}"))
        kinds: list[str] = []
        costs = function.traces_for("retrace")
        for number, changes in enumerate(function.retraces, start=2):
            described = "; ".join(f"{c.argument}: {CHANGE_LABELS.get(c.kind, '')}{c.before} → {c.after}"
                                  for c in changes) or "no input changed"
            took = f"  ({cost(costs[number - 2])})" if number - 2 < len(costs) else ""
            lines.append(SoftWrapped(f"  trace {number}: {described}{took}"))  # a str: Rich reads its markup
            kinds.extend(c.kind for c in changes if c.kind not in kinds)
        lines.extend(line(f"  fix: {FIXES[kind]}", style="dim") for kind in kinds)
    for function in recreated:
        again = [trace for trace in function.traces_for("recreated") if not trace.stopped]
        each = "each traced once" if function.traces == function.created else f"traced {function.traces} times in all"
        ops = sorted({trace.ops for trace in again})
        spent = f"{seconds(sum(trace.seconds for trace in again))} for the {len(again)} made again, " + (
            f"{ops[0]} ops each" if len(ops) == 1 else f"{ops[0]}–{ops[-1]} ops") if again else "none traced yet"
        xla = ", each compiled by XLA (jit_compile)" if function.xla else ""
        lines.append(line(("recreated: ", "bold yellow"), (function.name, "bold"),
                          f" ({function.place}) created {function.created}×, {each}{xla} ({spent}); define it once "
                          "outside the loop"))
    costly = {id(trace): trace for function in [*functions, *recreated] for trace in function.each_trace
              if trace.in_cost}
    if costly:
        counts = [f"{n} {word}{'s' if n != 1 else ''}" for n, word in (
            (sum(len(f.retraces) for f in functions), "retrace"), (sum(f.recreated for f in recreated), "re-creation"))
            if n]
        lines.append(line(f"retraces cost {seconds(sum(t.seconds for t in costly.values()))} of tracing "
                          f"({', '.join(counts)})", style="dim"))
    return Group(*lines)


def cost(trace: Trace) -> str:
    return "not traced: --max-retraces stopped the run" if trace.stopped else \
        f"{seconds(trace.seconds)}, {trace.ops} ops"


def seconds(value: float) -> str:
    return f"{value:.2f} s" if value >= 0.1 else f"{value * 1000:.0f} ms"


def numerics(found: NumericsReport, *, verbose: bool) -> Group:
    """--check-numerics: the op that made the first Inf or NaN, in a few lines (TensorFlow's own dump with -v)."""
    step = f" at step {found.step}" if found.step is not None else ""
    counts = ", ".join(f"{count} × {kind}" for kind, count in found.counts.items())
    rows = {
        "where": (found.where or "?") + (f"   (layer {found.layer})" if found.layer else ""),
        "in": f"tf.function {found.function}" if found.function else "an op outside any tf.function",
        "output": f"{found.output}: {found.dtype} {found.shape}" + (f", {counts}" if counts else ""),
        "cause": found.cause(),
    }
    return Group(
        *([Raw(found.full + "\n")] if verbose else []),
        line(("eagerrun: ", "bold"), ("check-numerics: ", "bold red"),
             f"the first non-finite value came from op {found.op}{step}"),
        Pairs(rows, indent="  "),
        *([] if verbose else [Text("  TensorFlow's full report: run again with -v", style="dim")]),
    )


def no_steps(*, autolog: bool, legacy_keras: bool, seen: Sequence[str] = ()) -> Group:
    """A run that recorded no step says so, what was looked for, what was seen and why it was not a step,
    and how to get a table anyway."""
    looked = ("Keras fit, Keras optimizer updates, GradientTape.gradient over variables and "
              "eagerrun.log_step()") if autolog else "eagerrun.log_step() (--no-autolog)"
    legacy = " tf_keras (legacy Keras) optimizers and tf.compat.v1 training are not hooked." if legacy_keras else ""
    return Group(
        line(("eagerrun: ", "bold"), f"no training steps were recorded (looked for {looked}).{legacy} Call "
             "eagerrun.log_step(loss) once a step to get a table."),
        *(line(f"  seen, not a step: {seen_line}") for seen_line in seen),
    )
