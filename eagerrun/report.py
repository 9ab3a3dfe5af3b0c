"""Everything eagerrun shows a person. The only module that prints.

eagerrun writes to stderr, so the script's stdout stays the script's and a pipe gets only what the script
printed; `check --json` and `compare --json` are the exceptions, their JSON being the answer asked for.
Rich handles the rest: colour and live progress on a terminal, plain text in a pipe, NO_COLOR honoured.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
import re
import signal
import textwrap
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.measure import Measurement
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from eagerrun import interrupts
from eagerrun.records import by_phase, higher_is_better, is_loss_name, value_key, value_name
from eagerrun.switches import ProcessSwitches

if TYPE_CHECKING:
    from rich.progress import Task

    from eagerrun.diagnostics.bisect import Parting
    from eagerrun.diagnostics.compare import Comparison
    from eagerrun.diagnostics.numerics import NumericsReport
    from eagerrun.diagnostics.tracing import FunctionTraces
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


def install_log_handler(*, quiet: bool, switches: ProcessSwitches) -> None:
    """Route the `eagerrun` logger to stderr once; `quiet` keeps warnings but drops notes. A run's
    `switches` put the logger back as it was when the run ends (`switches.kept()` leaves it)."""
    logger = logging.getLogger("eagerrun")
    handler = None if any(isinstance(h, _WarningHandler) for h in logger.handlers) else _WarningHandler()
    level = logging.WARNING if quiet else logging.INFO
    switches.logger("eagerrun", level=level, handler=handler, propagate=False)


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


def run_summary(*, modes: list[tuple[str, str]], target: str, wall_s: float, exit_code: int,
                strategy: str | None = None, console: Console | None = None) -> None:
    """The closing line of every run: what ran, in which mode the steps actually ran and who decided it
    (`modes`: each mode with "flag", "env", "default" or "the script, train.py:12"), how long, how it
    ended."""
    console = console or stderr
    status = Text(str(exit_code), style="green" if exit_code == 0 else "bold red")
    shown: list[tuple[str, str]] = []
    for index, (mode, decided_by) in enumerate(modes):
        if index:
            shown.append((", then ", "dim"))
        shown += [(mode, "bold cyan"), (f" ({decided_by})", "dim")]
    summary = Text.assemble(
        ("eagerrun ", "bold"),
        ("│ mode ", "dim"), *shown,
        *((("  │ strategy ", "dim"), strategy) if strategy else ()),
        ("  │ ", "dim"), target,
        ("  │ wall ", "dim"), f"{wall_s:.2f} s",
        ("  │ exit ", "dim"), status,
    )
    console.print(summary, soft_wrap=True)


def modes_text(modes: list[tuple[str, str]]) -> str:
    """The modes the steps ran in, as the summary names them: "eager", or "eager, then graph"."""
    return ", then ".join(mode for mode, _ in modes)


def plural(count: int, word: str) -> str:
    """'1 step', '2 steps'."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def stopped_before_steps(signum: int) -> None:
    """A signal that stopped the run before it recorded a step: said once, above the closing line."""
    stderr.print(Text.assemble(("eagerrun: ", "bold"), f"{interrupts.STOPPED_BY[signum]} before any step was "
                               "recorded"), soft_wrap=True)


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


# -- numbers -------------------------------------------------------------------------------------------------

MIN_DECIMALS = 4  # Keras' progress bar: `loss: 543.4232`
MIN_SIGNIFICANT = 3  # for the smallest number of a column: a constant 0.00001 is not `0.0000`
MAX_SIGNIFICANT = 7  # about what a float32 holds: more digits would show its rounding
SCIENTIFIC_MIN_DECIMALS = 3  # 1.227e+01

NumberFormat = Callable[[float | None], str]


def column_format(values: Iterable[float | None]) -> NumberFormat:
    """The one format of one quantity (a loss, a metric) wherever it is shown: the step table, the summary
    and `compare`. `values` are its numbers in step order.

    At least 4 decimals (Keras' own) and 3 significant digits for its smallest number, and more where two
    steps in a row would look alike, up to 7 significant digits for its largest. Numbers fixed decimals
    cannot show so (10 million and more, under 0.0001, or too many decades apart for 7 digits) are in
    scientific notation, 4 to 7 significant digits by the same rule. No thousands separators: a number reads
    the same in every place and in the metrics file."""
    series = [v for v in values if v is not None and math.isfinite(v)]
    sizes = [abs(v) for v in series if v != 0]
    if not sizes:
        return _fixed(MIN_DECIMALS)
    top, bottom = _exponent(max(sizes)), _exponent(min(sizes))
    most = MAX_SIGNIFICANT - 1 - top  # decimals that give the largest number 7 significant digits
    needed = MIN_SIGNIFICANT - 1 - bottom  # decimals that give the smallest 3
    steps = [(a, b) for a, b in zip(series, series[1:]) if a != b]
    if top >= 7 or bottom < -4 or needed > most:
        apart = max((_exponent(max(abs(a), abs(b))) - _exponent(abs(a - b)) for a, b in steps), default=0)
        return _scientific(min(MAX_SIGNIFICANT - 1, max(SCIENTIFIC_MIN_DECIMALS, apart)))
    least = max(needed, min(MIN_DECIMALS, most), 0)
    # numbers a step apart that differ by 10^-d or more differ at d decimals
    apart = max((-_exponent(abs(a - b)) for a, b in steps), default=0)
    return _fixed(min(most, max(least, apart)))


