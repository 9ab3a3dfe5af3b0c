"""The training step, and the one place it is wrapped for the mode.

The step never knows which mode it runs in: `train_step(batch) -> loss` is plain Python. `compile_step`
alone decides what runs it: the function itself (eager), a `tf.function` whose input signature comes from
the dataset's `element_spec` with the batch dimension left open, so a ragged last batch does not retrace
(graph), optionally jit-compiled (XLA), or K steps inside one `tf.function` call (steps per execution).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eagerrun.spec import TrainSpec

StepFn = Callable[[Any], Any]


def builtin_train_step(spec: TrainSpec) -> StepFn:
    """GradientTape, gradients, apply_gradients: the step of TensorFlow's custom-loop guides.

    The loss is the mean of `loss(y, y_pred)` (per-example losses averaged) plus the model's own
    regularization losses, as Keras' `fit` adds them.
    """
    import tensorflow as tf

    model, optimizer, loss_fn = spec.model, spec.optimizer, spec.loss

    def train_step(batch: Any) -> Any:
        x, y = batch
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            loss = tf.reduce_mean(loss_fn(y, y_pred))
            if model.losses:
                loss += tf.add_n(model.losses)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return train_step


def open_batch_signature(element_spec: Any) -> Any:
    """The dataset's element_spec with every tensor's leading (batch) dimension set to None."""
    import tensorflow as tf

    def open_leading_dim(spec: Any) -> Any:
        if isinstance(spec, tf.TensorSpec) and spec.shape.rank:
            return tf.TensorSpec([None, *spec.shape[1:]], spec.dtype, spec.name)
        return spec

    return tf.nest.map_structure(open_leading_dim, element_spec)


def compile_step(step: StepFn, *, eager: bool, element_spec: Any, xla: bool) -> StepFn:
    """The step as it will run: plain Python when eager, else one traced graph for the whole run."""
    if eager:
        return step
    import tensorflow as tf

    signature = open_batch_signature(element_spec)
    return tf.function(lambda batch: to_scalar_loss(step(batch)), input_signature=[signature], jit_compile=xla)


def compile_multi_step(step: StepFn, *, xla: bool) -> Callable[[Any, Any], tuple[Any, Any]]:
    """K steps in one tf.function call, as Keras' steps_per_execution and Orbit's tf.while_loop do.

    Called with a tf.data iterator and a step count as a tensor (so changing K's last remainder does not
    retrace); returns every step's loss and batch size, fewer than asked where the iterator ran out.
    Only the inner step is jit-compiled: XLA cannot compile the iterator ops of the loop itself.
    """
    import tensorflow as tf

    inner = tf.function(lambda batch: to_scalar_loss(step(batch)), jit_compile=True) if xla else step

    @tf.function
    def run_steps(iterator: Any, num_steps: Any) -> tuple[Any, Any]:
        losses = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
        sizes = tf.TensorArray(tf.int32, size=0, dynamic_size=True)
        for i in tf.range(num_steps):
            optional = iterator.get_next_as_optional()
            if not optional.has_value():
                break
            batch = optional.get_value()
            losses = losses.write(i, tf.cast(to_scalar_loss(inner(batch)), tf.float32))
            sizes = sizes.write(i, tf.shape(tf.nest.flatten(batch)[0])[0])
        return losses.stack(), sizes.stack()

    return run_steps


def to_scalar_loss(loss: Any) -> Any:
    """A custom train_step may return a mapping with 'loss', or a non-scalar: reduce it to one number."""
    import tensorflow as tf

    if isinstance(loss, dict):
        loss = loss["loss"]
    return tf.reduce_mean(loss)
