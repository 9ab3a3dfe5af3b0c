"""A trainer spec for the reliability tests: shuffled data (so the iterator's position matters on resume),
dropout (so the RNG state matters), and an optional sleep per step from TEST_STEP_SLEEP, applied after the
second step, so a signal can arrive while steps are running."""

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

    def train_step(batch):
        calls.append(1)
        if SLEEP and len(calls) > 2:
            time.sleep(SLEEP)
        xb, yb = batch
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    dataset = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(96, seed=3).batch(16)  # 6 batches an epoch
    return {"model": model, "optimizer": optimizer, "loss": "mse", "dataset": dataset,
            "train_step": train_step, "epochs": 3}
