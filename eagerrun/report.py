"""Everything eagerrun shows a person. The only module that prints.

eagerrun writes to stderr, so the script's stdout stays the script's and a pipe gets only what the script
printed; `check --json` and `compare --json` are the exceptions, their JSON being the answer asked for.
Rich handles the rest: colour and live progress on a terminal, plain text in a pipe, NO_COLOR honoured.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import traceback
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from eagerrun.compare import Comparison
    from eagerrun.records import Recorder, RunStats, StepRecord

stderr = Console(stderr=True, highlight=False)
stdout = Console(highlight=False)


class _WarningHandler(logging.Handler):
    """Shows eagerrun's log records as one-line `eagerrun: warning: …` messages on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        level = "warning" if record.levelno >= logging.WARNING else "note"
        style = "yellow" if level == "warning" else "cyan"
        line = Text.assemble(("eagerrun: ", "bold"), (f"{level}: ", style), record.getMessage())
        stderr.print(line, soft_wrap=True)


def install_log_handler(*, quiet: bool) -> None:
    """Route the `eagerrun` logger to stderr once; `quiet` keeps warnings but drops notes."""
    logger = logging.getLogger("eagerrun")
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False
    if not any(isinstance(h, _WarningHandler) for h in logger.handlers):
        logger.addHandler(_WarningHandler())


def error(message: str) -> None:
    """One line, no traceback: what went wrong and, where the message has it, what to do."""
    stderr.print(Text.assemble(("eagerrun: ", "bold"), ("error: ", "bold red"), message), soft_wrap=True)


def worker_line(index: int, line: str) -> None:
    """One line of another worker's output, labelled with the worker it came from."""
    stderr.print(Text.assemble((f"worker {index} │ ", "dim"), line), soft_wrap=True)


def script_traceback(exc: BaseException) -> None:
    """The user's traceback (eagerrun's frames already cut): Rich's on a terminal, Python's own in a pipe."""
    if stderr.is_terminal:
        from rich.traceback import Traceback

        stderr.print(Traceback.from_exception(type(exc), exc, exc.__traceback__))
    else:
        stderr.file.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        stderr.file.flush()


def exit_message(message: str) -> None:
    """`sys.exit("text")` prints its text to stderr, as Python does."""
    stderr.file.write(message + "\n")
    stderr.file.flush()


def run_summary(*, mode: str, source: str, target: str, wall_s: float, exit_code: int,
                strategy: str | None = None) -> None:
    """The closing line of every run: what ran, in which mode and why, how long, how it ended."""
    status = Text(str(exit_code), style="green" if exit_code == 0 else "bold red")
    summary = Text.assemble(
        ("eagerrun ", "bold"),
        ("│ mode ", "dim"), (mode, "bold cyan"), (f" ({source})", "dim"),
        *((("  │ strategy ", "dim"), strategy) if strategy else ()),
        ("  │ ", "dim"), target,
        ("  │ wall ", "dim"), f"{wall_s:.2f} s",
        ("  │ exit ", "dim"), status,
    )
    stderr.print(summary, soft_wrap=True)


def check_report(report: dict[str, Any], *, agrees: bool, as_json: bool) -> None:
    """`eagerrun check`: JSON on stdout when asked for, otherwise a table on stdout with the verdict."""
    if as_json:
        stdout.file.write(json.dumps({**report, "agrees": agrees}) + "\n")
        return
    table = Table(title="eagerrun check", show_header=False, title_justify="left")
    table.add_column(style="dim")
    table.add_column()
    rows = {
        "mode requested": f"{report['mode']} (from {report['source']})",
        "tf.function bodies": _eager_or_graph(report["function_body_eager"]),
        "tf.data functions": _eager_or_graph(report["data_function_eager"]),
        "tf.executing_eagerly() at top level": str(report["executing_eagerly"]),
        "tf.config.functions_run_eagerly()": str(report["functions_run_eagerly"]),
        "tf.data debug mode": str(report["data_debug_mode"]),
        "XLA JIT (global)": str(report["xla_jit"]),
        "devices": ", ".join(report["devices"]),
        "TensorFlow / Keras / Python": f"{report['tensorflow']} / {report['keras']} / {report['python']}",
    }
    for key, value in rows.items():
        table.add_row(key, value)
    stdout.print(table)
    verdict = (
        Text(f"✓ the probe ran in {report['mode']} mode, as requested", style="green")
        if agrees
        else Text(f"✗ the probe did not run in {report['mode']} mode", style="bold red")
    )
    stdout.print(verdict)


