"""The training step, and the one place it is wrapped for the mode.

The step never knows which mode it runs in: `train_step(batch) -> loss` is plain Python. `compile_step`
alone decides what runs it: the function itself (eager), a `tf.function` traced once for the dataset's
`element_spec`, whose batch dimension is open wherever a ragged last batch can come, so that batch does not
retrace (graph), optionally jit-compiled (XLA), or K steps inside one `tf.function` call (steps per
execution).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eagerrun.spec import TrainSpec

StepFn = Callable[[Any], Any]


def builtin_train_step(spec: TrainSpec, *, global_average: bool = False) -> StepFn:
    """GradientTape, gradients, apply_gradients: the step of TensorFlow's custom-loop guides.

    The loss is the mean of `loss(y, y_pred)` (per-example losses averaged) plus the model's own
    regularization losses, as Keras' `fit` adds them. Under a distribution strategy (`global_average`),
    each replica divides its examples' summed losses by the global batch's count and its share of the
    regularization by the number of replicas, so that the replicas' losses, and the gradients the
    optimizer sums across replicas, add up to exactly what one device would compute on the whole batch.
    """
    import tensorflow as tf

    model, optimizer = spec.model, spec.optimizer
    loss_of_batch = batch_loss(spec.loss, global_average=global_average)

    def train_step(batch: Any) -> Any:
        x, y = batch
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            loss = loss_of_batch(y, y_pred)
            if model.losses:
                regularization = tf.add_n(model.losses)
                loss += tf.nn.scale_regularization_loss(regularization) if global_average else regularization
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
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
        return lambda y, y_pred: average(loss_fn(y, y_pred))

    def reduced(y: Any, y_pred: Any) -> Any:
        values = loss_fn.call(keras.ops.convert_to_tensor(y, dtype=loss_fn.dtype),
                              keras.ops.convert_to_tensor(y_pred, dtype=loss_fn.dtype))
        return tf.reduce_sum(values) if loss_fn.reduction == "sum" else average(values)

    return reduced


def global_mean(per_example: Any) -> Any:
    """This replica's share of the mean over every replica's examples (a ragged last batch included)."""
    import tensorflow as tf

    count = tf.cast(tf.size(per_example), per_example.dtype)
    global_count = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, count)
    return tf.reduce_sum(per_example) / global_count


def compile_step(step: StepFn, *, eager: bool, element_spec: Any, xla: bool) -> StepFn:
    """The step as it will run, returning a scalar loss: plain Python when eager, else one traced graph.

    Traced for the dataset's own `element_spec`: its batch dimension is None where a ragged last batch
    can come (`batch()` without `drop_remainder`), so that batch reuses the graph, and fixed where every
    batch has one size, so the graph keeps static shapes (4% faster a step on the benchmark's MLP).
    """
    return compile_function(lambda batch: to_scalar_loss(step(batch)), eager=eager, signature=element_spec,
                            xla=xla)


def compile_function(function: StepFn, *, eager: bool, signature: Any, xla: bool) -> StepFn:
    """`function` itself when eager; else a `tf.function` traced once, on the first call, for `signature`.

    Later calls pass the batch as it is and TensorFlow dispatches them to that graph; an `input_signature`
    would do the same but converts every call's inputs against it, which cost about 80 us a step (8% of
    the benchmark MLP's step) on the machine in the README.
    """
    if eager:
        return function
    import tensorflow as tf

    compiled = tf.function(function, jit_compile=xla)
    traced = False

    def run(batch: Any) -> Any:
        nonlocal traced
        if not traced:
            compiled.get_concrete_function(signature)  # inside the first step, so its time shows it
            traced = True
        return compiled(batch)

    return run


def with_batch_size(step: StepFn) -> Callable[[Any], tuple[Any, Any]]:
    """The step returning (scalar loss, batch size), the pair compile_multi_step records."""
    import tensorflow as tf

    return lambda batch: (to_scalar_loss(step(batch)), tf.shape(tf.nest.flatten(batch)[0])[0])


def compile_multi_step(sized_step: Callable[[Any], tuple[Any, Any]], *,
                       xla: bool) -> Callable[[Any, Any], tuple[Any, Any]]:
    """K steps in one tf.function call, as Keras' steps_per_execution and Orbit's tf.while_loop do.

    `sized_step(batch)` returns (loss, batch size). Called with a tf.data iterator (or a distributed one)
    and a step count as a tensor (so changing K's last remainder does not retrace); returns every step's
    loss and batch size, fewer than asked where the iterator ran out. Only the inner step is jit-compiled:
    XLA cannot compile the iterator ops of the loop itself.
    """
    import tensorflow as tf

    inner = tf.function(sized_step, jit_compile=True) if xla else sized_step

    @tf.function
    def run_steps(iterator: Any, num_steps: Any) -> tuple[Any, Any]:
        losses = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
        sizes = tf.TensorArray(tf.int32, size=0, dynamic_size=True)
        for i in tf.range(num_steps):
            optional = iterator.get_next_as_optional()
            if not optional.has_value():
                break
            loss, size = inner(optional.get_value())
            losses = losses.write(i, tf.cast(loss, tf.float32))
            sizes = sizes.write(i, tf.cast(size, tf.int32))
        return losses.stack(), sizes.stack()

    return run_steps


def to_scalar_loss(loss: Any) -> Any:
    """A custom train_step may return a mapping with 'loss', or a non-scalar: reduce it to one number."""
    import tensorflow as tf

    if isinstance(loss, dict):
        loss = loss["loss"]
    if getattr(getattr(loss, "shape", None), "rank", None) == 0:
        return loss  # already one number: no op added to the graph
    return tf.reduce_mean(loss)
