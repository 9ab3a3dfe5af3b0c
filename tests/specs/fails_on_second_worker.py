"""A trainer spec whose build() fails on worker 1 of a multi-worker run, for `eagerrun launch` tests."""

import json
import os

import keras
import numpy as np
import tensorflow as tf


def build():
    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
    if task.get("index") == 1:
        raise RuntimeError("worker 1 cannot open its data shard")
    x = np.ones((64, 4), "float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    return {"model": model, "optimizer": "sgd", "loss": "mse",
            "dataset": tf.data.Dataset.from_tensor_slices((x, x[:, :1])).batch(16)}
