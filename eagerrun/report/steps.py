"""A run's steps: the step table (and the validation table a terminal had no room for beside it), its
legend, the summary under it, and the closing line of every run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from eagerrun import interrupts
from eagerrun.records import by_phase, higher_is_better, is_loss_name, value_key, value_name
from eagerrun.report.console import Pairs, Prose, SoftWrapped, Wide, line
from eagerrun.report.numbers import (
    SPARK_MIN_WIDTH,
    SPARK_WIDTH,
    column_format,
    format_rate,
    ms_format,
    ordinal,
    plural,
    spans_decades,
    sparkline,
    value_formats,
)
from eagerrun.report.tables import Column, Rows, build_table, fit_columns, rows_to_show, stride

if TYPE_CHECKING:
    from eagerrun.records import RunStats, StepRecord


def run_summary(*, modes: list[tuple[str, str]], target: str, wall_s: float, exit_code: int,
                strategy: str | None = None) -> SoftWrapped:
    """The closing line of every run: what ran, in which mode the steps actually ran and who decided it
    (`modes`: each mode with "flag", "env", "default" or "the script, train.py:12"), how long, how it
    ended."""
    status = Text(str(exit_code), style="green" if exit_code == 0 else "bold red")
    shown: list[tuple[str, str]] = []
    for index, (mode, decided_by) in enumerate(modes):
        if index:
            shown.append((", then ", "dim"))
        shown += [(mode, "bold cyan"), (f" ({decided_by})", "dim")]
    return line(
        ("eagerrun ", "bold"),
        ("│ mode ", "dim"), *shown,
        *((("  │ strategy ", "dim"), strategy) if strategy else ()),
        ("  │ ", "dim"), target,
        ("  │ wall ", "dim"), f"{wall_s:.2f} s",
        ("  │ exit ", "dim"), status,
    )



def modes_text(modes: list[tuple[str, str]]) -> str:
    """The modes the steps ran in, as the summary names them: "eager", or "eager, then graph"."""
    return ", then ".join(mode for mode, _ in modes)


class StepTable:
    """The per-step table: step, epoch, every value, time, examples/s, and a note where there is one;
    phases are sections of one table, each showing its own first and last step. On a terminal it fits the
    width by leaving columns out (LEAVE_OUT) and says which and where they are; elsewhere it takes the width
    it needs. `metrics_out`: the --metrics-out file, named where the table says what it does not show.
    `stopped_by`: the signal that stopped the run, which the title names with the last step and, where
    known, the `planned` step count: "interrupted (Ctrl-C) after step 206 of 800". No records: nothing."""

    def __init__(self, records: list[StepRecord], *, log_every: int | None = None, metrics_out: Path | None = None,
                 stopped_by: int | None = None, planned: int | None = None) -> None:
        self.records, self.log_every, self.metrics_out = records, log_every, metrics_out
        self.stopped_by, self.planned = stopped_by, planned

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        records, log_every = self.records, self.log_every
        if not records:
            return
        width = options.max_width if console.is_terminal else None
        where = f"all in {self.metrics_out}" if self.metrics_out is not None else "all in the --metrics-out file"
        phases = by_phase(records)
        shown = [(group, index) for group in phases for index in rows_to_show(len(group), log_every)]
        replicas = max(r.replicas for r in records)
        modes = " and ".join(dict.fromkeys(r.mode for r in records))
        title = f"{plural(len(records), 'step')}, {modes} mode" + (f", {replicas} replicas" if replicas > 1 else "") \
            + (f", {len(phases)} phases" if len(phases) > 1 else "")
        if self.stopped_by is not None:
            last = records[-1].step
            title += f"; {interrupts.STOPPED_BY[self.stopped_by]} after step {last}" \
                + (f" of {self.planned}" if self.planned is not None and self.planned >= last else "")
        columns, rows = step_columns([group[index] for group, index in shown], records, phases=len(phases))
        kept, left = fit_columns(columns, rows, width=width, console=console)
        yield Prose(title, style="bold")
        yield Wide(build_table(kept, rows))
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
        for shown_line in lines:
            yield Prose(shown_line, style="dim")
        if moved:
            yield ValidationTable(records, moved, width=width, where=where)



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


class ValidationTable:
    """The val_* columns a terminal had no room for beside the training values, in a table of their own
    with a row for each step validation ran after; fitted to `width` (None: all of them)."""

    def __init__(self, records: list[StepRecord], columns: list[Column], *, width: int | None, where: str) -> None:
        self.records, self.columns, self.width, self.where = records, columns, width, where

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        records, width, where = self.records, self.width, self.where
        names = [value_name(c.header) for c in self.columns]
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
        yield Prose(f"val_* values, {plural(len(validated), 'validation')}", style="bold")
        yield Wide(build_table(kept, rows))
        if len(shown) < len(validated):
            yield Prose(f"{len(shown)} of {len(validated)} validations shown; {where}", style="dim")
        if left:
            yield Prose(f"left out at {width} columns: {', '.join(c.header for c in left)}; {where}", style="dim")



def legend(records: list[StepRecord]) -> list[str]:
    """What the table's notes mean, for the notes it has."""
    lines = []
    if any(r.traced for r in records):
        lines.append("traced: the step's time includes tracing a tf.function into a graph" + (
            " (retraced: a function traced again, for new inputs or as a new tf.function object: see the retrace "
            "report below)"
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


class StepsSummary:
    """Under the table: the numbers a person compares between runs, then each phase's values with a curve
    of each loss. Each number in the form the table gave it; nothing is cut at any width (a line longer
    than the terminal wraps, the curve first narrows or goes)."""

    def __init__(self, stats: RunStats, *, mode: str, wall_s: float, extra: dict[str, str] | None = None,
                 records: list[StepRecord] | None = None) -> None:
        self.stats, self.mode, self.wall_s, self.extra, self.records = stats, mode, wall_s, extra, records or []

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        stats, records = self.stats, self.records
        times = ms_format([r.time_s for r in records] or [stats.median_steady_s])
        parts = {
            "mode": self.mode,
            "steps": str(stats.steps) + (f" in {len(stats.phases)} phases" if len(stats.phases) > 1 else ""),
            "first step": f"{times(stats.first_step_s)} ms",
            "median step": f"{times(stats.median_steady_s)} ms",
            "p90 step": f"{times(stats.p90_steady_s)} ms",
            "throughput": "—" if stats.examples_per_s is None else f"{format_rate(stats.examples_per_s)} examples/s",
            "traced steps": str(stats.traces),
            "wall": f"{self.wall_s:.2f} s",
            **(self.extra or {}),
        }
        if stats.non_finite:
            parts["non-finite steps"] = str(stats.non_finite)
        yield Pairs(parts)
        plain = not console.is_terminal
        formats = value_formats(records)
        grouped = {group[0].phase: group for group in by_phase(records)}
        for phase in stats.phases:
            if len(stats.phases) > 1:
                yield line((f"phase {phase.phase}", "bold"),
                           (f"  {phase.source}, steps {phase.first_step}–{phase.last_step}, median "
                            f"step {times(phase.median_steady_s)} ms", "dim"))
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
                start = f"  {name.ljust(name_width)}  {span.ljust(span_width)}  "
                log = spans_decades(series)
                label = " (log scale)" if log else ""
                room = (options.max_width - len(start) - len(label)) if console.is_terminal else SPARK_WIDTH
                curve = sparkline(series, plain=plain, width=min(SPARK_WIDTH, room), log=log) \
                    if series and room >= SPARK_MIN_WIDTH else ""
                yield line((start + curve + label if curve else start).rstrip())
        yield Prose("median and p90 leave out each phase's first step and every step that traced", style="dim")
