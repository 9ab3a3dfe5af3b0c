"""Step records: the one format every source of steps feeds, the recorder, its writers, and the summary.

Whatever produced a step (the trainer, Keras `fit`, `log_step`, a plain custom loop), it ends up here as a
`StepRecord`, written to every sink the moment it is recorded and flushed, so a run that dies keeps every
step it finished.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from eagerrun.errors import EXIT_USAGE, EagerrunError


@dataclass(frozen=True)
class StepRecord:
    """One finished step. `time_s` ends when the loss was on the host: what the user waited for."""

    step: int  # 1-based across the run
    epoch: int | None  # 1-based; None where the source cannot know
    loss: float | None  # None where the source cannot see the loss
    time_s: float
    mode: str
    traced: bool  # a tf.function was traced (or retraced) during this step: its time includes tracing
    source: str  # trainer | fit | log_step | autolog
    batch_size: int | None = None  # the global batch, all replicas together
    metrics: Mapping[str, float] = field(default_factory=dict)
    replicas: int = 1  # replicas in sync under a tf.distribute strategy

    @property
    def examples_per_s(self) -> float | None:
        if self.batch_size is None or self.time_s <= 0:
            return None
        return self.batch_size / self.time_s

    def as_json(self) -> dict[str, Any]:
        """JSON-safe: a non-finite loss is written as null (JSON has no NaN), with `finite: false`; a
        non-finite metric is written as null."""
        data = {"step": self.step, "epoch": self.epoch, "loss": self.loss, "time_s": self.time_s,
                "mode": self.mode, "traced": self.traced, "source": self.source, "batch_size": self.batch_size,
                "replicas": self.replicas}
        data.update({name: value if math.isfinite(value) else None for name, value in self.metrics.items()})
        finite = self.loss is None or math.isfinite(self.loss)
        data["loss"] = self.loss if finite else None
        if not finite:
            data["finite"] = False
        return data


class StepSink(Protocol):
    def write(self, record: StepRecord) -> None: ...

    def drop_after(self, step: int) -> None: ...

    def close(self) -> None: ...


class JsonlSink:
    """One JSON object a line, flushed every step; opened in append mode so a resumed run continues it."""

    def __init__(self, path: Path, *, append: bool = False) -> None:
        self._file: IO[str] = open_metrics_file(path, append=append)

    def write(self, record: StepRecord) -> None:
        self._file.write(json.dumps(record.as_json()) + "\n")
        self._file.flush()

    def drop_after(self, step: int) -> None:
        cut_lines_after_step(self._file, step, lambda line: json.loads(line)["step"])

    def close(self) -> None:
        self._file.close()


class CsvSink:
    """One CSV row a step with a header; metric columns are fixed by the first step that has any."""

    COLUMNS = ("step", "epoch", "loss", "time_s", "mode", "traced", "source", "batch_size", "replicas")

    def __init__(self, path: Path, *, append: bool = False) -> None:
        has_header = append and path.exists() and path.stat().st_size > 0
        self._file: IO[str] = open_metrics_file(path, append=append)
        self._writer: csv.DictWriter[str] | None = None
        self._has_header = has_header

    def write(self, record: StepRecord) -> None:
        row = {key: getattr(record, key) for key in self.COLUMNS}
        row.update(record.metrics)
        if self._writer is None:
            columns = list(self.COLUMNS) + [key for key in record.metrics if key not in self.COLUMNS]
            self._writer = csv.DictWriter(self._file, fieldnames=columns, extrasaction="ignore")
            if not self._has_header:
                self._writer.writeheader()
        self._writer.writerow(row)
        self._file.flush()

    def drop_after(self, step: int) -> None:
        cut_lines_after_step(self._file, step,
                             lambda line: 0 if line.startswith("step,") else int(line.split(",", 1)[0]))

    def close(self) -> None:
        self._file.close()


class TensorBoardSink:
    """Loss, step time and the script's own metrics as TensorBoard scalars, one event per step.

    `tf.summary.scalar` lives in the tensorboard package, which TensorFlow no longer installs (2.21 raises
    TBNotInstalledError without it), so the same event is written with TensorFlow's own `tf.summary.write`
    and the metadata of TensorBoard's scalars plugin.
    """

    def __init__(self, logdir: Path) -> None:
        import tensorflow as tf
        from tensorflow.core.framework.summary_pb2 import SummaryMetadata

        self._tf = tf
        self._writer = tf.summary.create_file_writer(str(logdir))
        self._scalar_metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="scalars"))

    def write(self, record: StepRecord) -> None:
        with self._writer.as_default(step=record.step):
            if record.loss is not None:
                self._scalar("loss", record.loss)
            self._scalar("step_time_ms", record.time_s * 1000)
            for name, value in record.metrics.items():
                self._scalar(name, value)
        self._writer.flush()

    def drop_after(self, step: int) -> None:
        """Events cannot be cut from an events file: a step redone after a resume is written again, into
        the resumed run's own events file."""

    def _scalar(self, name: str, value: float) -> None:
        self._tf.summary.write(name, self._tf.constant(value, self._tf.float32), metadata=self._scalar_metadata)

    def close(self) -> None:
        self._writer.close()


