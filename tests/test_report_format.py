"""How numbers, metrics lines and tables look: one format per quantity, value names that cannot overwrite
eagerrun's keys, the run report's functions, and tables that fit a terminal without splitting a number.
In process, on built StepRecords: no TensorFlow."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path

import pytest
from rich.console import Console

from eagerrun import report
from eagerrun.diagnostics.compare import compare_values
from eagerrun.diagnostics.tracing import TraceCounter
from eagerrun.records import Recorder, StepRecord, higher_is_better, metrics_sink, summarize
from eagerrun.report import numbers, steps, tables
from eagerrun.report.console import measure, prose
from eagerrun.report.numbers import column_format, ms_format, spans_decades, sparkline

NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[+-]\d+)?(?![\w.])")


def console(width: int, *, terminal: bool) -> Console:
    return Console(record=True, width=width, file=io.StringIO(), force_terminal=terminal, color_system=None)


def fit_run(epochs: int = 3, batches: int = 8) -> list[StepRecord]:
    """A Keras fit with four metrics and validation: 15 columns, 172 characters wide."""
    records = []
    for step in range(1, epochs * batches + 1):
        values = {"loss": 1.3 / step, "accuracy": 0.5 + step / 100, "auc": 0.6 + step / 200,
                  "precision": 0.85 + step / 1000, "recall": 0.7 + step / 300}
        last = step % batches == 0
        if last:
            values |= {"val_loss": 1.2 / step, "val_accuracy": 0.5 + step / 90, "val_auc": 0.6,
                       "val_precision": 0.8509, "val_recall": 0.77}
        records.append(StepRecord(step=step, epoch=(step - 1) // batches + 1, mode="graph", traced=step == 1,
                                  time_s=2.107332 if step == 1 else 0.0071 + step * 1e-5, source="fit",
                                  values=values, batch_size=32, validation_s=0.35 if last else None))
    return records


def loop_run(losses: list[float], **other: list[float]) -> list[StepRecord]:
    return [StepRecord(step=i + 1, epoch=None, time_s=0.01, mode="eager", traced=False, source="log_step",
                       values={"loss": loss, **{name: series[i] for name, series in other.items()}})
            for i, loss in enumerate(losses)]


def rendered(records: list[StepRecord], *, width: int, terminal: bool, **options: object) -> str:
    out = console(width, terminal=terminal)
    report.show(report.StepTable(records, **options),  # type: ignore[arg-type]
                report.StepsSummary(summarize(records), mode="graph", wall_s=3.2, records=records), console=out)
    return out.export_text()


def table_lines(text: str) -> tuple[list[str], list[str]]:
    """The header lines and the body lines of every table in `text`."""
    lines = text.splitlines()
    return [line for line in lines if line.startswith("┃")], [line for line in lines if line.startswith("│")]


# -- numbers -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("values, expected", [
    ([543.4232, 543.4241, 543.4250], ["543.4232", "543.4241", "543.4250"]),
    ([2.302585, 2.302581, 2.302577], ["2.302585", "2.302581", "2.302577"]),
    ([0.5, 0.52, 0.515], ["0.5000", "0.5200", "0.5150"]),
    ([12345.678, 12001.5], ["12345.68", "12001.50"]),
    ([1.0, 1.0 + 1e-12], ["1.000000", "1.000000"]),
    ([12.27, 0.5, 0.0003], ["1.227e+01", "5.000e-01", "3.000e-04"]),
    ([3e-6, 2e-6], ["3.000e-06", "2.000e-06"]),
    ([4.2e8, 4.3e8], ["4.200e+08", "4.300e+08"]),
    ([0.0, 0.0], ["0.0000", "0.0000"]),
    ([0.005417, 1.3], ["0.00542", "1.30000"]),
    ([0.06944, 0.125], ["0.0694", "0.1250"]),
], ids=["vae-plateau", "simclr-plateau", "keras-4-decimals", "large-7-significant", "noise-capped-at-7",
        "decades-scientific", "tiny-scientific", "huge-scientific", "zeros", "3-significant-for-the-smallest",
        "4-decimals-as-keras"])
def test_column_format_shows_the_digits_steps_need(values: list[float], expected: list[str]) -> None:
    """At least Keras' 4 decimals and 3 significant digits for the smallest, more where steps in a row would
    look alike, at most 7 significant digits; scientific where fixed decimals cannot do that."""
    shown = column_format(values)
    assert [shown(v) for v in values] == expected


def test_column_format_missing_and_non_finite() -> None:
    """None is a dash, NaN and inf say what they are, and neither changes the column's digits."""
    shown = column_format([None, 0.25, float("nan"), 0.5, float("inf")])
    assert [shown(v) for v in (None, float("nan"), float("-inf"), 0.25)] == ["—", "nan", "-inf", "0.2500"]


