"""A trainer spec for `eagerrun --train`: a small MLP regression that runs on a CPU in seconds.

eagerrun's options come before the script (with --train it takes no arguments of its own):

    eagerrun --graph --train --epochs 3 sample_scripts/mlp_spec.py
    eagerrun compare --train sample_scripts/mlp_spec.py

The target is a linear function of the inputs plus a little non-linearity, which the MLP learns: the loss
falls from about 1 to about 0.2 over the default 2 epochs (32 steps). The weights' initializers are seeded, so every
run shows the same losses with or without --seed.
"""

import keras
import numpy as np
import tensorflow as tf


def make_data(examples):
    """`examples` fixed (x, y) pairs: a linear target (of variance about 1) with a little non-linearity."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(examples, 16)).astype("float32")
    y = (x @ rng.normal(scale=0.25, size=(16, 1)) + 0.5 * np.sin(x[:, :1])).astype("float32")
    return x, y


def make_model():
    def seeded(seed):
        return keras.initializers.GlorotUniform(seed=seed)

    return keras.Sequential([
        keras.Input((16,)),
        keras.layers.Dense(64, activation="relu", kernel_initializer=seeded(1)),
        keras.layers.Dense(64, activation="relu", kernel_initializer=seeded(2)),
        keras.layers.Dense(1, kernel_initializer=seeded(3)),
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
