"""A trainer spec for the launch tests: an endless dataset (one iterator for the whole run), and, when
STEP_LOG_DIR is set, a log per worker (worker-<index>.log) of each step it begins and ends and of each
signal it receives. Under --eager each step sleeps STEP_SLEEP_S seconds after it begins, so that a test
can send a signal while every worker is inside the same step."""

import json
import os
import signal
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

LOG_DIR = os.environ.get("STEP_LOG_DIR")
SLEEP_S = float(os.environ.get("STEP_SLEEP_S", "0"))


def build():
    index = json.loads(os.environ.get("TF_CONFIG", '{"task": {"index": 0}}'))["task"]["index"]
    log = open(Path(LOG_DIR) / f"worker-{index}.log", "a", buffering=1) if LOG_DIR else None  # noqa: SIM115 - open for the run
    if log is not None:
        for signum in (signal.SIGINT, signal.SIGTERM):  # eagerrun's handlers are in place: log, then call them
            previous = signal.getsignal(signum)

            def logged(received, frame, previous=previous):
                log.write(f"signal {signal.Signals(received).name}\n")
                previous(received, frame)

            signal.signal(signum, logged)
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    optimizer = keras.optimizers.SGD(0.01)
    loss_fn = keras.losses.MeanSquaredError(reduction="sum")
    steps = []

    def train_step(batch):
        steps.append(1)
        if log is not None:
            log.write(f"step {len(steps)} begins\n")
        time.sleep(SLEEP_S)
        xb, yb = batch
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True)) / 16.0  # the global batch's mean, as replicas need
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        if log is not None:
            log.write(f"step {len(steps)} ends\n")
        return loss

    dataset = tf.data.Dataset.from_tensor_slices((x, x[:, :1])).repeat().batch(16)
    return {"model": model, "optimizer": optimizer, "loss": "mse", "dataset": dataset, "train_step": train_step}
