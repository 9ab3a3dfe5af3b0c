"""The benchmark's model and data, shared by every configuration so they differ only in what drives them.

A small MLP regression (16 -> 64 -> 64 -> 1) on 4096 fixed examples in batches of 64, repeated forever:
every configuration runs exactly the number of steps it is asked for. It is also a trainer spec:
`eagerrun --graph --train benchmarks/bench_model.py --steps 500`.
"""

import keras
import numpy as np
import tensorflow as tf

BATCH = 64


def build():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4096, 16)).astype("float32")
    y = (x @ rng.normal(size=(16, 1)) + 0.5 * np.sin(x[:, :1])).astype("float32")
    model = keras.Sequential([
        keras.Input((16,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(1),
    ])
    return {
        "model": model,
        "optimizer": keras.optimizers.Adam(1e-3),
        "loss": "mse",
        "dataset": tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH).repeat(),
    }
