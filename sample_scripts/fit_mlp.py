"""Keras `Model.fit` on a small MLP: eagerrun records each batch's loss and time without changes here."""

import keras
import numpy as np

rng = np.random.default_rng(0)
x = rng.normal(size=(640, 8)).astype("float32")
y = (x.sum(axis=1, keepdims=True) > 0).astype("float32")

model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                          keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(x, y, batch_size=64, epochs=2, verbose=0)
print("final accuracy:", round(float(model.evaluate(x, y, verbose=0)[1]), 3))
