"""Keras example "OCR model for reading Captchas" (A_K_Nain): a CNN + bidirectional-LSTM model whose loss
is not given to `compile` but added by an endpoint layer, `CTCLayer`, with `self.add_loss(ctc_batch_cost(
...))`; the model takes the image and the label as two named inputs from a tf.data dataset of dicts built
with `map(encode_single_sample)` (a `StringLookup` turning label strings into ids), is compiled with only
an optimizer, and trained with `fit(train_dataset, validation_data=validation_dataset, epochs,
callbacks=[early_stopping])`.

Origin: keras-team/keras-io examples/vision/captcha_ocr.py at commit
501fb4cbe62e5b5c434393f512a452ef833640a1, and its Keras 3 conversion (keras-team/keras
examples/keras_io/tensorflow/vision/captcha_ocr.py at commit 89e5669fabe5aec0cdf87c00323d37336330d548),
whose code this follows (keras-io is over the fetch size limit; both read through the file index).

As published: `char_to_num` / `StringLookup(mask_token=None)`, `split_data` (train_size=0.9, shuffled
indices), `encode_single_sample` from step 3 on (float32 image, resize, transpose so width is time, label
characters to ids, a dict of "image" and "label"), the batched and prefetched datasets, `CTCLayer`,
`build_model()` (Conv1/pool1, Conv2/pool2 with he_normal, the reshape to (width // 4, (height // 4) *
filters), Dense + Dropout(0.2), two Bidirectional LSTM(return_sequences=True, dropout=0.25), Dense(vocab
+ 1, softmax), the CTC endpoint; `compile(optimizer=Adam())`), EarlyStopping(monitor="val_loss",
patience, restore_best_weights=True) and the fit call.

Adapted: the 1040 captcha PNGs (downloaded, read with `tf.io.read_file` / `decode_png`) replaced by 40
synthetic grayscale images (uint8, numpy seeded) with random 3-digit labels, so `encode_single_sample`
starts from the array instead of a file; img_width 32, img_height 8 (200, 50); filters 4 and 8 (32, 64),
Dense(8) (64), LSTM(8) and LSTM(8) (128, 64); batch_size 8, so 36 training images in 5 batches (the last
of 4) and 4 validation images; epochs 2 with patience 1 (100, 10); `keras.backend.ctc_batch_cost`, gone
from Keras 3's public API, taken from its Keras 3 home `keras.src.legacy.backend` (the same function);
`split_data` shuffles with `np.random.default_rng(0)` rather than `np.random.shuffle`; no plots, summary,
or inference section; `verbose=0`; and the ORACLE probe: a callback that prints, after each training batch,
the logs Keras hands to callbacks (what eagerrun records for fit) as `ORACLE <name> <value> ...`.
"""

import os
import sys

os.environ["KERAS_BACKEND"] = "tensorflow"

import keras
import numpy as np
import tensorflow as tf
from keras import layers
from keras.src.legacy.backend import ctc_batch_cost

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)