def ms_format(times_s: Iterable[float | None]) -> NumberFormat:
    """Step times, given in seconds, as milliseconds in one form wherever they are shown (the table's
    `time (ms)`, the summary, `compare`): decimals for the shortest to keep 3 significant digits, 0 to 3."""
    shortest = min((t * 1000 for t in times_s if t is not None and t > 0), default=1.0)
    decimals = min(3, max(0, 2 - _exponent(shortest)))

    def as_ms(seconds: float | None) -> str:
        return _special(seconds) or f"{seconds * 1000:.{decimals}f}"  # type: ignore[operator]

    return as_ms


def _exponent(value: float) -> int:
    return math.floor(math.log10(value))


def _fixed(decimals: int) -> NumberFormat:
    return lambda value: _special(value) or f"{value:.{decimals}f}"


def _scientific(decimals: int) -> NumberFormat:
    return lambda value: _special(value) or f"{value:.{decimals}e}"


def _special(value: float | None) -> str | None:
    """A missing value is a dash; a non-finite one says what it is."""
    if value is None:
        return "—"
    return None if math.isfinite(value) else str(value)


def value_formats(records: Iterable[StepRecord]) -> dict[str, NumberFormat]:
    """Each value's one format, from its numbers over all of `records` (every run's, for `compare`)."""
    series: dict[str, list[float | None]] = {}
    for record in records:
        for name, value in record.values.items():
            series.setdefault(name, []).append(value)
    return {name: column_format(values) for name, values in series.items()}


# -- prose ---------------------------------------------------------------------------------------------------

NO_BREAK = "\u00a0"  # textwrap breaks only at ASCII whitespace: a number and its unit stay on one line
_NUMBER_UNIT = re.compile(r"(?<=\d) (?=(?:ms|s|µs|×|%|columns|steps?|examples/s)\b)")


def prose(text: str, *, width: int | None) -> list[str]:
    """`text` in lines of at most `width` (the console's, on a terminal; None: one line each, for a log
    file), broken between words, never between a number and its unit, no line ending in a space."""
    if width is None:
        return text.splitlines()
    lines = []
    for paragraph in _NUMBER_UNIT.sub(NO_BREAK, text).splitlines():
        indent = paragraph[:len(paragraph) - len(paragraph.lstrip())]
        lines += textwrap.wrap(paragraph.lstrip(), width=width, initial_indent=indent, subsequent_indent=indent,
                               break_long_words=False, break_on_hyphens=False) or [""]
    return [line.replace(NO_BREAK, " ") for line in lines]


def print_prose(text: str, *, console: Console, style: str | None = None) -> None:
    for line in prose(text, width=console.width if console.is_terminal else None):
        console.print(Text(line, style=style or ""), soft_wrap=True)


def print_wide(renderable: Any, console: Console = stderr) -> None:
    """On a terminal at the terminal's width (a step table has been fitted to it); elsewhere (a CI log,
    `2>file`) at the width the renderable needs, so no number is ever cut."""
    if console.is_terminal or measure(renderable, console) <= console.width:
        console.print(renderable)
    else:
        console.print(_AtWidth(renderable, measure(renderable, console)), crop=False)


class _AtWidth:
    """A renderable rendered at a width of its own: Console.print clamps any width it is given to the
    console's."""

    def __init__(self, renderable: Any, width: int) -> None:
        self.renderable, self.width = renderable, width

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from console.render(self.renderable, options.update(width=self.width))


def print_pairs(pairs: dict[str, str], *, console: Console, indent: str = "") -> None:
    """Keys (dim) and their values in two columns, one pair a line, never cut or wrapped by eagerrun, no
    line ending in spaces (a Rich grid pads its last column)."""
    width = max((len(key) for key in pairs), default=0)
    for key, value in pairs.items():
        console.print(Text.assemble(indent, (key.ljust(width), "dim"), "  ", value), soft_wrap=True)


def measure(renderable: Any, console: Console) -> int:
    """The width `renderable` takes when nothing limits it."""
    return Measurement.get(console, console.options.update(width=100_000), renderable).maximum


# -- tables that fit -----------------------------------------------------------------------------------------


@dataclass
class Column:
    """One column of a table: its header, its cells (one per row) and its group, which decides when it is
    left out of a table too wide for the terminal (see LEAVE_OUT)."""

    header: str
    cells: list[str]
    group: str
    justify: Literal["left", "right"] = "right"


# The order columns leave a table wider than the terminal, each group from its right: validation values
# (to their own table), examples/s, the global batch, the metrics, the note, every loss but the first.
# step, epoch, the first loss and the step time always stay. README "The step table" says the same.
LEAVE_OUT = ("validation", "rate", "batch", "metric", "note", "loss")


