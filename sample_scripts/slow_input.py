"""A custom loop whose input pipeline is slower than its step: `Dataset.map(parse)` takes about 2 ms an element
(a Python function, run serially), so eagerrun's verdict is input-bound and names that map and its fix."""

import time

import keras
import numpy as np
import tensorflow as tf


def parse(x):
    return tf.ensure_shape(tf.py_function(lambda v: (time.sleep(0.002), v)[1], [x], tf.float32), (8,))


model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
optimizer = keras.optimizers.Adam(1e-3)
data = tf.data.Dataset.from_tensor_slices(np.random.default_rng(0).normal(size=(256, 8)).astype("float32"))
data = data.map(parse).batch(16)


@tf.function
def train_step(x):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x) - 1.0))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss


for x in data:
    train_step(x)
