"""eagerrun's own custom training loop (`--train`): it times, records and stops; the step does the math.

Timing is honest: a step's time runs from asking the dataset for its batch until its loss is a Python
number on the host, so asynchronous execution hides nothing. Losses become Python floats here, at the
boundary, and nowhere else. Validation runs between steps, before the step it follows is recorded, so that
step's one record carries its values; its time is the record's `validation_s`, never in the step's.
"""

from __future__ import annotations

import logging
import math
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from eagerrun.cluster.distribute import lost_peer, scope
from eagerrun.config import TrainOptions
from eagerrun.diagnostics.tracing import TraceCounter
from eagerrun.errors import EXIT_NONFINITE_LOSS, EXIT_USAGE, EagerrunError
from eagerrun.interrupts import Interrupted, steps_will_end, stop_point, stop_requested
from eagerrun.records import Recorder, StepRecord, is_loss_name
from eagerrun.train.checkpoints import TrainCheckpoint, with_exact_position
from eagerrun.train.precision import SkippedSteps, loss_scale_value
from eagerrun.train.runner import StepOutputs, StepRunner
from eagerrun.train.spec import TrainSpec
from eagerrun.train.step import builtin_train_step, compile_validation

log = logging.getLogger("eagerrun")


class NonFiniteLoss(EagerrunError):
    def __init__(self, step: int, loss: float, name: str = "loss") -> None:
        super().__init__(f"{name} is {loss} at step {step}; stopping (use --on-nan warn to keep going)",
                         exit_code=EXIT_NONFINITE_LOSS)


def planned_steps(spec: TrainSpec, options: TrainOptions, dataset: Any) -> tuple[int | None, int | None]:
    """(epochs, steps) the run will do: the command line over build()'s defaults; one epoch otherwise.

    A dataset that repeats forever needs a step limit, or the run would never end.
    """
    import tensorflow as tf

    epochs = options.epochs or spec.epochs
    steps = options.steps or spec.steps
    infinite = int(dataset.cardinality()) == int(tf.data.INFINITE_CARDINALITY)
    if infinite and steps is None:
        raise EagerrunError("dataset repeats forever: pass --steps N (or return 'steps' from build())",
                            exit_code=EXIT_USAGE)
    if epochs is None and steps is None:
        epochs = 1
    return epochs, steps


@dataclass(frozen=True)
class TrainData:
    """The batches the controller reads, and how it restarts them.

    A dataset of known length is read through one iterator over its repetition, the epochs counted in
    batches (Orbit's way): `one_iterator`. A new iterator each epoch would take its shuffle order from the
    dataset's own seed generator, which a checkpoint does not hold exactly: with a prefetch (tf.data injects
    one by itself) a resumed run's next epochs came in another order than an uninterrupted run's.
    """

    batches_per_epoch: int | None  # None: unknown or infinite, no epoch end foreseen
    one_iterator: bool
    start: Callable[[], Any]  # a new iterator from the first batch
    start_after: Callable[[int], Any]  # a new iterator that skips that many batches first
    checkpointed: Any = None  # what the checkpoint saves the iterator of, where it can (no strategy)


@dataclass(frozen=True)
class Position:
    """Where the run is: the last step done (0 before the first), the epoch it is in and the batches of that
    epoch done. The controller owns it (as Orbit's Controller owns `global_step`); a checkpoint saves it with
    the weights and the data's iterator, and a resumed run starts from it."""

    step: int = 0
    epoch: int = 1
    batch_in_epoch: int = 0

    def after(self, steps: int) -> Position:
        return replace(self, step=self.step + steps, batch_in_epoch=self.batch_in_epoch + steps)


@dataclass
class ChunkEnd:
    """One chunk, as the actions between chunks see it: every step's outputs and number, where the run is
    after it, its time, and the validation that ran after its last step. `records` is filled by the
    `record` action, for the actions after it."""

    outputs: StepOutputs
    steps: range  # the chunk's step numbers
    position: Position  # after the chunk's last step
    elapsed: float
    traced: bool  # a tf.function traced during the chunk
    validation: tuple[dict[str, float], float] | None  # (val_ values, seconds), after its last step
    started: float  # perf_counter when the runner began the chunk
    records: list[StepRecord] = field(default_factory=list)


class ChunkAction(Protocol):
    """What runs after each chunk, in the controller's order (Orbit's `train_actions`, Keras' callbacks). It
    may stop the run by raising."""

    def __call__(self, chunk: ChunkEnd) -> None: ...


