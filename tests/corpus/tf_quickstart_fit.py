"""TensorFlow's "TensorFlow 2 quickstart for beginners" tutorial (Keras `fit` on arrays), on synthetic digits.

Origin: tensorflow/docs site/en/tutorials/quickstart/beginner.ipynb, commit
7c3650212740204359d4ceae481abc79345541be. Kept as published: the Sequential model (Flatten with
`input_shape`, Dense, Dropout(0.2), Dense(10) of logits), the untrained model's predictions and loss on
one example, `compile(optimizer='adam', loss=loss_fn, metrics=['accuracy'])`, `model.fit(x_train,
y_train, ...)` on numpy arrays with Keras' default `shuffle=True` and batch size 32, `evaluate`, and the
probability model.

Adapted: MNIST replaced by 100 train and 20 test synthetic 8x8 images with 10 classes (numpy
default_rng(0)), so an epoch is 4 batches, the last one of 4; Dense 128 -> 16 units; 2 epochs instead of
5; `fit` and `evaluate` quiet (`verbose=0`; the progress bar and `verbose=2` print timings); the notebook's
displayed values (predictions, softmax, the first loss) computed but not printed. The ORACLE probe is a
Keras callback printing Keras' per-batch logs from `on_train_batch_end` as `ORACLE accuracy <v> loss <v>`.
"""

import keras
import numpy as np
import tensorflow as tf
print("TensorFlow version:", tf.__version__)

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)

x_train, y_train = rng.integers(0, 256, size=(100, 8, 8)), rng.integers(0, 10, size=(100,))
x_test, y_test = rng.integers(0, 256, size=(20, 8, 8)), rng.integers(0, 10, size=(20,))
x_train, x_test = x_train / 255.0, x_test / 255.0

model = tf.keras.models.Sequential([
  tf.keras.layers.Flatten(input_shape=(8, 8)),
  tf.keras.layers.Dense(16, activation='relu'),
  tf.keras.layers.Dropout(0.2),
  tf.keras.layers.Dense(10)
])

predictions = model(x_train[:1]).numpy()

tf.nn.softmax(predictions).numpy()

loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

loss_fn(y_train[:1], predictions).numpy()

model.compile(optimizer='adam',
              loss=loss_fn,
              metrics=['accuracy'])


class Oracle(tf.keras.callbacks.Callback):
  def on_train_batch_end(self, batch, logs=None):
    print("ORACLE " + " ".join(f"{k} {float(v)!r}" for k, v in logs.items()))


model.fit(x_train, y_train, epochs=2, verbose=0, callbacks=[Oracle()])

model.evaluate(x_test,  y_test, verbose=0)

probability_model = tf.keras.Sequential([
  model,
  tf.keras.layers.Softmax()
])

probability_model(x_test[:5])
