"""A trainer spec for `launch --max-restarts`: SGD on fixed data, run with --eager so that its step is Python
every step. Worker 1 of a multi-worker run raises in its step FAIL_AT_CALL the first time only: it leaves a
marker file in FAIL_ONCE_DIR, and a worker started again finds it there."""

import json
import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

FAIL_AT_CALL = 5
GLOBAL_BATCH = 16


def build():
    index = json.loads(os.environ.get("TF_CONFIG", '{"task": {"index": 0}}'))["task"]["index"]
    marker = Path(os.environ["FAIL_ONCE_DIR"]) / "worker-1-failed" if index == 1 and "FAIL_ONCE_DIR" in os.environ \
        else None
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x @ rng.normal(size=(4, 1))).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    optimizer = keras.optimizers.SGD(0.05)
    loss_fn = keras.losses.MeanSquaredError(reduction="sum")
    calls = []

    def train_step(batch):
        calls.append(1)
        if marker is not None and len(calls) == FAIL_AT_CALL and not marker.exists():
            marker.touch()
            raise RuntimeError("worker 1 lost its data shard (once)")
        xb, yb = batch
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True)) / GLOBAL_BATCH  # the global batch's mean, as replicas need
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    dataset = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(GLOBAL_BATCH)
    return {"model": model, "optimizer": optimizer, "loss": "mse", "dataset": dataset, "train_step": train_step}
