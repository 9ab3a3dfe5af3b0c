"""Finding the steps of a plain script, so that it gets the step table without being changed.

A step is one iteration of the script's training loop, and means the same in `--eager` and `--graph`:

1. `eagerrun.log_step(loss, **metrics)`: the script says where a step ends. Once called, it is the only
   source (the script knows best).
2. Keras `Model.fit`: every batch is a step, recorded by a callback eagerrun adds (each fit call is a phase).
   With `steps_per_execution=K`, Keras reports once per K batches: each of the K batches is a step carrying
   that call's values and a K-th of its time (`batches_per_call: K`). `val_*` values land on the epoch's
   last step; validation time is kept apart (`validation_s`), never inside a step's time.
3. A custom loop: a *unit* is one outermost call of a tf.function that trains (it calls
   `GradientTape.gradient` over variables or an optimizer update, seen at trace time in graph mode and
   while it runs in eager mode), or, outside any tf.function, one optimizer update or one `gradient` call
   over variables. A step ends when a unit of the same kind comes round again (the same function, the same
   optimizer, the same gradient call site): a GAN's discriminator and generator updates are one step, in
   one tf.function or without any.

The values of a step are its losses: for each optimizer, the target of the `gradient` call whose gradients
it applied (its last one in the step); without optimizers, the targets of the gradient calls. One loss is
`loss`; several are named by the dict key the step function returns them under, else by the Python
variable the script bound them to (`gen_loss`, `disc_loss`), else `loss_1`, `loss_2` in update order. The
scalars of a returned dict are recorded under their keys too. In graph mode a loss lives inside the graph:
when the function returns it, it is read from the result; otherwise the trace writes it into a variable of
eagerrun's, which changes nothing the function computes (autolog/graph_values.py).

A step's time runs from the end of the step before (a phase's first step: from its first tape or training
call) to the end of its last unit. Values stay tensors until the closed steps are flushed to the recorder
(every 0.1 s): reading one waits for its step, which a plain loop never does. A plain loop's step (one call
of one function, again and again) keeps no more than what its call returned until then; its values are
named and read at the flush, through its trace's CallPlan. Each fit call, and each loop whose step starts
with another unit, is a new phase. Nothing here prints; records go to the recorder.
"""

from __future__ import annotations

import os
import sys
import time
import weakref
from collections.abc import Hashable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from eagerrun import _tf_compat as private
from eagerrun.autolog import hooks
from eagerrun.autolog.fit import FitRecording, fit_batch_size, fit_step_logger
from eagerrun.autolog.graph_values import GraphValues, RingValue
from eagerrun.autolog.plans import (
    CallPlan,
    LossTarget,
    Updates,
    batches_of,
    eager_call_losses,
    graph_layout,
    in_outermost_graph,
    name_values,
    number,
    outermost_graph,
    over_variables,
    returned_paths,
    returned_values,
    unknown_plan,
)
from eagerrun.autolog.steps import ClosedSteps, OpenStep, Unit, step_losses
from eagerrun.autolog.values import Clock, _new_tuple, to_float
from eagerrun.diagnostics.tracing import TraceCounter
from eagerrun.interrupts import stop_point
from eagerrun.records import Recorder
from eagerrun.user_code import is_library_file

FLUSH_EVERY_S = 0.1  # custom-loop steps reach the recorder (table, metrics file, progress) this often
FLUSH_EVERY_STEPS = 128  # well inside graph_values.RING, even with several training calls a step


def log_step(loss: Any, **metrics: Any) -> None:
    """Record one finished step with its loss (and any scalar metrics), from the script's own loop.

    Call it once a step, outside any tf.function, with the value the step returned. Without eagerrun (under
    plain `python`) it does nothing, so scripts can keep the call.
    """
    steps = hooks.active_steps()
    if steps is not None:
        steps.explicit_step(loss, metrics)


@dataclass
class FunctionSteps:
    """What eagerrun knows of one tf.function: whether it trains."""

    key: Hashable  # its kind of unit
    trains: bool = False


