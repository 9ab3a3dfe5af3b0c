"""The trainer's controller in this process with a fake runner, no TensorFlow: where chunks end, what each
step records, when it checkpoints and validates, how a non-finite loss and a signal stop it, and how it
resumes. The end-to-end tests (test_trainer, test_reliability) run the same rules on real TensorFlow."""

from __future__ import annotations

import logging
import math
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from eagerrun import interrupts
from eagerrun.config import TrainOptions
from eagerrun.records import Recorder
from eagerrun.train.runner import StepOutputs
from eagerrun.train.trainer import ChunkEnd, NonFiniteLoss, Position, TrainData, Trainer


class FakeRunner:
    """Runs `n` steps of a chunk by reading `n` batches: each batch is the loss its step returns."""

    agrees_on_stops = False

    def __init__(self, during: Any = None) -> None:
        self.chunks: list[int] = []
        self.during = during  # called with the step number while that step runs

    def train(self, iterator: Iterator[float], n: int) -> StepOutputs:
        self.chunks.append(n)
        values = []
        for _ in range(n):
            try:
                loss = next(iterator)
            except StopIteration:
                break
            values.append({"loss": loss})
            if self.during is not None:
                self.during(sum(self.chunks[:-1]) + len(values))
        return StepOutputs(values=values, batch_sizes=[8] * len(values))


@dataclass
class FakeCheckpoint:
    every: int | None = None
    saved: list[tuple[int, int, int]] = field(default_factory=list)  # (step, epoch, batch in epoch)
    restored: tuple[int, int, int] = (0, 1, 0)
    directory: str = "ck"

    def restore(self, dataset: Any, *, with_iterator: bool) -> tuple[int, int, int, Any]:
        return (*self.restored, None)

    def track_iterator(self, iterator: Any) -> None:
        pass

    def due(self, step: int) -> bool:
        return self.every is not None and step % self.every == 0

    def save(self, *, step: int, epoch: int, batch: int) -> None:
        self.saved.append((step, epoch, batch))


class Traces:
    count = 0


@pytest.fixture
def notes() -> Iterator[list[str]]:
    """What the controller says on the `eagerrun` logger (which a run in this process may have stopped
    propagating to the root logger, where caplog listens)."""
    said: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: said.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("eagerrun")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield said
    logger.removeHandler(handler)
    logger.setLevel(level)


def losses(count: int) -> list[float]:
    return [float(i) for i in range(1, count + 1)]


def data(batches: list[float], *, known_length: bool = True) -> TrainData:
    """Batches of a dataset of known length, repeated; or one epoch's, read again each epoch."""

    def repeated(skip: int = 0) -> Iterator[float]:
        i = skip
        while True:
            yield batches[i % len(batches)]
            i += 1

    if known_length:
        return TrainData(batches_per_epoch=len(batches), one_iterator=True, start=repeated, start_after=repeated)
    return TrainData(batches_per_epoch=None, one_iterator=False, start=lambda: iter(batches),
                     start_after=lambda skip: iter(batches[skip:]))


def trainer(runner: FakeRunner, train_data: TrainData, *, epochs: int | None = 1, steps: int | None = None,
            checkpoint: FakeCheckpoint | None = None, validate: Any = None, recorder: Recorder | None = None,
            actions: tuple[Any, ...] = (), **options: Any) -> Trainer:
    return Trainer(runner, train_data, TrainOptions(**options), epochs=epochs, steps=steps,
                   recorder=recorder or Recorder(mode="graph"), traces=Traces(), checkpoint=checkpoint,
                   validate=validate, actions=actions)


def test_chunks_end_exactly_at_checkpoints_and_epoch_ends() -> None:
    """K=3, 5 batches an epoch, a checkpoint every 4: chunks of 3, 1 (checkpoint at 4), 1 (epoch end), then
    3 (checkpoint at 8) and 2; each saved with the step, epoch and batch it is at; one more at the end."""
    runner, checkpoint = FakeRunner(), FakeCheckpoint(every=4)
    run = trainer(runner, data(losses(5)), epochs=2, checkpoint=checkpoint, steps_per_execution=3)
    run.run()
    assert runner.chunks == [3, 1, 1, 3, 2]
    assert checkpoint.saved == [(4, 1, 4), (8, 2, 3), (10, 2, 5)]
    assert [(r.step, r.epoch, r.values["loss"]) for r in run.recorder.records] == [
        (i, 1 if i <= 5 else 2, float((i - 1) % 5 + 1)) for i in range(1, 11)]
    assert run.total_steps() == 10