def test_ms_format_is_one_form_for_every_time() -> None:
    """Milliseconds, decimals for the shortest time's 3 significant digits, no thousands separator."""
    shown = ms_format([2.107332, 0.00712, None])
    assert [shown(t) for t in (2.107332, 0.00712, None)] == ["2107.33", "7.12", "—"]
    assert ms_format([0.00035])(0.00035) == "0.350" and ms_format([1.5])(1.5) == "1500"


def test_a_quantity_has_the_same_digits_in_table_summary_and_compare() -> None:
    """The VAE's plateau: 543.4232 in the table, the summary and compare; 2107.33 for the first step's time
    in the table and the summary, with no `2,107.332` anywhere."""
    records = loop_run([543.4232, 543.4241, 543.4236, 543.4250])
    for record, time_s in zip(records, [2.107332, 0.00712, 0.00745, 0.00731]):
        record.time_s = time_s
    text = rendered(records, width=120, terminal=False)
    assert "543.4232 → 543.4250" in text and "│ 543.4241 │" in text
    assert "first step    2107.33 ms" in text and "2107.33 │" in text and "2,107" not in text
    out = console(120, terminal=False)
    graph = [StepRecord(**{**vars_of(r), "mode": "graph"}) for r in records]
    report.show(report.comparison(compare_values({"eager": records, "graph": graph}, rtol=1e-4, atol=1e-6),
                                  log_every=None, as_json=False), console=out)
    compared = out.export_text()
    assert re.search(r"543\.4241 │ +543\.4241", compared) and "2107.33 │" in compared


def vars_of(record: StepRecord) -> dict[str, object]:
    return {name: getattr(record, name) for name in record.__slots__}  # type: ignore[attr-defined]


# -- value names that are eagerrun's keys ----------------------------------------------------------------------


COLLIDING = {"loss": 0.5, "step": 123.0, "epoch": 7.0, "mode": 1.0, "non_finite": float("nan"),
             "value.x": 2.0, "x": 3.0}


def test_values_named_like_eagerrun_keys_are_escaped_and_read_back(tmp_path: Path) -> None:
    """A step returning step, epoch, mode: written as value.step etc., eagerrun's own keys untouched; a name
    starting with value. is escaped too, so every key reads back as the one name it was written for."""
    record = StepRecord(step=4, epoch=2, time_s=0.1, mode="graph", traced=False, source="log_step",
                        values=COLLIDING)
    data = json.loads(json.dumps(record.as_json(), allow_nan=False))
    assert (data["step"], data["epoch"], data["mode"]) == (4, 2, "graph")
    assert (data["value.step"], data["value.epoch"], data["value.mode"], data["value.value.x"], data["x"]) == (
        123.0, 7.0, 1.0, 2.0, 3.0)
    assert data["value.non_finite"] is None and data["non_finite"] == {"value.non_finite": "nan"}
    back = StepRecord.from_json(data)
    assert {k: v for k, v in back.values.items() if k != "non_finite"} == \
        {k: v for k, v in COLLIDING.items() if k != "non_finite"}
    assert math.isnan(back.values["non_finite"]) and (back.step, back.epoch, back.mode) == (4, 2, "graph")


def test_old_flat_lines_still_read() -> None:
    """A line written before the escape (no value.* keys) reads as it always did."""
    old = {"step": 3, "phase": 1, "epoch": 1, "time_s": 0.2, "mode": "eager", "traced": False, "source": "fit",
           "batch_size": 8, "replicas": 1, "loss": None, "accuracy": 0.5, "non_finite": {"loss": "inf"}}
    back = StepRecord.from_json(old)
    assert back.step == 3 and back.values["accuracy"] == 0.5 and back.values["loss"] == math.inf


def test_csv_uses_the_same_escaped_names(tmp_path: Path) -> None:
    """CSV: one column per key, value.step beside step, both read back."""
    path = tmp_path / "steps.csv"
    recorder = Recorder(mode="graph", sinks=[metrics_sink(path)])
    recorder.add(values={"loss": 1.0, "step": 99.0, "source": 5.0}, time_s=0.1, source="log_step")
    recorder.close()
    (row,) = csv.DictReader(path.read_text().splitlines())
    assert (row["step"], row["value.step"], row["source"], row["value.source"]) == ("1", "99.0", "log_step", "5.0")


def test_table_headers_use_the_escaped_names() -> None:
    """The table never shows two `step` columns: the value is `value.step`, as in the metrics file."""
    records = [StepRecord(step=1, epoch=None, time_s=0.01, mode="eager", traced=False, source="log_step",
                          values={"loss": 0.5, "step": 123.0})]
    (header,), _ = table_lines(rendered(records, width=120, terminal=False))
    assert [cell.strip() for cell in header.strip("┃").split("┃")] == ["step", "loss", "value.step", "time (ms)",
                                                                        "note"]


