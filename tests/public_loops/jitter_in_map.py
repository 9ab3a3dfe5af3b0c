"""pix2pix's input pipeline (tutorials/generative/pix2pix): `random_jitter` is a @tf.function with a Python
`if` on a tensor, called inside a `Dataset.map` function. Under `python` AutoGraph converts it; under
`--eager` it must run too (traced there: tf.data builds a graph). Prints each step's loss."""

import json

import numpy as np
import tensorflow as tf


@tf.function()
def random_jitter(image):
    if tf.random.uniform(()) > 0.5:
        image = tf.image.flip_left_right(image)
    return image


tf.random.set_seed(0)
images = np.random.default_rng(0).normal(size=(8, 4, 4, 1)).astype("float32")
dataset = tf.data.Dataset.from_tensor_slices(images).map(lambda image: random_jitter(image)).batch(4)
model = tf.keras.Sequential([tf.keras.Input((4, 4, 1)), tf.keras.layers.Flatten(), tf.keras.layers.Dense(1)])
optimizer = tf.keras.optimizers.SGD(0.01)


@tf.function
def train_step(batch):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model(batch) ** 2)
    optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
    return loss


for batch in dataset:
    print(json.dumps({"loss": float(train_step(batch))}))