@dataclass
class Rows:
    """The rows of one table: each row's style, and the rows a new section (phase) starts at."""

    styles: list[str | None]
    sections: set[int] = field(default_factory=set)


def build_table(columns: list[Column], rows: Rows) -> Table:
    table = Table()
    for column in columns:
        table.add_column(column.header, justify=column.justify, no_wrap=True)
    for index, style in enumerate(rows.styles):
        if index in rows.sections:
            table.add_section()
        table.add_row(*(column.cells[index] for column in columns), style=style)
    return table


def fit_columns(columns: list[Column], rows: Rows, *, width: int | None, console: Console,
                order: tuple[str, ...] = LEAVE_OUT) -> tuple[list[Column], list[Column]]:
    """The columns that fit `width` (all of them where `width` is None) and those left out (in table order),
    leaving by `order`: each group from its right, the first loss kept, validation values together; then
    each column that left, the last first, comes back where the room others left holds it."""
    kept, left = list(columns), []
    for group in order:
        if width is None or measure(build_table(kept, rows), console) <= width:
            break
        members = [c for c in kept if c.group == group]
        if group == "validation":
            kept = [c for c in kept if c.group != group]
            left.extend(members)
            continue
        for column in reversed(members[1:] if group == "loss" else members):
            if measure(build_table(kept, rows), console) <= width:
                break
            kept.remove(column)
            left.append(column)
    for column in reversed([c for c in left if c.group != "validation"]):  # room a later one left makes
        wider = sorted([*kept, column], key=columns.index)
        if width is not None and measure(build_table(wider, rows), console) <= width:
            kept = wider
            left.remove(column)
    return kept, sorted(left, key=columns.index)


def ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


# -- steps ---------------------------------------------------------------------------------------------------

MAX_TABLE_ROWS = 25
SPARK_TERMINAL = "▁▂▃▄▅▆▇█"
SPARK_PLAIN = "_.-~=+*#"  # the same eight levels in characters any log viewer shows
SPARK_WIDTH = 40
SPARK_MIN_WIDTH = 8
LOG_SCALE_SPAN = 100  # a curve whose values span two decades or more is drawn on a log scale


def rows_to_show(count: int, log_every: int | None) -> list[int]:
    """Indices of the records the table shows: every Nth step (N chosen to keep about 25 rows when not
    given), always the first and the last."""
    if count == 0:
        return []
    every = stride(count, log_every)
    shown = {0, count - 1, *range(every - 1, count, every)}
    return sorted(shown)


