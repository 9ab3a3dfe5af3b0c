"""Finding the steps of a plain script, so that it gets the step table without being changed.

Three sources, in order of precedence:

1. `eagerrun.log_step(loss, **metrics)`: the script says where a step ends. Once called, it is the only
   source (the script knows best).
2. Keras `Model.fit`: a callback eagerrun adds records each batch's loss (Keras' running mean over the
   epoch, the number its progress bar shows) and time, as MLflow's autolog patches `fit`.
3. A plain custom loop (GradientTape, gradients, `optimizer.apply_gradients`): every outermost optimizer
   update is a step; its loss is the last target the tape differentiated. When the update is inside a
   tf.function that runs as a graph, the step is that function's call and its loss the value it returns.

A step's time runs from the end of the previous step (the first: from its first GradientTape or function
call) until its loss is on the host. Nothing here prints; records go to the recorder.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Iterator
from typing import Any

from eagerrun.interrupts import stop_point
from eagerrun.records import Recorder
from eagerrun.tracing import TraceCounter

log = logging.getLogger("eagerrun")

_active: StepCollector | None = None


def log_step(loss: Any, **metrics: Any) -> None:
    """Record one finished step with its loss (and any scalar metrics), from the script's own loop.

    Call it once a step, outside any tf.function, with the value the step returned. Without eagerrun (under
    plain `python`) it does nothing, so scripts can keep the call.
    """
    if _active is not None:
        _active.explicit_step(loss, metrics)


def to_float(value: Any) -> float | None:
    """A loss as a Python float (the mean where it is not a scalar); None when it is not a number."""
    import numpy as np

    if isinstance(value, dict):
        value = value.get("loss")
    try:
        return float(np.mean(np.asarray(value, dtype="float64")))
    except (TypeError, ValueError):
        return None


class StepCollector:
    """Turns events from the script (fit batches, log_step calls, optimizer updates) into step records."""

    def __init__(self, recorder: Recorder, traces: TraceCounter, *, autolog: bool) -> None:
        self.recorder = recorder
        self.traces = traces
        self.autolog = autolog
        self.explicit = False  # log_step was called: the other sources stand down
        self.in_fit = 0
        self._step_started: float = time.perf_counter()  # a first step with no tape or function
        self._traces_at_start = traces.count  # call to start it is timed from the script's start
        self._started_by_hook = False
        self._pending: dict[str, Any] | None = None  # an optimizer-update step, kept until it is confirmed
        self._tape_target: Any = None
        self._apply_depth = 0
        self._call_depth = 0
        self._step_functions: set[int] = set()
        self._calls: list[Any] = []

    # -- timing shared by every source ---------------------------------------------------------------------

    def mark_step_start(self, at: float | None = None, traces: int | None = None) -> None:
        """The first step starts at the first tape, fit batch or step-function call; later ones at the
        end of the step before."""
        if not self._started_by_hook:
            self._started_by_hook = True
            self._step_started = at if at is not None else time.perf_counter()
            self._traces_at_start = traces if traces is not None else self.traces.count

    def _end_step(self) -> tuple[float, bool]:
        """(time since the step started, whether anything traced meanwhile); the next step starts now."""
        now = time.perf_counter()
        elapsed, traced = now - self._step_started, self.traces.count > self._traces_at_start
        self._step_started, self._traces_at_start, self._started_by_hook = now, self.traces.count, True
        return elapsed, traced

    def _finish_step(self, *, loss: float | None, source: str, epoch: int | None = None,
                     batch_size: int | None = None, metrics: dict[str, float] | None = None) -> None:
        elapsed, traced = self._end_step()
        self.recorder.add(loss=loss, time_s=elapsed, source=source, epoch=epoch, traced=traced,
                          batch_size=batch_size, metrics=metrics)
        stop_point()

    # -- 1. log_step ---------------------------------------------------------------------------------------

    def explicit_step(self, loss: Any, metrics: dict[str, Any]) -> None:
        import tensorflow as tf

        if not tf.executing_eagerly():
            log.warning("eagerrun.log_step() was called inside a tf.function being traced; call it outside, "
                        "with the loss the step returns")
            return
        self.explicit = True
        if self._pending is not None:  # the optimizer hook saw this step too: log_step's record replaces it
            self._step_started, self._traces_at_start = self._pending["started"], self._pending["traces"]
            self._pending = None
        numbers = {name: value for name, value in ((k, to_float(v)) for k, v in metrics.items())
                   if value is not None}
        self._finish_step(loss=to_float(loss), source="log_step", metrics=numbers)

    # -- 2. Keras fit --------------------------------------------------------------------------------------

    def fit_callback(self, batch_size: int | None) -> Any:
        import keras

        collector = self

        class EagerrunStepLogger(keras.callbacks.Callback):
            """Records each training batch's loss and time; added to fit() by eagerrun."""

            epoch = 0

            def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
                self.epoch = epoch + 1

            def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
                if batch == 0:  # the first batch of each epoch starts after the epoch's setup
                    collector._started_by_hook = False
                collector.mark_step_start()

            def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
                if collector.explicit:
                    return
                logs = dict(logs or {})
                loss = to_float(logs.pop("loss", None))
                metrics = {k: v for k, v in ((k, to_float(v)) for k, v in logs.items()) if v is not None}
                collector._finish_step(loss=loss, source="fit", epoch=self.epoch, batch_size=batch_size,
                                       metrics=metrics)

        return EagerrunStepLogger()

    # -- 3. plain custom loops -----------------------------------------------------------------------------

    def tape_gradient(self, target: Any) -> None:
        if self.in_fit or self.explicit:
            return
        import tensorflow as tf

        if tf.executing_eagerly():
            self._tape_target = target

    def optimizer_update(self) -> None:
        """An outermost optimizer update: a step of an eager loop, or marks the traced function as a step."""
        if self.in_fit or self.explicit or not self.autolog:
            return
        import tensorflow as tf

        if not tf.executing_eagerly():
            if self._calls:
                self._step_functions.add(id(self._calls[0]))
            return
        self._begin_pending(to_float(self._tape_target) if self._tape_target is not None else None)
        self._tape_target = None

    def function_returned(self, function: Any, result: Any, started: float, traces_before: int) -> None:
        """A top-level tf.function call returned; if its graph updates an optimizer, that was one step."""
        if id(function) not in self._step_functions or self.in_fit or self.explicit:
            return
        self.mark_step_start(at=started, traces=traces_before)
        self._begin_pending(to_float(result))

    def _begin_pending(self, loss: float | None) -> None:
        """Confirm the step before, and hold this one until the next step or the script's end confirms it
        (a log_step call in between replaces it)."""
        self._commit_pending()
        pending = {"loss": loss, "started": self._step_started, "traces": self._traces_at_start}
        pending["time_s"], pending["traced"] = self._end_step()
        self._pending = pending
        stop_point()  # a stop here keeps this step: finish() confirms it

    def _commit_pending(self) -> None:
        if self._pending is None:
            return
        pending, self._pending = self._pending, None
        self.recorder.add(loss=pending["loss"], time_s=pending["time_s"], source="autolog",
                          traced=pending["traced"])

    def finish(self) -> None:
        """The script ended (or died): the last optimizer-update step is confirmed."""
        if not self.explicit:
            self._commit_pending()