def open_metrics_file(path: Path, *, append: bool) -> IO[str]:
    if not path.parent.is_dir():
        raise EagerrunError(f"--metrics-out {path}: folder {path.parent} does not exist", exit_code=EXIT_USAGE)
    return open(path, "a" if append else "w", newline="", encoding="utf-8")


def cut_lines_after_step(file: IO[str], step: int, step_of: Callable[[str], int]) -> None:
    """Truncate an append-mode metrics file after its last whole line of a step up to `step`.

    A run killed between checkpoints (SIGKILL, a crash of the machine) wrote lines for steps its checkpoint
    does not have, perhaps the last one half-written; the resumed run does those steps again, so their old
    lines go, and every step is in the file once.
    """
    file.flush()
    keep = 0
    with open(file.name, "rb+") as raw:
        for line in raw:
            try:
                if not line.endswith(b"\n") or step_of(line.decode("utf-8")) > step:
                    break
            except (ValueError, KeyError, TypeError):
                break
            keep += len(line)
        raw.truncate(keep)


def metrics_sink(path: Path, *, append: bool = False) -> StepSink:
    """The writer a `--metrics-out` path asks for, by its suffix: .csv, else JSON lines."""
    return CsvSink(path, append=append) if path.suffix.lower() == ".csv" else JsonlSink(path, append=append)


class Recorder:
    """Collects the run's steps and hands each to the sinks and listeners as soon as it exists."""

    def __init__(self, *, mode: str, sinks: list[StepSink] | None = None, first_step: int = 1) -> None:
        self.mode = mode
        self.records: list[StepRecord] = []
        self.sinks = list(sinks or [])
        self.listeners: list[Callable[[StepRecord], None]] = []
        self.next_step = first_step
        self.replicas = 1

    def add(self, *, loss: float | None, time_s: float, source: str, epoch: int | None = None,
            traced: bool = False, batch_size: int | None = None,
            metrics: Mapping[str, float] | None = None) -> StepRecord:
        record = StepRecord(step=self.next_step, epoch=epoch, loss=loss, time_s=time_s, mode=self.mode,
                            traced=traced, source=source, batch_size=batch_size, metrics=dict(metrics or {}),
                            replicas=self.replicas)
        self.next_step += 1
        self.records.append(record)
        for sink in self.sinks:
            sink.write(record)
        for listener in self.listeners:
            listener(record)
        return record

    def resume_after(self, step: int) -> None:
        """Go on from a checkpoint taken at `step`: numbering continues there, and the sinks drop what a
        killed run recorded past it (those steps are about to be done again)."""
        self.next_step = step + 1
        for sink in self.sinks:
            sink.drop_after(step)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
        self.sinks = []


@dataclass(frozen=True)
class RunStats:
    """What a run's steps add up to. Steady times leave out the first step and every step that traced."""

    steps: int
    first_step_s: float | None
    median_steady_s: float | None
    p90_steady_s: float | None
    examples_per_s: float | None
    first_loss: float | None
    final_loss: float | None
    traces: int
    non_finite: int


def summarize(records: list[StepRecord]) -> RunStats:
    steady = [r for r in records[1:] if not r.traced]
    times = sorted(r.time_s for r in steady)
    losses = [r.loss for r in records if r.loss is not None]
    sized = [r for r in steady if r.batch_size is not None]
    busy_s = sum(r.time_s for r in sized)
    return RunStats(
        steps=len(records),
        first_step_s=records[0].time_s if records else None,
        median_steady_s=statistics.median(times) if times else None,
        p90_steady_s=percentile(times, 0.9) if times else None,
        examples_per_s=sum(r.batch_size or 0 for r in sized) / busy_s if sized and busy_s > 0 else None,
        first_loss=losses[0] if losses else None,
        final_loss=losses[-1] if losses else None,
        traces=sum(r.traced for r in records),
        non_finite=sum(1 for loss in losses if not math.isfinite(loss)),
    )


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]
