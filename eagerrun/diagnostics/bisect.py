"""`compare --bisect`: the first layer where eager and graph part, at the first step they differ.

A third run of the script (graph mode, `--bisect-step N`) goes up to the Nth call of its step function
(a tf.function whose arguments, closure, globals or `self` hold a Keras model). There, before the call, it
takes that model, with its weights as they are after the N-1 steps before, and the call's own batch, and
runs the model on it twice: op by op (eager) and as a traced graph (inside a tf.function), capturing the
output of every layer call and the gradient of each weight (of the sum of the model's outputs: a loss
of its own would need the script's). The first layer whose output differs beyond the tolerance is named,
with its class's source line; where every output agrees, the first weight whose gradient differs. Then
the run ends: its cost is the run up to step N, plus about three times one step.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from eagerrun.user_code import is_library_file


@dataclass(frozen=True)
class Parting:
    """Where eager and graph part on one step's batch: a layer's output, or (the forward pass agreeing) a
    weight's gradient; neither when both agree."""

    step: int
    layers_compared: int
    layer: str | None = None  # "dense_2 (Dense)", the first whose output differs
    where: str | None = None  # its class's `call`, file:line, where that is the user's code
    gradient_of: str | None = None  # the first weight whose gradient differs, the forward pass agreeing
    difference: float | None = None

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Parting:
        fields: dict[str, Any] = {key: data[key] for key in cls.__dataclass_fields__ if key in data}
        return cls(**fields)


