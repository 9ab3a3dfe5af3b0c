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
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from eagerrun.records import by_phase

if TYPE_CHECKING:
    from eagerrun.compare import Comparison
    from eagerrun.records import Recorder, RunStats, StepRecord
    from eagerrun.numerics import NumericsReport
    from eagerrun.tracing import FunctionTraces

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
SPARK_TERMINAL = "▁▂▃▄▅▆▇█"
SPARK_PLAIN = "_.-~=+*#"  # the same eight levels in characters any log viewer shows
SPARK_WIDTH = 40


def rows_to_show(count: int, log_every: int | None) -> list[int]:
    """Indices of the records the table shows: every Nth step (N chosen to keep about 25 rows when not
    given), always the first and the last."""
    if count == 0:
        return []
    every = log_every or max(1, -(-count // MAX_TABLE_ROWS))
    shown = {0, count - 1, *range(every - 1, count, every)}
    return sorted(shown)


def number_format(values: list[float | None], *, digits: int = 4) -> Callable[[float | None], str]:
    """One precision for a whole column: enough decimals for its smallest number to keep `digits`
    significant digits (at most eight), or scientific notation for very large or tiny numbers."""
    finite = [abs(v) for v in values if v is not None and math.isfinite(v)]
    nonzero = [v for v in finite if v > 0]
    if nonzero and (max(nonzero) >= 1e7 or min(nonzero) < 1e-5):
        return lambda v: _special(v) or f"{v:.{digits - 1}e}"
    smallest = min(nonzero) if nonzero else 1.0
    decimals = min(8, max(0, digits - 1 - math.floor(math.log10(smallest))))
    return lambda v: _special(v) or f"{v:,.{decimals}f}"


def _special(value: float | None) -> str | None:
    """A missing value is a dash; a non-finite one says what it is."""
    if value is None:
        return "—"
    return None if math.isfinite(value) else str(value)


def is_loss_name(name: str) -> bool:
    bare = name.removeprefix("val_")
    return bare == "loss" or bare.endswith("loss") or bare.startswith("loss_")


def print_wide(renderable: Any, console: Console = stderr) -> None:
    """On a terminal Rich fits the width; elsewhere (a CI log, `2>file`) the table takes the width it
    needs, so no number is ever cut."""
    if console.is_terminal:
        console.print(renderable)
        return
    from rich.measure import Measurement

    needed = Measurement.get(console, console.options.update(width=10_000), renderable).maximum
    if needed <= console.width:
        console.print(renderable)
        return
    # Console.print clamps its width to the console's: a console as wide as the table prints it whole
    wide = Console(file=console.file, width=needed, highlight=False, no_color=console.no_color)
    wide.print(renderable)


def step_table(records: list[StepRecord], *, log_every: int | None = None) -> None:
    """The per-step table: step, epoch, every value, time, examples/s, and a note where there is one.
    Phases are sections of one table; each shows its own first and last step."""
    if not records:
        return
    phases = by_phase(records)
    shown = [(group, index) for group in phases for index in rows_to_show(len(group), log_every)]
    show_epoch = any(r.epoch is not None for r in records)
    show_rate = any(r.batch_size is not None for r in records)
    replicas = max(r.replicas for r in records)
    names = list(dict.fromkeys(name for r in records for name in r.values))
    formats = {name: number_format([group[i].values.get(name) for group, i in shown]) for name in names}
    time_format = number_format([group[i].time_s * 1000 for group, i in shown], digits=3)
    title = f"{len(records)} steps, {records[0].mode} mode" + (f", {replicas} replicas" if replicas > 1 else "") \
        + (f", {len(phases)} phases" if len(phases) > 1 else "")
    notes = [note for note in (step_note(r) for r in records) if note]
    table = Table(title=title, title_justify="left", caption=table_caption(records) if notes else None,
                  caption_justify="left")
    if len(phases) > 1:
        table.add_column("phase", justify="right")
    table.add_column("step", justify="right")
    if show_epoch:
        table.add_column("epoch", justify="right")
    for name in names:
        table.add_column(name, justify="right", overflow="fold")
    table.add_column("time (ms)", justify="right", overflow="fold")
    if replicas > 1:
        table.add_column("global batch", justify="right")
    if show_rate:
        table.add_column("examples/s", justify="right", overflow="fold")
    table.add_column("note")
    previous = None
    for group, index in shown:
        record = group[index]
        if previous is not None and previous is not group:
            table.add_section()
        previous = group
        row = [str(record.phase)] if len(phases) > 1 else []
        row.append(str(record.step))
        if show_epoch:
            row.append("" if record.epoch is None else str(record.epoch))
        row.extend(formats[name](record.values.get(name)) for name in names)
        row.append(time_format(record.time_s * 1000))
        if replicas > 1:
            row.append("" if record.batch_size is None else str(record.batch_size))
        if show_rate:
            rate = record.examples_per_s
            row.append("" if rate is None else f"{rate:,.0f}")
        row.append(step_note(record))
        table.add_row(*row, style="yellow" if record.traced else ("red" if record.non_finite else None))
    print_wide(table)


def table_caption(records: list[StepRecord]) -> str:
    lines = []
    if any(r.traced for r in records):
        lines.append("traced: the step's time includes tracing a tf.function into a graph" + (
            " (retraced: a function traced again, for new inputs: see the retrace report below)"
            if any(r.retraced for r in records) else ""))
    if any(r.batches_per_call > 1 for r in records):
        lines.append("K batches in one call: Keras ran K batches per call (steps_per_execution); they share "
                     "that call's values and each has a K-th of its time")
    if any(r.validation_s is not None for r in records):
        lines.append("validation: validation ran after this step, timed apart from it")
    return "\n".join(lines)


def step_note(record: StepRecord) -> str:
    notes = []
    if record.traced:
        notes.append("retraced" if record.retraced else "traced")
    if record.non_finite:
        notes.append("non-finite " + ", ".join(record.non_finite))
    if record.batches_per_call > 1:
        notes.append(f"{record.batches_per_call} batches in one call")
    if record.validation_s is not None:
        notes.append(f"validation {record.validation_s:.2f} s")
    if record.skipped:
        notes.append("skipped: gradients not finite, loss scale halved")
    return "; ".join(notes)


def format_loss(loss: float | None) -> str:
    return _special(loss) or f"{loss:.6g}"


def format_ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.2f} ms"


def sparkline(values: list[float | None], *, plain: bool) -> str:
    """A curve of `values` in one line of block characters (plain characters off a terminal); a stretch
    with no value is a space."""
    levels = SPARK_PLAIN if plain else SPARK_TERMINAL
    width = min(SPARK_WIDTH, len(values))
    buckets: list[float | None] = []
    for index in range(width):
        chunk = [v for v in values[index * len(values) // width:(index + 1) * len(values) // width]
                 if v is not None and math.isfinite(v)]
        buckets.append(sum(chunk) / len(chunk) if chunk else None)
    known = [b for b in buckets if b is not None]
    if not known:
        return ""
    low, high = min(known), max(known)
    span = (high - low) or 1.0
    return "".join(" " if b is None else levels[min(len(levels) - 1, int((b - low) / span * len(levels)))]
                   for b in buckets)


def steps_summary(stats: RunStats, *, mode: str, wall_s: float, extra: dict[str, str] | None = None,
                  records: list[StepRecord] | None = None) -> None:
    """Under the table: the numbers a person compares between runs, then each phase's values with a curve
    of each loss."""
    parts = {
        "mode": mode,
        "steps": str(stats.steps) + (f" in {len(stats.phases)} phases" if len(stats.phases) > 1 else ""),
        "first step": format_ms(stats.first_step_s),
        "median step": format_ms(stats.median_steady_s),
        "p90 step": format_ms(stats.p90_steady_s),
        "throughput": "—" if stats.examples_per_s is None else f"{stats.examples_per_s:,.0f} examples/s",
        "traced steps": str(stats.traces),
        "wall": f"{wall_s:.2f} s",
        **(extra or {}),
    }
    if stats.non_finite:
        parts["non-finite steps"] = str(stats.non_finite)
    table = Table.grid(padding=(0, 2))
    table.add_column(style="dim")
    table.add_column()
    for key, value in parts.items():
        table.add_row(key, value)
    print_wide(table)
    plain = not stderr.is_terminal
    grouped = {group[0].phase: group for group in by_phase(records or [])}
    for phase in stats.phases:
        if len(stats.phases) > 1:
            stderr.print(Text.assemble((f"phase {phase.phase}", "bold"),
                                       (f"  {phase.source}, steps {phase.first_step}–{phase.last_step}, median "
                                        f"step {format_ms(phase.median_steady_s)}", "dim")), soft_wrap=True)
        values = Table.grid(padding=(0, 2))
        for _ in range(3):
            values.add_column(no_wrap=True)
        group = grouped.get(phase.phase, [])
        for name, (first, last) in phase.values.items():
            curve = sparkline([r.values.get(name) for r in group], plain=plain) if is_loss_name(name) else ""
            values.add_row(f"  {name}", f"{format_loss(first)} → {format_loss(last)}", curve)
        for name, (best, last) in phase.validation.items():
            values.add_row(f"  {name}", f"best {format_loss(best)}, last {format_loss(last)}", "")
        if values.row_count:
            print_wide(values)
    stderr.print(Text("median and p90 leave out each phase's first step and every step that traced", style="dim"))


CHANGE_LABELS = {"shape": "shape ", "dtype": "dtype ", "python": "Python value "}


def retraces(functions: list[FunctionTraces]) -> None:
    """For each tf.function that traced again: how often, and for each retrace what changed in its inputs
    against the closest earlier trace, with the fix for that kind of change (once per kind)."""
    from eagerrun.tracing import FIXES

    for function in functions:
        stderr.print(Text.assemble(("retraced: ", "bold yellow"), (function.name, "bold"),
                                   f" ({function.place}) traced {len(function.signatures)} times"), soft_wrap=True)
        kinds: list[str] = []
        for number, changes in enumerate(function.retraces, start=2):
            described = "; ".join(f"{c.argument}: {CHANGE_LABELS.get(c.kind, '')}{c.before} → {c.after}"
                                  for c in changes) or "no input changed"
            stderr.print(f"  trace {number}: {described}", soft_wrap=True)
            kinds.extend(c.kind for c in changes if c.kind not in kinds)
        for kind in kinds:
            stderr.print(Text(f"  fix: {FIXES[kind]}", style="dim"), soft_wrap=True)


def numerics(found: NumericsReport, *, verbose: bool) -> None:
    """--check-numerics: the op that made the first Inf or NaN, in a few lines (TensorFlow's own dump with -v)."""
    if verbose:
        stderr.file.write(found.full + "\n")
        stderr.file.flush()
    step = f" at step {found.step}" if found.step is not None else ""
    stderr.print(Text.assemble(("eagerrun: ", "bold"), ("check-numerics: ", "bold red"),
                               f"the first non-finite value came from op {found.op}{step}"), soft_wrap=True)
    counts = ", ".join(f"{count} × {kind}" for kind, count in found.counts.items())
    rows = {
        "where": (found.where or "?") + (f"   (layer {found.layer})" if found.layer else ""),
        "in": f"tf.function {found.function}" if found.function else "an op outside any tf.function",
        "output": f"{found.output}: {found.dtype} {found.shape}" + (f", {counts}" if counts else ""),
        "cause": found.cause(),
    }
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim")
    grid.add_column()
    for key, value in rows.items():
        grid.add_row(f"  {key}", value)
    print_wide(grid)
    if not verbose:
        stderr.print(Text("  TensorFlow's full report: run again with -v", style="dim"))


def no_steps(*, autolog: bool, legacy_keras: bool) -> None:
    """A run that recorded no step says so, what was looked for, and how to get a table anyway."""
    looked = ("Keras fit, Keras optimizer updates, GradientTape.gradient over variables and "
              "eagerrun.log_step()") if autolog else "eagerrun.log_step() (--no-autolog)"
    legacy = " tf_keras (legacy Keras) optimizers and tf.compat.v1 training are not hooked." if legacy_keras else ""
    stderr.print(Text.assemble(("eagerrun: ", "bold"),
                               f"no training steps were recorded (looked for {looked}).{legacy} Call "
                               "eagerrun.log_step(loss) once a step to get a table."), soft_wrap=True)


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
    "step_count_mismatch": (
        "  The runs recorded different numbers of steps, so their steps cannot be lined up one for one. "
        "The script's loop ran differently in the two modes (a Python condition on a tensor value, a loop "
        "that stops on a tensor), or one run ended early."),
}


def comparison(result: Comparison, *, log_every: int | None, as_json: bool) -> None:
    """eager and graph side by side, the verdict with its usual cause, and the speedup."""
    if as_json:
        stdout.file.write(json.dumps(result.as_json()) + "\n")
        return
    names = list(result.runs)
    values = list(dict.fromkeys(v for records in result.runs.values() for r in records for v in r.values))
    if result.steps_compared:
        print_wide(comparison_table(result, names, values, log_every=log_every), stdout)
    for name, why in result.failures.items():
        stdout.print(Text(f"✗ the {name} run failed: {why}", style="bold red"), soft_wrap=True)
        for other, records in result.runs.items():
            if other not in result.failures:
                last = records[-1].values if records else {}
                stdout.print(f"  the {other} run ran to its end: {len(records)} steps"
                             + "".join(f", {n} {format_loss(v)}" for n, v in last.items()), soft_wrap=True)
    counts = result.step_counts
    if len(set(counts.values())) > 1:
        stdout.print(Text("✗ the runs recorded different numbers of steps: "
                          + ", ".join(f"{name} {count}" for name, count in counts.items()), style="bold red"))
    if result.match:
        stdout.print(Text(f"✓ every value agrees over {result.steps_compared} steps "
                          f"(max difference {result.max_abs_diff:.3g})", style="green"))
    elif result.steps_compared == 0 and not result.failures:
        stdout.print(Text("✗ no steps were recorded: nothing to compare", style="bold red"))
    elif result.first_divergent_step is not None:
        stdout.print(Text(f"✗ {result.divergent_value} first diverges at step {result.first_divergent_step}",
                          style="bold red"))
        if result.likely_cause in ("python_side_effect", "unseeded_randomness"):
            stdout.print(CAUSES[result.likely_cause])
            for suspect in result.cause_suspects:
                stdout.print(Text.assemble("  suspect: ", (f"{suspect.file}:{suspect.line}", "bold"),
                                           f"  {suspect.code}  ", (f"({suspect.why})", "dim")), soft_wrap=True)
    if result.likely_cause == "step_count_mismatch":
        stdout.print(CAUSES["step_count_mismatch"])
    if result.same_code:
        stdout.print("no tf.function ran: both modes ran the same code, so there is no speedup to measure")
        return
    for name in names[1:]:
        eager, other = result.median_step_s("eager"), result.median_step_s(name)
        if eager and other and not result.failures:
            ratio = eager / other
            how = f"{ratio:.1f}× faster" if ratio >= 1 else f"{1 / ratio:.1f}× slower"
            stdout.print(f"{name} is {how} than eager per steady step "
                         f"(median {eager * 1000:.2f} ms vs {other * 1000:.2f} ms)")


def comparison_table(result: Comparison, names: list[str], values: list[str], *, log_every: int | None) -> Table:
    """One row per shown step: each run's value of each value name, the largest difference, each run's time."""
    table = Table(title="eager vs graph, one seed, fresh processes", title_justify="left")
    table.add_column("step", justify="right")
    for value in values:
        for name in names:
            table.add_column(f"{name} {value}", justify="right", overflow="fold")
    table.add_column("difference", justify="right")
    for name in names:
        table.add_column(f"{name} ms", justify="right")
    shown = set(rows_to_show(result.steps_compared, log_every))
    if result.first_divergent_step is not None and result.first_divergent_step <= result.steps_compared:
        shown.add(result.first_divergent_step - 1)
    for index in sorted(shown):
        rows = [result.runs[name][index] for name in names]
        cells, diffs = [], []
        for value in values:
            numbers = [row.values.get(value) for row in rows]
            cells.extend(format_loss(n) for n in numbers)
            diffs.extend(abs(n - numbers[0]) for n in numbers[1:] if n is not None and numbers[0] is not None)
        divergent = rows[0].step == result.first_divergent_step
        table.add_row(str(rows[0].step), *cells, f"{max(diffs):.3g}" if diffs else "—",
                      *(f"{row.time_s * 1000:.2f}" for row in rows), style="bold red" if divergent else None)
    return table


# -- env -----------------------------------------------------------------------------------------------------


def environment(facts: dict[str, Any], *, as_json: bool) -> None:
    """`eagerrun env`: one plain block on stdout to paste into a bug report (no colour, box or wrapping, so a
    copy keeps every value whole), or the same facts as one JSON object."""
    if as_json:
        stdout.file.write(json.dumps(facts) + "\n")
        return
    tensorflow = facts["tensorflow"] or "not importable"
    if facts["cuda_build"]:
        tensorflow += f" (built for CUDA {facts['cuda'] or '?'}, cuDNN {facts['cudnn'] or '?'})"
    elif facts["cuda_build"] is False:
        tensorflow += " (CPU build)"
    cpus = str(facts["cpus"])
    if facts["cpus_usable"] is not None and facts["cpus_usable"] != facts["cpus"]:
        cpus += f" ({facts['cpus_usable']} usable by this process)"
    ram = facts["ram_bytes"]
    if facts["mode_error"]:
        mode = facts["mode_error"]
    else:
        mode = facts["mode"] + (" (from EAGERRUN_MODE)" if facts["mode_source"] == "env" else " (default)")
    gpus = [gpu["name"] + (f" (compute {gpu['compute_capability']})" if gpu["compute_capability"] else "")
            for gpu in facts["gpus"]]
    variables = [f"{name}={value}" for name, value in facts["variables"].items()]
    rows = [("eagerrun", [facts["eagerrun"]]), ("TensorFlow", [tensorflow]),
            ("Keras", [facts["keras"] or "not importable"]), ("Python", [facts["python"]]),
            ("NumPy", [facts["numpy"] or "not importable"]), ("platform", [facts["platform"]]), ("CPUs", [cpus]),
            ("RAM", ["unknown" if ram is None else f"{ram / 2**30:.1f} GiB"]),
            ("GPUs", gpus or ["none visible to TensorFlow"])]
    if facts["gpu_driver"]:
        rows.append(("GPU driver", [facts["gpu_driver"]]))
    rows += [("mode", [mode]), ("variables", variables or ["none set"])]
    width = max(len(key) for key, _ in rows) + 2
    lines = [f"{key if index == 0 else '':<{width}}{value}" for key, values in rows
             for index, value in enumerate(values)]
    stdout.file.write("\n".join(lines) + "\n")
    stdout.file.flush()
