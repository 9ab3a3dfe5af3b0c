"""Turning what a trainer script defines into a validated `TrainSpec`.

A script either defines `build()` returning a mapping (or a `TrainSpec`), or module-level names with the
same meanings. Every part is checked here, once, and a missing or wrongly typed part is one line naming it
and what was expected (exit 2), before a single step runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from types import ModuleType
from typing import Any

from eagerrun.errors import EXIT_USAGE, EagerrunError

PARTS = ("model", "optimizer", "loss", "dataset", "batch_size", "epochs", "steps", "train_step", "validation",
         "metrics")


@dataclass(frozen=True)
class TrainSpec:
    """What eagerrun's trainer needs from a script. `build()` may return one of these or a plain dict.

    model: a Keras model. optimizer: a Keras optimizer or its name ("adam"). loss: `loss(y_true, y_pred)`
    or a Keras loss name; per-example losses are averaged. A compiled model supplies its own optimizer and
    loss. dataset: a `tf.data.Dataset` of `(x, y)` batches, or a tuple `(x, y)` of arrays with
    `batch_size`. epochs, steps: defaults for the command's `--epochs` and `--steps`. train_step:
    `train_step(batch) -> loss` (or a mapping of named values), replacing the built-in step (model,
    optimizer and loss are then optional). validation: data like `dataset`, evaluated with the model and
    loss. metrics: Keras metric names or objects ("accuracy", "mae", keras.metrics.AUC()), resolved as
    Keras' `compile` does; a validated spec holds metric objects, named as Keras names them.
    """

    model: Any = None
    optimizer: Any = None
    loss: Any = None
    dataset: Any = None
    batch_size: int | None = None
    epochs: int | None = None
    steps: int | None = None
    train_step: Callable[[Any], Any] | None = None
    validation: Any = None
    metrics: Any = None


def spec_from_module(module: ModuleType) -> TrainSpec:
    """Call the module's `build()` if it has one, else read the parts from its module-level names."""
    build = getattr(module, "build", None)
    if build is not None:
        if not callable(build):
            raise contract_error("build", build, "a function returning a mapping or an eagerrun.TrainSpec")
        from eagerrun.loader import UserCodeError, without_eagerrun_frames

        try:
            built = build()
        except Exception as exc:
            raise UserCodeError(exc.with_traceback(without_eagerrun_frames(exc.__traceback__))) from None
        return spec_from_value(built)
    found = {name: getattr(module, name) for name in PARTS if hasattr(module, name)}
    if "model" not in found and "train_step" not in found:
        raise EagerrunError(
            f"{module.__file__}: defines nothing to train: no build() and no module-level `model` "
            f"(expected build() returning {{'model', 'optimizer', 'loss', 'dataset'}})",
            exit_code=EXIT_USAGE,
        )
    return TrainSpec(**found)


def spec_from_value(built: Any) -> TrainSpec:
    if isinstance(built, TrainSpec):
        return built
    if not isinstance(built, Mapping):
        raise contract_error("build()", built, "a mapping (dict) or an eagerrun.TrainSpec")
    unknown = sorted(set(built) - {f.name for f in fields(TrainSpec)})
    if unknown:
        raise EagerrunError(f"build() returned unknown keys {unknown}; known: {', '.join(PARTS)}",
                            exit_code=EXIT_USAGE)
    return TrainSpec(**built)


