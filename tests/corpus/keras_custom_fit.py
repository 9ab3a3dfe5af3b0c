"""Keras guide "Customizing what happens in `fit()` with TensorFlow" (fchollet): three models whose
`train_step` is overridden, each trained with `fit`, then one whose `test_step` is overridden, evaluated:
(1) a `train_step` that computes the loss with `self.compute_loss` (the loss from `compile`) and updates
`self.metrics` by hand (the "loss" metric with the loss, the others with y, y_pred); (2) the lower-level
variant that only takes the optimizer from `compile` and keeps its own `Mean(name="loss")` tracker and
`MeanAbsoluteError` metric, listed in a `metrics` property so that fit resets them each epoch; (3) the
`train_step` that unpacks `sample_weight` and passes it to `compute_loss` and the metrics, fit with
`sample_weight=`; (4) a `test_step` override run by `evaluate` (not a training step). Every fit is called
with positional x, y, as in the guide.

Origin: keras-team/keras-io guides/custom_train_step_in_tensorflow.py at commit
b4108fbfe9f0cbad37f4f3c2bc5e4db0dd8bd2b6 (keras-io is over the fetch size limit; read through the file
index).

As published: the four `CustomModel` classes, their functional Input(32) -> Dense(1) bodies, their
`compile` calls (optimizer="adam", loss="mse", metrics=["mae"]; optimizer="adam" alone for the second;
loss="mse", metrics=["mae"] and no optimizer for the evaluated one), `fit(x, y, epochs=...)` with Keras'
default batch size, `fit(x, y, sample_weight=sw, epochs=...)`, `evaluate(x, y)`.

Adapted: the 1000 random rows replaced by 64 (numpy `default_rng(0)`, not `np.random.random`), so fit's
default batch of 32 gives 2 batches an epoch; epochs 2, 2, 2 (the guide: 3, 5, 3); `verbose=0`; the
guide's closing GAN is left out (keras_dcgan_fit.py covers that `train_step`); and the ORACLE probe: a
callback that prints, after each training batch, the logs Keras hands to callbacks (what eagerrun records
for fit) as `ORACLE <name> <value> ...`.
"""

import os
import sys

os.environ["KERAS_BACKEND"] = "tensorflow"

import keras
import numpy as np
import tensorflow as tf

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)


class Oracle(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        print("ORACLE " + " ".join(f"{k} {float(v)!r}" for k, v in (logs or {}).items()), file=sys.stdout, flush=True)


# 1. compute_loss and the compiled metrics.
class CustomModel(keras.Model):
    def train_step(self, data):
        x, y = data

        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)

        trainable_vars = self.trainable_variables
        gradients = tape.gradient(loss, trainable_vars)

        self.optimizer.apply(gradients, trainable_vars)

        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)

        return {m.name: m.result() for m in self.metrics}


inputs = keras.Input(shape=(32,))
outputs = keras.layers.Dense(1)(inputs)
model = CustomModel(inputs, outputs)
model.compile(optimizer="adam", loss="mse", metrics=["mae"])

x = rng.random((64, 32))
y = rng.random((64, 1))
model.fit(x, y, epochs=2, verbose=0, callbacks=[Oracle()])


# 2. Going lower-level: own loss tracker and metric.
class CustomModel(keras.Model):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.mae_metric = keras.metrics.MeanAbsoluteError(name="mae")
        self.loss_fn = keras.losses.MeanSquaredError()

    def train_step(self, data):
        x, y = data

        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.loss_fn(y, y_pred)

        trainable_vars = self.trainable_variables
        gradients = tape.gradient(loss, trainable_vars)

        self.optimizer.apply(gradients, trainable_vars)

        self.loss_tracker.update_state(loss)
        self.mae_metric.update_state(y, y_pred)
        return {
            "loss": self.loss_tracker.result(),
            "mae": self.mae_metric.result(),
        }

    @property
    def metrics(self):
        return [self.loss_tracker, self.mae_metric]


inputs = keras.Input(shape=(32,))
outputs = keras.layers.Dense(1)(inputs)
model = CustomModel(inputs, outputs)

model.compile(optimizer="adam")

x = rng.random((64, 32))
y = rng.random((64, 1))
model.fit(x, y, epochs=2, verbose=0, callbacks=[Oracle()])


# 3. Supporting sample_weight.
class CustomModel(keras.Model):
    def train_step(self, data):
        if len(data) == 3:
            x, y, sample_weight = data
        else:
            sample_weight = None
            x, y = data

        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(
                y=y,
                y_pred=y_pred,
                sample_weight=sample_weight,
            )

        trainable_vars = self.trainable_variables
        gradients = tape.gradient(loss, trainable_vars)

        self.optimizer.apply(gradients, trainable_vars)

        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred, sample_weight=sample_weight)

        return {m.name: m.result() for m in self.metrics}


inputs = keras.Input(shape=(32,))
outputs = keras.layers.Dense(1)(inputs)
model = CustomModel(inputs, outputs)
model.compile(optimizer="adam", loss="mse", metrics=["mae"])

x = rng.random((64, 32))
y = rng.random((64, 1))
sw = rng.random((64, 1))
model.fit(x, y, sample_weight=sw, epochs=2, verbose=0, callbacks=[Oracle()])


# 4. Providing your own evaluation step.
class CustomModel(keras.Model):
    def test_step(self, data):
        x, y = data
        y_pred = self(x, training=False)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


inputs = keras.Input(shape=(32,))
outputs = keras.layers.Dense(1)(inputs)
model = CustomModel(inputs, outputs)
model.compile(loss="mse", metrics=["mae"])

x = rng.random((64, 32))
y = rng.random((64, 1))
model.evaluate(x, y, verbose=0)