def test_a_chunk_shares_its_time_and_marks_only_its_first_step_as_traced() -> None:
    class TracingRunner(FakeRunner):
        def train(self, iterator: Iterator[float], n: int) -> StepOutputs:
            traces.count += len(self.chunks) == 0  # the first call traces
            return super().train(iterator, n)

    traces = Traces()
    run = Trainer(TracingRunner(), data(losses(6)), TrainOptions(steps_per_execution=3), epochs=1, steps=None,
                  recorder=Recorder(mode="graph"), traces=traces)
    run.run()
    records = run.recorder.records
    assert [r.traced for r in records] == [True, False, False, False, False, False]
    assert records[0].time_s == records[1].time_s == records[2].time_s


def test_the_step_limit_counts_from_the_runs_first_step_and_cuts_the_chunk() -> None:
    runner = FakeRunner()
    run = trainer(runner, data(losses(4)), epochs=None, steps=6, steps_per_execution=4)
    run.run()
    assert runner.chunks == [4, 2]
    assert [r.step for r in run.recorder.records] == [1, 2, 3, 4, 5, 6]


def test_validation_runs_after_the_step_it_is_due_and_lands_on_that_step_alone() -> None:
    """Every 2 steps and at the epoch's end (batch 5): on steps 2, 4 and 5, with its own time."""
    calls: list[int] = []
    run: Trainer

    def validate() -> dict[str, float]:
        calls.append(len(run.recorder.records))
        return {"val_loss": 0.5}

    runner = FakeRunner()
    run = trainer(runner, data(losses(5)), validate=validate, validate_every=2, steps_per_execution=4)
    run.run()
    assert runner.chunks == [2, 2, 1]
    assert [r.step for r in run.recorder.records if "val_loss" in r.values] == [2, 4, 5]
    assert all(r.validation_s is not None for r in run.recorder.records if "val_loss" in r.values)
    assert all(r.validation_s is None for r in run.recorder.records if "val_loss" not in r.values)
    assert calls == [0, 2, 4]  # before its chunk is recorded: the record carries the values


def test_a_non_finite_loss_stops_the_run_naming_its_step_after_recording_it() -> None:
    run = trainer(FakeRunner(), data([1.0, 2.0, math.nan, 4.0]), steps_per_execution=1)
    with pytest.raises(NonFiniteLoss, match="loss is nan at step 3"):
        run.run()
    assert [r.step for r in run.recorder.records] == [1, 2, 3]


def test_on_nan_warn_records_it_and_goes_on(notes: list[str]) -> None:
    run = trainer(FakeRunner(), data([1.0, math.inf, 3.0]), on_nan="warn")
    run.run()
    assert [r.values["loss"] for r in run.recorder.records] == [1.0, math.inf, 3.0]
    assert notes == ["loss is inf at step 2; going on (--on-nan warn)"]


def test_a_signal_inside_a_chunk_stops_after_it_with_a_checkpoint_at_that_step() -> None:
    """SIGTERM arrives during step 4 of the chunk 4-6: the chunk ends, step 6 is checkpointed, then 143."""
    checkpoint = FakeCheckpoint()
    with interrupts.stop_at_step_end() as request:
        def signal_at(step: int) -> None:
            if step == 4:
                request._handle(signal.SIGTERM, None)

        run = trainer(FakeRunner(during=signal_at), data(losses(9)), checkpoint=checkpoint, steps_per_execution=3)
        with pytest.raises(interrupts.Interrupted) as stopped:
            run.run()
    assert stopped.value.exit_code == 143
    assert [r.step for r in run.recorder.records] == [1, 2, 3, 4, 5, 6]
    assert checkpoint.saved[-1] == (6, 1, 6)


def test_a_resumed_run_goes_on_from_its_checkpoints_step_and_batch() -> None:
    """Saved after step 7 (epoch 2, batch 2 of 5): the data restarts 7 batches in, numbering at 8."""
    checkpoint = FakeCheckpoint(restored=(7, 2, 2))
    run = trainer(FakeRunner(), data(losses(5)), epochs=2, checkpoint=checkpoint)
    run.run()
    assert [(r.step, r.epoch, r.values["loss"]) for r in run.recorder.records] == [(8, 2, 3.0), (9, 2, 4.0),
                                                                                  (10, 2, 5.0)]
    assert checkpoint.saved == [(10, 2, 5)]


