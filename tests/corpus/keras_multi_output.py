"""Keras guide "Training & evaluation with the built-in methods" (fchollet), section "Passing data to
multi-input, multi-output models": a functional model with an image input and a timeseries input and two
named outputs (a score and a 5-class distribution), compiled with a loss per output, metrics per output
and `loss_weights={"score_output": 2.0, "class_output": 1.0}`, then trained with `fit` on lists of arrays
(positional x, y), on dicts of arrays, and on a tf.data Dataset of (dict, dict): three fit calls whose logs
carry the weighted total `loss`, each output's loss and each output's metrics.

Origin: keras-team/keras-io guides/training_with_built_in_methods.py at commit
ad4fc805f5e1a4a4c0bcdd416aa9feac6608fb6c (keras-io is over the fetch size limit; read through the file
index).

As published: the model (img_input (H, W, 3) -> Conv2D(3, 3) -> GlobalMaxPooling2D; ts_input (None, 10)
-> Conv1D(3, 3) -> GlobalMaxPooling1D; concatenate; Dense(1, name="score_output") and Dense(5,
name="class_output")), the guide's `compile` with RMSprop(1e-3), MeanSquaredError / CategoricalCrossentropy
by output name, MeanAbsolutePercentageError + MeanAbsoluteError for the score and CategoricalAccuracy for
the class, and the loss_weights above; `fit([img_data, ts_data], [score_targets, class_targets],
batch_size=32, epochs=1)`, the same with dicts keyed by input and output names, and
`fit(train_dataset, epochs=1)` on a shuffled, batched Dataset of (input dict, output dict).

Adapted: in the guide the fits follow a later `compile` with a plain list of the two losses; here they all
run under the loss_weights compile, the point of this script; the dummy data is 24 rows (not 100) of 8x8x3
images and 6-step series (not 32x32x3 and 20 steps), from numpy `default_rng(0)` (not
`np.random.random_sample`); batch_size 8 (3 batches a fit; the Dataset also batched by 8, not 64);
`import keras` (Keras 3); no `plot_model`; `verbose=0`; and the ORACLE probe: a callback that prints,
after each training batch, the logs Keras hands to callbacks (what eagerrun records for fit) as
`ORACLE <name> <value> ...`.
"""

import os
import sys

os.environ["KERAS_BACKEND"] = "tensorflow"

import keras
import numpy as np
import tensorflow as tf
from keras import layers

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)


class Oracle(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        print("ORACLE " + " ".join(f"{k} {float(v)!r}" for k, v in (logs or {}).items()), file=sys.stdout, flush=True)


image_input = keras.Input(shape=(8, 8, 3), name="img_input")
timeseries_input = keras.Input(shape=(None, 10), name="ts_input")

x1 = layers.Conv2D(3, 3)(image_input)
x1 = layers.GlobalMaxPooling2D()(x1)

x2 = layers.Conv1D(3, 3)(timeseries_input)
x2 = layers.GlobalMaxPooling1D()(x2)

x = layers.concatenate([x1, x2])

score_output = layers.Dense(1, name="score_output")(x)
class_output = layers.Dense(5, name="class_output")(x)

model = keras.Model(inputs=[image_input, timeseries_input], outputs=[score_output, class_output])

model.compile(
    optimizer=keras.optimizers.RMSprop(1e-3),
    loss={
        "score_output": keras.losses.MeanSquaredError(),
        "class_output": keras.losses.CategoricalCrossentropy(),
    },
    metrics={
        "score_output": [
            keras.metrics.MeanAbsolutePercentageError(),
            keras.metrics.MeanAbsoluteError(),
        ],
        "class_output": [keras.metrics.CategoricalAccuracy()],
    },
    loss_weights={"score_output": 2.0, "class_output": 1.0},
)

img_data = rng.random(size=(24, 8, 8, 3))
ts_data = rng.random(size=(24, 6, 10))
score_targets = rng.random(size=(24, 1))
class_targets = rng.random(size=(24, 5))

# Fit on lists
model.fit([img_data, ts_data], [score_targets, class_targets], batch_size=8, epochs=1, verbose=0,
          callbacks=[Oracle()])

# Alternatively, fit on dicts
model.fit(
    {"img_input": img_data, "ts_input": ts_data},
    {"score_output": score_targets, "class_output": class_targets},
    batch_size=8,
    epochs=1,
    verbose=0,
    callbacks=[Oracle()],
)

train_dataset = tf.data.Dataset.from_tensor_slices(
    (
        {"img_input": img_data, "ts_input": ts_data},
        {"score_output": score_targets, "class_output": class_targets},
    )
)
train_dataset = train_dataset.shuffle(buffer_size=1024).batch(8)

model.fit(train_dataset, epochs=1, verbose=0, callbacks=[Oracle()])
