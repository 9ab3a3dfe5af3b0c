"""Every hook eagerrun puts into TensorFlow and Keras, in one place, switched on and off as one.

| hooked                                              | what eagerrun learns                                       |
|-----------------------------------------------------|------------------------------------------------------------|
| `tracing_compilation._create_concrete_function`     | a tf.function traced (counted per function, with its time  |
|                                                     | and ops); for an outermost call's trace, what the traced   |
|                                                     | function returned                                          |
| `MirroredStrategy`'s `_MirroredReplicaThread`       | which replica threads the script's thread started: their   |
| `.__init__`                                         | traces are counted too                                     |
| `tf.config.run_functions_eagerly` (+ experimental_) | the script switched the mode (modes.py decides)            |
| `keras.Model.fit`                                   | a fit call: eagerrun's callback is added to it             |
| `tf.function`'s `Function.__call__`                 | the outermost call of a tf.function (a step, if it trains) |
| `ConcreteFunction._call_flat`                       | which of a tf.function's traced graphs that call ran       |
| `tf.distribute.Strategy.run`                        | a batch of the call now running (counted in its graph when |
|                                                     | traced into a loop: a whole epoch in one tf.function)      |
| `tf.GradientTape.__enter__`                         | where a step without tf.function starts                    |
| `tf.GradientTape.gradient`                          | a training target (the loss) and the gradients it gave     |
| Keras `BaseOptimizer.apply`                         | an optimizer update                                        |
| AutoGraph's `_convert_actual` (with `evidence`)     | a function converted: its map back to the user's lines     |
| with `timeline`: `Function.__call__`, the trace,    | where a step's time goes: running the step's functions,    |
| tf.data's `OwnedIterator.__next__`, an eager        | tracing, waiting for input, the user's host reads of a     |
| tensor's `numpy`/`__float__`/`__int__`/`__bool__`   | tensor (with their line)                                   |

Each is a class attribute replaced on entry and put back on exit, whatever ends the run. They act only for
the thread that installed them: a tf.function called from a data-loading thread goes straight to TensorFlow
and never becomes a step. The exceptions are a tf.distribute replica's (a MirroredStrategy's replica
threads): a gradient taken there while the installing thread is inside a call marks that call as a training
one, and a trace made in a replica thread the installing thread started is counted. Each hook passes the
script's arguments on exactly as it got them (`*args, **kwargs`); an event's own failure never reaches the
script.

`installed()` is the only place that patches; `active_steps()` is how `eagerrun.log_step` finds the run.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import inspect
import logging
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from eagerrun import _tf_compat as private
from eagerrun.diagnostics.breakdown import READ, RUN, TRACE, Timeline
from eagerrun.diagnostics.trace_evidence import TraceEvidence
from eagerrun.diagnostics.tracing import TraceCounter
from eagerrun.errors import EagerrunError
from eagerrun.user_code import is_library_file


class CallWatcher(Protocol):
    """What hears each outermost tf.function call (diagnostics/profile.py, diagnostics/bisect.py)."""

    def call_started(self, function: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None: ...
    def call_returned(self, function: Any) -> None: ...


class StepEvents(Protocol):
    """What the hooks tell the run (autolog.StepCollector implements it): the events, in the order TensorFlow
    and Keras make them, and the three things the hooks read to stay out of the way (inside fit, inside an
    outermost call, step recording given up). Nothing here imports the collector."""

    autolog: bool  # False once recording gave up: the hooks then pass everything straight on
    in_fit: int  # inside Model.fit: fit's own callback records its batches
    depth: int  # inside an outermost tf.function call
    writes_at_trace_end: bool  # the trace hook can have each trace end in function_traced

    def give_up(self, error: Exception) -> None: ...
    def fit_started(self, arguments: dict[str, Any]) -> Any: ...
    def fit_ended(self) -> None: ...
    def function_started(self, function: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None: ...
    def function_traced(self, outputs: Any) -> None: ...
    def explicit_step(self, loss: Any, metrics: dict[str, Any]) -> None: ...
    def graph_ran(self, graph: Any) -> None: ...
    def function_returned(self, function: Any, result: Any) -> None: ...
    def function_failed(self) -> None: ...
    def tape_entered(self) -> None: ...
    def gradient_taken(self, target: Any, sources: Any, gradients: Any) -> None: ...
    def replica_gradient_taken(self, target: Any, sources: Any) -> None: ...
    def strategy_ran(self) -> None: ...
    def optimizer_applied(self, optimizer: Any, grads: Any) -> None: ...

# the run now going on in this thread's context (as Click keeps its context stack): set for the run's thread
# by `installed`, put back on exit, so a second run in one process (the tests) never sees the first's
_active_steps: contextvars.ContextVar[StepEvents | None] = contextvars.ContextVar("eagerrun_steps", default=None)


def active_steps() -> StepEvents | None:
    """The step collector of the script now running under eagerrun, if any."""
    return _active_steps.get()


@contextlib.contextmanager
def installed(*, traces: TraceCounter, steps: StepEvents | None = None,
              mode_guard: Callable[[bool], None] | None = None,
              evidence: TraceEvidence | None = None,
              watchers: Sequence[CallWatcher] = (), timeline: Timeline | None = None) -> Iterator[None]:
    """Install the trace counter, the mode guard (when given), with `steps` the step hooks, with `evidence`
    what each trace ran and built (`compare`'s graph run), with `watchers` a look at each outermost
    tf.function call as it begins and ends (`--profile`'s step markers; `compare --bisect`'s run, which
    ends there by SystemExit), with `timeline` each step's breakdown."""
    owner = threading.get_ident()
    with contextlib.ExitStack() as stack:
        stack.enter_context(_trace_hook(traces, owner, steps if steps is not None and steps.autolog else None,
                                        evidence))
        if evidence is not None:
            stack.enter_context(_conversion_hook(evidence))
        if mode_guard is not None:
            stack.enter_context(_mode_hook(mode_guard))
        if steps is not None and steps.autolog:
            stack.enter_context(_step_hooks(steps, owner))
        else:
            stack.enter_context(_traced_where_graphs_are_built())
        if timeline is not None:
            stack.enter_context(_timeline_hooks(timeline, owner))
        if watchers:
            stack.enter_context(_call_watch(watchers, owner))
        if steps is not None:
            stack.callback(_active_steps.reset, _active_steps.set(steps))
        yield


@contextlib.contextmanager
def _patched(owner: Any, name: str, replacement: Any) -> Iterator[None]:
    original = getattr(owner, name)
    setattr(owner, name, replacement)
    try:
        yield
    finally:
        setattr(owner, name, original)


def _trace_hook(traces: TraceCounter, owner: int, steps: StepEvents | None,
                evidence: TraceEvidence | None = None) -> contextlib.AbstractContextManager[None]:
    """Counts traces, with each one's time and graph size: the installing thread's, and those of a
    MirroredStrategy's replica threads that it started (`strategy.run`; each replica's trace of the same
    inputs counted once); with `steps`, also has each trace of an outermost call end in
    `steps.function_traced`, inside the graph, with what the function returned; with `evidence`, records
    what each trace ran (in any thread: a strategy's replica functions trace in theirs) and the graph it
    made."""
    try:
        tc = private.get("tracing_compilation")
        FuncGraph = private.get("FuncGraph")
        tf_decorator = private.get("tf_decorator")
        ReplicaThread = private.get("MirroredReplicaThread")
    except ImportError:
        return contextlib.nullcontext()
    original = getattr(tc, "_create_concrete_function", None)
    if original is None:  # another TensorFlow: no trace counts, no step marked as traced
        return contextlib.nullcontext()
    function_traced = _never_breaks_the_script(steps, steps.function_traced) if steps is not None else None
    original_thread_init = ReplicaThread.__init__
    owners_replicas: weakref.WeakSet[threading.Thread] = weakref.WeakSet()  # replica threads the owner started

    @functools.wraps(original_thread_init)
    def replica_thread_init(thread: Any, *args: Any, **kwargs: Any) -> None:
        original_thread_init(thread, *args, **kwargs)
        if threading.get_ident() == owner:
            owners_replicas.add(thread)

    def then_traced(python_function: Any, function_traced: Callable[[Any], Any]) -> Any:
        def traced(*args: Any, **kwargs: Any) -> Any:
            outputs = python_function(*args, **kwargs)
            function_traced(outputs)
            return outputs

        return tf_decorator.make_decorator(python_function, traced)

    def counted(function_type: Any, func_graph: Any, tracing_options: Any) -> Any:
        """The trace counted, for the owner thread or one of its replica threads; None for another thread."""
        in_owner = threading.get_ident() == owner
        if not in_owner and threading.current_thread() not in owners_replicas:
            return None
        attributes = tracing_options.attributes or {}
        return traces.traced(tracing_options.python_function, tracing_options.name, function_type,
                             made_by=tracing_options.function_captures,
                             xla=bool(attributes.get("_XlaMustCompile")),
                             replica_graph=None if in_owner else func_graph.outer_graph)

    @functools.wraps(original)
    def create_concrete_function(function_type: Any, type_context: Any, func_graph: Any,
                                 tracing_options: Any) -> Any:
        trace = counted(function_type, func_graph, tracing_options)
        if (threading.get_ident() == owner and function_traced is not None and steps is not None and steps.depth
                and not isinstance(func_graph.outer_graph, FuncGraph)):
            try:
                tracing_options = dataclasses.replace(
                    tracing_options, python_function=then_traced(tracing_options.python_function, function_traced))
            except Exception:  # noqa: BLE001 - options eagerrun cannot remake: losses written at their gradient
                steps.writes_at_trace_end = False
        started, concrete = time.perf_counter(), None
        try:
            if evidence is None:
                concrete = original(function_type, type_context, func_graph, tracing_options)
                return concrete
            with evidence.watching():
                concrete = original(function_type, type_context, func_graph, tracing_options)
            with contextlib.suppress(Exception):  # evidence only: never the script's failure
                evidence.graph_traced(concrete.graph)
            return concrete
        finally:
            if trace is not None:
                traces.ended(trace, time.perf_counter() - started, graph_size(concrete))

    @contextlib.contextmanager
    def hooked() -> Iterator[None]:
        with _patched(tc, "_create_concrete_function", create_concrete_function), \
                _patched(ReplicaThread, "__init__", replica_thread_init):
            if steps is not None:
                steps.writes_at_trace_end = True
            try:
                yield
            finally:
                if steps is not None:
                    steps.writes_at_trace_end = False

    return hooked()


def graph_size(concrete: Any) -> int:
    """The number of ops in a trace's graph; 0 where there is none (the trace failed)."""
    try:
        return len(concrete.graph.get_operations())
    except Exception:  # noqa: BLE001 - a size only: never the script's failure
        return 0


@contextlib.contextmanager
def _timeline_hooks(timeline: Timeline, owner: int) -> Iterator[None]:
    """Each interval a step's breakdown is made of, noted as it ends, for the installing thread only: an
    outermost tf.function call, an outermost trace, a tf.data iterator's `next`, a host read of a tensor by
    the user's code (a read by TensorFlow's, Keras' or eagerrun's own code is theirs, not the loop's)."""
    perf_counter = time.perf_counter
    with contextlib.ExitStack() as stack:
        Function = private.get("Function")
        call = _timed_outermost(Function.__call__, timeline, owner, kind=RUN, depth="call_depth")
        stack.enter_context(_patched(Function, "__call__", call))
        with contextlib.suppress(ImportError, AttributeError):
            tc = private.get("tracing_compilation")
            trace = _timed_outermost(tc._create_concrete_function, timeline, owner, kind=TRACE, depth="trace_depth")
            stack.enter_context(_patched(tc, "_create_concrete_function", trace))
        with contextlib.suppress(ImportError, AttributeError):
            OwnedIterator = private.get("OwnedIterator")
            original_next = OwnedIterator.__next__

            @functools.wraps(original_next)
            def next_batch(iterator: Any) -> Any:
                if threading.get_ident() != owner:
                    return original_next(iterator)
                start = perf_counter()
                try:
                    return original_next(iterator)
                finally:
                    timeline.waited(getattr(iterator, "_dataset", None), start, perf_counter())

            stack.enter_context(_patched(OwnedIterator, "__next__", next_batch))
            original_init = OwnedIterator.__init__

            @functools.wraps(original_init)
            def new_iterator(iterator: Any, *args: Any, **kwargs: Any) -> None:
                original_init(iterator, *args, **kwargs)
                dataset = getattr(iterator, "_dataset", None)  # None: remade from its parts inside a graph
                if dataset is not None and threading.get_ident() == owner:
                    timeline.iterated = dataset

            stack.enter_context(_patched(OwnedIterator, "__init__", new_iterator))
        with contextlib.suppress(ImportError, AttributeError):
            EagerTensorBase = private.get("EagerTensorBase")
            for name in ("numpy", "__float__", "__int__", "__bool__", "__index__"):
                stack.enter_context(_patched(EagerTensorBase, name, _host_read(getattr(EagerTensorBase, name),
                                                                              timeline, owner)))
        yield


def _timed_outermost(original: Callable[..., Any], timeline: Timeline, owner: int, *, kind: str,
                     depth: str) -> Callable[..., Any]:
    """`original`, its outermost calls on the installing thread noted as `kind` intervals; `depth` names the
    timeline's flag for being inside one (an outermost tf.function call, an outermost trace)."""
    perf_counter = time.perf_counter

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        if getattr(timeline, depth) or threading.get_ident() != owner:
            return original(*args, **kwargs)
        setattr(timeline, depth, 1)
        start = perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            setattr(timeline, depth, 0)
            timeline.note(kind, start, perf_counter())

    return timed


def _host_read(original: Callable[..., Any], timeline: Timeline, owner: int) -> Callable[..., Any]:
    """A tensor method that brings its value to the host, noting the read when the user's code made it."""
    perf_counter, frame_of = time.perf_counter, sys._getframe

    @functools.wraps(original)
    def read(tensor: Any, *args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() != owner:
            return original(tensor, *args, **kwargs)
        caller = frame_of(1)
        file = caller.f_code.co_filename
        if is_library_file(file):
            return original(tensor, *args, **kwargs)
        start = perf_counter()
        try:
            return original(tensor, *args, **kwargs)
        finally:
            timeline.note(READ, start, perf_counter(), site=f"{file}:{caller.f_lineno}")

    return read


@contextlib.contextmanager
def _call_watch(watchers: Sequence[CallWatcher], owner: int) -> Iterator[None]:
    """Each watcher hears each outermost tf.function call of the installing thread begin and end. A
    watcher's SystemExit ends the run (the bisect run's end); anything else it raises is dropped."""
    Function = private.get("Function")
    original_call = Function.__call__
    inside = [False]  # the owner thread is in a call already: the calls it makes are not outermost

    @functools.wraps(original_call)
    def call(function: Any, *args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() != owner or inside[0]:
            return original_call(function, *args, **kwargs)
        for watcher in watchers:
            with contextlib.suppress(Exception):
                watcher.call_started(function, args, kwargs)
        inside[0] = True
        try:
            return original_call(function, *args, **kwargs)
        finally:
            inside[0] = False
            for watcher in watchers:
                with contextlib.suppress(Exception):
                    watcher.call_returned(function)

    with _patched(Function, "__call__", call):
        yield


@contextlib.contextmanager
def _conversion_hook(evidence: TraceEvidence) -> Iterator[None]:
    """Each AutoGraph conversion's source map, so that the lines a trace runs in the generated code are
    known as the user's own."""
    try:
        api = private.get("autograph_api")
    except ImportError:
        yield
        return
    original = api._convert_actual

    @functools.wraps(original)
    def convert_actual(entity: Any, program_ctx: Any) -> Any:
        converted = original(entity, program_ctx)
        with contextlib.suppress(Exception):
            evidence.converted(converted)
        return converted

    with _patched(api, "_convert_actual", convert_actual):
        yield


@contextlib.contextmanager
def _mode_hook(guard: Callable[[bool], None]) -> Iterator[None]:
    import tensorflow as tf

    with contextlib.ExitStack() as stack:
        for name in ("run_functions_eagerly", "experimental_run_functions_eagerly"):
            if hasattr(tf.config, name):
                stack.enter_context(_patched(tf.config, name, guard))
        yield


@contextlib.contextmanager
def _traced_where_graphs_are_built() -> Iterator[None]:
    """Without the step hooks: only `Function.__call__`'s one change under `--eager` (`_call_traced`)."""
    executing_eagerly = private.get("executing_eagerly")
    functions_run_eagerly = private.get("functions_run_eagerly")
    Function = private.get("Function")

    original_call = Function.__call__

    @functools.wraps(original_call)
    def call(function: Any, *args: Any, **kwargs: Any) -> Any:
        if not executing_eagerly() and functions_run_eagerly():
            return _call_traced(function, args, kwargs, warned)
        return original_call(function, *args, **kwargs)

    warned: set[Any] = set()
    with _patched(Function, "__call__", call):
        yield


def _call_traced(function: Any, args: tuple[Any, ...], kwargs: dict[str, Any], warned: set[Any]) -> Any:
    """A tf.function called while TensorFlow builds a graph, under `run_functions_eagerly(True)`: where a
    tf.data function (`Dataset.map`) is traced. TensorFlow would run its Python body as it is, without
    AutoGraph, inside that graph, and `if tensor:` there fails (OperatorNotAllowedInGraphError) where plain
    `python` runs: so it is traced, as without --eager, and eagerrun says so once per function (`warned`:
    the code of those it has named in this run)."""
    code = getattr(getattr(function, "python_function", None), "__code__", None)
    if code not in warned:
        warned.add(code)
        where = f" ({code.co_filename}:{code.co_firstlineno})" if code is not None else ""
        logging.getLogger("eagerrun").warning(
            "--eager: %s%s is called while TensorFlow builds a graph (a tf.data function such as Dataset.map); "
            "a tf.function cannot run eagerly there, so it runs traced, as in graph mode",
            getattr(function, "__name__", "a tf.function"), where)
    return function.get_concrete_function(*args, **kwargs)(*args, **kwargs)


def _never_breaks_the_script(steps: StepEvents, event: Callable[..., Any]) -> Callable[..., Any]:
    """A step event whose own failure (a bug of eagerrun's, an object it did not expect) turns step
    recording off with one warning instead of raising into the user's training loop. A stop request
    (KeyboardInterrupt) goes through."""

    @functools.wraps(event)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return event(*args, **kwargs)
        except EagerrunError:
            raise  # a stop eagerrun asked for (bad data under --check-numerics), not a failure of its own
        except Exception as exc:  # noqa: BLE001 - the script must go on whatever happened here
            steps.give_up(exc)
            return None

    return guarded


@contextlib.contextmanager
def _step_hooks(steps: StepEvents, owner: int) -> Iterator[None]:
    import keras
    import tensorflow as tf
    BaseOptimizer = private.get("BaseOptimizer")
    ConcreteFunction = private.get("ConcreteFunction")
    Function = private.get("Function")

    original_fit = keras.Model.fit
    original_call = Function.__call__
    original_call_flat = ConcreteFunction._call_flat
    original_enter = tf.GradientTape.__enter__
    original_gradient = tf.GradientTape.gradient
    original_apply = BaseOptimizer.apply
    distribute_lib = private.get("distribute_lib")

    original_strategy_run = distribute_lib.StrategyBase.run
    function_failed, tape_entered, gradient_taken, replica_gradient_taken, optimizer_applied, strategy_ran = (
        _never_breaks_the_script(steps, event) for event in (
            steps.function_failed, steps.tape_entered, steps.gradient_taken, steps.replica_gradient_taken,
            steps.optimizer_applied, steps.strategy_ran))
    fit_signature = inspect.signature(original_fit)
    gradient_signature = inspect.signature(original_gradient)
    _MirroredReplicaThread = private.get("MirroredReplicaThread")
    executing_eagerly = private.get("executing_eagerly")
    functions_run_eagerly = private.get("functions_run_eagerly")

    get_ident = threading.get_ident
    warned: set[Any] = set()  # see _call_traced

    @functools.wraps(original_fit)
    def fit(*args: Any, **kwargs: Any) -> Any:
        if get_ident() != owner:
            return original_fit(*args, **kwargs)
        with_ours = _fit_with_callback(steps, fit_signature, args, kwargs)
        if with_ours is None:
            return original_fit(*args, **kwargs)
        try:
            return original_fit(*with_ours.args, **with_ours.kwargs)
        finally:
            steps.fit_ended()

    @functools.wraps(original_call)
    def call(function: Any, *args: Any, **kwargs: Any) -> Any:
        # every step of a custom loop comes through here: the steps' events are called directly, guarded
        # inline as _never_breaks_the_script guards the others
        if steps.depth or steps.in_fit or get_ident() != owner or not executing_eagerly():
            if not executing_eagerly() and functions_run_eagerly():
                return _call_traced(function, args, kwargs, warned)
            return original_call(function, *args, **kwargs)
        try:
            steps.function_started(function, args, kwargs)
        except EagerrunError:
            raise
        except Exception as exc:  # noqa: BLE001 - the script must go on whatever happened here
            steps.give_up(exc)
            return original_call(function, *args, **kwargs)
        try:
            result = original_call(function, *args, **kwargs)
        except BaseException:
            function_failed()
            raise
        try:
            steps.function_returned(function, result)
        except Exception as exc:  # noqa: BLE001
            steps.give_up(exc)
        return result

    @functools.wraps(original_call_flat)
    def call_flat(concrete: Any, *args: Any, **kwargs: Any) -> Any:
        if steps.depth and get_ident() == owner and executing_eagerly():
            steps.graph_ran(concrete.graph)  # the last graph run in the call is the function's own
        return original_call_flat(concrete, *args, **kwargs)

    @functools.wraps(original_strategy_run)
    def strategy_run(*args: Any, **kwargs: Any) -> Any:
        if steps.depth and not steps.in_fit and get_ident() == owner:
            strategy_ran()
        return original_strategy_run(*args, **kwargs)

    @functools.wraps(original_enter)
    def tape_enter(tape: Any) -> Any:
        if not steps.in_fit and get_ident() == owner:
            tape_entered()
        return original_enter(tape)

    def in_replica() -> bool:
        """Inside `strategy.run` of a tf.distribute strategy (not the default one)."""
        return isinstance(threading.current_thread(), _MirroredReplicaThread) or (
            distribute_lib.has_strategy() and not distribute_lib.in_cross_replica_context())

    @functools.wraps(original_gradient)
    def gradient(*args: Any, **kwargs: Any) -> Any:
        result = original_gradient(*args, **kwargs)
        if not steps.in_fit and (get_ident() == owner or steps.depth):
            bound = _bound(gradient_signature, args, kwargs)
            if bound is not None:
                target, sources = bound.arguments.get("target"), bound.arguments.get("sources")
                if in_replica():
                    replica_gradient_taken(target, sources)
                elif get_ident() == owner:
                    gradient_taken(target, sources, result)
        return result

    applying = [False]  # inside an optimizer update: a LossScaleOptimizer's inner update is not a second one

    @functools.wraps(original_apply)
    def apply(optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        if steps.in_fit or applying[0] or get_ident() != owner:
            return original_apply(optimizer, *args, **kwargs)
        applying[0] = True
        try:
            result = original_apply(optimizer, *args, **kwargs)
        finally:
            applying[0] = False
        grads = args[0] if args else kwargs.get("grads")
        if grads is not None:
            optimizer_applied(optimizer, grads)
        return result

    with contextlib.ExitStack() as stack:
        stack.enter_context(_patched(keras.Model, "fit", fit))
        stack.enter_context(_patched(Function, "__call__", call))
        stack.enter_context(_patched(ConcreteFunction, "_call_flat", call_flat))
        stack.enter_context(_patched(distribute_lib.StrategyBase, "run", strategy_run))
        stack.enter_context(_patched(tf.GradientTape, "__enter__", tape_enter))
        stack.enter_context(_patched(tf.GradientTape, "gradient", gradient))
        stack.enter_context(_patched(BaseOptimizer, "apply", apply))
        yield


def _bound(signature: inspect.Signature, args: tuple[Any, ...],
           kwargs: dict[str, Any]) -> inspect.BoundArguments | None:
    """The arguments as the original binds them, or None where they do not bind (the original then raises
    its own error, as under python)."""
    try:
        return signature.bind(*args, **kwargs)
    except TypeError:
        return None


def _fit_with_callback(steps: StepEvents, signature: inspect.Signature, args: tuple[Any, ...],
                       kwargs: dict[str, Any]) -> inspect.BoundArguments | None:
    """fit's arguments, bound as fit binds them, with eagerrun's callback added to the script's own; None
    where they do not bind or the callbacks are not a list (fit then runs exactly as called, unrecorded), or
    where adding it failed (one warning). The script's own list is never changed."""
    bound = _bound(signature, args, kwargs)
    if bound is None:
        return None
    callbacks = bound.arguments.get("callbacks")
    if callbacks is not None and not isinstance(callbacks, (list, tuple)):
        logging.getLogger("eagerrun").warning(
            "fit(callbacks=%s): not a list, so eagerrun adds no step recording to this fit call",
            type(callbacks).__name__)
        return None
    try:
        ours = steps.fit_started(bound.arguments)
    except EagerrunError:
        raise
    except Exception as exc:  # noqa: BLE001 - the script must go on whatever happened here
        steps.give_up(exc)
        return None
    if ours is None:
        steps.fit_ended()
        return None
    bound.arguments["callbacks"] = [*(callbacks or []), ours]
    return bound
