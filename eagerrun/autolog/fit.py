"""The callback eagerrun adds to each Keras `fit` call: one step per batch, with the values Keras logged for
it and its time. It is given what it needs as callables (`FitRecording`), not the collector."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from eagerrun.autolog.values import Clock, to_float
from eagerrun.interrupts import stop_point
from eagerrun.records import is_loss_name


@dataclass(frozen=True)
class FitRecording:
    """What the fit callback is given by its collector, as callables: the clock, the recording of one step,
    and whether `log_step` took over (the other step sources then stand down)."""

    now: Callable[[], Clock]
    record: Callable[..., None]
    stood_down: Callable[[], bool]


@functools.cache
def fit_step_logger() -> type:
    """The Keras callback class eagerrun adds to each fit call (made once: Keras is imported lazily)."""
    import keras

    class EagerrunStepLogger(keras.callbacks.Callback):
        """Records each training batch's values and time.

        Keras runs batch-end callbacks in a thread pool when every callback says it is `async_safe`, so that
        reading a batch's logs (a host sync) never holds up the next batch: a plain fit does that. This one
        says so too, and in that thread only files the logs away; everything else happens in the training
        thread. A call's time runs from its `on_train_batch_begin` to the next one (the epoch's last: to the
        validation's start, or the epoch's end); it is recorded once Keras has delivered its logs, at the
        latest at the epoch's end.
        """

        async_safe = True

        def __init__(self, recording: FitRecording, head: Hashable, batch_size: int | None) -> None:
            super().__init__()
            self.recording, self.head, self.batch_size = recording, head, batch_size
            self.epoch = 0
            self.logs_at: dict[int, dict[str, Any]] = {}  # end batch -> its logs, filed from Keras' threads
            self.calls: list[tuple[int, Clock, Clock | None]] = []  # (first batch, start, end), in order
            self.validation_started: float | None = None
            self.validation_s: float | None = None
            self.validation: dict[str, Any] = {}

        def _end_open_call(self, at: Clock) -> None:
            if self.calls and self.calls[-1][2] is None:
                first, start, _ = self.calls[-1]
                self.calls[-1] = (first, start, at)

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.epoch = epoch + 1
            self.validation_started = self.validation_s = None
            self.validation = {}

        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            now = self.recording.now()
            self._end_open_call(now)
            self.record_ready(final=False)
            stop_point()
            # an epoch's first batch starts after the epoch's setup (and the validation before it)
            start = now if batch == 0 or not self.calls else self.calls[-1][2] or now
            self.calls.append((batch, start, None))

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            self.logs_at[batch] = dict(logs or {})  # maybe in Keras' thread pool: file it, nothing more

        def on_test_begin(self, logs: Any = None) -> None:
            self._end_open_call(self.recording.now())
            self.validation_started = time.perf_counter()

        def on_test_end(self, logs: Any = None) -> None:
            if self.validation_started is not None:
                self.validation_s = time.perf_counter() - self.validation_started

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self._end_open_call(self.recording.now())
            self.validation = {name: value for name, value in (logs or {}).items() if name.startswith("val_")}
            self.record_ready(final=True)
            stop_point()

        def record_ready(self, *, final: bool) -> None:
            """Record the calls whose time and logs are both known, in order; `final`: the epoch (or fit)
            is over, so every call is ended and each has its logs or never will."""
            while self.calls and self.calls[0][2] is not None:
                first, start, end = self.calls[0]
                assert end is not None  # the loop's condition
                last = next((batch for batch in sorted(self.logs_at) if batch >= first), None)
                if last is None and not final:
                    return
                self.calls.pop(0)
                logs = self.logs_at.pop(last, {}) if last is not None else {}
                if self.recording.stood_down():
                    continue
                is_last = final and not self.calls
                self._record_call(first, last if last is not None else first, start, end, logs,
                                  validation=self.validation if is_last else {},
                                  validation_s=self.validation_s if is_last else None)

        def _record_call(self, first: int, last: int, start: Clock, end: Clock, logs: dict[str, Any], *,
                         validation: dict[str, Any], validation_s: float | None) -> None:
            """One record per batch of the call: with steps_per_execution=K, K steps sharing its values
            and a K-th of its time each; the epoch's validation goes on its last batch alone."""
            count = max(1, last - first + 1)
            share = (end.at - start.at) / count
            numbers = losses_first({name: to_float(value) for name, value in logs.items()})
            for index in range(count):
                begin = Clock(start.at + index * share, start.traces)
                last_batch = index == count - 1
                self.recording.record(
                    head=self.head, source="fit", epoch=self.epoch, batch_size=self.batch_size,
                    values={**numbers, **{n: to_float(v) for n, v in validation.items()}} if last_batch else numbers,
                    batches_per_call=count, start=begin,
                    end=end if last_batch else Clock(begin.at + share, begin.traces),
                    validation_s=validation_s if last_batch else None, span=(start.at, end.at))

    return EagerrunStepLogger


def losses_first(values: dict[str, float | None]) -> dict[str, float | None]:
    """Keras' logs in the table's order: losses, then metrics, then validation values."""
    def rank(name: str) -> int:
        return 2 if name.startswith("val_") else 0 if is_loss_name(name) else 1

    return dict(sorted(values.items(), key=lambda item: rank(item[0])))


def fit_batch_size(arguments: dict[str, Any]) -> int | None:
    """The batch size fit will use, where it can be known before it runs (`arguments`: fit's, bound by
    name): arrays batch by batch_size (32 by default); a dataset's batch is its element_spec's leading
    dimension when that is static."""
    import tensorflow as tf

    x = arguments.get("x")
    if isinstance(x, tf.data.Dataset):
        first = tf.nest.flatten(x.element_spec)[0]
        shape = getattr(first, "shape", None)
        return int(shape[0]) if shape is not None and shape.rank and shape[0] is not None else None
    shape = getattr(x, "shape", None)
    if shape is not None and len(shape):
        return min(int(arguments.get("batch_size") or 32), int(shape[0]))
    return None