class Bisector:
    """Waits for the step function's Nth call, compares the model's layers on its batch, keeps what it found
    (`parting`) and ends the run there (SystemExit 0: the run report is still written)."""

    def __init__(self, step: int, *, rtol: float, atol: float) -> None:
        self.step, self.rtol, self.atol = step, rtol, atol
        self.parting: Parting | None = None
        self._calls: dict[int, int] = {}
        self._probing = False

    def call_started(self, function: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """An outermost tf.function call is about to run (autolog/hooks.py)."""
        if self._probing:
            return
        models = models_reachable(function, args)
        if not models:
            return
        key = id(function)
        self._calls[key] = self._calls.get(key, 0) + 1
        if self._calls[key] != self.step:
            return
        batch = batch_of((*args, *kwargs.values()))
        self._probing = True
        try:
            found = (parting_on(model, batch, step=self.step, rtol=self.rtol, atol=self.atol) for model in models)
            self.parting = next((parting for parting in found if parting is not None),
                                Parting(step=self.step, layers_compared=0))
        finally:
            self._probing = False
        raise SystemExit(0)

    def call_returned(self, function: Any) -> None:
        """(The bisect ends the run at a call's start: nothing to do at its end.)"""


def models_reachable(function: Any, args: tuple[Any, ...]) -> list[Any]:
    """The Keras models a tf.function's call can reach: its arguments, its `self`, its closure and the
    globals its code names, each followed by the models inside it."""
    import keras

    python_function = getattr(function, "python_function", None) or function
    candidates: list[Any] = list(args)
    candidates.append(getattr(python_function, "__self__", None))
    candidates += closure_values(python_function, depth=3)
    code = getattr(python_function, "__code__", None)
    if code is not None:
        names = set(code.co_names)
        candidates += [value for name, value in getattr(python_function, "__globals__", {}).items() if name in names]
    found: list[Any] = []
    for value in candidates:
        if isinstance(value, keras.Model):
            for model in (value, *submodels(value)):  # a model without a call of its own (TF's CVAE) has parts
                if all(model is not seen for seen in found):
                    found.append(model)
    return found


def closure_values(function: Any, *, depth: int) -> list[Any]:
    """The values a function closes over, and those of the functions among them, `depth` levels down (Keras'
    train function closes over a function that closes over the model)."""
    values: list[Any] = []
    for cell in getattr(function, "__closure__", None) or ():
        with contextlib.suppress(ValueError):
            value = cell.cell_contents
            values.append(value)
            if depth > 1 and callable(value) and hasattr(value, "__closure__"):
                values += closure_values(value, depth=depth - 1)
    return values


def submodels(model: Any) -> list[Any]:
    import keras

    return [layer for layer in model._flatten_layers(include_self=False) if isinstance(layer, keras.Model)]


def batch_of(arguments: tuple[Any, ...]) -> list[Any]:
    """The call's tensors; for an iterator argument (Keras fit's train function, eagerrun's trainer), the
    tensors of its next element: the batch this step would have read (the run ends here, so it is not
    missed)."""
    import tensorflow as tf

    batch: list[Any] = []
    for value in arguments:
        if is_tensor_like(value):
            batch.append(value)
        elif hasattr(value, "element_spec") and hasattr(value, "__next__"):
            with contextlib.suppress(Exception):
                batch += [tensor for tensor in tf.nest.flatten(next(value)) if is_tensor_like(tensor)]
    return batch


def is_tensor_like(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype")


def parting_on(model: Any, batch: list[Any], *, step: int, rtol: float, atol: float) -> Parting | None:
    """Compare the model's layers, eager against graph, on the first of the batch's tensors it accepts;
    None when it accepts none."""
    import tensorflow as tf

    for x in batch:
        try:
            layers, eager_outputs, paths, eager_gradients = captured(model, x)
        except Exception:  # noqa: BLE001 - not this model's input: try the next tensor
            continue

        def traced(x: Any) -> tuple[list[Any], list[Any]]:
            _, outputs, _, gradients = captured(model, x)
            return outputs, gradients

        graph_outputs, graph_gradients = tf.function(traced)(x)
        return first_parting(list(zip(layers, eager_outputs, graph_outputs)),
                             list(zip(paths, eager_gradients, graph_gradients)), step=step, rtol=rtol, atol=atol)
    return None


def captured(model: Any, x: Any) -> tuple[list[Any], list[Any], list[str], list[Any]]:
    """(layers, their outputs, weight paths, their gradients) of one forward and backward pass of `model`
    on `x`: every layer call in call order, the gradient of the sum of the model's outputs."""
    import tensorflow as tf

    calls: list[tuple[Any, Any]] = []
    with tf.GradientTape() as tape, layer_outputs_into(model, calls):
        result = model(x, training=False)
        total = tf.add_n([tf.reduce_sum(tf.cast(t, tf.float32)) for t in tf.nest.flatten(result)])
    weights = model.trainable_variables
    pairs = [(w.path, g) for w, g in zip(weights, tape.gradient(total, weights)) if g is not None]
    return [layer for layer, _ in calls], [output for _, output in calls], [p for p, _ in pairs], [g for _, g in pairs]


@contextlib.contextmanager
def layer_outputs_into(model: Any, calls: list[tuple[Any, Any]]) -> Iterator[None]:
    """Each of the model's layers records its output while the block runs (an instance attribute over its
    class's `call`, taken away after)."""
    layers = [layer for layer in model._flatten_layers(include_self=False) if "call" not in layer.__dict__]
    for layer in layers:
        layer.__dict__["call"] = recording(layer, layer.call, calls)
    try:
        yield
    finally:
        for layer in layers:
            layer.__dict__.pop("call", None)


def recording(layer: Any, call: Any, calls: list[tuple[Any, Any]]) -> Any:
    @functools.wraps(call)
    def recorded(*args: Any, **kwargs: Any) -> Any:
        output = call(*args, **kwargs)
        calls.append((layer, output))
        return output

    return recorded


def first_parting(outputs: list[tuple[Any, Any, Any]], gradients: list[tuple[str, Any, Any]], *, step: int,
                  rtol: float, atol: float) -> Parting:
    """The first layer output, then the first gradient, that differs beyond atol + rtol·max|eager|:
    (layer, eager, graph) and (weight path, eager, graph), each in order."""
    for compared, (layer, expected, actual) in enumerate(outputs, start=1):
        difference = largest_difference(expected, actual, rtol=rtol, atol=atol)
        if difference is not None:
            return Parting(step=step, layers_compared=compared, layer=f"{layer.name} ({type(layer).__name__})",
                           where=source_of(type(layer)), difference=difference)
    for path, expected, actual in gradients:
        difference = largest_difference(expected, actual, rtol=rtol, atol=atol)
        if difference is not None:
            return Parting(step=step, layers_compared=len(outputs), gradient_of=path, difference=difference)
    return Parting(step=step, layers_compared=len(outputs))


def largest_difference(expected: Any, actual: Any, *, rtol: float, atol: float) -> float | None:
    """The largest |actual - expected| over two nests of tensors, where it is beyond the tolerance."""
    import numpy as np
    import tensorflow as tf

    worst = None
    for e, a in zip(tf.nest.flatten(expected), tf.nest.flatten(actual)):
        e, a = np.asarray(e, dtype="float64"), np.asarray(a, dtype="float64")
        if e.shape != a.shape:
            return float("inf")
        difference = float(np.max(np.abs(a - e))) if e.size else 0.0
        if difference > atol + rtol * (float(np.max(np.abs(e))) if e.size else 0.0):
            worst = max(worst or 0.0, difference)
    return worst


def source_of(cls: type) -> str | None:
    """file:line of a layer class's `call`, where it is the user's (a Keras layer's is not named)."""
    try:
        call = cls.call  # type: ignore[attr-defined]
        file, line = inspect.getsourcefile(call), inspect.getsourcelines(call)[1]
    except (AttributeError, OSError, TypeError):
        return None
    return f"{file}:{line}" if file and not is_library_file(file) else None