class StepCollector:
    """Turns events from the script (fit batches, log_step calls, tapes, updates, function calls) into steps."""

    def __init__(self, recorder: Recorder, traces: TraceCounter, *, autolog: bool, eager: bool,
                 check_numerics: bool = False) -> None:
        self.recorder = recorder
        self.check_numerics = check_numerics
        self.traces = traces
        self.autolog = autolog
        self.eager = eager
        self.explicit = False  # log_step was called: the other sources stand down
        self.in_fit = 0
        self.depth = 0  # inside an outermost tf.function call
        self.open: OpenStep | None = None
        self.phase = 0
        self._pattern: set[Hashable] | None = None  # the unit kinds of the phase's first step
        self._last_phase = 0
        self._last_end: Clock | None = None
        self._activity: Clock | None = None  # the first tape or training call since the last step
        self._created = self._now()
        self._fit_calls = 0
        self._fit: Any = None  # the callback of the fit call now running
        self._closed = ClosedSteps()  # steps whose values are not read yet
        self._flushed_at = time.perf_counter()
        self._call: Updates | None = None  # the training events of the call now running eagerly, if any
        self._traced: dict[int, tuple[Any, Updates]] = {}  # ... of each graph it traced: id(graph) -> events
        self._plans: dict[int, tuple[Any, CallPlan | None]] = {}  # id(graph) -> where its losses are
        self._ran: Any = None  # the graph the call now running ran (graph mode), as TensorFlow called it
        self._calling: Any = None
        self._started: Clock | None = None  # when the call now running started, where that is needed
        # the function whose next call closes the step it opened, if known: weakly, as a tf.function re-made
        # each epoch must be gone when its successor traces (tracing.py tells a re-creation by that)
        self._repeating: weakref.ref[Any] | None = None
        self._functions: dict[int, FunctionSteps] = {}
        self._names: dict[tuple[Any, int], tuple[Any, str | None]] = {}
        self._values: GraphValues | None = None  # graph mode: made at the first training call
        self._values_made = eager
        self.failed_in: str | None = None  # the tf.function whose call raised last
        # outermost calls that did not train, by name and place (not the function: see _repeating): calls
        self._not_steps: dict[str, int] = {}
        self._gradients_over_tensors = 0  # gradient calls over tensors, not variables (a penalty, a saliency map)
        self.writes_at_trace_end = False  # autolog/hooks.py calls function_traced at the end of each trace

    def _make_graph_values(self) -> None:
        """The variable graph-mode losses are written to, made at the first outermost tf.function call, not
        before the script runs: making a variable initialises TensorFlow's runtime, after which a script can
        no longer configure its devices (memory growth, logical devices). Under a tf.distribute strategy's
        scope a variable would become a distributed one: then none is made, and losses a function does not
        return stay missing."""
        import tensorflow as tf

        self._values_made = True
        if not tf.distribute.has_strategy():
            self._values = GraphValues()

    def give_up(self, error: Exception) -> None:
        """Something in step recording failed: say so once, stop recording custom-loop steps, let the
        script go on. Steps recorded so far stay."""
        import logging

        if self.autolog:
            logging.getLogger("eagerrun").warning(
                "step recording stopped after an internal error (%s: %s); the script goes on. Please report "
                "it; eagerrun.log_step(loss) still records steps", type(error).__name__, error)
        self.autolog = False
        self.depth = 0
        self.open = self._repeating = None

    def _now(self) -> Clock:
        return _new_tuple(Clock, (time.perf_counter(), self.traces.count))

    # -- 1. log_step ---------------------------------------------------------------------------------------

    def explicit_step(self, loss: Any, metrics: dict[str, Any]) -> None:
        import tensorflow as tf

        if not tf.executing_eagerly():
            import logging

            logging.getLogger("eagerrun").warning(
                "eagerrun.log_step() was called inside a tf.function being traced; call it outside, with the "
                "loss the step returns")
            return
        if not self.explicit:
            self.explicit = True
            self.flush_steps()
            open_step, self.open, self._repeating = self.open, None, None  # log_step's record replaces it
            if open_step is not None and self._last_end is None:
                self._activity = open_step.start
        start = self._last_end or self._activity or self._created
        values = {"loss": to_float(loss), **{name: to_float(value) for name, value in metrics.items()}}
        self._record(start=start, end=self._now(), source="log_step", values=values, head=("log_step",))
        stop_point()

    # -- 2. Keras fit --------------------------------------------------------------------------------------

    def fit_started(self, arguments: dict[str, Any]) -> Any:
        """A fit call begins (`arguments`: fit's, bound by name): what came before is closed, a phase
        starts; returns the callback to add."""
        batch_size = fit_batch_size(arguments)
        self.close_open_step()
        self.flush_steps()
        self._fit_calls += 1
        recording = FitRecording(now=self._now, record=self._record, stood_down=lambda: self.explicit)
        self._fit = fit_step_logger()(recording, ("fit", self._fit_calls), batch_size)
        self.in_fit += 1
        return self._fit

    @property
    def fit_params(self) -> dict[str, Any] | None:
        """The `params` Keras gave the callback of the fit call now running ("steps" per epoch, "epochs");
        None outside fit."""
        return getattr(self._fit, "params", None) if self._fit is not None else None

    def fit_ended(self) -> None:
        self.flush_fit()
        self.in_fit -= 1
        self._fit = None
        self._last_end = self._activity = None  # a loop after fit starts its own phase at its first call

    def flush_fit(self) -> None:
        if self._fit is not None:
            self._fit.record_ready(final=True)

    # -- 3. custom loops: the events -----------------------------------------------------------------------

    def tape_entered(self) -> None:
        if self.depth == 0 and self._activity is None and self.autolog:
            self._activity = self._now()

    def function_started(self, function: Any, args: tuple[Any, ...] = (),
                         kwargs: dict[str, Any] | None = None) -> None:
        if not self._values_made:
            self._make_graph_values()
        if self.check_numerics:
            self._check_inputs(function, args, kwargs or {})
        self.depth = 1
        self._calling = function
        self._call = self._ran = None
        # the next call of a plain loop's step function is timed from the step before's end: its own start
        # is not needed (one clock a step, not two)
        repeating = self._repeating() if self._repeating is not None else None
        self._started = None if function is repeating else self._now()

    def _check_inputs(self, function: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """--check-numerics: a call whose tensors already hold Inf or NaN is bad data, named before it runs."""
        from eagerrun.diagnostics.numerics import NonFiniteInput, non_finite_inputs

        found = non_finite_inputs(function, args, kwargs)
        if found is not None:
            argument, bad, total = found
            step = self.recorder.next_step + len(self._closed) + (1 if self.open is not None else 0)
            raise NonFiniteInput(function=getattr(function, "__name__", "the function"), argument=argument,
                                 step=step, bad=bad, total=total)

    def graph_ran(self, graph: Any) -> None:
        """TensorFlow runs the traced graph `graph` for the call now running: its values are read through
        that graph's own plan, whichever of the function's traces it is."""
        self._ran = graph

    def _updates(self, graph: Any = None) -> Updates:
        """The training events of the call now running: those of the trace of `graph` (any graph inside
        that trace's outermost one), or, without a graph, of a call running eagerly."""
        if graph is None:
            if self._call is None:
                self._call = Updates()
            return self._call
        graph = outermost_graph(graph)
        entry = self._traced.get(id(graph))
        if entry is None:
            entry = self._traced[id(graph)] = (graph, Updates())
        return entry[1]

    def function_failed(self) -> None:
        """A call raised: its graph may or may not have taken a ring row, so the host's count is set from
        the graph's own counter."""
        self.depth = 0
        self.failed_in = getattr(self._calling, "__name__", None)
        self._calling = None
        self._plan_traces(self._traced)  # a graph traced by a call that failed may run in the next ones
        self._traced, self._call, self._ran = {}, None, None
        if self._values is not None:
            self._values.calls = int(self._values.counter.numpy())

    def gradient_taken(self, target: Any, sources: Any, gradients: Any) -> None:
        if self.explicit or not self.autolog:
            return
        if not over_variables(sources):
            self._gradients_over_tensors += 1
            return
        import tensorflow as tf

        eager = tf.executing_eagerly()
        if self.depth == 0 and not eager:
            return  # a graph traced outside any call (get_concrete_function): no step runs
        site, name = self._caller_name(target)
        first = next((g for g in tf.nest.flatten(gradients) if g is not None), None)
        if self.depth == 0:  # a loop without tf.function: this call is a unit of its own
            step, unit = self._unit(("gradient", site), start=self._activity or self._now())
            record = LossTarget(name=name, value=target)
            unit.targets.append(record)
        elif eager:  # an eager tf.function body (--eager)
            record = LossTarget(name=name, value=target, site=site)
            self._updates().targets.append(record)
        else:  # tracing the graph of the function being called
            updates = self._updates(target.graph)
            record = LossTarget(name=name, value=target, ring=False)
            if self.writes_at_trace_end and in_outermost_graph(target):
                record.unwritten = True  # see function_traced
            else:
                self._write([record], [len(updates.targets)], graph=outermost_graph(target.graph))
            updates.targets.append(record)
        if first is not None:
            (step if self.depth == 0 else self._updates(None if eager else target.graph)).by_gradient[id(first)] = \
                record

    def replica_gradient_taken(self, target: Any, sources: Any) -> None:
        """A gradient over variables in a tf.distribute replica (`strategy.run`) of the call now running:
        the call trains, and its values are what it returns (the script's reduced loss), as in both modes
        one step is one outermost call."""
        if self.explicit or not self.autolog or not self.depth or not over_variables(sources):
            return
        import tensorflow as tf

        graph = None if tf.executing_eagerly() else getattr(target, "graph", None)
        self._updates(graph).replicated = True

    def strategy_ran(self) -> None:
        """`strategy.run` was called by the call now running: one batch (counted inside the graph where the
        call is traced into a loop body, so that a whole epoch in one tf.function says how many)."""
        if self.explicit or not self.autolog or not self.depth:
            return
        import tensorflow as tf

        if tf.executing_eagerly():
            self._updates().runs += 1
            return
        graph = private.get("ops").get_default_graph()
        updates = self._updates(graph)
        if outermost_graph(graph) is graph:
            updates.runs += 1
        elif self._values is not None:
            slot = self._values.count(graph=outermost_graph(graph), key=len(updates.counters))
            if slot is not None:
                updates.counters.append(slot)

    def _write(self, targets: list[LossTarget], ordinals: list[int], *, graph: Any) -> None:
        if self._values is None:
            return
        written = self._values.write([t.value for t in targets], graph=graph, ordinals=ordinals)
        for target, entry in zip(targets, written):
            target.slot, target.ring = (entry.slot, entry.ring) if entry is not None else (None, False)

    def function_traced(self, outputs: Any) -> None:
        """The function being called was traced and returned `outputs`, still inside its graph: the losses
        of this trace it does not return are written where eagerrun reads them (autolog/graph_values.py), and only
        those. Writing one the function returns, as at the gradient call, cost every call a counter update
        and two scatters (measured: 20 µs on a 0.65 ms step, most of what recording cost)."""
        graph = private.get("ops").get_default_graph()
        entry = self._traced.get(id(graph))
        if entry is None or entry[0] is not graph:
            return
        returned = {id(value) for _, value in returned_paths(outputs)}
        targets, ordinals = [], []
        for ordinal, target in enumerate(entry[1].targets):
            if target.unwritten:
                target.unwritten = False
                if id(target.value) not in returned:
                    targets.append(target)
                    ordinals.append(ordinal)
        if targets:
            self._write(targets, ordinals, graph=graph)

    def optimizer_applied(self, optimizer: Any, grads: Any) -> None:
        if self.explicit or not self.autolog:
            return
        grads = list(grads)
        import tensorflow as tf

        eager = tf.executing_eagerly()
        if self.depth:
            if eager:
                self._updates().apply(optimizer, grads)
            else:
                self._updates(private.get("ops").get_default_graph()).apply(optimizer, grads)
            return
        if eager:
            step, unit = self._unit(("optimizer", id(optimizer)), start=self._activity or self._now())
            unit.optimizer = id(optimizer)
            step.match_update(id(optimizer), grads)
            stop_point()  # a stop here keeps this update's step: finish() records it

    def function_returned(self, function: Any, result: Any) -> None:
        """An outermost call returned. Runs once a step of a plain training loop: what it costs is eagerrun's
        cost per step, so a call whose step is the one before's kind again takes the short way."""
        self.depth = 0
        self._calling = None
        call, self._call = self._call, None
        traced, self._traced = self._traced, {}
        ran, self._ran = self._ran, None
        if self.explicit or not self.autolog:
            return
        info = self._functions.get(id(function))
        trains = self._plan_traces(traced) or (call is not None and call.trains)
        if trains and info is None:
            info = self._functions[id(function)] = FunctionSteps(key=("function", id(function)))
        if info is None or not (info.trains or trains):
            called = described(function)
            self._not_steps[called] = self._not_steps.get(called, 0) + 1
            return
        info.trains = True
        plan: CallPlan | None = None
        if ran is not None:  # graph mode: read through the plan of the graph that ran
            entry = self._plans.get(id(ran))
            if entry is not None and entry[0] is ran and entry[1] is None:
                return  # a trace of this function that does not train: not a step
            plan = entry[1] if entry is not None and entry[0] is ran else unknown_plan()
        call_number = snapshot = None
        if plan is not None and (plan.ring or plan.direct) and self._values is not None:
            call_number, snapshot = self._values.call_returned(ring=plan.ring, direct=plan.direct)
        step = self.open
        if step is not None and len(step.units) == 1 and step.units[0].key is info.key and \
                not step.units[0].targets and self._pattern is not None:
            # what _unit does, the short way: the step is one call of this function, which is called again
            # (a plain training loop, every step); the step closes and the next one opens in the same
            # phase, in the same objects (the new call's own start is never read: its step's start is)
            unit = step.units[0]
            end = unit.end
            self._closed.add(step.start, end, step.phase, unit.plan,
                             unit.result if unit.plan is not None else name_values(unit.losses, unit.returned),
                             unit.call_number, unit.batches)
            self._last_end, self._last_phase, self._activity = end, step.phase, None
            step.start, unit.end = end, self._now()
            self._repeating = weakref.ref(function)
            if end.at - self._flushed_at >= FLUSH_EVERY_S or len(self._closed.ends) >= FLUSH_EVERY_STEPS:
                self.flush_steps()
        else:
            _, unit = self._unit(info.key, start=self._activity or self._started or self._now())
        unit.batches = plan.batches(snapshot) if plan is not None else \
            call.eager_batches() if call is not None else 1
        if plan is not None and not plan.direct:  # read when its step is recorded
            unit.plan, unit.call_number = plan, call_number
            unit.result = result if plan.reads_result or isinstance(result, dict) else None
        else:
            unit.plan = unit.result = None
            unit.losses = plan.losses(result, call_number, snapshot) if plan is not None else \
                eager_call_losses(call, result)
            unit.returned = returned_values(unit.losses, result)
            if plan is not None and snapshot is not None:
                plan.last_snapshot = snapshot
        stop_point()

    def _plan_traces(self, traced: dict[int, tuple[Any, Updates]]) -> bool:
        """Work out each new trace's plan, kept with its graph; whether any of them trains."""
        trains = False
        for graph, updates in traced.values():
            trace = self._values.trace_number(graph) if self._values is not None else 0
            self._plans[id(graph)] = (graph, CallPlan(graph_layout(updates, graph), trace, runs=updates.runs,
                                                      counters=tuple(updates.counters))
                                      if updates.trains else None)
            trains = trains or updates.trains
        return trains

    def calls_not_steps(self) -> list[str]:
        """What the script did that eagerrun saw but did not count as a step, and why: for the line that
        says no step was recorded."""
        seen = [f"{called} called {plural(calls, 'time')}, without a gradient over variables or an optimizer "
                "update inside" for called, calls in self._not_steps.items()]
        if self._gradients_over_tensors:
            seen.append(f"GradientTape.gradient called {plural(self._gradients_over_tensors, 'time')} over "
                        "tensors, not variables (no training update)")
        return seen

    # -- 3. custom loops: units and steps ------------------------------------------------------------------

    def _unit(self, key: Hashable, *, start: Clock) -> tuple[OpenStep, Unit]:
        """Add a unit of kind `key` to the open step, or close that step first. A step ends when its first
        unit's kind comes round again; a kind that is in the open step but is not its first shows that the
        units before it were a step (or a loop) of their own; a kind the phase's first step did not have
        starts a new phase (another loop)."""
        self._repeating = None
        step = self.open
        if step is not None:
            keys = step.keys()
            if key == keys[0]:  # the common case: the step's first kind of unit comes round again
                self._close(step.units, phase=step.phase, start=step.start)
                step = None
            elif key in keys:
                cut = keys.index(key)
                self._close(step.units[:cut], phase=step.phase, start=step.start)
                self._close(step.units[cut:], phase=self._phase_for(keys[cut]), start=None)
                step = None
            elif self._pattern is not None and key not in self._pattern:
                self._close(step.units, phase=step.phase, start=step.start)
                step = None
        if step is None:
            phase = self._phase_for(key)
            begin = start if phase != self._last_phase or self._last_end is None else self._last_end
            step = self.open = OpenStep(phase=phase, start=begin)
        unit = Unit(key=key, start=start, end=self._now())
        step.units.append(unit)
        return step, unit

    def _phase_for(self, head: Hashable) -> int:
        """The phase of a step that starts with `head`: the current one when its first step had that kind
        of unit, else a new one."""
        if self._pattern is None or head not in self._pattern:
            self.phase += 1
            self._pattern = None
        return self.phase

    def _close(self, units: list[Unit], *, phase: int, start: Clock | None) -> None:
        """Record `units` as one step. `start` None: a phase's first step, from its first unit's start."""
        self.open = self._repeating = None
        if start is None:
            start = units[0].start if phase != self._last_phase or self._last_end is None else self._last_end
        losses = step_losses(units)
        returned = units[0].returned if len(units) == 1 else \
            {k: v for unit in units for k, v in unit.returned.items()}
        end = units[-1].end
        self._closed.add(start, end, phase, None, name_values(losses, returned),
                         batches=units[0].batches if len(units) == 1 else 1)
        self._last_end, self._last_phase, self._activity = end, phase, None
        if self._pattern is None:
            self._pattern = {unit.key for unit in units}
        self._flush_if_due(end)

    def _flush_if_due(self, now: Clock) -> None:
        if now.at - self._flushed_at >= FLUSH_EVERY_S or len(self._closed.ends) >= FLUSH_EVERY_STEPS:
            self.flush_steps()

    def flush_steps(self) -> None:
        """Record the closed custom-loop steps, their values now brought to the host. Done every 0.1 s
        rather than every step: reading a value waits for its step to finish, and a plain loop never
        waits, it has the next steps on their way already."""
        closed, self._closed = self._closed, ClosedSteps()
        ring: Any = None
        add, retraced_between = self.recorder.add, self.traces.retraced_between
        for start, end, phase, plan, values, call_number, batches in closed:
            if ring is None and self._values is not None and (
                    plan.ring if plan is not None else any(isinstance(v, RingValue) for v in values.values())):
                ring = self._values.read_ring()
            numbers = plan.numbers(values, call_number, ring) if plan is not None else \
                {name: number(value, ring) for name, value in values.items()}
            traced = end.traces > start.traces
            add(time_s=end.at - start.at, source="autolog", values=numbers, phase=phase, traced=traced,
                retraced=traced and retraced_between(start.traces, end.traces),
                batches_per_call=batches if batches.__class__ is int else batches_of(batches),
                span=(start.at, end.at))
        self._flushed_at = time.perf_counter()

    def close_open_step(self) -> None:
        if self.open is not None:
            self._close(self.open.units, phase=self.open.phase, start=self.open.start)

    def _record(self, *, start: Clock, end: Clock, source: str, values: dict[str, float | None],
                phase: int | None = None, head: Hashable = None, epoch: int | None = None,
                batch_size: int | None = None, batches_per_call: int = 1, validation_s: float | None = None,
                span: tuple[float, float] | None = None) -> None:
        """Record one step; without `phase`, a step of `head`'s kind (fit's batches, log_step calls). `span`:
        the moments of the call it shares with the others of `batches_per_call` (fit's steps_per_execution)."""
        if phase is None:
            phase = self._phase_for(head)
            self._pattern = {head}
            self._repeating = None
        self.recorder.add(time_s=end.at - start.at, source=source, values=values, epoch=epoch, phase=phase,
                          traced=end.traces > start.traces,
                          retraced=self.traces.retraced_between(start.traces, end.traces),
                          batch_size=batch_size, batches_per_call=batches_per_call, validation_s=validation_s,
                          span=span or (start.at, end.at), span_steps=batches_per_call if span else 1)
        self._last_end = end
        self._last_phase = phase
        self._activity = None

    def finish(self) -> None:
        """The script ended (or died): the step still open and fit's held batches are recorded."""
        self.flush_fit()
        if not self.explicit:
            self.close_open_step()
        self.flush_steps()

    # -- 3. custom loops: where the values are -------------------------------------------------------------

    def _caller_name(self, target: Any) -> tuple[Any, str | None]:
        """(the script's line that asked for the gradient, the name it gave the target there)."""
        frame: FrameType | None = sys._getframe(2)
        while frame is not None and is_library_file(frame.f_code.co_filename):
            frame = frame.f_back
        if frame is None:
            return None, None
        site = (frame.f_code, frame.f_lineno)
        known = self._names.get(site)
        if known is None:
            name = next((key for key, value in frame.f_locals.items() if value is target), None)
            known = self._names[site] = (site, name)
        return known


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"




def described(function: Any) -> str:
    """A tf.function's name and place, `train_step (train.py:12)`."""
    from eagerrun.diagnostics.tracing import function_identity

    _, file, line = function_identity(getattr(function, "python_function", function))
    where = f" ({os.path.basename(file)}:{line})" if file else ""
    return f"{getattr(function, '__name__', 'a tf.function')}{where}"