def test_a_finished_run_trains_nothing_and_says_so(notes: list[str]) -> None:
    runner = FakeRunner()
    run = trainer(runner, data(losses(5)), epochs=2, checkpoint=FakeCheckpoint(restored=(10, 2, 5)))
    run.run()
    assert runner.chunks == [] and run.recorder.records == []
    assert len(notes) == 1 and "--checkpoint-dir ck: already complete at step 10; nothing to train" in notes[0]


def test_data_of_unknown_length_is_read_anew_each_epoch_until_it_ends() -> None:
    runner = FakeRunner()
    run = trainer(runner, data([1.0, 2.0, 3.0], known_length=False), epochs=2, steps_per_execution=2)
    run.run()
    assert [(r.step, r.epoch) for r in run.recorder.records] == [(1, 1), (2, 1), (3, 1), (4, 2), (5, 2), (6, 2)]
    assert run.total_steps() is None


def test_an_empty_dataset_is_one_line_exit_2() -> None:
    run = trainer(FakeRunner(), data([], known_length=False))
    with pytest.raises(Exception, match="dataset is empty: it yields no batches") as refused:
        run.run()
    assert refused.value.exit_code == 2  # type: ignore[attr-defined]


def test_a_resumed_run_takes_its_position_from_the_checkpoint_and_numbers_the_records_by_it() -> None:
    """The controller's position, not the recorder's count, numbers the steps: a recorder that would count
    from 100 gets steps 8-10 of a run resumed after step 7 (epoch 2, batch 2 of 5)."""
    seen: list[tuple[range, Position]] = []
    run = trainer(FakeRunner(), data(losses(5)), epochs=2, checkpoint=FakeCheckpoint(restored=(7, 2, 2)),
                  recorder=Recorder(mode="graph", first_step=100),
                  actions=(lambda chunk: seen.append((chunk.steps, chunk.position)),))
    run.run()
    assert seen[0] == (range(8, 9), Position(step=8, epoch=2, batch_in_epoch=3))
    assert run.position == Position(step=10, epoch=2, batch_in_epoch=5)
    assert [r.step for r in run.recorder.records] == [8, 9, 10]


def test_a_fresh_run_starts_at_step_0_and_its_position_follows_the_epochs() -> None:
    run = trainer(FakeRunner(), data(losses(3)), epochs=2, steps_per_execution=2)
    assert run.position == Position(step=0, epoch=1, batch_in_epoch=0)
    run.run()
    assert run.position == Position(step=6, epoch=2, batch_in_epoch=3)
    assert [(r.step, r.epoch) for r in run.recorder.records] == [(1, 1), (2, 1), (3, 1), (4, 2), (5, 2), (6, 2)]


def test_an_extra_action_runs_after_each_chunk_after_recording_and_before_the_checkpoint() -> None:
    """K=2, 5 batches, a checkpoint every 2: after each chunk the action sees the chunk's records, then
    the checkpoint due after it is saved."""
    events: list[Any] = []

    class LoggingCheckpoint(FakeCheckpoint):
        def save(self, *, step: int, epoch: int, batch: int) -> None:
            events.append(("checkpoint", step))

    def action(chunk: ChunkEnd) -> None:
        events.append(("action", list(chunk.steps), [r.step for r in chunk.records], chunk.position.step))

    run = trainer(FakeRunner(), data(losses(5)), checkpoint=LoggingCheckpoint(every=2), actions=(action,),
                  steps_per_execution=2)
    run.run()
    assert events == [("action", [1, 2], [1, 2], 2), ("checkpoint", 2), ("action", [3, 4], [3, 4], 4),
                      ("checkpoint", 4), ("action", [5], [5], 5), ("checkpoint", 5)]
    assert [getattr(a, "__name__", "") for a in run.actions] == ["record", "action", "stop_on_non_finite",
                                                                 "checkpoint_if_due", "stop_if_asked"]


def test_an_extra_action_sees_a_non_finite_step_before_the_run_stops_at_it() -> None:
    seen: list[int] = []
    run = trainer(FakeRunner(), data([1.0, math.nan, 3.0]), actions=(lambda chunk: seen.extend(chunk.steps),))
    with pytest.raises(NonFiniteLoss, match="loss is nan at step 2"):
        run.run()
    assert seen == [1, 2]