class Trainer:
    """The controller: drives the runner chunk by chunk, and between chunks records, checks, validates,
    checkpoints and stops (Orbit's `Controller` around its `StandardTrainer`).

    A chunk is up to K steps (`--steps-per-execution`; 1 by default) that the runner runs in one call. It
    ends early where a checkpoint, a validation, the step limit or the epoch's end is due, so each of those
    happens after exactly the step it names, with the weights, the optimizer, the step counter and the
    iterator all at that step. Nothing happens inside a chunk: a signal waits for its end.

    It is given everything it drives (`build_trainer` makes the parts from a spec with TensorFlow), so its
    rules run, and are tested, without TensorFlow: a runner that returns `StepOutputs`, the data's
    iterators, the checkpoint, the validation, the metrics to reset at each epoch's start.

    It owns its `position` (the step counter a checkpoint saves); the recorder only records the steps it
    is given. After each chunk it validates where due (the values land on that step's record), then runs
    its `actions` in order: record, then the `actions` it was given, then stop at a non-finite loss,
    checkpoint where due, stop where a signal asked to.
    """

    def __init__(self, runner: Any, data: TrainData, options: TrainOptions, *, epochs: int | None,
                 steps: int | None, recorder: Recorder, traces: Any, checkpoint: Any = None,
                 validate: Callable[[], dict[str, float]] | None = None, metrics: tuple[Any, ...] = (),
                 skips: Callable[[], Any] | None = None,
                 lost_peer: Callable[[Exception, int], Exception | None] | None = None,
                 actions: Sequence[ChunkAction] = ()) -> None:
        self.runner = runner
        self.data = data
        self.options = options
        self.epochs, self.steps = epochs, steps
        self.recorder = recorder
        self.traces = traces
        self.checkpoint = checkpoint
        self._validate = validate
        self.metrics = metrics
        self._new_skips = skips or (lambda: NO_SKIPS)
        self._lost_peer = lost_peer
        self._batches_per_epoch = data.batches_per_epoch
        self.position = Position()
        self.actions: list[ChunkAction] = [self.record, *actions, self.stop_on_non_finite,
                                           self.checkpoint_if_due, self.stop_if_asked]

    def total_steps(self) -> int | None:
        """How many steps the run will do, where that is known before it starts (for the progress bar)."""
        batches = self._batches_per_epoch
        by_epochs = self.epochs * batches if self.epochs is not None and batches is not None else None
        if self.steps is None:
            return by_epochs
        return self.steps if by_epochs is None else min(self.steps, by_epochs)

    def run(self) -> None:
        """Train until the epochs or the step limit run out, resuming from a checkpoint when there is one.

        Raises NonFiniteLoss under --on-nan stop, Interrupted after a signal, once the chunk in progress is
        done and a checkpoint saved, and an EagerrunError (exit 75) when a peer worker stopped answering.
        """
        iterator = self._restore()
        if self._already_complete():
            return
        self._skips = self._new_skips()  # after the restore: the loss scale may come from the checkpoint
        steps_will_end()
        try:
            for epoch in self._epochs(self.position.epoch):
                if self._limit_reached():
                    break
                if epoch != self.position.epoch:
                    self.position = replace(self.position, epoch=epoch, batch_in_epoch=0)
                if self.position.batch_in_epoch == 0:  # running means over the epoch, as Keras' fit logs them; a
                    for metric in self.metrics:  # resumed epoch's come back from the checkpoint
                        metric.reset_state()
                if iterator is None:
                    iterator = self.data.start()
                    if self.checkpoint is not None and self.data.checkpointed is not None:
                        self.checkpoint.track_iterator(iterator)
                self._run_epoch(iterator)
                if self.position.step == 0:
                    raise EagerrunError("dataset is empty: it yields no batches", exit_code=EXIT_USAGE)
                if not self.data.one_iterator:
                    iterator = None
        except Interrupted:
            self.save_checkpoint()
            raise
        except Exception as exc:  # a multi-worker step or batch whose peer died: one line, not TensorFlow's error
            lost = self._lost_peer(exc, self.position.step) if self._lost_peer is not None else None
            if lost is None:
                raise
            raise lost from None
        self.save_checkpoint()

    def _restore(self) -> Any:
        """Set the position where the run starts, its checkpoint's, and return the iterator there (None: a
        new one from the first batch).

        A tf.data iterator comes back from the checkpoint where it stopped. A distributed one cannot be
        checkpointed, nor can some pipelines (`train/checkpoints.py`): the data is read again up to the same batch
        instead (every batch of the run so far, through the same repetition, so a reshuffling dataset with a
        seed gives the same batches).
        """
        if self.checkpoint is None:
            self.position = Position()
            return None
        done, epoch, done_in_epoch, iterator = self.checkpoint.restore(
            self.data.checkpointed, with_iterator=self.data.checkpointed is not None)
        self.position = Position(step=done, epoch=epoch, batch_in_epoch=done_in_epoch)
        self.recorder.drop_after(done)  # what a killed run recorded past it is about to be done again
        if iterator is None and done:
            skipped = done if self.data.one_iterator else done_in_epoch
            iterator = self.data.start_after(skipped) if skipped else None
        return iterator

    def _already_complete(self) -> bool:
        """A finished run's checkpoint holds every planned step: say so, rather than train nothing silently."""
        done, total = self.position.step, self.total_steps()
        if self.checkpoint is None or not done or total is None or done < total:
            return False
        log.info("--checkpoint-dir %s: already complete at step %d; nothing to train (raise --epochs or --steps "
                 "to go on, or use another --checkpoint-dir)", self.checkpoint.directory, done)
        return True

    def save_checkpoint(self) -> None:
        if self.checkpoint is not None:
            self.checkpoint.save(step=self.position.step, epoch=self.position.epoch,
                                 batch=self.position.batch_in_epoch)

    def _epochs(self, first: int) -> Iterator[int]:
        epoch = first
        while self.epochs is None or epoch <= self.epochs:
            yield epoch
            epoch += 1

    def _limit_reached(self) -> bool:
        """`steps` counts from the run's first step, so a resumed run stops where the whole run would."""
        return self.steps is not None and self.position.step >= self.steps

    def _run_epoch(self, iterator: Any) -> None:
        while not self._limit_reached():
            size = self._chunk_size()
            if size == 0:
                return
            traces_before = self.traces.count
            started = time.perf_counter()
            outputs = self.runner.train(iterator, size)
            elapsed = time.perf_counter() - started
            self._after_chunk(outputs, elapsed, traced=self.traces.count > traces_before, started=started)
            if len(outputs) < size:
                return

    def _chunk_size(self) -> int:
        """K steps, fewer where the step limit, the epoch's end (when the dataset's length is known), a
        checkpoint or a validation comes first: each happens between chunks, after the step it is due."""
        size = self.options.steps_per_execution
        if size == 1:
            return 1 if self.position.batch_in_epoch != self._batches_per_epoch else 0
        step = self.position.step + 1
        if self.steps is not None:
            size = min(size, self.steps - step + 1)
        if self._batches_per_epoch is not None:
            size = min(size, self._batches_per_epoch - self.position.batch_in_epoch)
        every = self.checkpoint.every if self.checkpoint is not None else None
        if every is not None:
            size = min(size, every - (step - 1) % every)
        return min(size, self._steps_to_validation(size))

    def _after_chunk(self, outputs: StepOutputs, elapsed: float, *, traced: bool, started: float) -> None:
        """Validate where due after the chunk's last step, move the position past the chunk, then run the
        actions in order."""
        count = len(outputs)
        if count == 0:
            return
        before = self.position
        validation = self._validate_if_due(before.step + count, before.batch_in_epoch + count)
        self.position = before.after(count)
        chunk = ChunkEnd(outputs, range(before.step + 1, before.step + count + 1), self.position, elapsed,
                         traced, validation, started=started)
        for action in self.actions:
            action(chunk)

    def record(self, chunk: ChunkEnd) -> None:
        """Record every step of the chunk, each with its share of the chunk's time; the validation's values
        and time on the step it ran after."""
        count = len(chunk.outputs)
        for i, (step, values, size) in enumerate(zip(chunk.steps, chunk.outputs.values, chunk.outputs.batch_sizes)):
            validated = chunk.validation if i == count - 1 else None  # on the step it ran after
            chunk.records.append(self.recorder.add(
                step=step, values={**values, **validated[0]} if validated else values, time_s=chunk.elapsed / count,
                source="trainer", epoch=chunk.position.epoch, traced=chunk.traced and i == 0, batch_size=size,
                validation_s=validated[1] if validated else None, skipped=self._skips.skipped(values),
                span=(chunk.started, chunk.started + chunk.elapsed), span_steps=count))

    def stop_on_non_finite(self, chunk: ChunkEnd) -> None:
        """Stop at the chunk's first non-finite loss, naming its step (a step the loss scale skipped is not
        one); under --on-nan warn, say so for each and go on."""
        for record, values in zip(chunk.records, chunk.outputs.values):
            bad = None if record.skipped else first_non_finite_loss(values)
            if bad is None:
                continue
            if self.options.on_nan != "warn":
                raise NonFiniteLoss(record.step, values[bad], bad)
            log.warning("%s is %s at step %d; going on (--on-nan warn)", bad, values[bad], record.step)

    def checkpoint_if_due(self, chunk: ChunkEnd) -> None:
        if self.checkpoint is not None and self.checkpoint.due(chunk.position.step):
            self.save_checkpoint()

    def stop_if_asked(self, chunk: ChunkEnd) -> None:
        """Where a signal asked to stop, stop now. A multi-worker run stops only where every worker agrees:
        a worker asked to stop tells the others through the next step's all-reduce, and every worker stops
        after that chunk, the same step (TensorFlow's PreemptionCheckpointHandler agrees the same way)."""
        if not self.runner.agrees_on_stops:
            stop_point()
            return
        if chunk.outputs.stop:
            raise Interrupted(stop_requested() or signal.SIGTERM)
        if stop_requested() is not None:
            self.runner.ask_peers_to_stop()

    def _validation_due(self, step: int, batch_in_epoch: int) -> bool:
        """At each epoch's end (where the dataset's length is known), every --validate-every N steps, and
        at the run's last step when --steps ends it."""
        every = self.options.validate_every
        return (batch_in_epoch == self._batches_per_epoch or step == self.steps
                or (every is not None and step % every == 0))

    def _steps_to_validation(self, limit: int) -> int:
        """Steps until the next validation is due (counting the one it is due after), at most `limit`."""
        if self._validate is None:
            return limit
        step, batch = self.position.step + 1, self.position.batch_in_epoch + 1
        return next((ahead + 1 for ahead in range(limit) if self._validation_due(step + ahead, batch + ahead)), limit)

    def _validate_if_due(self, step: int, batch_in_epoch: int) -> tuple[dict[str, float], float] | None:
        """(val_ values, seconds) when validation is due after `step`, the epoch's `batch_in_epoch`th."""
        if self._validate is None or not self._validation_due(step, batch_in_epoch):
            return None
        started = time.perf_counter()
        values = self._validate()
        return values, time.perf_counter() - started