def _eager_or_graph(eager: bool) -> str:
    return "eager (op by op, proven by a probe)" if eager else "graph (traced, proven by a probe)"


# -- steps ---------------------------------------------------------------------------------------------------

MAX_TABLE_ROWS = 25


def rows_to_show(count: int, log_every: int | None) -> list[int]:
    """Indices of the records the table shows: every Nth step (N chosen to keep about 25 rows when not
    given), always the first and the last."""
    if count == 0:
        return []
    every = log_every or max(1, -(-count // MAX_TABLE_ROWS))
    shown = {0, count - 1, *range(every - 1, count, every)}
    return sorted(shown)


def step_table(records: list[StepRecord], *, log_every: int | None = None) -> None:
    """The per-step table: step, epoch, loss, time, examples/s, and a note where the step traced."""
    if not records:
        stderr.print(Text("eagerrun: no training steps were recorded", style="dim"))
        return
    show_epoch = any(r.epoch is not None for r in records)
    show_rate = any(r.batch_size is not None for r in records)
    replicas = max(r.replicas for r in records)
    metric_names = list(dict.fromkeys(name for r in records for name in r.metrics))
    title = f"{len(records)} steps, {records[0].mode} mode" + (f", {replicas} replicas" if replicas > 1 else "")
    table = Table(title=title, title_justify="left",
                  caption="traced / retraced: the step's time includes tracing a tf.function into a graph"
                  if any(r.traced for r in records) else None, caption_justify="left")
    table.add_column("step", justify="right")
    if show_epoch:
        table.add_column("epoch", justify="right")
    table.add_column("loss", justify="right")
    for name in metric_names:
        table.add_column(name, justify="right")
    table.add_column("time (ms)", justify="right")
    if replicas > 1:
        table.add_column("global batch", justify="right")
    if show_rate:
        table.add_column("examples/s", justify="right")
    table.add_column("note")
    for index in rows_to_show(len(records), log_every):
        record = records[index]
        row = [str(record.step)]
        if show_epoch:
            row.append("" if record.epoch is None else str(record.epoch))
        row.append(format_loss(record.loss))
        row.extend(format_number(record.metrics.get(name)) for name in metric_names)
        row.append(f"{record.time_s * 1000:.2f}")
        if replicas > 1:
            row.append("" if record.batch_size is None else str(record.batch_size))
        if show_rate:
            rate = record.examples_per_s
            row.append("" if rate is None else f"{rate:,.0f}")
        row.append(step_note(record, first=index == 0))
        table.add_row(*row, style="yellow" if record.traced else None)
    stderr.print(table)


def step_note(record: StepRecord, *, first: bool) -> str:
    if record.traced:
        return "traced" if first else "retraced"
    if record.loss is not None and not math.isfinite(record.loss):
        return "non-finite loss"
    return ""


def format_loss(loss: float | None) -> str:
    if loss is None:
        return "—"
    return f"{loss:.6g}" if math.isfinite(loss) else str(loss)


def format_number(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def format_ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.2f} ms"


def steps_summary(stats: RunStats, *, mode: str, wall_s: float, extra: dict[str, str] | None = None) -> None:
    """Under the table: the numbers a person compares between runs."""
    parts = {
        "mode": mode,
        "steps": str(stats.steps),
        "first step": format_ms(stats.first_step_s),
        "median step": format_ms(stats.median_steady_s),
        "p90 step": format_ms(stats.p90_steady_s),
        "throughput": "—" if stats.examples_per_s is None else f"{stats.examples_per_s:,.0f} examples/s",
        "loss": f"{format_loss(stats.first_loss)} → {format_loss(stats.final_loss)}",
        "traced steps": str(stats.traces),
        "wall": f"{wall_s:.2f} s",
        **(extra or {}),
    }
    if stats.non_finite:
        parts["non-finite losses"] = str(stats.non_finite)
    table = Table.grid(padding=(0, 2))
    table.add_column(style="dim")
    table.add_column()
    for key, value in parts.items():
        table.add_row(key, value)
    stderr.print(table)
    stderr.print(Text("median and p90 leave out the first step and every step that traced", style="dim"))


@contextlib.contextmanager
def live_progress(recorder: Recorder, *, total: int | None, enabled: bool) -> Iterator[None]:
    """A progress bar on stderr while steps come in, on a terminal only (a pipe gets the table alone)."""
    if not (enabled and stderr.is_terminal):
        yield
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("[bold]step"), MofNCompleteColumn(), BarColumn(),
                        TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=stderr, transient=True)
    task = progress.add_task("train", total=total, info="")

    def advance(record: StepRecord) -> None:
        # the run's step number, not a count of this process's steps: a resumed run's bar starts where it was
        progress.update(task, completed=record.step,
                        info=f"loss {format_loss(record.loss)}  {record.time_s * 1000:.1f} ms")

    recorder.listeners.append(advance)
    try:
        with progress:
            yield
    finally:
        recorder.listeners.remove(advance)


# -- compare -------------------------------------------------------------------------------------------------


CAUSES = {
    "python_side_effect": (
        "  The usual cause: Python side effects inside a tf.function (a counter, a list, random numbers from "
        "Python or NumPy, reading a Python variable) run once, at trace time, in graph mode, and at every step "
        "in eager mode."),
    "unseeded_randomness": (
        "  The first step already differs: the runs did not start from the same weights or the same batch. "
        "The usual cause: a random op in a tf.data function without a seed of its own, which draws other "
        "numbers when --eager runs tf.data functions op by op. Keras fit shuffling arrays is one (pass "
        "shuffle=False, or a tf.data dataset: Dataset.shuffle draws alike in both modes). Give such ops a "
        "seed, or use tf.random.stateless_* ops. Else: randomness the seed does not reach."),
}


def comparison(result: Comparison, *, log_every: int | None, as_json: bool) -> None:
    """eager and graph side by side, the verdict with its usual cause, and the speedup."""
    if as_json:
        stdout.file.write(json.dumps(result.as_json()) + "\n")
        return
    names = list(result.runs)
    table = Table(title="eager vs graph, one seed, fresh processes", title_justify="left")
    table.add_column("step", justify="right")
    for name in names:
        table.add_column(f"{name} loss", justify="right")
    table.add_column("difference", justify="right")
    for name in names:
        table.add_column(f"{name} ms", justify="right")
    shown = set(rows_to_show(result.steps_compared, log_every))
    if result.first_divergent_step is not None and result.first_divergent_step <= result.steps_compared:
        shown.add(result.first_divergent_step - 1)
    for index in sorted(shown):
        rows = [result.runs[name][index] for name in names]
        losses = [row.loss for row in rows]
        diffs = [abs(x - losses[0]) for x in losses[1:] if x is not None and losses[0] is not None]
        divergent = rows[0].step == result.first_divergent_step
        table.add_row(str(rows[0].step), *(format_loss(loss) for loss in losses),
                      f"{max(diffs):.3g}" if diffs else "—",
                      *(f"{row.time_s * 1000:.2f}" for row in rows), style="bold red" if divergent else None)
    stdout.print(table)
    if result.match:
        stdout.print(Text(f"✓ the losses agree over {result.steps_compared} steps "
                          f"(max difference {result.max_abs_diff:.3g})", style="green"))
    elif result.steps_compared == 0:
        stdout.print(Text("✗ no steps were recorded: nothing to compare", style="bold red"))
    else:
        stdout.print(Text(f"✗ the losses first diverge at step {result.first_divergent_step}", style="bold red"))
        stdout.print(CAUSES[result.likely_cause])
    for name in names[1:]:
        eager, other = result.median_step_s("eager"), result.median_step_s(name)
        if eager and other:
            stdout.print(f"{name} is {eager / other:.1f}× faster than eager per steady step "
                         f"(median {eager * 1000:.2f} ms vs {other * 1000:.2f} ms)")