# -- the run report's functions --------------------------------------------------------------------------------


def function_from(filename: str, name: str) -> object:
    """A new function object for `name` whose code is in `filename`: the same code each call."""
    namespace: dict[str, object] = {}
    exec(compile(f"def make():\n    def {name}(x):\n        return x\n    return {name}\n", filename, "exec"),
         namespace)
    return namespace["make"]()  # type: ignore[operator]


def test_functions_lists_each_user_function_once_without_library_ones(tmp_path: Path) -> None:
    """Two objects of the user's train_step (a method on two instances) traced 3 times in all: one entry,
    traces 3. Keras' one_step_on_data and TensorFlow's initialize_variables: left out."""
    user = str(tmp_path / "train.py")
    library = "/venv/lib/python3.11/site-packages/keras/src/backend/tensorflow/trainer.py"
    tensorflow = "/usr/lib/python3/dist-packages/tensorflow/python/eager/polymorphic_function/x.py"
    counter = TraceCounter()
    first = function_from(user, "train_step")
    for function, name in [(first, "train_step"), (function_from(user, "train_step"), "train_step"),
                           (first, "train_step"),
                           (function_from(library, "one_step_on_data"), "one_step_on_data"),
                           (function_from(library, "one_step_on_data"), "one_step_on_data"),
                           (function_from(tensorflow, "initialize_variables"), "initialize_variables")]:
        counter.traced(function, name)
    assert [(f["name"], f["file"], f["traces"]) for f in (e.as_json() for e in counter.functions.values())] == [
        ("train_step", user, 3)]
    assert counter.count == 6


# -- tables that fit -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [120, 80])
def test_terminal_table_never_splits_a_number_or_a_header(width: int) -> None:
    """A fit with four metrics and validation at 120 and 80 columns: every line fits, each row and the header
    are one line each, every number in the tables is a whole formatted value, and what was left out is named."""
    records = fit_run()
    text = rendered(records, width=width, terminal=True)
    headers, body = table_lines(text)
    assert all(len(line) <= width for line in text.splitlines()), text
    assert len(headers) == 2 and len(body) == len(records) + 3  # the steps, then the three validations
    formats = numbers.value_formats(records)
    whole = {formats[name](r.values.get(name)) for r in records for name in r.values} | {
        ms_format(r.time_s for r in records)(r.time_s) for r in records} | {str(r.step) for r in records} | {
        numbers.format_rate(r.examples_per_s) for r in records} | {"0.35"}
    assert {token for line in body for token in NUMBER.findall(line)} <= whole, text
    header_cells = {cell.strip() for line in headers for cell in line.strip("┃").split("┃")}
    assert "val_accuracy" in header_cells and "accuracy" in header_cells
    assert not any(line.rstrip() != line for line in text.splitlines())
    flat = " ".join(text.split())
    expected = {120: "left out at 120 columns: val_* (the validation table below); all in the --metrics-out file",
                80: "left out at 80 columns: val_* (the validation table below), precision, recall, examples/s; "
                    "all in the --metrics-out file"}[width]
    assert expected in flat, text


def test_columns_leave_in_the_documented_order() -> None:
    """val_* first, then examples/s, the metrics from the right, the note, the losses after the first; step,
    epoch, the first loss and time stay."""
    records = fit_run()
    columns, rows = steps.step_columns(records, records, phases=1)
    out = console(40, terminal=True)
    kept, left = tables.fit_columns(columns, rows, width=40, console=out)
    assert [c.header for c in kept] == ["step", "epoch", "loss", "time (ms)"]
    assert [c.group for c in left] == ["metric"] * 4 + ["validation"] * 5 + ["rate", "note"]
    assert tables.LEAVE_OUT == ("validation", "rate", "batch", "metric", "note", "loss")


def test_off_a_terminal_the_table_takes_its_width_and_lines_end_clean() -> None:
    """Into a file at an 80-column console: all 15 columns (over 170 wide), no line ending in a space, nothing
    left out."""
    text = rendered(fit_run(), width=80, terminal=False)
    headers, _ = table_lines(text)
    assert len(headers) == 1 and len(headers[0]) > 170 and headers[0].count("┃") == 16
    assert "left out" not in text and "…" not in text
    assert not any(line.rstrip() != line for line in text.splitlines())


def test_summary_at_80_columns_cuts_no_name_or_number() -> None:
    """Long value names beside a loss curve: every name and number whole, the curve narrowed to fit."""
    records = loop_run([2.0 - i / 50 for i in range(60)],
                       val_sparse_top_k_categorical_accuracy=[0.5 + i / 200 for i in range(60)],
                       discriminator_adversarial_loss=[1.0 + i / 100 for i in range(60)])
    out = console(80, terminal=True)
    report.show(report.StepsSummary(summarize(records), mode="eager", wall_s=1.0, records=records), console=out)
    text = out.export_text()
    assert "…" not in text and all(len(line) <= 80 for line in text.splitlines()), text
    assert re.search(r"\n  discriminator_adversarial_loss +1\.0000 → 1\.5900  [▁-█]{8,39}\n", text), text
    assert "val_sparse_top_k_categorical_accuracy  best 0.7950 (highest), last 0.7950" in text


