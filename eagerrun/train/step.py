"""The training step and the validation pass: plain Python that never knows which mode it runs in.

`builtin_train_step` is the step of TensorFlow's custom-loop guides, `train_step(batch) -> loss`; the
runner (`train/runner.py`) alone decides how it runs (mode, XLA, steps per execution, strategy).
`compile_validation` is the one pass over the validation data, compiled for the mode.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from eagerrun.train.precision import is_loss_scaled
from eagerrun.train.spec import TrainSpec

StepFn = Callable[[Any], Any]


def builtin_train_step(spec: TrainSpec, *, global_average: bool = False) -> StepFn:
    """GradientTape, gradients, apply_gradients: the step of TensorFlow's custom-loop guides.

    The loss is the mean of `loss(y, y_pred)` (per-example losses averaged) plus the model's own
    regularization losses, as Keras' `fit` adds them. Under a distribution strategy (`global_average`),
    each replica divides its examples' summed losses by the global batch's count and its share of the
    regularization by the number of replicas, so that the replicas' losses, and the gradients the
    optimizer sums across replicas, add up to exactly what one device would compute on the whole batch.
    The spec's metrics are updated with the batch's predictions; `metric_results` reads them.
    """
    import tensorflow as tf

    model, optimizer, metrics = spec.model, spec.optimizer, spec.metrics or ()
    loss_of_batch = batch_loss(spec.loss, global_average=global_average)
    loss_scaled = is_loss_scaled(optimizer)

    def train_step(batch: Any) -> Any:
        x, y = batch
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            loss = loss_of_batch(y, y_pred)
            if model.losses:
                regularization = tf.add_n(model.losses)
                loss += tf.nn.scale_regularization_loss(regularization) if global_average else regularization
            # mixed_float16: gradients of the scaled loss; the LossScaleOptimizer unscales them, or skips the update
            target = optimizer.scale_loss(loss) if loss_scaled else loss
        grads = tape.gradient(target, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        for metric in metrics:
            metric.update_state(y, y_pred)
        return loss

    return train_step


def batch_loss(loss_fn: Any, *, global_average: bool) -> Callable[[Any, Any], Any]:
    """loss(y, y_pred) for the batch, the same number under any strategy as on one device.

    A Keras `Loss` object reduces its values itself, and under a strategy its `sum_over_batch_size`
    reduction also divides by the number of replicas (keras/src/losses/loss.py,
    `scale_loss_for_distribution`); averaging that again over the global batch would halve the loss and the
    gradients on two replicas. So a `Loss` object's per-example values are taken unreduced (`Loss.call`)
    and reduced here as its reduction says: summed for `sum`, else averaged over the global batch. Any other
    loss (a function, a Keras loss by name) gives per-example values, averaged; or a scalar, this replica's
    batch mean, which counts as one value among the replicas'.
    """
    import keras
    import tensorflow as tf

    average = global_mean if global_average else tf.reduce_mean
    if not isinstance(loss_fn, keras.losses.Loss):
        # in float32 under a mixed policy, as Keras' own wrapper of a loss function computes it
        return lambda y, y_pred: average(loss_fn(y, at_least_float32(y_pred)))

    def reduced(y: Any, y_pred: Any) -> Any:
        values = loss_fn.call(keras.ops.convert_to_tensor(y, dtype=loss_fn.dtype),
                              keras.ops.convert_to_tensor(y_pred, dtype=loss_fn.dtype))
        return tf.reduce_sum(values) if loss_fn.reduction == "sum" else average(values)

    return reduced


def at_least_float32(value: Any) -> Any:
    """A float16 or bfloat16 tensor (a mixed policy's output) as float32; anything else as it is."""
    import tensorflow as tf

    dtype = getattr(value, "dtype", None)
    return tf.cast(value, tf.float32) if dtype in (tf.float16, tf.bfloat16) else value


def global_mean(per_example: Any) -> Any:
    """This replica's share of the mean over every replica's examples (a ragged last batch included)."""
    import tensorflow as tf

    count = tf.cast(tf.size(per_example), per_example.dtype)
    global_count = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, count)
    return tf.reduce_sum(per_example) / global_count


def metric_results(metrics: Sequence[Any]) -> dict[str, Any]:
    """Each metric's result under its name. Read outside `strategy.run` (in cross-replica context), a
    metric's variables are summed over the replicas first, so the result is the global batch's, exactly
    as on one device."""
    return {metric.name: metric.result() for metric in metrics}


def compile_validation(spec: TrainSpec, *, eager: bool, strategy: Any = None) -> Callable[[], dict[str, float]]:
    """One pass over the spec's validation data, as Keras' `evaluate` computes it: `val_loss` (each batch's
    loss, the model's regularization included, weighted by its size) and `val_<metric>` for each metric.

    The whole pass is one `tf.function` (plain Python when eager) looping over the dataset, each batch run
    through `strategy.run` under a strategy; the results are read outside it, where each metric's variables
    are summed over the replicas, so they are the default strategy's numbers. Call it inside the strategy's
    scope: it creates its own copies of the metrics (validating must not reset the training metrics'
    running means) and two sums for the loss. A replica with no example of a ragged batch adds nothing.
    """
    import keras
    import tensorflow as tf

    model = spec.model
    loss_of_batch = batch_loss(spec.loss, global_average=False)
    metrics = [type(metric).from_config(metric.get_config()) for metric in spec.metrics or ()]
    loss_total, examples = keras.metrics.Sum(name="val_loss_total"), keras.metrics.Sum(name="val_examples")
    data = spec.validation if strategy is None else strategy.experimental_distribute_dataset(spec.validation)

    def update(batch: Any) -> None:
        x, y = batch
        y_pred = model(x, training=False)
        loss = loss_of_batch(y, y_pred)
        if model.losses:
            loss += tf.add_n(model.losses)
        size = tf.cast(tf.shape(tf.nest.flatten(x)[0])[0], tf.float32)
        loss_total.update_state(tf.math.multiply_no_nan(tf.cast(loss, tf.float32), size))
        examples.update_state(size)
        for metric in metrics:
            metric.update_state(y, y_pred)

    def one_pass(iterator: Any) -> dict[str, Any]:
        # The iterator is made outside: a distributed dataset iterated inside a graph warns that its options
        # are unknown there.
        for batch in iterator:
            if strategy is None:
                update(batch)
            else:
                strategy.run(update, args=(batch,))
        return {"val_loss": loss_total.result() / examples.result(),
                **{f"val_{name}": value for name, value in metric_results(metrics).items()}}

    compiled = one_pass if eager else tf.function(one_pass)

    def run() -> dict[str, float]:
        for metric in (loss_total, examples, *metrics):
            metric.reset_state()
        return {name: float(value) for name, value in compiled(iter(data)).items()}

    return run


def named_values(output: Any) -> dict[str, Any]:
    """A step's output as named scalars, "loss" first: a custom train_step's mapping keeps every value
    under its own name; anything else is the loss. A non-scalar is reduced to its mean."""
    if isinstance(output, Mapping):
        ordered = sorted(output.items(), key=lambda item: item[0] != "loss")  # stable: the rest keep their order
        return {str(name): to_scalar(value) for name, value in ordered}
    return {"loss": to_scalar(output)}


def to_scalar(value: Any) -> Any:
    import tensorflow as tf

    if getattr(getattr(value, "shape", None), "rank", None) == 0:
        return value  # already one number: no op added to the graph
    return tf.reduce_mean(value)