def validate_spec(spec: TrainSpec) -> TrainSpec:
    """Resolve names into objects and check each part's type; the result is what the trainer runs."""
    import keras

    model, optimizer, loss = spec.model, spec.optimizer, spec.loss
    evaluated = spec.validation is not None or spec.metrics is not None
    if spec.train_step is not None and not callable(spec.train_step):
        raise contract_error("train_step", spec.train_step, "a callable train_step(batch) -> loss")
    if spec.train_step is None or evaluated:
        needs = "" if spec.train_step is None else ", needed for validation and metrics beside a train_step"
        if not isinstance(model, keras.Model):
            raise contract_error("model", model, f"a Keras model (keras.Model){needs}")
        if optimizer is None and getattr(model, "optimizer", None) is not None:
            optimizer = model.optimizer  # a compiled model brings its own
        if loss is None and getattr(model, "loss", None) is not None:
            loss = model.loss
        if spec.train_step is None:
            optimizer = resolve_optimizer(optimizer)
        loss = resolve_loss(loss)
    dataset = resolve_dataset(spec.dataset, spec.batch_size)
    validation = None if spec.validation is None else resolve_dataset(spec.validation, spec.batch_size,
                                                                      part="validation")
    metrics = resolve_metrics(spec.metrics, model=model, dataset=dataset) if spec.metrics is not None else ()
    for name in ("epochs", "steps", "batch_size"):
        value = getattr(spec, name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise contract_error(name, value, "a positive int")
    return replace(spec, optimizer=optimizer, loss=loss, dataset=dataset, validation=validation, metrics=metrics)


def resolve_optimizer(optimizer: Any) -> Any:
    import keras

    if optimizer is None:
        raise contract_error("optimizer", None, "a Keras optimizer or its name, e.g. 'adam'")
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return optimizer
    if isinstance(optimizer, str):
        try:
            return keras.optimizers.get(optimizer)
        except ValueError:
            raise contract_error("optimizer", optimizer, "a Keras optimizer name such as 'adam' or 'sgd'") from None
    raise contract_error("optimizer", optimizer, "a Keras optimizer or its name, e.g. 'adam'")


def resolve_loss(loss: Any) -> Callable[[Any, Any], Any]:
    import keras

    if loss is None:
        raise contract_error("loss", None, "a callable loss(y_true, y_pred) or a Keras loss name, e.g. 'mse'")
    if isinstance(loss, str):
        try:
            return keras.losses.get(loss)
        except ValueError:
            raise contract_error("loss", loss, "a Keras loss name such as 'mse' or 'binary_crossentropy'") from None
    if callable(loss):
        return loss
    raise contract_error("loss", loss, "a callable loss(y_true, y_pred) or a Keras loss name, e.g. 'mse'")


def resolve_dataset(dataset: Any, batch_size: int | None, *, part: str = "dataset") -> Any:
    """A `tf.data.Dataset` of `(x, y)` batches; a tuple of arrays is batched with `batch_size`."""
    import tensorflow as tf

    if isinstance(dataset, tuple) and len(dataset) == 2 and not isinstance(dataset, tf.data.Dataset):
        if batch_size is None:
            raise contract_error("batch_size", None, f"a positive int, needed when {part} is a tuple of arrays")
        try:
            dataset = tf.data.Dataset.from_tensor_slices(dataset).batch(batch_size)
        except (ValueError, TypeError) as exc:
            raise contract_error(part, "(x, y)", f"arrays of equal length ({exc})") from None
    if not isinstance(dataset, tf.data.Dataset):
        raise contract_error(part, dataset, "a tf.data.Dataset of (x, y) batches, or a tuple (x, y) of arrays")
    spec = dataset.element_spec
    if not (isinstance(spec, tuple) and len(spec) == 2):
        raise EagerrunError(f"{part}: elements must be (x, y) pairs, got elements of {describe_spec(spec)}",
                            exit_code=EXIT_USAGE)
    cardinality = int(dataset.cardinality())
    if cardinality == 0:
        raise EagerrunError(f"{part} is empty: it yields no batches", exit_code=EXIT_USAGE)
    if part == "validation" and cardinality == int(tf.data.INFINITE_CARDINALITY):
        raise EagerrunError("validation repeats forever: one pass over it would never end; drop its .repeat()",
                            exit_code=EXIT_USAGE)
    return dataset


METRICS_EXPECTED = "a list of Keras metric names or objects, e.g. ['mae'] or [keras.metrics.AUC()]"


def resolve_metrics(metrics: Any, *, model: Any, dataset: Any) -> tuple[Any, ...]:
    """Keras metric objects, named as Keras' `compile` names them: a name stays the metric's name ("mae",
    not "mean_absolute_error"), and "accuracy"/"acc" become binary, sparse categorical or categorical
    accuracy by the shapes of the labels and the model's output, as `compile` decides."""
    import keras

    if isinstance(metrics, (str, keras.metrics.Metric)) or not isinstance(metrics, (list, tuple)):
        raise contract_error("metrics", metrics, METRICS_EXPECTED)
    resolved = []
    for metric in metrics:
        if isinstance(metric, keras.metrics.Metric):
            resolved.append(metric)
        elif isinstance(metric, str) and metric.lower() in ("accuracy", "acc"):
            resolved.append(accuracy_for(metric, model=model, dataset=dataset))
        elif isinstance(metric, str) or callable(metric):
            try:
                found = keras.metrics.get(metric)
            except ValueError:
                raise contract_error("metrics", metric, "a Keras metric name such as 'mae' or 'accuracy'") from None
            if not isinstance(found, keras.metrics.Metric):
                found = keras.metrics.MeanMetricWrapper(found)
            found.name = metric if isinstance(metric, str) else getattr(metric, "__name__", found.name)
            resolved.append(found)
        else:
            raise contract_error("metrics", metric, METRICS_EXPECTED)
    names = [metric.name for metric in resolved]
    clash = next((name for name in names if names.count(name) > 1 or name == "loss"), None)
    if clash is not None:
        raise EagerrunError(f"metrics: two values would both be recorded as {clash!r}; give a metric object "
                            "another name (name=...)", exit_code=EXIT_USAGE)
    return tuple(resolved)


def accuracy_for(name: str, *, model: Any, dataset: Any) -> Any:
    """Keras `compile`'s choice for "accuracy": binary when the model has one output unit, sparse
    categorical when the labels are class indices, categorical otherwise."""
    import keras

    x_spec, y_spec = dataset.element_spec
    try:
        y_pred = model.compute_output_spec(keras.KerasTensor(x_spec.shape, dtype=x_spec.dtype.name))
    except Exception:  # a model whose output shape cannot be found without running it
        raise contract_error("metrics", name, "a metric Keras can resolve without running the model: name "
                             "it, e.g. 'binary_accuracy' or 'sparse_categorical_accuracy'") from None
    y_rank, pred_rank = len(y_spec.shape), len(y_pred.shape)
    if y_pred.shape[-1] == 1:
        return keras.metrics.BinaryAccuracy(name=name)
    if y_rank < pred_rank or (y_spec.shape[-1] == 1 and y_pred.shape[-1] > 1):
        return keras.metrics.SparseCategoricalAccuracy(name=name)
    return keras.metrics.CategoricalAccuracy(name=name)


def describe_spec(spec: Any) -> str:
    if isinstance(spec, tuple):
        return f"a {len(spec)}-tuple"
    return type(spec).__name__


def contract_error(part: str, value: Any, expected: str) -> EagerrunError:
    got = "nothing" if value is None else f"{type(value).__name__} {short_repr(value)}"
    return EagerrunError(f"{part}: expected {expected}, got {got}", exit_code=EXIT_USAGE)


def short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
