"""A trainer spec for `eagerrun --train`: a small MLP regression that runs on a CPU in seconds.

    eagerrun --graph --train sample_scripts/mlp_spec.py --epochs 3 --seed 0
    eagerrun compare --train --seed 0 sample_scripts/mlp_spec.py
"""

import keras
import numpy as np
import tensorflow as tf


def make_data(examples):
    """`examples` fixed (x, y) pairs: a linear target with a little non-linearity."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(examples, 16)).astype("float32")
    y = (x @ rng.normal(size=(16, 1)) + 0.5 * np.sin(x[:, :1])).astype("float32")
    return x, y


def make_model():
    return keras.Sequential([
        keras.Input((16,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(1),
    ])


def build():
    return {
        "model": make_model(),
        "optimizer": keras.optimizers.Adam(1e-3),
        "loss": "mse",
        "dataset": tf.data.Dataset.from_tensor_slices(make_data(1000)).batch(64),  # 16 batches, the last ragged
        "epochs": 2,
    }


if __name__ == "__main__":
    print("train me with: eagerrun --train", __file__)
