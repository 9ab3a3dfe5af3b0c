"""A whole inner loop inside one tf.function (`for _ in tf.range(n)`), its loss made in the loop body; on
some calls the loop runs no iteration, so that call computed no loss: it must be missing, not the loss of
the call before. Oracle: the loss of each call that computed one, else null."""

import json

import numpy as np
import tensorflow as tf

tf.random.set_seed(0)
x = np.random.default_rng(2).normal(size=(8, 3)).astype("float32")
y = x.sum(axis=1, keepdims=True)
model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(1)])
opt = tf.keras.optimizers.SGD(0.05)
seen = tf.Variable(-1.0)


@tf.function
def train_steps(n):
    for _ in tf.range(n):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x) - y) ** 2)
        opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        seen.assign(loss)


for n in [2, 1, 0, 3, 0, 1]:
    seen.assign(-1.0)
    train_steps(tf.constant(n))
    value = float(seen.numpy())
    print(json.dumps({"loss": value if n else None}))