def test_best_says_which_way_each_value_is_judged() -> None:
    """Highest for accuracy, AUC, precision, recall, F1, IoU, top-k; lowest for losses, errors and the rest."""
    assert all(map(higher_is_better, ["val_accuracy", "val_auc", "val_precision", "val_recall", "val_f1_score",
                                       "val_mean_io_u", "val_iou", "val_top_k_categorical_accuracy", "val_acc"]))
    assert not any(map(higher_is_better, ["val_loss", "val_mean_squared_error", "val_mae", "val_gen_loss",
                                           "val_mean_absolute_percentage_error", "val_layer2"]))
    text = rendered(fit_run(), width=120, terminal=False)
    assert "val_accuracy   best 0.7667 (highest)" in text and "val_loss       best 0.0500 (lowest)" in text


def test_long_runs_say_which_steps_are_shown() -> None:
    """3000 steps: every 120th shown, and the note says so and where the rest are."""
    records = loop_run([1.0 / (i + 1) for i in range(3000)])
    text = rendered(records, width=120, terminal=True, metrics_out=Path("steps.jsonl"))
    assert "every 120th step shown, and each phase's first and last; all in steps.jsonl" in " ".join(text.split())
    assert numbers.ordinal(1) == "1st" and numbers.ordinal(12) == "12th" and numbers.ordinal(22) == "22nd"


def test_a_loss_curve_spanning_decades_is_on_a_log_scale() -> None:
    """12.27 down to 0.0003: log scale, said; a loss within one decade: linear, nothing said."""
    falling = [12.27 * 0.8 ** i for i in range(48)]
    assert spans_decades(falling) and not spans_decades([2.0, 1.0, 0.5]) and not spans_decades([1.0, -1.0])
    log_curve = sparkline(falling, plain=True, log=True)
    linear = sparkline(falling, plain=True)
    assert log_curve[0] == "#" and log_curve[-1] == "_" and linear.count("_") > log_curve.count("_")
    text = rendered(loop_run(falling), width=120, terminal=False)
    assert "(log scale)" in text
    assert "(log scale)" not in rendered(loop_run([2.0, 1.5, 1.0]), width=120, terminal=False)


def test_prose_wraps_at_the_console_and_keeps_numbers_with_their_units() -> None:
    """Words break at the width, never between 0.35 and s or 80 and columns, no line ends in a space; off a
    terminal a line stays whole."""
    text = "left out at 80 columns: examples/s and the validation of 0.35 s; all in the metrics file"
    for width in range(20, 60):
        lines = prose(text, width=width)
        assert all(len(line) <= width and line == line.rstrip() for line in lines)
        assert not any(line.endswith(("0.35", " 80")) for line in lines), lines
    assert prose(text, width=None) == [text]
    assert prose("  indented words wrap", width=12) == ["  indented", "  words wrap"]


def test_compare_table_fits_a_terminal() -> None:
    """compare at 80 columns with three values: numbers whole, the columns left out named."""
    eager = loop_run([1.0 / (i + 1) for i in range(5)], accuracy=[0.5] * 5, gen_loss_long_name=[2.0] * 5)
    graph = [StepRecord(**{**vars_of(r), "mode": "graph"}) for r in eager]
    out = console(80, terminal=True)
    report.show(report.comparison(compare_values({"eager": eager, "graph": graph}, rtol=1e-4, atol=1e-6),
                                  log_every=None, as_json=False), console=out)
    text = out.export_text()
    headers, body = table_lines(text)
    assert len(headers) == 1 and len(body) == 5 and all(len(line) <= 80 for line in text.splitlines()), text
    assert "eager loss" in headers[0] and "left out at 80 columns:" in text


def test_a_column_that_left_comes_back_where_a_later_one_made_room() -> None:
    """A metric leaves before the note; once the note has left too, the metric fits again and is shown."""
    records = loop_run([1.0, 0.5, 0.25], m=[0.5, 0.6, 0.7])
    for record in records:
        record.validation_s = 0.35
    columns, rows = steps.step_columns(records, records, phases=1)
    out = console(200, terminal=True)
    width = measure(tables.build_table([c for c in columns if c.header != "note"], rows), out)
    kept, left = tables.fit_columns(columns, rows, width=width, console=out)
    assert [c.header for c in kept] == ["step", "loss", "m", "time (ms)"] and [c.header for c in left] == ["note"]
