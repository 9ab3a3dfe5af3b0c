"""One tf.function, two traces that hold their loss differently: the full batches' trace returns it, the
ragged last batch's trace returns nothing (a Python branch on the static shape). Each call's value must be
read the way the graph that ran holds it. Oracle: the loss kept in a variable of the script's."""

import json

import numpy as np
import tensorflow as tf

tf.random.set_seed(0)
rng = np.random.default_rng(1)
x = rng.normal(size=(40, 3)).astype("float32")
y = rng.normal(size=(40, 1)).astype("float32")
ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(1)])
opt = tf.keras.optimizers.Adam(1e-2)
seen = tf.Variable(0.0)


@tf.function
def train_step(xb, yb):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean((model(xb) - yb) ** 2)
    opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
    seen.assign(loss)
    if xb.shape[0] == 16:
        return loss
    return None


for epoch in range(3):
    for xb, yb in ds:
        train_step(xb, yb)
        print(json.dumps({"loss": float(seen.numpy())}))
