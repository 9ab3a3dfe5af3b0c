"""eagerrun's own custom training loop (`--train`): it times, records and stops; the step does the math.

Timing is honest: a step's time runs from asking the dataset for its batch until its loss is a Python
number on the host, so asynchronous execution hides nothing. Losses become Python floats here, at the
boundary, and nowhere else. Validation runs between steps, before the step it follows is recorded, so that
step's one record carries its values; its time is the record's `validation_s`, never in the step's.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from eagerrun.checkpoints import TrainCheckpoint
from eagerrun.distribute import StrategyOptions, lost_peer, replicated_step, scope
from eagerrun.errors import EXIT_NONFINITE_LOSS, EXIT_USAGE, EagerrunError
from eagerrun.interrupts import Interrupted, steps_will_end, stop_point
from eagerrun.records import Recorder
from eagerrun.spec import TrainSpec
from eagerrun.steps import (builtin_train_step, compile_function, compile_multi_step, compile_step, compile_validation,
                            with_batch_size, with_metric_results)
from eagerrun.tracing import TraceCounter

log = logging.getLogger("eagerrun")


@dataclass(frozen=True)
class TrainOptions:
    """The trainer's options, validated once against the mode (habit: impossible combinations fail early)."""

    epochs: int | None = None
    steps: int | None = None
    xla: bool = False
    steps_per_execution: int = 1
    on_nan: Literal["stop", "warn", "debug"] = "stop"  # debug: stop, with check numerics on from the start
    checkpoint_dir: Path | None = None
    checkpoint_every: int | None = None
    strategy: StrategyOptions = StrategyOptions()
    validate_every: int | None = None  # besides each epoch's end

    def check_mode(self, *, eager: bool) -> None:
        if eager and self.xla:
            raise EagerrunError("--xla compiles the step, which eager mode never does: drop --xla or use "
                                "--graph", exit_code=EXIT_USAGE)
        if self.xla and self.strategy.cpu_replicas is not None:
            raise EagerrunError("--xla with --cpu-replicas: XLA cannot run a replica whose variables live on "
                                "another logical CPU device; drop one of them", exit_code=EXIT_USAGE)
        if eager and self.steps_per_execution > 1:
            raise EagerrunError("--steps-per-execution runs several steps in one graph call: it needs "
                                "--graph", exit_code=EXIT_USAGE)


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


