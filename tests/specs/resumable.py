"""A trainer spec for the reliability tests: shuffled data (so the iterator's position matters on resume),
a prefetch (so what the pipeline read ahead matters), dropout (so the RNG state matters), and an optional sleep per step from TEST_STEP_SLEEP, applied after the
second step, so a signal can arrive while steps are running. The sleep is a `tf.numpy_function`, so it
runs at every step in graph mode too (a Python `time.sleep` there would run once, while tracing)."""

import os
import time

import keras
import numpy as np
import tensorflow as tf

SLEEP = float(os.environ.get("TEST_STEP_SLEEP", "0"))


def build():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 6)).astype("float32")
    y = (x @ rng.normal(size=(6, 1))).astype("float32")
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dropout(0.2), keras.layers.Dense(1)])
    optimizer = keras.optimizers.Adam(1e-2)
    loss_fn = keras.losses.MeanSquaredError()
    calls = []

    def sleep_after_the_second_step():
        calls.append(1)
        if SLEEP and len(calls) > 2:
            time.sleep(SLEEP)
        return np.float32(0)

    def train_step(batch):
        tf.numpy_function(sleep_after_the_second_step, [], tf.float32, stateful=True)
        xb, yb = batch
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    # 6 batches an epoch, reshuffled each epoch; the prefetch reads ahead, across an epoch's end too
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(96, seed=3).batch(16).prefetch(2)
    return {"model": model, "optimizer": optimizer, "loss": "mse", "dataset": dataset,
            "train_step": train_step, "epochs": 3}
