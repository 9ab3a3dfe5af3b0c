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
class Breakdown:
    """One step's time, in parts that add up to it (diagnostics/breakdown.py measures them)."""

    input_s: float
    trace_s: float
    run_s: float
    python_s: float
    host_reads: int = 0  # the user's reads of a tensor's value on the host during the step

    def as_json(self) -> dict[str, Any]:
        return {"input_s": self.input_s, "trace_s": self.trace_s, "run_s": self.run_s, "python_s": self.python_s,
                "host_reads": self.host_reads}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Breakdown | None:
        """The breakdown a metrics line holds (its keys beside the step's), or None where it has none."""
        if data.get("run_s") is None:
            return None
        return cls(input_s=data["input_s"], trace_s=data["trace_s"], run_s=data["run_s"],
                   python_s=data["python_s"], host_reads=data.get("host_reads", 0))


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ took 1.4 µs, 5x this one's, for each step
class StepRecord:
    """One finished step. `time_s` ends when the step's values were on the host: what the user waited for.

    `values` holds every number the step produced, losses first (`loss`, or one per optimizer such as
    `gen_loss`/`disc_loss`), then metrics; `None` is a value that could not be recorded, which is missing,
    not non-finite. The JSON line written for it and read back by `compare` are both defined here: values
    flat beside eagerrun's keys, a value named like one of them as `value.<name>` (`value_key`).
    """

    step: int  # 1-based across the run; it does not restart with a new phase
    epoch: int | None  # 1-based; None where the source cannot know
    time_s: float
    mode: str
    traced: bool  # a tf.function was traced during this step: its time includes tracing
    source: str  # trainer | fit | log_step | autolog
    values: Mapping[str, float | None] = field(default_factory=dict)
    phase: int = 1  # each fit call, and each loop that trains other variables, is a phase
    batch_size: int | None = None  # the global batch, all replicas together
    replicas: int = 1  # replicas in sync under a tf.distribute strategy
    retraced: bool = False  # a function traced here had traced before: its inputs changed
    batches_per_call: int = 1  # fit's steps_per_execution: K batches share one call's values and time
    validation_s: float | None = None  # fit's validation after this step, timed apart from it
    skipped: bool = False  # --precision mixed_float16: non-finite gradients, no update (the loss scale halved)
    breakdown: Breakdown | None = None  # where its time went; None where the run did not measure it

    @property
    def loss(self) -> float | None:
        return self.values.get("loss")

    @property
    def non_finite(self) -> list[str]:
        """Names of the values that are really NaN or infinite (a missing value is not among them)."""
        return [name for name, value in self.values.items() if value is not None and not math.isfinite(value)]

    @property
    def examples_per_s(self) -> float | None:
        if self.batch_size is None or self.time_s <= 0:
            return None
        return self.batch_size / self.time_s

    def as_json(self) -> dict[str, Any]:
        """JSON-safe: a missing value is null; a non-finite one is null too (JSON has no NaN) and named
        in `non_finite` with what it was, so it reads back as itself."""
        data: dict[str, Any] = {"step": self.step, "phase": self.phase, "epoch": self.epoch, "time_s": self.time_s,
                                "mode": self.mode, "traced": self.traced, "source": self.source,
                                "batch_size": self.batch_size, "replicas": self.replicas}
        if self.retraced:
            data["retraced"] = True
        if self.batches_per_call > 1:
            data["batches_per_call"] = self.batches_per_call
        if self.validation_s is not None:
            data["validation_s"] = self.validation_s
        if self.skipped:
            data["skipped"] = True
        if self.breakdown is not None:
            data.update(self.breakdown.as_json())
        bad = {}
        for name, value in self.values.items():
            key = value_key(name)
            finite = value is None or math.isfinite(value)
            data[key] = value if finite else None
            if not finite:
                bad[key] = str(value)
        if bad:
            data["non_finite"] = bad
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StepRecord:
        """The record a metrics line was written from (`as_json` read back); a line written before values
        were escaped reads the same, as long as no value's name was one of eagerrun's keys."""
        bad = data.get("non_finite") or {}
        values = {value_name(key): float(bad[key]) if key in bad else value
                  for key, value in data.items() if key not in RECORD_KEYS}
        return cls(step=data["step"], epoch=data.get("epoch"), time_s=data["time_s"], mode=data["mode"],
                   traced=data.get("traced", False), source=data.get("source", ""), values=values,
                   phase=data.get("phase", 1), batch_size=data.get("batch_size"),
                   replicas=data.get("replicas", 1), retraced=data.get("retraced", False),
                   batches_per_call=data.get("batches_per_call", 1), validation_s=data.get("validation_s"),
                   skipped=data.get("skipped", False), breakdown=Breakdown.from_json(data))


RECORD_KEYS = frozenset({"step", "phase", "epoch", "time_s", "mode", "traced", "source", "batch_size", "replicas",
                         "retraced", "batches_per_call", "validation_s", "non_finite", "finite",
                         "skipped", "input_s", "trace_s", "run_s", "python_s", "host_reads"})