@contextlib.contextmanager
def collecting(recorder: Recorder, traces: TraceCounter, *, autolog: bool) -> Iterator[StepCollector]:
    """Activate log_step, and with `autolog` the fit callback and the custom-loop hooks, for one script."""
    global _active
    collector = StepCollector(recorder, traces, autolog=autolog)
    _active = collector
    try:
        with contextlib.ExitStack() as stack:
            if autolog:
                stack.enter_context(patched_fit(collector))
                stack.enter_context(patched_custom_loop_hooks(collector))
            try:
                yield collector
            finally:
                collector.finish()
    finally:
        _active = None


@contextlib.contextmanager
def patch_attribute(owner: Any, name: str, replacement: Any) -> Iterator[None]:
    original = getattr(owner, name)
    setattr(owner, name, replacement)
    try:
        yield
    finally:
        setattr(owner, name, original)


@contextlib.contextmanager
def patched_fit(collector: StepCollector) -> Iterator[None]:
    """Add eagerrun's callback to every `keras.Model.fit` call for the duration of the script."""
    import keras

    original_fit = keras.Model.fit

    @functools.wraps(original_fit)
    def fit(model: Any, *args: Any, **kwargs: Any) -> Any:
        callbacks = list(kwargs.pop("callbacks", None) or [])
        callbacks.append(collector.fit_callback(fit_batch_size(args, kwargs)))
        collector.in_fit += 1
        try:
            return original_fit(model, *args, callbacks=callbacks, **kwargs)
        finally:
            collector.in_fit -= 1

    with patch_attribute(keras.Model, "fit", fit):
        yield


