"""Keras example "Simple MNIST convnet" (fchollet): a Sequential convnet compiled with
loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"] and trained with
`fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.1)` (positional x and y;
the last tenth of the arrays held out for validation after every epoch), then evaluated.

Origin: keras-team/keras-io examples/vision/mnist_convnet.py at commit
02cfe8063b505adc073986c91729f22039f77ad0 (keras-io is over the fetch size limit; read through the file
index).

As published: the preprocessing (scale to [0, 1], `np.expand_dims(..., -1)`, `keras.utils.to_categorical`),
the model (Input, Conv2D(3x3, relu), MaxPooling2D(2), Conv2D(3x3, relu), MaxPooling2D(2), Flatten,
Dropout(0.5), Dense(num_classes, softmax)), the compile and fit calls, `evaluate(x_test, y_test,
verbose=0)`.

Adapted: MNIST replaced by 40 training and 8 test synthetic 12x12 uint8 images with labels from 10 classes
(numpy, seeded), so the validation split keeps 36 for training (batches of 16, 16, 4) and 4 for
validation; 8 and 16 filters (the original: 32, 64); batch_size 16 (128), epochs 2 (15); `import keras`
for `from tensorflow import keras`; no summary or shape prints; `verbose=0`; and the ORACLE probe: a
callback that prints, after each training batch, the logs Keras hands to callbacks (what eagerrun records
for fit) as `ORACLE <name> <value> ...`.
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


num_classes = 10
input_shape = (12, 12, 1)

x_train = rng.integers(0, 256, size=(40, 12, 12)).astype("uint8")
y_train = rng.integers(0, num_classes, size=(40,))
x_test = rng.integers(0, 256, size=(8, 12, 12)).astype("uint8")
y_test = rng.integers(0, num_classes, size=(8,))

x_train = x_train.astype("float32") / 255
x_test = x_test.astype("float32") / 255
x_train = np.expand_dims(x_train, -1)
x_test = np.expand_dims(x_test, -1)

y_train = keras.utils.to_categorical(y_train, num_classes)
y_test = keras.utils.to_categorical(y_test, num_classes)

model = keras.Sequential(
    [
        keras.Input(shape=input_shape),
        layers.Conv2D(8, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(16, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(num_classes, activation="softmax"),
    ]
)

batch_size = 16
epochs = 2

model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])

model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.1, verbose=0,
          callbacks=[Oracle()])

score = model.evaluate(x_test, y_test, verbose=0)