class Trainer:
    """Drives a validated spec: the outer loop over epochs and batches, one compiled step, one recorder."""

    def __init__(self, spec: TrainSpec, options: TrainOptions, *, eager: bool, recorder: Recorder,
                 traces: TraceCounter, checkpoint: TrainCheckpoint | None = None, strategy: Any = None) -> None:
        options.check_mode(eager=eager)
        self.spec = spec
        self.checkpoint = checkpoint
        self._epoch_now = 1
        self._batch_in_epoch = 0
        self.strategy = strategy
        self.options = options
        self.recorder = recorder
        self.traces = traces
        self.epochs, self.steps = planned_steps(spec, options, spec.dataset)
        batches = int(spec.dataset.cardinality())
        self._batches_per_epoch = batches if batches > 0 else None  # unknown or infinite: no epoch end foreseen
        # Training metrics are the built-in step's: a custom train_step returns its own values.
        self.metrics = tuple(spec.metrics or ()) if spec.train_step is None else ()
        step = spec.train_step or builtin_train_step(spec, global_average=strategy is not None)
        self.dataset = spec.dataset if strategy is None else strategy.experimental_distribute_dataset(spec.dataset)
        if options.steps_per_execution > 1:
            sized = with_batch_size(step) if strategy is None else replicated_step(strategy, step, xla=options.xla)
            self._multi_step, self._value_names = compile_multi_step(with_metric_results(sized, self.metrics),
                                                                     xla=options.xla and strategy is None)
        elif strategy is None:
            self._host_step = self._compile_one_device(step, eager=eager)
        else:
            self._host_step = self._compile_replicated(
                with_metric_results(replicated_step(strategy, step, xla=options.xla), self.metrics), eager=eager)
        self._validate = None
        if spec.validation is not None:
            with scope(strategy):  # its metrics' variables must be the strategy's
                self._validate = compile_validation(spec, eager=eager, strategy=strategy)

    def _compile_one_device(self, step: Any, *, eager: bool) -> Callable[[Any], tuple[dict[str, float], None]]:
        """(values, None) on the host: the batch size is read from the batch's shape, after the step's time."""
        compiled = compile_step(step, eager=eager, element_spec=self.spec.dataset.element_spec,
                                xla=self.options.xla, metrics=self.metrics)
        return lambda batch: ({name: float(value) for name, value in compiled(batch).items()}, None)

    def _compile_replicated(self, step: Any, *, eager: bool) -> Callable[[Any], tuple[dict[str, float], int]]:
        """(values, global batch size) on the host, reduced across replicas inside the step."""
        compiled = compile_function(step, eager=eager, signature=self.dataset.element_spec, xla=False)

        def run(batch: Any) -> tuple[dict[str, float], int]:
            values, size = compiled(batch)
            return {name: float(value) for name, value in values.items()}, int(size)

        return run

    def total_steps(self) -> int | None:
        """How many steps the run will do, where that is known before it starts (for the progress bar)."""
        batches = int(self.spec.dataset.cardinality())
        by_epochs = self.epochs * batches if self.epochs is not None and batches > 0 else None
        if self.steps is None:
            return by_epochs
        return self.steps if by_epochs is None else min(self.steps, by_epochs)

    def run(self) -> None:
        """Train until the epochs or the step limit run out, resuming from a checkpoint when there is one.

        Raises NonFiniteLoss under --on-nan stop, Interrupted after a signal, once the step in progress is
        done and a checkpoint saved, and an EagerrunError (exit 75) when a peer worker stopped answering.
        """
        done, first_epoch, done_in_epoch, iterator = 0, 1, 0, None
        if self.checkpoint is not None:
            done, first_epoch, done_in_epoch, iterator = self.checkpoint.restore(
                self.dataset, with_iterator=self.strategy is None)
            if iterator is None and done_in_epoch:
                resumed = self.spec.dataset.skip(done_in_epoch)
                iterator = iter(self.strategy.experimental_distribute_dataset(resumed))
            self.recorder.resume_after(done)
        else:
            self.recorder.next_step = 1
        steps_will_end()
        try:
            for epoch in self._epochs(first_epoch):
                if self._limit_reached():
                    break
                self._epoch_now = epoch
                self._batch_in_epoch = done_in_epoch if epoch == first_epoch else 0
                for metric in self.metrics:  # running means over the epoch, as Keras' fit logs them
                    metric.reset_state()
                iterator = iterator if iterator is not None else iter(self.dataset)
                if self.checkpoint is not None and self.strategy is None:
                    self.checkpoint.track_iterator(iterator)
                if self.options.steps_per_execution > 1:
                    self._run_epoch_in_chunks(iterator, epoch)
                else:
                    self._run_epoch(iterator, epoch)
                if self.recorder.next_step == 1:
                    raise EagerrunError("dataset is empty: it yields no batches", exit_code=EXIT_USAGE)
                iterator = None
        except Interrupted:
            self.save_checkpoint()
            raise
        except Exception as exc:  # a multi-worker step or batch whose peer died: one line, not TensorFlow's error
            lost = lost_peer(exc, steps_done=self.recorder.next_step - 1) if self.strategy is not None else None
            if lost is None:
                raise
            raise lost from None
        self.save_checkpoint()

    def save_checkpoint(self) -> None:
        if self.checkpoint is not None:
            self.checkpoint.save(step=self.recorder.next_step - 1, epoch=self._epoch_now,
                                 batch=self._batch_in_epoch)

    def _epochs(self, first: int) -> Iterator[int]:
        epoch = first
        while self.epochs is None or epoch <= self.epochs:
            yield epoch
            epoch += 1

    def _limit_reached(self) -> bool:
        """`steps` counts from the run's first step, so a resumed run stops where the whole run would."""
        return self.steps is not None and self.recorder.next_step > self.steps

    def _run_epoch(self, iterator: Iterator[Any], epoch: int) -> None:
        while not self._limit_reached():
            traces_before = self.traces.count
            started = time.perf_counter()
            try:
                batch = next(iterator)
            except StopIteration:
                return
            values, batch_size = self._host_step(batch)
            elapsed = time.perf_counter() - started
            traced = self.traces.count > traces_before
            self._record(values, elapsed, epoch=epoch, traced=traced,
                         batch_size=leading_dim(batch) if batch_size is None else batch_size,
                         validation=self._validate_if_due(self.recorder.next_step, self._batch_in_epoch + 1))

    def _run_epoch_in_chunks(self, iterator: Any, epoch: int) -> None:
        import tensorflow as tf

        while not self._limit_reached():
            chunk = min(self.options.steps_per_execution, self._steps_to_validation())
            if self.steps is not None:
                chunk = min(chunk, self.steps - self.recorder.next_step + 1)
            traces_before = self.traces.count
            started = time.perf_counter()
            rows, sizes = self._multi_step(iterator, tf.constant(chunk))
            rows, sizes = rows.numpy(), sizes.numpy()
            elapsed = time.perf_counter() - started
            traced = self.traces.count > traces_before
            validation = (self._validate_if_due(self.recorder.next_step + len(rows) - 1,
                                                self._batch_in_epoch + len(rows)) if len(rows) else None)
            for i, (row, size) in enumerate(zip(rows, sizes)):
                self._record(dict(zip(self._value_names, map(float, row))), elapsed / len(rows), epoch=epoch,
                             traced=traced and i == 0, batch_size=int(size),
                             validation=validation if i == len(rows) - 1 else None)
            if len(rows) < chunk:
                return

    def _validation_due(self, step: int, batch_in_epoch: int) -> bool:
        """At each epoch's end (where the dataset's length is known), every --validate-every N steps, and
        at the run's last step when --steps ends it."""
        every = self.options.validate_every
        return (batch_in_epoch == self._batches_per_epoch or step == self.steps
                or (every is not None and step % every == 0))

    def _steps_to_validation(self) -> int:
        """Steps until the next validation is due (counting the one it is due after): a K-step chunk ends
        there, so validation sees the weights of the step it is recorded with."""
        limit = self.options.steps_per_execution
        if self._validate is None:
            return limit
        step, batch = self.recorder.next_step, self._batch_in_epoch + 1
        return next((ahead + 1 for ahead in range(limit) if self._validation_due(step + ahead, batch + ahead)), limit)

    def _validate_if_due(self, step: int, batch_in_epoch: int) -> tuple[dict[str, float], float] | None:
        """(val_ values, seconds) when validation is due after `step`, the epoch's `batch_in_epoch`th."""
        if self._validate is None or not self._validation_due(step, batch_in_epoch):
            return None
        started = time.perf_counter()
        values = self._validate()
        return values, time.perf_counter() - started

    def _record(self, values: dict[str, float], elapsed: float, *, epoch: int, traced: bool,
                batch_size: int | None, validation: tuple[dict[str, float], float] | None = None) -> None:
        validation_values, validation_s = validation or ({}, None)
        record = self.recorder.add(values={**values, **validation_values}, time_s=elapsed, source="trainer",
                                   epoch=epoch, traced=traced, batch_size=batch_size, validation_s=validation_s)
        self._batch_in_epoch += 1
        losses = [name for name in values if name == "loss" or name.endswith("_loss")] or list(values)
        bad = next((name for name in losses if not math.isfinite(values[name])), None)
        if bad is not None:
            if self.options.on_nan != "warn":
                raise NonFiniteLoss(record.step, values[bad], bad)
            log.warning("%s is %s at step %d; going on (--on-nan warn)", bad, values[bad], record.step)
        if self.checkpoint is not None and self.checkpoint.due(record.step):
            self.checkpoint.save(step=record.step, epoch=epoch, batch=self._batch_in_epoch)
        stop_point()


def leading_dim(batch: Any) -> int | None:
    """The batch size: the leading dimension of the batch's first tensor, where it is known."""
    import tensorflow as tf

    first = tf.nest.flatten(batch)[0]
    shape = getattr(first, "shape", None)
    return int(shape[0]) if shape is not None and shape.rank and shape[0] is not None else None