def fit_batch_size(args: tuple[Any, ...], kwargs: dict[str, Any]) -> int | None:
    """The batch size fit will use, where it can be known before it runs: arrays batch by batch_size
    (32 by default); a dataset's batch is its element_spec's leading dimension when that is static."""
    import tensorflow as tf

    x = kwargs.get("x", args[0] if args else None)
    if isinstance(x, tf.data.Dataset):
        first = tf.nest.flatten(x.element_spec)[0]
        shape = getattr(first, "shape", None)
        return int(shape[0]) if shape is not None and shape.rank and shape[0] is not None else None
    if hasattr(x, "shape"):
        batch_size = kwargs.get("batch_size", args[2] if len(args) > 2 else None)
        return min(int(batch_size or 32), int(x.shape[0]))
    return None


@contextlib.contextmanager
def patched_custom_loop_hooks(collector: StepCollector) -> Iterator[None]:
    """Watch GradientTape.gradient, the optimizer's update and tf.function calls, for plain loops."""
    import tensorflow as tf
    from keras.src.optimizers.base_optimizer import BaseOptimizer
    from tensorflow.python.eager.polymorphic_function.polymorphic_function import Function

    original_gradient = tf.GradientTape.gradient
    original_apply = BaseOptimizer.apply
    original_call = Function.__call__

    @functools.wraps(original_gradient)
    def gradient(tape: Any, target: Any, *args: Any, **kwargs: Any) -> Any:
        collector.tape_gradient(target)
        return original_gradient(tape, target, *args, **kwargs)

    @functools.wraps(original_apply)
    def apply(optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        collector._apply_depth += 1
        try:
            result = original_apply(optimizer, *args, **kwargs)
        finally:
            collector._apply_depth -= 1
        if collector._apply_depth == 0:  # a LossScaleOptimizer's inner update is not a second step
            collector.optimizer_update()
        return result

    @functools.wraps(original_call)
    def call(function: Any, *args: Any, **kwargs: Any) -> Any:
        outermost = collector._call_depth == 0 and tf.executing_eagerly()
        if outermost:
            collector._calls.append(function)
        collector._call_depth += 1
        started, traces_before = time.perf_counter(), collector.traces.count
        try:
            result = original_call(function, *args, **kwargs)
        finally:
            collector._call_depth -= 1
            if outermost:
                collector._calls.pop()
        if outermost:
            collector.function_returned(function, result, started, traces_before)
        return result

    enter_tape = tf.GradientTape.__enter__

    @functools.wraps(enter_tape)
    def tape_enter(tape: Any) -> Any:
        if not collector.in_fit and tf.executing_eagerly():
            collector.mark_step_start()
        return enter_tape(tape)

    with contextlib.ExitStack() as stack:
        stack.enter_context(patch_attribute(tf.GradientTape, "gradient", gradient))
        stack.enter_context(patch_attribute(tf.GradientTape, "__enter__", tape_enter))
        stack.enter_context(patch_attribute(BaseOptimizer, "apply", apply))
        stack.enter_context(patch_attribute(Function, "__call__", call))
        yield