def stride(count: int, log_every: int | None) -> int:
    return log_every or max(1, -(-count // MAX_TABLE_ROWS))


def step_table(records: list[StepRecord], *, log_every: int | None = None, metrics_out: Path | None = None,
               stopped_by: int | None = None, planned: int | None = None, console: Console = stderr) -> None:
    """The per-step table: step, epoch, every value, time, examples/s, and a note where there is one;
    phases are sections of one table, each showing its own first and last step. On a terminal it fits the
    width by leaving columns out (LEAVE_OUT) and says which and where they are; elsewhere it takes the width
    it needs. `metrics_out`: the --metrics-out file, named where the table says what it does not show.
    `stopped_by`: the signal that stopped the run, which the title names with the last step and, where
    known, the `planned` step count: "interrupted (Ctrl-C) after step 206 of 800"."""
    if not records:
        return
    width = console.width if console.is_terminal else None
    where = f"all in {metrics_out}" if metrics_out is not None else "all in the --metrics-out file"
    phases = by_phase(records)
    shown = [(group, index) for group in phases for index in rows_to_show(len(group), log_every)]
    replicas = max(r.replicas for r in records)
    modes = " and ".join(dict.fromkeys(r.mode for r in records))
    title = f"{plural(len(records), 'step')}, {modes} mode" + (f", {replicas} replicas" if replicas > 1 else "") \
        + (f", {len(phases)} phases" if len(phases) > 1 else "")
    if stopped_by is not None:
        last = records[-1].step
        title += f"; {interrupts.STOPPED_BY[stopped_by]} after step {last}" \
            + (f" of {planned}" if planned is not None and planned >= last else "")
    columns, rows = step_columns([group[index] for group, index in shown], records, phases=len(phases))
    kept, left = fit_columns(columns, rows, width=width, console=console)
    print_prose(title, console=console, style="bold")
    print_wide(build_table(kept, rows), console)
    lines = legend(records)
    strides = sorted({stride(len(group), log_every) for group in phases if len(group) > 2} - {1})
    if strides:
        every = "/".join(ordinal(n) for n in strides)
        lines.append(f"every {every} step shown{' (by phase)' if len(strides) > 1 else ''}, and each phase's "
                     f"first and last; {where}")
    moved = [c for c in left if c.group == "validation"]
    dropped = [c.header for c in left if c.group != "validation"]
    if moved:
        dropped.insert(0, "val_* (the validation table below)")
    if left:
        lines.append(f"left out at {width} columns: {', '.join(dropped)}; {where}")
    for line in lines:
        print_prose(line, console=console, style="dim")
    if moved:
        validation_table(records, moved, width=width, where=where, console=console)


def step_columns(shown: list[StepRecord], records: list[StepRecord], *,
                 phases: int) -> tuple[list[Column], Rows]:
    """Every column the table can have, for the `shown` records, in the table's order; formats from all
    `records`."""
    formats = value_formats(records)
    times = ms_format(r.time_s for r in records)
    names = list(formats)
    columns = []
    if phases > 1:
        columns.append(Column("phase", [str(r.phase) for r in shown], "key"))
    columns.append(Column("step", [str(r.step) for r in shown], "key"))
    if any(r.epoch is not None for r in records):
        columns.append(Column("epoch", ["" if r.epoch is None else str(r.epoch) for r in shown], "key"))
    for name in sorted(names, key=lambda n: n.startswith("val_")):
        group = "validation" if name.startswith("val_") else "loss" if is_loss_name(name) else "metric"
        columns.append(Column(value_key(name), [formats[name](r.values.get(name)) for r in shown], group))
    columns.append(Column("time (ms)", [times(r.time_s) for r in shown], "time"))
    if max(r.replicas for r in records) > 1:
        columns.append(Column("global batch", ["" if r.batch_size is None else str(r.batch_size) for r in shown],
                              "batch"))
    if any(r.batch_size is not None for r in records):
        columns.append(Column("examples/s", [format_rate(r.examples_per_s) for r in shown], "rate"))
    columns.append(Column("note", [step_note(r) for r in shown], "note", justify="left"))
    styles = ["yellow" if r.traced else ("red" if r.non_finite else None) for r in shown]
    sections = {i for i, (before, r) in enumerate(zip([None, *shown], shown))
                if before is not None and before.phase != r.phase}
    return columns, Rows(styles, sections)


def validation_table(records: list[StepRecord], columns: list[Column], *, width: int | None, where: str,
                     console: Console) -> None:
    """The val_* columns a terminal had no room for beside the training values, in a table of their own
    with a row for each step validation ran after."""
    names = [value_name(c.header) for c in columns]
    validated = [r for r in records if any(r.values.get(name) is not None for name in names)]
    if not validated:
        return
    shown = [validated[i] for i in rows_to_show(len(validated), None)]
    formats = value_formats(records)
    keys = [Column("phase", [str(r.phase) for r in shown], "key")] if len({r.phase for r in records}) > 1 else []
    keys.append(Column("step", [str(r.step) for r in shown], "key"))
    if any(r.epoch is not None for r in shown):
        keys.append(Column("epoch", ["" if r.epoch is None else str(r.epoch) for r in shown], "key"))
    values = [Column(value_key(name), [formats[name](r.values.get(name)) for r in shown], "loss")
              for name in names]  # as losses: the first stays, the others leave from the right
    rows = Rows([None] * len(shown))
    kept, left = fit_columns(keys + values, rows, width=width, console=console, order=("loss",))
    print_prose(f"val_* values, {plural(len(validated), 'validation')}", console=console, style="bold")
    print_wide(build_table(kept, rows), console)
    if len(shown) < len(validated):
        print_prose(f"{len(shown)} of {len(validated)} validations shown; {where}", console=console, style="dim")
    if left:
        print_prose(f"left out at {width} columns: {', '.join(c.header for c in left)}; {where}",
                    console=console, style="dim")


def legend(records: list[StepRecord]) -> list[str]:
    """What the table's notes mean, for the notes it has."""
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
    return lines


def step_note(record: StepRecord) -> str:
    notes = []
    if record.traced:
        notes.append("retraced" if record.retraced else "traced")
    if record.non_finite:
        notes.append("non-finite " + ", ".join(value_key(name) for name in record.non_finite))
    if record.batches_per_call > 1:
        notes.append(f"{record.batches_per_call} batches in one call")
    if record.validation_s is not None:
        notes.append(f"validation {record.validation_s:.2f} s")
    if record.skipped:
        notes.append("skipped: gradients not finite, loss scale halved")
    return "; ".join(notes)


def format_rate(examples_per_s: float | None) -> str:
    return "" if examples_per_s is None else f"{examples_per_s:.0f}"


def spans_decades(values: Iterable[float | None]) -> bool:
    """Whether a curve of `values` needs a log scale: all positive, the largest 100 times the smallest or more."""
    known = [v for v in values if v is not None and math.isfinite(v)]
    return bool(known) and min(known) > 0 and max(known) >= LOG_SCALE_SPAN * min(known)


def sparkline(values: list[float | None], *, plain: bool, width: int = SPARK_WIDTH, log: bool = False) -> str:
    """A curve of `values` in one line of block characters (plain characters off a terminal), on a log
    scale where `log`; a stretch with no value is a space."""
    levels = SPARK_PLAIN if plain else SPARK_TERMINAL
    width = min(width, len(values))
    buckets: list[float | None] = []
    for index in range(width):
        chunk = [math.log10(v) if log else v
                 for v in values[index * len(values) // width:(index + 1) * len(values) // width]
                 if v is not None and math.isfinite(v) and (v > 0 or not log)]
        buckets.append(sum(chunk) / len(chunk) if chunk else None)
    known = [b for b in buckets if b is not None]
    if not known:
        return ""
    low, high = min(known), max(known)
    span = (high - low) or 1.0
    return "".join(" " if b is None else levels[min(len(levels) - 1, int((b - low) / span * len(levels)))]
                   for b in buckets)


def steps_summary(stats: RunStats, *, mode: str, wall_s: float, extra: dict[str, str] | None = None,
                  records: list[StepRecord] | None = None, console: Console = stderr) -> None:
    """Under the table: the numbers a person compares between runs, then each phase's values with a curve
    of each loss. Each number in the form the table gave it; nothing is cut at any width (a line longer
    than the terminal wraps, the curve first narrows or goes)."""
    records = records or []
    times = ms_format([r.time_s for r in records] or [stats.median_steady_s])
    parts = {
        "mode": mode,
        "steps": str(stats.steps) + (f" in {len(stats.phases)} phases" if len(stats.phases) > 1 else ""),
        "first step": f"{times(stats.first_step_s)} ms",
        "median step": f"{times(stats.median_steady_s)} ms",
        "p90 step": f"{times(stats.p90_steady_s)} ms",
        "throughput": "—" if stats.examples_per_s is None else f"{format_rate(stats.examples_per_s)} examples/s",
        "traced steps": str(stats.traces),
        "wall": f"{wall_s:.2f} s",
        **(extra or {}),
    }
    if stats.non_finite:
        parts["non-finite steps"] = str(stats.non_finite)
    print_pairs(parts, console=console)
    plain = not console.is_terminal
    formats = value_formats(records)
    grouped = {group[0].phase: group for group in by_phase(records)}
    for phase in stats.phases:
        if len(stats.phases) > 1:
            console.print(Text.assemble((f"phase {phase.phase}", "bold"),
                                        (f"  {phase.source}, steps {phase.first_step}–{phase.last_step}, median "
                                         f"step {times(phase.median_steady_s)} ms", "dim")), soft_wrap=True)
        group = grouped.get(phase.phase, [])
        lines = []
        for name, (first, last) in phase.values.items():
            shown = formats.get(name) or column_format([first, last])
            series = [r.values.get(name) for r in group] if is_loss_name(name) else []
            lines.append((value_key(name), f"{shown(first)} → {shown(last)}", series))
        for name, (best, last) in phase.validation.items():
            shown = formats.get(name) or column_format([best, last])
            way = "highest" if higher_is_better(name) else "lowest"
            lines.append((value_key(name), f"best {shown(best)} ({way}), last {shown(last)}", []))
        name_width = max((len(name) for name, _, _ in lines), default=0)
        span_width = max((len(span) for _, span, series in lines if series), default=0)
        for name, span, series in lines:
            line = f"  {name.ljust(name_width)}  {span.ljust(span_width)}  "
            log = spans_decades(series)
            label = " (log scale)" if log else ""
            room = (console.width - len(line) - len(label)) if console.is_terminal else SPARK_WIDTH
            curve = sparkline(series, plain=plain, width=min(SPARK_WIDTH, room), log=log) \
                if series and room >= SPARK_MIN_WIDTH else ""
            console.print(Text((line + curve + label if curve else line).rstrip()), soft_wrap=True)
    print_prose("median and p90 leave out each phase's first step and every step that traced", console=console,
                style="dim")


CHANGE_LABELS = {"shape": "shape ", "dtype": "dtype ", "python": "Python value "}


def retraces(functions: list[FunctionTraces]) -> None:
    """For each tf.function that traced again: how often, and for each retrace what changed in its inputs
    against the closest earlier trace, with the fix for that kind of change (once per kind)."""
    from eagerrun.diagnostics.tracing import FIXES

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
    print_pairs(rows, console=stderr, indent="  ")
    if not verbose:
        stderr.print(Text("  TensorFlow's full report: run again with -v", style="dim"))


def no_steps(*, autolog: bool, legacy_keras: bool, seen: Sequence[str] = ()) -> None:
    """A run that recorded no step says so, what was looked for, what was seen and why it was not a step,
    and how to get a table anyway."""
    looked = ("Keras fit, Keras optimizer updates, GradientTape.gradient over variables and "
              "eagerrun.log_step()") if autolog else "eagerrun.log_step() (--no-autolog)"
    legacy = " tf_keras (legacy Keras) optimizers and tf.compat.v1 training are not hooked." if legacy_keras else ""
    stderr.print(Text.assemble(("eagerrun: ", "bold"),
                               f"no training steps were recorded (looked for {looked}).{legacy} Call "
                               "eagerrun.log_step(loss) once a step to get a table."), soft_wrap=True)
    for line in seen:
        stderr.print(Text(f"  seen, not a step: {line}"), soft_wrap=True)


@contextlib.contextmanager
def live_progress(recorder: Recorder, *, total: int | None, enabled: bool,
                  planned: Callable[[], int | None] | None = None,
                  console: Console | None = None) -> Iterator[None]:
    """A progress bar on stderr while steps come in, on a terminal only (a pipe gets the table alone): the
    step, of how many where that is known, and the time left at the rate so far. `total` is known before
    the steps start (the trainer's); `planned`, asked at each step, may learn it as the run goes (Keras
    fit's steps × epochs)."""
    console = console or stderr
    if not (enabled and console.is_terminal):
        yield
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("[bold]step"), MofNCompleteColumn(), BarColumn(),
                        TextColumn("{task.fields[info]}"), TimeElapsedColumn(), time_left_column(), console=console,
                        transient=True)
    task = progress.add_task("train", total=total, info="")
    started = False

    def advance(record: StepRecord) -> None:
        nonlocal started
        known = planned() if planned is not None else None
        if not started and record.step > 1:  # resumed: the rate counts from here, not from step 0
            progress.reset(task, completed=record.step - 1)
        started = True
        # the run's step number, not a count of this process's steps: a resumed run's bar starts where it was
        progress.update(task, completed=record.step, total=known if known is not None else total,
                        info=f"loss {column_format([record.loss])(record.loss)}  {record.time_s * 1000:.1f} ms")

    recorder.listeners.append(advance)
    try:
        with progress:
            yield
    finally:
        recorder.listeners.remove(advance)


def time_left_column() -> Any:
    from rich.progress import TimeRemainingColumn

    class TimeLeft(TimeRemainingColumn):
        """Rich's estimate of the time left, "left 0:01:23", and nothing while the total is unknown (Rich
        would draw -:--:--)."""

        def render(self, task: Task) -> Text:
            if task.total is None:
                return Text("")
            return Text.assemble(("left ", "dim"), super().render(task))

    return TimeLeft()


# -- status --------------------------------------------------------------------------------------------------


def on_a_terminal(console: Console | None = None) -> bool:
    """Whether `console` (stderr) is a person's terminal: Rich takes it for one and its file is a TTY.
    FORCE_COLOR and TTY_COMPATIBLE have Rich draw into a pipe or a CI log as if it were a terminal: a
    status there would be left behind as text."""
    console = console or stderr
    if not console.is_terminal:
        return False
    try:
        return os.isatty(console.file.fileno())
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):  # a StringIO, a closed stream
        return False


class StatusLine:
    """A transient spinner and one line of text saying what eagerrun is waiting for; `update` changes the
    text. `shown`: whether it is drawn at all (on a terminal only)."""

    def __init__(self, spinner: Spinner | None = None, live: Live | None = None) -> None:
        self.spinner, self.live = spinner, live

    @property
    def shown(self) -> bool:
        return self.live is not None

    def update(self, text: str) -> None:
        if self.spinner is not None and self.live is not None:
            self.spinner.update(text=Text(text))
            self.live.refresh()


@contextlib.contextmanager
def status(text: str, *, enabled: bool = True, console: Console | None = None) -> Iterator[StatusLine]:
    """`text` beside a spinner while the block runs, on a terminal only, erased when it ends: nothing of
    it is left on the screen, and none of it ever reaches a pipe or a file.

    It draws through its own duplicate of the terminal's file descriptor, taken as it starts: while
    TensorFlow loads, fd 2 is startup_log's pipe, which holds back a line until its newline, and a spinner
    never ends its line. It leaves sys.stdout and sys.stderr as they are (Rich's Live would swap them for
    proxies, which a logging handler made meanwhile would keep for good)."""
    console = console or stderr
    if not (enabled and on_a_terminal(console)):
        yield StatusLine()
        return
    try:
        terminal = open(os.dup(console.file.fileno()), "w", encoding="utf-8", errors="replace", closefd=True)  # noqa: SIM115
    except OSError:
        yield StatusLine()
        return
    with terminal:
        own = Console(file=terminal, force_terminal=True, highlight=False, width=console.width)
        spinner = Spinner("dots", text=Text(text), style="cyan")
        with Live(spinner, console=own, transient=True, redirect_stdout=False, redirect_stderr=False,
                  refresh_per_second=12.5) as live:
            yield StatusLine(spinner, live)


@contextlib.contextmanager
def loading_tensorflow(*, enabled: bool) -> Iterator[None]:
    """"loading TensorFlow…" while it loads (seconds, with nothing else to show). A Ctrl-C there ends
    eagerrun at once (`interrupts.exit_on_signals`) after the terminal echoed `^C`: the status erases that
    line with itself; without a status, the line is ended, so the shell's prompt starts a line of its own."""
    with status("loading TensorFlow…", enabled=enabled) as line:
        try:
            yield
        except interrupts.SignalExit as exc:
            if exc.signum == signal.SIGINT and not line.shown and on_a_terminal():
                stderr.file.write("\n")
                stderr.file.flush()
            raise


@contextlib.contextmanager
def compare_status(runs: list[str]) -> Iterator[Callable[[str, int | None], None]]:
    """`compare`'s status: which run is going and its steps so far, "graph run (2 of 2): step 34"; it
    yields `show(run, steps so far)`, None or 0 while the run's process starts."""

    def text(run: str, done: int | None) -> str:
        which = f"{run} run ({runs.index(run) + 1} of {len(runs)})" if run in runs else f"{run} run"
        return f"{which}: step {done}" if done else f"{which}: loading TensorFlow and the script…"

    with status(text(runs[0], None)) as line:
        yield lambda run, done: line.update(text(run, done))


# -- compare -------------------------------------------------------------------------------------------------


def parting_text(parting: Parting) -> str:
    """compare --bisect's finding, in the words of what it compared."""
    on = f"on step {parting.step}'s weights and batch, run once eagerly and once as a graph"
    if parting.layer is not None:
        where = f" ({parting.where})" if parting.where else ""
        before = (f"the {plural(parting.layers_compared - 1, 'layer call')} before it agree"
                  if parting.layers_compared > 1 else "it is the first layer called")
        return (f"  where they part: layer {parting.layer}{where}: its output differs by {parting.difference:.3g} "
                f"{on}; {before}")
    if parting.gradient_of is not None:
        return (f"  where they part: the forward pass agrees over {plural(parting.layers_compared, 'layer call')} "
                f"{on}; the gradient of {parting.gradient_of} differs by {parting.difference:.3g}")
    if parting.layers_compared == 0:
        return "  bisect: no Keras model and batch were found in the step function's call, so no layer was compared"
    return (f"  bisect: every layer's output and every gradient agree {on} "
            f"({plural(parting.layers_compared, 'layer call')}): the difference is outside the model's layers "
            "(the loss, the optimizer's update, the data, or Python in the step)")


def cause_story(result: Comparison) -> str | None:
    """The paragraph that goes with the verdict: it explains the step named, and says what it rests on."""
    cause, step, seed = result.likely_cause, result.first_divergent_step, result.seed
    seeded = f"both runs had --seed {seed}" if seed is not None else "both runs had one seed"
    if cause == "python_side_effect":
        return (f"  The steps before {step} agree and step {step} differs: Python side effects inside a traced "
                "function run once, "
                "at trace time, in graph mode and at every step in eager mode. Evidence: these lines of yours "
                "ran while the graph run traced its functions.")
    if cause == "unseeded_randomness":
        return (f"  Expected randomness, not a mode difference: {seeded}, and random ops without a seed of their "
                "own still draw other numbers in eager and graph mode (graph mode derives each op's seed from "
                "the graph being built, eager mode from a counter). Evidence: these random ops are in the graphs "
                "the graph run traced. Give each a seed= or use tf.random.stateless_* ops or a tf.random.Generator "
                "to compare the modes themselves.")
    if cause == "different_start":
        return (f"  The first step already differs, and the graph run's traces hold no random op without a seed "
                f"and ran no Python side effect: the runs did not start alike. {seeded.capitalize()}, so look at "
                "what happens before the first step outside any tf.function: weights or batches drawn from a "
                "generator the seed does not reach, or data read in another order.")
    if cause == "mode_difference":
        agree = f"the steps before {step} agree" if step and step > 1 else "it shows from the first step"
        traced = (", and the graph run's traces hold no random op without a seed and ran no Python side effect"
                  if result.suspects is not None else "")
        found = ("Evidence: the layer below computes differently in the two modes"
                 if result.parting is not None and (result.parting.layer or result.parting.gradient_of)
                 else "Look for code whose result depends on how it runs: a Python condition on a tensor, an op "
                 "whose graph kernel differs, float32 sums reordered beyond --rtol")
        return f"  A real difference between the modes: {seeded}, {agree}{traced}. {found}."
    if cause == "step_count_mismatch":
        return ("  The runs recorded different numbers of steps, so their steps cannot be lined up one for one. "
                "The script's loop ran differently in the two modes (a Python condition on a tensor value, a loop "
                "that stops on a tensor), or one run ended early.")
    return None


def comparison(result: Comparison, *, log_every: int | None, as_json: bool, console: Console = stdout) -> None:
    """eager and graph side by side, the verdict with its usual cause, and the speedup. Each value in one
    format over every run (`column_format`), each time in one (`ms_format`)."""
    if as_json:
        console.file.write(json.dumps(result.as_json()) + "\n")
        return
    names = list(result.runs)
    every = [r for records in result.runs.values() for r in records]
    formats = value_formats(every)
    times = ms_format(r.time_s for r in every)
    if result.steps_compared:
        comparison_table(result, names, list(formats), formats=formats, times=times, log_every=log_every,
                         console=console)
    for name, failure in result.failures.items():
        console.print(Text(f"✗ the {name} run failed (exit {failure.exit_code}) after "
                           f"{plural(len(result.runs[name]), 'step')}: {failure.error}", style="bold red"),
                      soft_wrap=True)
        if failure.at:
            console.print(Text.assemble("  at ", (failure.at, "bold")), soft_wrap=True)
        for other, records in result.runs.items():
            if other not in result.failures:
                last = records[-1].values if records else {}
                console.print(Text(f"  the {other} run ran to its end: {plural(len(records), 'step')}"
                                   + "".join(f", {value_key(n)} {formats[n](v)}" for n, v in last.items())),
                              soft_wrap=True)
    counts = result.step_counts
    if len(set(counts.values())) > 1 and not result.failures:
        console.print(Text("✗ the runs recorded different numbers of steps: "
                           + ", ".join(f"{name} {count}" for name, count in counts.items()), style="bold red"),
                      soft_wrap=True)
    if result.match:
        console.print(Text(f"✓ every value agrees over {plural(result.steps_compared, 'step')} "
                           f"(max difference {result.max_abs_diff or 0.0:.3g})", style="green"), soft_wrap=True)
    elif result.steps_compared == 0 and not result.failures:
        console.print(Text("✗ no steps were recorded: nothing to compare", style="bold red"))
    elif result.first_divergent_step is not None:
        divergent = value_key(result.divergent_value) if result.divergent_value else "a value"
        console.print(Text(f"✗ {divergent} first diverges at step {result.first_divergent_step}",
                           style="bold red"), soft_wrap=True)
        story = cause_story(result)
        if story is not None:
            print_prose(story, console=console)
        for suspect in result.cause_suspects:
            console.print(Text.assemble("  suspect: ", (f"{suspect.file}:{suspect.line}", "bold"),
                                        f"  {suspect.code}  ",
                                        (f"({suspect.detail or suspect.why})", "dim")), soft_wrap=True)
        if result.parting is not None:
            print_prose(parting_text(result.parting), console=console)
    if result.likely_cause == "step_count_mismatch":
        print_prose(cause_story(result) or "", console=console)
    if result.same_code:
        print_prose("no tf.function ran: both modes ran the same code, so there is no speedup to measure",
                    console=console)
        return
    for name in names[1:]:
        eager_s, other_s = result.median_step_s("eager"), result.median_step_s(name)
        if eager_s and other_s and not result.failures:
            ratio = eager_s / other_s
            how = f"{ratio:.1f}× faster" if ratio >= 1 else f"{1 / ratio:.1f}× slower"
            print_prose(f"{name} is {how} than eager per steady step (median {times(eager_s)} ms vs "
                        f"{times(other_s)} ms)", console=console)


# The order a comparison's columns leave a table wider than the terminal: each run's time, then the values
# from the right (each with every run's column), the first value staying.
COMPARE_LEAVE_OUT = ("time", "metric")


def comparison_table(result: Comparison, names: list[str], values: list[str], *, formats: dict[str, NumberFormat],
                     times: NumberFormat, log_every: int | None, console: Console) -> None:
    """One row per shown step: each run's value of each value name, the largest difference, each run's time;
    on a terminal, fitted to its width (COMPARE_LEAVE_OUT), saying what it left out."""
    shown = set(rows_to_show(result.steps_compared, log_every))
    if result.first_divergent_step is not None and result.first_divergent_step <= result.steps_compared:
        shown.add(result.first_divergent_step - 1)
    steps = [[result.runs[name][index] for name in names] for index in sorted(shown)]
    value_columns = [Column(f"{name} {value_key(value)}", [formats[value](row[i].values.get(value)) for row in steps],
                            "key" if value == values[0] else "metric")
                     for value in values for i, name in enumerate(names)]
    differences = []
    for row in steps:
        diffs = [abs(n - numbers[0]) for value in values
                 for numbers in [[r.values.get(value) for r in row]]
                 for n in numbers[1:] if n is not None and numbers[0] is not None]
        differences.append(f"{max(diffs):.3g}" if diffs else "—")
    columns = [Column("step", [str(row[0].step) for row in steps], "key"), *value_columns,
               Column("difference", differences, "key"),
               *(Column(f"{name} ms", [times(row[i].time_s) for row in steps], "time") for i, name in enumerate(names))]
    rows = Rows(["bold red" if row[0].step == result.first_divergent_step else None for row in steps])
    width = console.width if console.is_terminal else None
    kept, left = fit_columns(columns, rows, width=width, console=console, order=COMPARE_LEAVE_OUT)
    # a value leaves with every run's column of it
    left_values = {c.header.split(" ", 1)[1] for c in left if c.group == "metric"}
    kept = [c for c in kept if not (c.group == "metric" and c.header.split(" ", 1)[1] in left_values)]
    left = [c for c in columns if c not in kept]
    print_prose("eager vs graph, one seed, fresh processes", console=console, style="bold")
    print_wide(build_table(kept, rows), console)
    if left:
        print_prose(f"left out at {width} columns: {', '.join(c.header for c in left)}; compare --json and a wider "
                    "terminal show them", console=console, style="dim")


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
    if facts.get("private_api_missing"):  # eagerrun's hooks need these (_tf_compat.py): a report should say
        missing = facts["private_api_missing"]
        rows.append(("missing", [f"{name} (private API eagerrun's hooks use)" for name in missing]))
    width = max(len(key) for key, _ in rows) + 2
    lines = [f"{key if index == 0 else '':<{width}}{value}" for key, values in rows
             for index, value in enumerate(values)]
    stdout.file.write("\n".join(lines) + "\n")
    stdout.file.flush()
