"""A VAE-style custom loop (as in keras-io's VAE): its Sampling layer draws with tf.random.normal and no seed of
its own, so `eagerrun compare` finds the steps differ, names that op at its line, and bisects to the layer."""

import keras
import numpy as np
import tensorflow as tf


class Sampling(keras.layers.Layer):
    def call(self, inputs):
        mean, log_var = inputs
        epsilon = tf.random.normal(shape=tf.shape(mean))
        return mean + tf.exp(0.5 * log_var) * epsilon


inputs = keras.Input((8,))
hidden = keras.layers.Dense(16, activation="relu")(inputs)
mean, log_var = keras.layers.Dense(2)(hidden), keras.layers.Dense(2)(hidden)
outputs = keras.layers.Dense(8)(Sampling()([mean, log_var]))
vae = keras.Model(inputs, outputs)
optimizer = keras.optimizers.Adam(1e-3)


@tf.function
def train_step(x):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(vae(x) - x))
    grads = tape.gradient(loss, vae.trainable_variables)
    optimizer.apply_gradients(zip(grads, vae.trainable_variables))
    return loss


data = tf.data.Dataset.from_tensor_slices(np.random.default_rng(0).normal(size=(256, 8)).astype("float32")).batch(32)
for _epoch in range(2):
    for x in data:
        loss = train_step(x)
