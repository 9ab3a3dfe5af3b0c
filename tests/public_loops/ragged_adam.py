"""The Keras guide's custom loop ("Writing a training loop from scratch"): a @tf.function step with a tape and
Adam, returning nothing, over 100 rows batched by 32, so the last batch (4 rows) makes TensorFlow trace it
again, and Adam's first call makes it trace twice (variables). The oracle: the step's own loss, kept in a
variable of the script's and printed as a JSON line after each call."""

import json

import keras
import numpy as np
import tensorflow as tf

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = rng.normal(size=(100, 4)).astype("float32")
y = rng.normal(size=(100, 1)).astype("float32")
ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
model = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(1)])
opt = tf.keras.optimizers.Adam(1e-2)
seen = tf.Variable(0.0)


@tf.function
def train_step(xb, yb):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean((model(xb) - yb) ** 2)
    g = tape.gradient(loss, model.trainable_variables)
    opt.apply_gradients(zip(g, model.trainable_variables))
    seen.assign(loss)


for epoch in range(2):
    for xb, yb in ds:
        train_step(xb, yb)
        print(json.dumps({"loss": float(seen.numpy())}))
