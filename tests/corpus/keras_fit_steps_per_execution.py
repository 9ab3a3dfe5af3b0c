"""The first end-to-end example of the Keras guide "Training & evaluation with the built-in methods"
(fchollet), compiled with `steps_per_execution=4`: Keras then runs 4 batches in one call of its train
function and hands callbacks one set of logs per call (`on_train_batch_end` once per 4 batches, `batch` =
the call's last batch), and evaluates the `validation_data` after each epoch.

Origin: keras-team/keras-io guides/training_with_built_in_methods.py at commit
ad4fc805f5e1a4a4c0bcdd416aa9feac6608fb6c (keras-io is over the fetch size limit; read through the file
index). The guide itself never sets `steps_per_execution`; it is the one argument added here.

As published: the functional model (Input(784, name="digits"), Dense(64, relu, name="dense_1"),
Dense(64, relu, name="dense_2"), Dense(10, softmax, name="predictions")), the preprocessing (flatten,
float32 / 255, float32 labels), the validation rows carved from the end of the training arrays, `compile`
with RMSprop(), SparseCategoricalCrossentropy(), [SparseCategoricalAccuracy()], and `fit(x_train, y_train,
batch_size=64, epochs=2, validation_data=(x_val, y_val))`, then `evaluate(x_test, y_test, batch_size=128)`.

Adapted: `steps_per_execution=4` in `compile`; MNIST replaced by 80 training and 16 test synthetic rows of
64 features (8x8 "digits", uint8, numpy seeded) with labels from 10 classes, the last 16 training rows for
validation, so 64 rows in batches of 8: 8 batches, 2 calls of 4 an epoch, 16 batches in all; `import
keras` (Keras 3); no predict; `verbose=0`; and the ORACLE probe: `ORACLE_STEPS_PER_CALL 4` once, then a
callback that prints, after each call (Keras' `on_train_batch_end`), the logs Keras hands to callbacks
(what eagerrun records for each of the call's 4 batches) as `ORACLE <name> <value> ...`.
"""

import os
import sys

os.environ["KERAS_BACKEND"] = "tensorflow"

import keras
import numpy as np
from keras import layers

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)


class Oracle(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        print("ORACLE " + " ".join(f"{k} {float(v)!r}" for k, v in (logs or {}).items()), file=sys.stdout, flush=True)


inputs = keras.Input(shape=(64,), name="digits")
x = layers.Dense(64, activation="relu", name="dense_1")(inputs)
x = layers.Dense(64, activation="relu", name="dense_2")(x)
outputs = layers.Dense(10, activation="softmax", name="predictions")(x)

model = keras.Model(inputs=inputs, outputs=outputs)

x_train = rng.integers(0, 256, size=(80, 8, 8)).astype("uint8")
y_train = rng.integers(0, 10, size=(80,)).astype("uint8")
x_test = rng.integers(0, 256, size=(16, 8, 8)).astype("uint8")
y_test = rng.integers(0, 10, size=(16,)).astype("uint8")

x_train = x_train.reshape(80, 64).astype("float32") / 255
x_test = x_test.reshape(16, 64).astype("float32") / 255

y_train = y_train.astype("float32")
y_test = y_test.astype("float32")

x_val = x_train[-16:]
y_val = y_train[-16:]
x_train = x_train[:-16]
y_train = y_train[:-16]

model.compile(
    optimizer=keras.optimizers.RMSprop(),
    loss=keras.losses.SparseCategoricalCrossentropy(),
    metrics=[keras.metrics.SparseCategoricalAccuracy()],
    steps_per_execution=4,
)

print("ORACLE_STEPS_PER_CALL 4", flush=True)
history = model.fit(
    x_train,
    y_train,
    batch_size=8,
    epochs=2,
    validation_data=(x_val, y_val),
    verbose=0,
    callbacks=[Oracle()],
)

results = model.evaluate(x_test, y_test, batch_size=128, verbose=0)