class _NoSkips:
    def skipped(self, values: dict[str, float]) -> bool:
        return False


NO_SKIPS = _NoSkips()


def build_trainer(spec: TrainSpec, options: TrainOptions, *, eager: bool, recorder: Recorder, traces: TraceCounter,
                  checkpoint: TrainCheckpoint | None = None, strategy: Any = None) -> Trainer:
    """The controller and its parts for `spec`, with TensorFlow: the data's iterators (distributed by the
    strategy; positioned exactly for a checkpoint), the compiled step, the validation."""
    import tensorflow as tf

    epochs, steps = planned_steps(spec, options, spec.dataset)
    batches = int(spec.dataset.cardinality())
    # Training metrics are the built-in step's: a custom train_step returns its own values.
    metrics = tuple(spec.metrics or ()) if spec.train_step is None else ()
    step = spec.train_step or builtin_train_step(spec, global_average=strategy is not None)
    runner = StepRunner(step, eager=eager, xla=options.xla, strategy=strategy, metrics=metrics,
                        after_step=loss_scale_value(spec.optimizer),
                        end_foreseen=batches != int(tf.data.UNKNOWN_CARDINALITY))
    validate = None
    if spec.validation is not None:
        with scope(strategy):  # its metrics' variables must be the strategy's
            validate = compile_validation(spec, eager=eager, strategy=strategy)
    return Trainer(runner, train_data(spec.dataset, checkpointed=checkpoint is not None, strategy=strategy),
                   options, epochs=epochs, steps=steps, recorder=recorder, traces=traces, checkpoint=checkpoint,
                   validate=validate, metrics=metrics, skips=lambda: SkippedSteps(spec.optimizer),
                   lost_peer=None if strategy is None else lambda exc, done: lost_peer(exc, steps_done=done))


def train_data(dataset: Any, *, checkpointed: bool, strategy: Any) -> TrainData:
    """How the controller reads `dataset` (TrainData says why one iterator over its repetition). A
    checkpoint saves a single-device iterator at its exact position; a distributed one cannot be saved, so
    a resumed run reads the data again up to its step instead."""
    batches = int(dataset.cardinality())
    one_iterator = batches > 0
    data = dataset.repeat() if one_iterator else dataset
    if checkpointed and strategy is None:
        data = with_exact_position(data)

    def distributed(what: Any) -> Any:
        return what if strategy is None else strategy.experimental_distribute_dataset(what)

    whole = distributed(data)
    return TrainData(batches_per_epoch=batches if batches > 0 else None, one_iterator=one_iterator,
                     start=lambda: iter(whole), start_after=lambda skipped: iter(distributed(data.skip(skipped))),
                     checkpointed=whole if checkpointed and strategy is None else None)


def first_non_finite_loss(values: dict[str, float]) -> str | None:
    """The first loss (`loss`, `*_loss`; every value where none is named so) that is NaN or infinite."""
    losses = [name for name in values if is_loss_name(name)] or list(values)
    return next((name for name in losses if not math.isfinite(values[name])), None)
