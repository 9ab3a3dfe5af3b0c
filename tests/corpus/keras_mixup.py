"""Keras example "MixUp augmentation for image classification" (Sayak Paul): two shuffled copies of the
training set zipped and mapped through `mix_up` (Beta-distributed mixing weights from two
`tf.random.gamma` draws, applied to images and one-hot labels) in a tf.data `map` with
`num_parallel_calls=AUTOTUNE`, a convnet trained with `fit` on that dataset with `validation_data`, then the
same convnet from the same initial weights trained on the plain dataset: two fit calls, each followed by
`evaluate`.

Origin: keras-team/keras-io examples/vision/mixup.py at commit be6d3665bad56d9e9ce5ad7ef083da75dd514afc
(keras-io is over the fetch size limit; read through the file index).

As published: the one-hot labels (`tf.one_hot`), the validation samples set aside from the front of the
training arrays, `train_ds_one` / `train_ds_two` (`shuffle(BATCH_SIZE * 100).batch(BATCH_SIZE)`) zipped,
`sample_beta_distribution`, `mix_up`, the `map`, `get_training_model()` (Conv2D(5x5, relu), MaxPooling2D,
Conv2D(5x5, relu), MaxPooling2D, Dropout(0.2), GlobalAvgPool2D, Dense(128, relu), Dense(10, softmax)), the
initial weights saved once and loaded into both models, `compile(loss="categorical_crossentropy",
optimizer="adam", metrics=["accuracy"])`, `fit(train_ds_mu, validation_data=val_ds, epochs=EPOCHS)`, then
`fit(train_ds_one, validation_data=val_ds, epochs=EPOCHS)`, `evaluate(test_ds)`.

Adapted: Fashion-MNIST replaced by 64 training and 16 test synthetic 16x16x1 images with labels from 10
classes (numpy, seeded), val_samples 16, so 48 training images in batches of 16 (3 steps an epoch);
EPOCHS 2 (the original: 10); 8 and 16 filters and Dense(32) (16, 32, 128); Keras 3 spellings (`import
keras`, `keras.Input` first instead of `input_shape=`); the initial weights go to a temporary
`initial_weights.weights.h5` (Keras 3 wants that suffix); no preview plot or label prints; `verbose=0`;
and the ORACLE probe: a callback that prints, after each training batch, the logs Keras hands to
callbacks (what eagerrun records for fit) as `ORACLE <name> <value> ...`.
"""

import os
import sys
import tempfile

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


x_train = rng.integers(0, 256, size=(64, 16, 16)).astype("uint8")
y_train = rng.integers(0, 10, size=(64,))
x_test = rng.integers(0, 256, size=(16, 16, 16)).astype("uint8")
y_test = rng.integers(0, 10, size=(16,))

x_train = x_train.astype("float32") / 255.0
x_train = np.reshape(x_train, (-1, 16, 16, 1))
y_train = tf.one_hot(y_train, 10)

x_test = x_test.astype("float32") / 255.0
x_test = np.reshape(x_test, (-1, 16, 16, 1))
y_test = tf.one_hot(y_test, 10)

AUTO = tf.data.AUTOTUNE
BATCH_SIZE = 16
EPOCHS = 2

val_samples = 16
x_val, y_val = x_train[:val_samples], y_train[:val_samples]
new_x_train, new_y_train = x_train[val_samples:], y_train[val_samples:]

train_ds_one = tf.data.Dataset.from_tensor_slices((new_x_train, new_y_train)).shuffle(BATCH_SIZE * 100).batch(BATCH_SIZE)
train_ds_two = tf.data.Dataset.from_tensor_slices((new_x_train, new_y_train)).shuffle(BATCH_SIZE * 100).batch(BATCH_SIZE)
train_ds = tf.data.Dataset.zip((train_ds_one, train_ds_two))

val_ds = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(BATCH_SIZE)

test_ds = tf.data.Dataset.from_tensor_slices((x_test, y_test)).batch(BATCH_SIZE)


def sample_beta_distribution(size, concentration_0=0.2, concentration_1=0.2):
    gamma_1_sample = tf.random.gamma(shape=[size], alpha=concentration_1)
    gamma_2_sample = tf.random.gamma(shape=[size], alpha=concentration_0)
    return gamma_1_sample / (gamma_1_sample + gamma_2_sample)


def mix_up(ds_one, ds_two, alpha=0.2):
    images_one, labels_one = ds_one
    images_two, labels_two = ds_two
    batch_size = tf.shape(images_one)[0]

    l = sample_beta_distribution(batch_size, alpha, alpha)
    x_l = tf.reshape(l, (batch_size, 1, 1, 1))
    y_l = tf.reshape(l, (batch_size, 1))

    images = images_one * x_l + images_two * (1 - x_l)
    labels = labels_one * y_l + labels_two * (1 - y_l)
    return (images, labels)


train_ds_mu = train_ds.map(lambda ds_one, ds_two: mix_up(ds_one, ds_two, alpha=0.2), num_parallel_calls=AUTO)


def get_training_model():
    model = keras.Sequential(
        [
            keras.Input(shape=(16, 16, 1)),
            layers.Conv2D(8, (5, 5), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(16, (5, 5), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Dropout(0.2),
            layers.GlobalAvgPool2D(),
            layers.Dense(32, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )
    return model


initial_weights = os.path.join(tempfile.mkdtemp(), "initial_weights.weights.h5")
initial_model = get_training_model()
initial_model.save_weights(initial_weights)

# 1. Train the model with the mixed up dataset
model = get_training_model()
model.load_weights(initial_weights)
model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
model.fit(train_ds_mu, validation_data=val_ds, epochs=EPOCHS, verbose=0, callbacks=[Oracle()])
_, test_acc = model.evaluate(test_ds, verbose=0)

# 2. Train the model *without* the mixed up dataset
model = get_training_model()
model.load_weights(initial_weights)
model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
model.fit(train_ds_one, validation_data=val_ds, epochs=EPOCHS, verbose=0, callbacks=[Oracle()])
_, test_acc = model.evaluate(test_ds, verbose=0)
