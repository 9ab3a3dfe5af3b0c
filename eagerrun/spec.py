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

PARTS = ("model", "optimizer", "loss", "dataset", "batch_size", "epochs", "steps", "train_step")


@dataclass(frozen=True)
class TrainSpec:
    """What eagerrun's trainer needs from a script. `build()` may return one of these or a plain dict.

    model: a Keras model. optimizer: a Keras optimizer or its name ("adam"). loss: `loss(y_true, y_pred)`
    or a Keras loss name; per-example losses are averaged. A compiled model supplies its own optimizer and
    loss. dataset: a `tf.data.Dataset` of `(x, y)` batches, or a tuple `(x, y)` of arrays with
    `batch_size`. epochs, steps: defaults for the command's `--epochs` and `--steps`. train_step:
    `train_step(batch) -> loss`, replacing the built-in step (model, optimizer and loss are then optional).
    """

    model: Any = None
    optimizer: Any = None
    loss: Any = None
    dataset: Any = None
    batch_size: int | None = None
    epochs: int | None = None
    steps: int | None = None
    train_step: Callable[[Any], Any] | None = None


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
    if spec.train_step is not None:
        if not callable(spec.train_step):
            raise contract_error("train_step", spec.train_step, "a callable train_step(batch) -> loss")
    else:
        if not isinstance(model, keras.Model):
            raise contract_error("model", model, "a Keras model (keras.Model)")
        if optimizer is None and getattr(model, "optimizer", None) is not None:
            optimizer = model.optimizer  # a compiled model brings its own
        if loss is None and getattr(model, "loss", None) is not None:
            loss = model.loss
        optimizer = resolve_optimizer(optimizer)
        loss = resolve_loss(loss)
    dataset = resolve_dataset(spec.dataset, spec.batch_size)
    for name in ("epochs", "steps", "batch_size"):
        value = getattr(spec, name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise contract_error(name, value, "a positive int")
    return replace(spec, optimizer=optimizer, loss=loss, dataset=dataset)


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


def resolve_dataset(dataset: Any, batch_size: int | None) -> Any:
    """A `tf.data.Dataset` of `(x, y)` batches; a tuple of arrays is batched with `batch_size`."""
    import tensorflow as tf

    if isinstance(dataset, tuple) and len(dataset) == 2 and not isinstance(dataset, tf.data.Dataset):
        if batch_size is None:
            raise contract_error("batch_size", None, "a positive int, needed when dataset is a tuple of arrays")
        try:
            dataset = tf.data.Dataset.from_tensor_slices(dataset).batch(batch_size)
        except (ValueError, TypeError) as exc:
            raise contract_error("dataset", "(x, y)", f"arrays of equal length ({exc})") from None
    if not isinstance(dataset, tf.data.Dataset):
        raise contract_error("dataset", dataset, "a tf.data.Dataset of (x, y) batches, or a tuple (x, y) of arrays")
    spec = dataset.element_spec
    if not (isinstance(spec, tuple) and len(spec) == 2):
        raise EagerrunError(f"dataset: elements must be (x, y) pairs, got elements of {describe_spec(spec)}",
                            exit_code=EXIT_USAGE)
    if int(dataset.cardinality()) == 0:
        raise EagerrunError("dataset is empty: it yields no batches", exit_code=EXIT_USAGE)
    return dataset


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
