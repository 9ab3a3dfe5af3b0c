"""Keras `Model.fit` on a small MLP: eagerrun records each batch's loss and time without changes here.

    eagerrun --graph sample_scripts/fit_mlp.py

The label is whether a row's features sum above zero, which a small MLP learns in two epochs: the loss
falls step by step and the accuracy climbs from a coin toss's (0.53) to 0.95. Seeded: every run is the same.
"""

import keras
import numpy as np

keras.utils.set_random_seed(0)  # the weights' initial values: the same run every time
rng = np.random.default_rng(0)
x = rng.normal(size=(640, 8)).astype("float32")
y = (x.sum(axis=1, keepdims=True) > 0).astype("float32")

model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                          keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer=keras.optimizers.Adam(0.02), loss="binary_crossentropy", metrics=["accuracy"])
before = float(model.evaluate(x, y, verbose=0)[1])
model.fit(x, y, batch_size=64, epochs=2, verbose=0)
print(f"final accuracy: {float(model.evaluate(x, y, verbose=0)[1]):.3f} (before training: {before:.3f})")
