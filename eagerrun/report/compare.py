"""`eagerrun compare`: eager and graph side by side, the verdict with its usual cause, and the speedup."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.text import Text

from eagerrun.records import value_key
from eagerrun.report.console import Prose, Raw, Wide, line
from eagerrun.report.numbers import NumberFormat, ms_format, plural, value_formats
from eagerrun.report.tables import Column, Rows, build_table, fit_columns, rows_to_show

if TYPE_CHECKING:
    from eagerrun.diagnostics.bisect import Parting
    from eagerrun.diagnostics.compare import Comparison
    from eagerrun.diagnostics.matrix import Matrix

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
                "function run once, at trace time, in graph mode and at every step in eager mode. Evidence: these "
                "lines of yours ran while the graph run traced its functions.")
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
        for name, failure in result.failures.items():
            yield line(f"✗ the {name} run failed (exit {failure.exit_code}) after "
                       f"{plural(len(result.runs[name]), 'step')}: {failure.error}", style="bold red")
            if failure.at:
                yield line("  at ", (failure.at, "bold"))
            for other, records in result.runs.items():
                if other not in result.failures:
                    last = records[-1].values if records else {}
                    yield line(f"  the {other} run ran to its end: {plural(len(records), 'step')}"
                               + "".join(f", {value_key(n)} {formats[n](v)}" for n, v in last.items()))
        counts = result.step_counts
        if len(set(counts.values())) > 1 and not result.failures:
            yield line("✗ the runs recorded different numbers of steps: "
                       + ", ".join(f"{name} {count}" for name, count in counts.items()), style="bold red")
        if result.match:
            yield line(f"✓ every value agrees over {plural(result.steps_compared, 'step')} "
                       f"(max difference {result.max_abs_diff or 0.0:.3g})", style="green")
        elif result.steps_compared == 0 and not result.failures:
            yield Text("✗ no steps were recorded: nothing to compare", style="bold red")
        elif result.first_divergent_step is not None:
            divergent = value_key(result.divergent_value) if result.divergent_value else "a value"
            yield line(f"✗ {divergent} first diverges at step {result.first_divergent_step}", style="bold red")
            story = cause_story(result)
            if story is not None:
                yield Prose(story)
            for suspect in result.cause_suspects:
                yield line("  suspect: ", (f"{suspect.file}:{suspect.line}", "bold"), f"  {suspect.code}  ",
                           (f"({suspect.detail or suspect.why})", "dim"))
            if result.parting is not None:
                yield Prose(parting_text(result.parting))
        if result.likely_cause == "step_count_mismatch":
            yield Prose(cause_story(result) or "")
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



def matrix(result: Matrix, *, as_json: bool) -> RenderableType:
    """`compare --matrix`: one row per configuration, or one JSON line."""
    if as_json:
        return Raw(json.dumps(result.as_json()) + "\n")
    return MatrixReport(result)


class MatrixReport:
    """What each switch buys: median and first step, speed against eager, agreement with graph, retraces;
    a configuration that failed says why in its row."""

    def __init__(self, result: Matrix) -> None:
        self.result = result

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        rows = self.result.rows
        times = ms_format([t for row in rows for t in (row.median_step_s, row.first_step_s)])
        table = build_table([
            Column("run", [row.name for row in rows], "key"),
            Column("median ms", [times(row.median_step_s) for row in rows], "key"),
            Column("vs eager", ["—" if row.speed_vs_eager is None else f"{row.speed_vs_eager:.2f}×" for row in rows],
                   "key"),
            Column("first step ms", [times(row.first_step_s) for row in rows], "key"),
            Column("agrees with graph", [agreement(row) for row in rows], "key"),
            Column("retraces", ["—" if row.retraces is None else str(row.retraces) for row in rows], "key"),
        ], Rows([None if row.failure is None else "red" for row in rows]))
        yield Prose("eager, graph, graph+XLA, mixed precision: one seed, fresh processes", style="bold")
        yield Wide(table)
        for row in rows:
            if row.failure is not None:
                at = f" ({row.failure.at})" if row.failure.at else ""
                yield line(f"✗ {row.name} failed (exit {row.failure.exit_code}): {row.failure.error}{at}",
                           style="bold red")
        yield Prose("first step: tracing and, with XLA, compiling; median: the steady steps. mixed_float16 is "
                    f"compared within rtol {rows[-1].tolerance[0]:g} (float16 keeps about three digits)", style="dim")


def agreement(row: Any) -> str:
    if row.failure is not None:
        return "✗ failed"
    if row.name == "graph":
        return "(reference)"
    if row.agrees is None:
        return "—"
    if row.agrees:
        return f"✓ {plural(row.steps, 'step')}"
    return f"✗ from step {row.divergent_step}" if row.divergent_step else "✗ step counts differ"
