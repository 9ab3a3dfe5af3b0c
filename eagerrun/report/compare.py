"""`eagerrun compare`: eager and graph side by side, the verdict with its usual cause, and the speedup."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.text import Text

from eagerrun.records import value_key
from eagerrun.report.console import Prose, Raw, Wide, line
from eagerrun.report.numbers import NumberFormat, ms_format, plural, value_formats
from eagerrun.report.tables import Column, Rows, build_table, fit_columns, rows_to_show

if TYPE_CHECKING:
    from eagerrun.diagnostics.compare import Comparison

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


def comparison(result: Comparison, *, log_every: int | None, as_json: bool) -> RenderableType:
    """The comparison as one JSON line (`--json`) or as `ComparisonReport`; shown on stdout."""
    if as_json:
        return Raw(json.dumps(result.as_json()) + "\n")
    return ComparisonReport(result, log_every=log_every)


class ComparisonReport:
    """eager and graph side by side, the verdict with its usual cause, and the speedup. Each value in one
    format over every run (`column_format`), each time in one (`ms_format`)."""

    def __init__(self, result: Comparison, *, log_every: int | None) -> None:
        self.result, self.log_every = result, log_every

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        result = self.result
        names = list(result.runs)
        every = [r for records in result.runs.values() for r in records]
        formats = value_formats(every)
        times = ms_format(r.time_s for r in every)
        if result.steps_compared:
            yield ComparisonTable(result, names, list(formats), formats=formats, times=times,
                                  log_every=self.log_every)
        for name, why in result.failures.items():
            yield line(f"✗ the {name} run failed: {why}", style="bold red")
            for other, records in result.runs.items():
                if other not in result.failures:
                    last = records[-1].values if records else {}
                    yield line(f"  the {other} run ran to its end: {plural(len(records), 'step')}"
                               + "".join(f", {value_key(n)} {formats[n](v)}" for n, v in last.items()))
        counts = result.step_counts
        if len(set(counts.values())) > 1:
            yield line("✗ the runs recorded different numbers of steps: "
                       + ", ".join(f"{name} {count}" for name, count in counts.items()), style="bold red")
        if result.match:
            yield line(f"✓ every value agrees over {plural(result.steps_compared, 'step')} "
                       f"(max difference {result.max_abs_diff:.3g})", style="green")
        elif result.steps_compared == 0 and not result.failures:
            yield Text("✗ no steps were recorded: nothing to compare", style="bold red")
        elif result.first_divergent_step is not None:
            divergent = value_key(result.divergent_value) if result.divergent_value else "a value"
            yield line(f"✗ {divergent} first diverges at step {result.first_divergent_step}", style="bold red")
            if result.likely_cause in ("python_side_effect", "unseeded_randomness"):
                yield Prose(CAUSES[result.likely_cause])
                for suspect in result.cause_suspects:
                    yield line("  suspect: ", (f"{suspect.file}:{suspect.line}", "bold"), f"  {suspect.code}  ",
                               (f"({suspect.why})", "dim"))
        if result.likely_cause == "step_count_mismatch":
            yield Prose(CAUSES["step_count_mismatch"])
        if result.same_code:
            yield Prose("no tf.function ran: both modes ran the same code, so there is no speedup to measure")
            return
        for name in names[1:]:
            eager_s, other_s = result.median_step_s("eager"), result.median_step_s(name)
            if eager_s and other_s and not result.failures:
                ratio = eager_s / other_s
                how = f"{ratio:.1f}× faster" if ratio >= 1 else f"{1 / ratio:.1f}× slower"
                yield Prose(f"{name} is {how} than eager per steady step (median {times(eager_s)} ms vs "
                            f"{times(other_s)} ms)")


# The order a comparison's columns leave a table wider than the terminal: each run's time, then the values
# from the right (each with every run's column), the first value staying.
COMPARE_LEAVE_OUT = ("time", "metric")


class ComparisonTable:
    """One row per shown step: each run's value of each value name, the largest difference, each run's time;
    on a terminal, fitted to its width (COMPARE_LEAVE_OUT), saying what it left out."""

    def __init__(self, result: Comparison, names: list[str], values: list[str], *,
                 formats: dict[str, NumberFormat], times: NumberFormat, log_every: int | None) -> None:
        self.result, self.names, self.values = result, names, values
        self.formats, self.times, self.log_every = formats, times, log_every

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        result, names, values, formats, times = self.result, self.names, self.values, self.formats, self.times
        shown = set(rows_to_show(result.steps_compared, self.log_every))
        if result.first_divergent_step is not None and result.first_divergent_step <= result.steps_compared:
            shown.add(result.first_divergent_step - 1)
        steps = [[result.runs[name][index] for name in names] for index in sorted(shown)]
        value_columns = [Column(f"{name} {value_key(value)}",
                                [formats[value](row[i].values.get(value)) for row in steps],
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
                   *(Column(f"{name} ms", [times(row[i].time_s) for row in steps], "time")
                     for i, name in enumerate(names))]
        rows = Rows(["bold red" if row[0].step == result.first_divergent_step else None for row in steps])
        width = options.max_width if console.is_terminal else None
        kept, left = fit_columns(columns, rows, width=width, console=console, order=COMPARE_LEAVE_OUT)
        # a value leaves with every run's column of it
        left_values = {c.header.split(" ", 1)[1] for c in left if c.group == "metric"}
        kept = [c for c in kept if not (c.group == "metric" and c.header.split(" ", 1)[1] in left_values)]
        left = [c for c in columns if c not in kept]
        yield Prose("eager vs graph, one seed, fresh processes", style="bold")
        yield Wide(build_table(kept, rows))
        if left:
            yield Prose(f"left out at {width} columns: {', '.join(c.header for c in left)}; compare --json and a "
                        "wider terminal show them", style="dim")

