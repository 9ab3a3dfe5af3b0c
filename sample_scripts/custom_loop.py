"""A custom training loop as the TensorFlow guides write it: GradientTape, gradients, apply_gradients.

Runs on a CPU in a few seconds in either mode. eagerrun finds each step without changes to this file;
`--steps N` and `--seed S` are this script's own arguments.
"""

import argparse

import keras
import numpy as np
import tensorflow as tf

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=60)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

keras.utils.set_random_seed(args.seed)
rng = np.random.default_rng(args.seed)
x = rng.normal(size=(512, 8)).astype("float32")
y = (x @ rng.normal(size=(8, 1)) + 0.1).astype("float32")
dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(32).repeat()

model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)])
optimizer = keras.optimizers.Adam(1e-2)
loss_fn = keras.losses.MeanSquaredError()


@tf.function
def train_step(x, y):
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss


for step, (xb, yb) in enumerate(dataset.take(args.steps), start=1):
    loss = train_step(xb, yb)
    if step % 20 == 0:
        print(f"step {step}: loss {float(loss):.4f}")