class Oracle(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        print("ORACLE " + " ".join(f"{k} {float(v)!r}" for k, v in (logs or {}).items()), file=sys.stdout, flush=True)


img_width = 32
img_height = 8

images = rng.integers(0, 256, size=(40, img_height, img_width, 1)).astype("uint8")
labels = ["".join(str(d) for d in rng.integers(0, 10, size=3)) for _ in range(40)]
characters = sorted(set(char for label in labels for char in label))

batch_size = 8

downsample_factor = 4

max_length = max([len(label) for label in labels])

char_to_num = layers.StringLookup(vocabulary=list(characters), mask_token=None)

num_to_char = layers.StringLookup(vocabulary=char_to_num.get_vocabulary(), mask_token=None, invert=True)


def split_data(images, labels, train_size=0.9, shuffle=True):
    size = len(images)
    indices = np.arange(size)
    if shuffle:
        rng.shuffle(indices)
    train_samples = int(size * train_size)
    x_train, y_train = images[indices[:train_samples]], labels[indices[:train_samples]]
    x_valid, y_valid = images[indices[train_samples:]], labels[indices[train_samples:]]
    return x_train, x_valid, y_train, y_valid


x_train, x_valid, y_train, y_valid = split_data(np.array(images), np.array(labels))


def encode_single_sample(img, label):
    img = tf.image.convert_image_dtype(img, tf.float32)
    img = tf.image.resize(img, [img_height, img_width])
    img = tf.transpose(img, perm=[1, 0, 2])
    label = char_to_num(tf.strings.unicode_split(label, input_encoding="UTF-8"))
    return {"image": img, "label": label}


train_dataset = tf.data.Dataset.from_tensor_slices((x_train, y_train))
train_dataset = (
    train_dataset.map(encode_single_sample, num_parallel_calls=tf.data.AUTOTUNE)
    .batch(batch_size)
    .prefetch(buffer_size=tf.data.AUTOTUNE)
)

validation_dataset = tf.data.Dataset.from_tensor_slices((x_valid, y_valid))
validation_dataset = (
    validation_dataset.map(encode_single_sample, num_parallel_calls=tf.data.AUTOTUNE)
    .batch(batch_size)
    .prefetch(buffer_size=tf.data.AUTOTUNE)
)


class CTCLayer(layers.Layer):
    def __init__(self, name=None):
        super().__init__(name=name)
        self.loss_fn = ctc_batch_cost

    def call(self, y_true, y_pred):
        batch_len = tf.cast(tf.shape(y_true)[0], dtype="int64")
        input_length = tf.cast(tf.shape(y_pred)[1], dtype="int64")
        label_length = tf.cast(tf.shape(y_true)[1], dtype="int64")

        input_length = input_length * tf.ones(shape=(batch_len, 1), dtype="int64")
        label_length = label_length * tf.ones(shape=(batch_len, 1), dtype="int64")

        loss = self.loss_fn(y_true, y_pred, input_length, label_length)
        self.add_loss(loss)

        return y_pred


def build_model():
    input_img = layers.Input(shape=(img_width, img_height, 1), name="image", dtype="float32")
    labels = layers.Input(name="label", shape=(None,), dtype="float32")

    x = layers.Conv2D(
        4,
        (3, 3),
        activation="relu",
        kernel_initializer="he_normal",
        padding="same",
        name="Conv1",
    )(input_img)
    x = layers.MaxPooling2D((2, 2), name="pool1")(x)

    x = layers.Conv2D(
        8,
        (3, 3),
        activation="relu",
        kernel_initializer="he_normal",
        padding="same",
        name="Conv2",
    )(x)
    x = layers.MaxPooling2D((2, 2), name="pool2")(x)

    new_shape = ((img_width // 4), (img_height // 4) * 8)
    x = layers.Reshape(target_shape=new_shape, name="reshape")(x)
    x = layers.Dense(8, activation="relu", name="dense1")(x)
    x = layers.Dropout(0.2)(x)

    x = layers.Bidirectional(layers.LSTM(8, return_sequences=True, dropout=0.25))(x)
    x = layers.Bidirectional(layers.LSTM(8, return_sequences=True, dropout=0.25))(x)

    x = layers.Dense(len(char_to_num.get_vocabulary()) + 1, activation="softmax", name="dense2")(x)

    output = CTCLayer(name="ctc_loss")(labels, x)

    model = keras.models.Model(inputs=[input_img, labels], outputs=output, name="ocr_model_v1")
    opt = keras.optimizers.Adam()
    model.compile(optimizer=opt)
    return model


model = build_model()

epochs = 2
early_stopping_patience = 1
early_stopping = keras.callbacks.EarlyStopping(
    monitor="val_loss", patience=early_stopping_patience, restore_best_weights=True
)

history = model.fit(
    train_dataset,
    validation_data=validation_dataset,
    epochs=epochs,
    callbacks=[early_stopping, Oracle()],
    verbose=0,
)