VALUE_PREFIX = "value."


def value_key(name: str) -> str:
    """The key a value is written under, in the JSON line, the CSV header and the table: its own name, or
    `value.<name>` where the name is one of eagerrun's keys (a step returning `{"step": ...}`) or itself
    starts with `value.`, so no value ever overwrites a field and every key reads back as one name."""
    return VALUE_PREFIX + name if name in RECORD_KEYS or name.startswith(VALUE_PREFIX) else name


def value_name(key: str) -> str:
    """The value's name a metrics key was written for (`value_key` undone)."""
    return key.removeprefix(VALUE_PREFIX)


def is_loss_name(name: str) -> bool:
    """A loss, by Keras' names: `loss`, `val_loss`, `gen_loss`, `loss_reg`."""
    bare = name.removeprefix("val_")
    return bare == "loss" or bare.endswith("loss") or bare.startswith("loss_")


# Keras' metrics whose direction is "up" (ModelCheckpoint's mode="auto" reads it), by the parts of their names
HIGHER_IS_BETTER = ("acc", "auc", "precision", "recall", "f1", "fbeta", "iou", "io_u", "top_k", "r2_score",
                    "cosine_similarity", "true_positives", "true_negatives", "dice", "psnr", "ssim")


def higher_is_better(name: str) -> bool:
    """Whether the best of a value is its highest: accuracy, AUC, precision, recall and the like. Losses,
    errors and every other name: the lowest."""
    bare = name.removeprefix("val_").lower()
    if is_loss_name(bare) or "error" in bare:
        return False
    return any(part in bare for part in HIGHER_IS_BETTER)



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
    """One CSV row a step with a header. A value name that appears later (a new phase's losses) rewrites
    the file once with the wider header, so no value is ever dropped."""

    COLUMNS = ("step", "phase", "epoch", "time_s", "mode", "traced", "source", "batch_size", "replicas")

    def __init__(self, path: Path, *, append: bool = False) -> None:
        self._file: IO[str] = open_metrics_file(path, append=append)
        self._columns: list[str] = []
        if append and path.exists() and path.stat().st_size > 0:
            with open(path, newline="", encoding="utf-8") as existing:
                self._columns = next(csv.reader(existing), [])

    def write(self, record: StepRecord) -> None:
        row = record.as_json()
        row.pop("non_finite", None)  # CSV keeps NaN and inf as text: float("nan") reads them back
        row.update({value_key(name): value for name, value in record.values.items() if value is not None})
        new = [key for key in row if key not in self._columns]
        if new:
            self._widen(self._columns + new)
        csv.DictWriter(self._file, fieldnames=self._columns, extrasaction="ignore").writerow(row)
        self._file.flush()

    def _widen(self, columns: list[str]) -> None:
        self._file.flush()
        with open(self._file.name, newline="", encoding="utf-8") as existing:
            rows = list(csv.DictReader(existing)) if self._columns else []
        self._file.seek(0)  # our own file, opened by us: rewritten whole with the wider header
        self._file.truncate()
        writer = csv.DictWriter(self._file, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        self._columns = columns

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
            self._scalar("step_time_ms", record.time_s * 1000)
            for name, value in record.values.items():
                if value is not None:
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


class StepSpans(Protocol):
    """What the recorder asks of the run's timeline: a span's breakdown, per step."""

    def spent(self, start: float, end: float, *, steps: int = 1) -> Breakdown: ...


class Recorder:
    """Collects the run's steps and hands each to the sinks and listeners as soon as it exists.

    A source that counts its steps itself (the trainer's controller, whose count a checkpoint saves) gives
    each one's number; the others' steps are numbered on from the last one recorded (`next_step`).
    """

    def __init__(self, *, mode: str, sinks: list[StepSink] | None = None, first_step: int = 1) -> None:
        self.mode = mode
        self.records: list[StepRecord] = []
        self.sinks = list(sinks or [])
        self.listeners: list[Callable[[StepRecord], None]] = []
        self.next_step = first_step
        self.replicas = 1
        self.timeline: StepSpans | None = None  # where a step's time went (diagnostics/breakdown.py)

    def add(self, *, time_s: float, source: str, loss: float | None = None,
            values: Mapping[str, float | None] | None = None, metrics: Mapping[str, float] | None = None,
            epoch: int | None = None, phase: int = 1, traced: bool = False, retraced: bool = False,
            batch_size: int | None = None, batches_per_call: int = 1,
            validation_s: float | None = None, skipped: bool = False, step: int | None = None,
            span: tuple[float, float] | None = None, span_steps: int = 1) -> StepRecord:
        """Record a step: number `step`, else the next one. `values` (losses first, then metrics) or, for a
        single loss, `loss` and `metrics`. `span`: the perf_counter moments the step ran between (shared by
        `span_steps` steps), for its breakdown where the run measures one (`timeline`)."""
        if values is None:
            values = {"loss": loss, **(metrics or {})}
        if step is None:
            step = self.next_step
        record = StepRecord(step=step, epoch=epoch, time_s=time_s, mode=self.mode, traced=traced,
                            source=source, values=values, phase=phase, batch_size=batch_size,
                            replicas=self.replicas, retraced=retraced, batches_per_call=batches_per_call,
                            validation_s=validation_s, skipped=skipped,
                            breakdown=None if span is None or self.timeline is None else
                            self.timeline.spent(*span, steps=span_steps))
        self.next_step = step + 1
        self.records.append(record)
        for sink in self.sinks:
            sink.write(record)
        for listener in self.listeners:
            listener(record)
        return record

    def drop_after(self, step: int) -> None:
        """A run resumes from a checkpoint taken at `step`: the sinks drop what a killed run recorded past
        it (those steps are about to be done again)."""
        for sink in self.sinks:
            sink.drop_after(step)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
        self.sinks = []


@dataclass(frozen=True)
class PhaseStats:
    """One phase: a fit call, or a loop training its own variables. `values` maps each value's name to its
    first and last recorded number; validation values (`val_*`) to their best and last, the best being the
    highest where `higher_is_better`, else the lowest."""

    phase: int
    source: str
    first_step: int
    last_step: int
    median_steady_s: float | None
    values: dict[str, tuple[float | None, float | None]]
    validation: dict[str, tuple[float | None, float | None]]


@dataclass(frozen=True)
class RunStats:
    """What a run's steps add up to. Steady times leave out the first step of each phase and every step
    that traced."""

    steps: int
    first_step_s: float | None
    median_steady_s: float | None
    p90_steady_s: float | None
    examples_per_s: float | None
    traces: int
    non_finite: int  # steps with a value that is really NaN or infinite; missing values are not counted
    phases: list[PhaseStats] = field(default_factory=list)


def steady(records: list[StepRecord]) -> list[StepRecord]:
    """Steps whose time is the loop's own: not a phase's first step, not a step that traced."""
    return [r for previous, r in zip([None, *records], records)
            if previous is not None and previous.phase == r.phase and not r.traced]


def summarize(records: list[StepRecord]) -> RunStats:
    steady_records = steady(records)
    times = sorted(r.time_s for r in steady_records)
    sized = [r for r in steady_records if r.batch_size is not None]
    busy_s = sum(r.time_s for r in sized)
    phases = [phase_stats(group) for group in by_phase(records)]
    return RunStats(
        steps=len(records),
        first_step_s=records[0].time_s if records else None,
        median_steady_s=statistics.median(times) if times else None,
        p90_steady_s=percentile(times, 0.9) if times else None,
        examples_per_s=sum(r.batch_size or 0 for r in sized) / busy_s if sized and busy_s > 0 else None,
        traces=sum(r.traced for r in records),
        non_finite=sum(1 for r in records if r.non_finite),
        phases=phases,
    )


def by_phase(records: list[StepRecord]) -> list[list[StepRecord]]:
    groups: list[list[StepRecord]] = []
    for record in records:
        if not groups or groups[-1][-1].phase != record.phase:
            groups.append([])
        groups[-1].append(record)
    return groups


def phase_stats(records: list[StepRecord]) -> PhaseStats:
    times = sorted(r.time_s for r in steady(records))
    names = list(dict.fromkeys(name for r in records for name in r.values))
    values, validation = {}, {}
    for name in names:
        series = [value for r in records if (value := r.values.get(name)) is not None]
        if name.startswith("val_"):
            finite = [v for v in series if math.isfinite(v)]
            best = max if higher_is_better(name) else min
            validation[name] = (best(finite) if finite else None, series[-1] if series else None)
        else:
            values[name] = (series[0] if series else None, series[-1] if series else None)
    return PhaseStats(phase=records[0].phase, source=records[0].source, first_step=records[0].step,
                      last_step=records[-1].step, median_steady_s=statistics.median(times) if times else None,
                      values=values, validation=validation)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True)
class RunReport:
    """What a run was, beyond its steps: written by `--run-report PATH` as one JSON object, read back by
    `compare` (which tf.functions ran and traced, how the run ended)."""

    mode: str
    exit_code: int
    steps: int
    phases: int
    wall_s: float
    error: str | None = None  # the script's exception, one line: "ValueError: ..."
    functions: list[dict[str, Any]] = field(default_factory=list)  # name, file, line, traces
    error_at: str | None = None  # the user's file:line the script's exception came from
    suspects: list[dict[str, Any]] | None = None  # --explain-traces: side_effects.Suspect.as_json() each
    parting: dict[str, Any] | None = None  # --bisect-step: bisect.Parting.as_json()
    time: dict[str, Any] | None = None  # where the steps' time went: breakdown.TimeReport.as_json()
    profile: dict[str, Any] | None = None  # --profile: profile.Capture.as_json()

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> RunReport | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})
