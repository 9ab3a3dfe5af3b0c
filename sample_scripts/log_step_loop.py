"""A loop whose whole step is one tf.function: it calls eagerrun.log_step(loss) once a step.

Under plain `python` log_step does nothing, so the script runs the same with or without eagerrun.
"""

import keras
import numpy as np
import tensorflow as tf

import eagerrun

rng = np.random.default_rng(0)
x = rng.normal(size=(512, 4)).astype("float32")
y = (x @ np.array([[1.0], [-2.0], [0.5], [3.0]], dtype="float32")).astype("float32")
dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
optimizer = keras.optimizers.SGD(0.05)


@tf.function
def train_step(xb, yb):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(xb) - yb))
    optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
    return loss, tf.reduce_max(tf.abs(model(xb) - yb))


for xb, yb in dataset:
    loss, max_error = train_step(xb, yb)
    eagerrun.log_step(loss, max_error=max_error)
