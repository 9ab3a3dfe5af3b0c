"""Step records, their writers and the summary; in process (no TensorFlow) except the TensorBoard case."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from eagerrun.errors import EXIT_USAGE, EagerrunError
from eagerrun.records import CsvSink, JsonlSink, Recorder, StepRecord, metrics_sink, summarize
from eagerrun.report.tables import rows_to_show
from tests.conftest import run_in_process


def record(step: int, time_s: float, *, loss: float | None = 1.0, traced: bool = False,
           batch_size: int | None = 10, phase: int = 1, **metrics: float) -> StepRecord:
    return StepRecord(step=step, epoch=1, time_s=time_s, mode="graph", traced=traced, source="trainer",
                      values={"loss": loss, **metrics}, phase=phase, batch_size=batch_size)


def test_summarize_leaves_first_and_traced_steps_out_of_steady_stats() -> None:
    """Median, p90 and throughput ignore the first step and a retraced one; traces and losses are counted."""
    records = [record(1, 5.0, loss=4.0, traced=True), record(2, 0.1), record(3, 9.0, traced=True),
               record(4, 0.3), record(5, 0.2, loss=float("nan")), record(6, 0.4, loss=2.0)]
    stats = summarize(records)
    assert stats.steps == 6
    assert stats.first_step_s == 5.0
    assert stats.median_steady_s == pytest.approx(0.25)  # of 0.1, 0.2, 0.3, 0.4
    assert stats.p90_steady_s == pytest.approx(0.4)
    assert stats.examples_per_s == pytest.approx(40 / 1.0)
    assert stats.traces == 2
    assert stats.non_finite == 1
    assert stats.phases[-1].values["loss"] == (4.0, 2.0)


def test_summarize_leaves_out_the_first_step_even_untraced() -> None:
    """Eager runs trace nothing; their first step is still left out of the steady times."""
    stats = summarize([record(1, 3.0), record(2, 0.5, batch_size=None)])
    assert stats.median_steady_s == 0.5 and stats.traces == 0
    assert stats.examples_per_s is None  # no steady step knows its batch size


def test_summarize_of_no_steps() -> None:
    """No records: zero steps and nothing else to say."""
    stats = summarize([])
    assert stats.steps == 0
    assert stats.first_step_s is None and stats.median_steady_s is None and stats.phases == []


@pytest.mark.parametrize("count, log_every, expected", [
    (0, None, []),
    (1, None, [0]),
    (10, None, list(range(10))),
    (10, 3, [0, 2, 5, 8, 9]),
    (10, 50, [0, 9]),
    (100, None, [0, *range(3, 100, 4)]),
], ids=["none", "one", "few-all-shown", "every-3rd", "every-beyond-count", "many-thinned"])
def test_rows_to_show_always_keeps_first_and_last(count: int, log_every: int | None, expected: list[int]) -> None:
    """Every Nth row (about 25 rows when N is not given), and always the first and the last."""
    assert rows_to_show(count, log_every) == expected


def test_as_json_writes_null_for_a_non_finite_loss_and_reads_it_back() -> None:
    """NaN and inf losses are null and named in non_finite, and read back as themselves; a finite or a
    missing loss has no non_finite key; metrics are top-level."""
    nan, inf, fine = (record(1, 0.1, loss=value, acc=0.5) for value in (float("nan"), float("inf"), 0.25))
    for bad in (nan, inf):
        data = json.loads(json.dumps(bad.as_json(), allow_nan=False))
        assert data["loss"] is None and data["non_finite"] == {"loss": str(bad.loss)} and data["acc"] == 0.5
        back = StepRecord.from_json(data)
        assert str(back.loss) == str(bad.loss) and back.non_finite == ["loss"]
    assert fine.as_json()["loss"] == 0.25 and "non_finite" not in fine.as_json()
    missing = record(1, 0.1, loss=None)
    assert "non_finite" not in missing.as_json() and missing.non_finite == []
    assert StepRecord.from_json(missing.as_json()) == missing


def test_summary_counts_missing_losses_as_missing_and_shows_each_phase() -> None:
    """Steps without a loss are neither non-finite nor the final loss; each phase has its own first and last."""
    records = [record(1, 0.1, loss=3.0), record(2, 0.1, loss=None), record(3, 0.1, loss=2.0),
               record(4, 0.1, loss=9.0, phase=2), record(5, 0.2, loss=None, phase=2), record(6, 0.3, loss=7.0,
                                                                                           phase=2)]
    stats = summarize(records)
    assert stats.non_finite == 0
    assert [(p.phase, p.first_step, p.last_step) for p in stats.phases] == [(1, 1, 3), (2, 4, 6)]
    assert stats.phases[0].values["loss"] == (3.0, 2.0) and stats.phases[1].values["loss"] == (9.0, 7.0)
    assert stats.median_steady_s == pytest.approx(0.15)  # each phase's first step left out: 0.1, 0.1, 0.2, 0.3


def test_csv_widens_its_header_when_a_phase_brings_new_values(tmp_path: Path) -> None:
    """A second phase with other loss names: the CSV is rewritten once with every column, nothing dropped."""
    path = tmp_path / "steps.csv"
    recorder = Recorder(mode="graph", sinks=[metrics_sink(path)])
    recorder.add(loss=1.0, time_s=0.1, source="fit")
    recorder.add(values={"gen_loss": 0.5, "disc_loss": 0.25}, time_s=0.1, source="autolog", phase=2)
    recorder.close()
    rows = list(csv.DictReader(path.read_text().splitlines()))
    assert [(r["step"], r["phase"], r["loss"], r["gen_loss"], r["disc_loss"]) for r in rows] == [
        ("1", "1", "1.0", "", ""), ("2", "2", "", "0.5", "0.25")]


def test_as_json_writes_null_for_a_non_finite_metric() -> None:
    """A NaN metric (log_step(loss, grad_norm=nan)) is null too: every line stays valid JSON."""
    data = json.loads(json.dumps(record(1, 0.1, grad_norm=float("nan")).as_json(), allow_nan=False))
    assert data["grad_norm"] is None


def test_sinks_flush_each_step_as_it_is_recorded(tmp_path: Path) -> None:
    """JSONL and CSV files hold every step the moment it is recorded, before the recorder is closed."""
    jsonl, table = tmp_path / "steps.jsonl", tmp_path / "steps.csv"
    recorder = Recorder(mode="eager", sinks=[metrics_sink(jsonl), metrics_sink(table)])
    assert isinstance(recorder.sinks[0], JsonlSink) and isinstance(recorder.sinks[1], CsvSink)
    recorder.add(loss=1.5, time_s=0.2, source="log_step", metrics={"acc": 0.5})
    recorder.add(loss=float("nan"), time_s=0.1, source="log_step", metrics={"acc": 0.75})
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [(r["step"], r["loss"], r["acc"]) for r in lines] == [(1, 1.5, 0.5), (2, None, 0.75)]
    rows = list(csv.DictReader(table.read_text().splitlines()))
    assert [row["step"] for row in rows] == ["1", "2"] and rows[1]["acc"] == "0.75"
    assert math.isnan(float(rows[1]["loss"]))
    recorder.close()


def test_csv_append_does_not_repeat_the_header(tmp_path: Path) -> None:
    """A resumed run appends rows to its CSV under the one header already there."""
    path = tmp_path / "steps.csv"
    for first_step in (1, 3):
        recorder = Recorder(mode="graph", sinks=[metrics_sink(path, append=first_step > 1)], first_step=first_step)
        recorder.add(loss=1.0, time_s=0.1, source="trainer")
        recorder.add(loss=0.5, time_s=0.1, source="trainer")
        recorder.close()
    lines = path.read_text().splitlines()
    assert lines[0].startswith("step,") and [line.split(",")[0] for line in lines[1:]] == ["1", "2", "3", "4"]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_resume_cuts_steps_after_the_checkpoint(tmp_path: Path, suffix: str) -> None:
    """A run killed between checkpoints left steps 1-5 and half a line; resuming from step 3 keeps 1-3 and
    the header, drops the rest, and the redone steps follow them once."""
    path = tmp_path / f"steps{suffix}"
    killed = Recorder(mode="graph", sinks=[metrics_sink(path)])
    for loss in (5.0, 4.0, 3.0, 2.0, 1.0):
        killed.add(loss=loss, time_s=0.1, source="trainer")
    killed.close()
    with path.open("a") as file:
        file.write('{"step": 6, "lo' if suffix == ".jsonl" else "6,1,0.")  # SIGKILL in mid-write
    resumed = Recorder(mode="graph", sinks=[metrics_sink(path, append=True)])
    resumed.drop_after(3)
    resumed.add(step=4, loss=2.5, time_s=0.1, source="trainer")
    resumed.close()
    if suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines()]
    else:
        rows = list(csv.DictReader(path.read_text().splitlines()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert [float(r["loss"]) for r in rows] == [5.0, 4.0, 3.0, 2.5]


def test_metrics_file_in_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    """A path whose folder does not exist: EagerrunError, exit 2, naming the folder."""
    with pytest.raises(EagerrunError) as raised:
        metrics_sink(tmp_path / "missing" / "steps.jsonl")
    assert raised.value.exit_code == EXIT_USAGE and "missing" in raised.value.message


def test_tensorboard_writes_loss_and_step_time_events(write_script, tmp_path: Path) -> None:
    """--tensorboard DIR (no tensorboard package needed): an events file with loss and step-time scalars."""
    script = write_script("spec.py", """
        import keras
        import numpy as np
        import tensorflow as tf


        def build():
            x, y = np.ones((8, 2), "float32"), np.ones((8, 1), "float32")
            return {"model": keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]), "optimizer": "sgd",
                    "loss": "mse", "dataset": tf.data.Dataset.from_tensor_slices((x, y)).batch(4)}
    """)
    logdir = tmp_path / "tb"
    result = run_in_process("--graph", "--train", "--tensorboard", str(logdir), str(script))
    assert result.returncode == 0, result.stderr
    events = list(logdir.rglob("events.out.tfevents.*"))
    assert len(events) == 1
    content = events[0].read_bytes()
    assert b"loss" in content and b"step_time_ms" in content
    assert b"scalars" in content  # the plugin TensorBoard shows them with
