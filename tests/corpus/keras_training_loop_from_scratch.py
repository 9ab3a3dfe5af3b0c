"""Keras guide "Writing a training loop from scratch in TensorFlow" (fchollet): four hand-written loops
in a row, each one phase: (1) an eager loop over a tf.data dataset, tape + `optimizer.apply` per batch, no
tf.function; (2) the same with a fresh model, a `SparseCategoricalAccuracy` metric updated each batch,
reset each epoch, and an eager validation loop after each epoch; (3) a `@tf.function` `train_step` and
`test_step` driving the same loop (it reuses the model, optimizer and metrics of loop 2); (4) the guide's
end-to-end GAN: one `@tf.function` `train_step` that updates a discriminator and then a generator with two
optimizers and returns `d_loss, g_loss, generated_images`, the loop stopping early with `break`. The
training set does not divide by the batch size, so every epoch of loops 1-3 ends on a smaller batch (in
loop 3 that batch retraces `train_step`).

Origin: keras-team/keras-io guides/writing_a_custom_training_loop_in_tensorflow.py at commit
1806537c4333fbff1f9fd038b78179beeda480fb (the Keras 3 guide, TensorFlow backend; keras-io is over the
fetch size limit, so it was read through the file index).

As published: `get_model()` (Input, two Dense(64, relu), Dense(10) logits), Adam(1e-3),
SparseCategoricalCrossentropy(from_logits=True), the shuffled-and-batched train dataset and batched
validation dataset carved from the end of the training arrays, the bodies of the four loops, both
`train_step`s and `test_step`, the discriminator/generator pair, BinaryCrossentropy(from_logits=True),
Adam(0.0003) and Adam(0.0004), and the loops' own logging prints (each does a `float(loss_value)` on step
0), which go to stderr here (their values and the "Time taken" line are not the same from run to run, and
the corpus compares stdout between runs).

Adapted: MNIST replaced by 96 synthetic 64-feature rows (8x8 "digits") with labels from 10 classes, the
last 24 for validation, so 72 training rows in batches of 32 (32, 32, 8) (numpy, seeded); the GAN on 48
synthetic 8x8x1 images in batches of 8, its networks with 8-16 filters from a 2x2 seed and latent_dim 8,
its loop stopping after step 2 (`if step > 2`, the guide: `step > 10`) and saving no image; epochs: loop 1
2 (the guide: 3), loops 2 and 3 as published (2), the GAN 1; the guide's `model.losses` train_step (defined
there, never run) is left out; and the ORACLE probe, one line per step from inside the step:
`tf.print("ORACLE", "loss", loss_value)` after the tape in loops 1 and 2 and inside `train_step` in loop 3,
`tf.print("ORACLE", "d_loss", d_loss, "g_loss", g_loss)` inside the GAN's `train_step`.
"""

import os
import sys
import time

os.environ["KERAS_BACKEND"] = "tensorflow"

import keras
import numpy as np
import tensorflow as tf

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)


def get_model():
    inputs = keras.Input(shape=(64,), name="digits")
    x1 = keras.layers.Dense(64, activation="relu")(inputs)
    x2 = keras.layers.Dense(64, activation="relu")(x1)
    outputs = keras.layers.Dense(10, name="predictions")(x2)
    model = keras.Model(inputs=inputs, outputs=outputs)
    return model


model = get_model()

optimizer = keras.optimizers.Adam(learning_rate=1e-3)
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

batch_size = 32
x_train = rng.integers(0, 256, size=(96, 8, 8)).astype("uint8")
y_train = rng.integers(0, 10, size=(96,)).astype("uint8")
x_train = np.reshape(x_train, (-1, 64))

x_val = x_train[-24:]
y_val = y_train[-24:]
x_train = x_train[:-24]
y_train = y_train[:-24]

train_dataset = tf.data.Dataset.from_tensor_slices((x_train, y_train))
train_dataset = train_dataset.shuffle(buffer_size=1024).batch(batch_size)

val_dataset = tf.data.Dataset.from_tensor_slices((x_val, y_val))
val_dataset = val_dataset.batch(batch_size)

# 1. An eager loop.
epochs = 2
for epoch in range(epochs):
    print(f"\nStart of epoch {epoch}", file=sys.stderr)

    for step, (x_batch_train, y_batch_train) in enumerate(train_dataset):
        with tf.GradientTape() as tape:
            logits = model(x_batch_train, training=True)
            loss_value = loss_fn(y_batch_train, logits)
        tf.print("ORACLE", "loss", loss_value, output_stream=sys.stdout)

        grads = tape.gradient(loss_value, model.trainable_weights)
        optimizer.apply(grads, model.trainable_weights)

        if step % 100 == 0:
            print(f"Training loss (for 1 batch) at step {step}: {float(loss_value):.4f}", file=sys.stderr)
            print(f"Seen so far: {(step + 1) * batch_size} samples", file=sys.stderr)

# 2. An eager loop with a metric and a validation loop.
model = get_model()
optimizer = keras.optimizers.Adam(learning_rate=1e-3)
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

train_acc_metric = keras.metrics.SparseCategoricalAccuracy()
val_acc_metric = keras.metrics.SparseCategoricalAccuracy()

epochs = 2
for epoch in range(epochs):
    print(f"\nStart of epoch {epoch}", file=sys.stderr)
    start_time = time.time()

    for step, (x_batch_train, y_batch_train) in enumerate(train_dataset):
        with tf.GradientTape() as tape:
            logits = model(x_batch_train, training=True)
            loss_value = loss_fn(y_batch_train, logits)
        tf.print("ORACLE", "loss", loss_value, output_stream=sys.stdout)
        grads = tape.gradient(loss_value, model.trainable_weights)
        optimizer.apply(grads, model.trainable_weights)

        train_acc_metric.update_state(y_batch_train, logits)

        if step % 100 == 0:
            print(f"Training loss (for 1 batch) at step {step}: {float(loss_value):.4f}", file=sys.stderr)
            print(f"Seen so far: {(step + 1) * batch_size} samples", file=sys.stderr)

    train_acc = train_acc_metric.result()
    print(f"Training acc over epoch: {float(train_acc):.4f}", file=sys.stderr)

    train_acc_metric.reset_state()

    for x_batch_val, y_batch_val in val_dataset:
        val_logits = model(x_batch_val, training=False)
        val_acc_metric.update_state(y_batch_val, val_logits)
    val_acc = val_acc_metric.result()
    val_acc_metric.reset_state()
    print(f"Validation acc: {float(val_acc):.4f}", file=sys.stderr)
    print(f"Time taken: {time.time() - start_time:.2f}s", file=sys.stderr)


# 3. The same loop with a tf.function train_step and test_step.
@tf.function
def train_step(x, y):
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss_value = loss_fn(y, logits)
    tf.print("ORACLE", "loss", loss_value, output_stream=sys.stdout)
    grads = tape.gradient(loss_value, model.trainable_weights)
    optimizer.apply(grads, model.trainable_weights)
    train_acc_metric.update_state(y, logits)
    return loss_value


@tf.function
def test_step(x, y):
    val_logits = model(x, training=False)
    val_acc_metric.update_state(y, val_logits)


epochs = 2
for epoch in range(epochs):
    print(f"\nStart of epoch {epoch}", file=sys.stderr)
    start_time = time.time()

    for step, (x_batch_train, y_batch_train) in enumerate(train_dataset):
        loss_value = train_step(x_batch_train, y_batch_train)

        if step % 100 == 0:
            print(f"Training loss (for 1 batch) at step {step}: {float(loss_value):.4f}", file=sys.stderr)
            print(f"Seen so far: {(step + 1) * batch_size} samples", file=sys.stderr)

    train_acc = train_acc_metric.result()
    print(f"Training acc over epoch: {float(train_acc):.4f}", file=sys.stderr)

    train_acc_metric.reset_state()

    for x_batch_val, y_batch_val in val_dataset:
        test_step(x_batch_val, y_batch_val)

    val_acc = val_acc_metric.result()
    val_acc_metric.reset_state()
    print(f"Validation acc: {float(val_acc):.4f}", file=sys.stderr)
    print(f"Time taken: {time.time() - start_time:.2f}s", file=sys.stderr)

# 4. The end-to-end GAN.
discriminator = keras.Sequential(
    [
        keras.Input(shape=(8, 8, 1)),
        keras.layers.Conv2D(8, (3, 3), strides=(2, 2), padding="same"),
        keras.layers.LeakyReLU(negative_slope=0.2),
        keras.layers.Conv2D(16, (3, 3), strides=(2, 2), padding="same"),
        keras.layers.LeakyReLU(negative_slope=0.2),
        keras.layers.GlobalMaxPooling2D(),
        keras.layers.Dense(1),
    ],
    name="discriminator",
)

latent_dim = 8

generator = keras.Sequential(
    [
        keras.Input(shape=(latent_dim,)),
        keras.layers.Dense(2 * 2 * 16),
        keras.layers.LeakyReLU(negative_slope=0.2),
        keras.layers.Reshape((2, 2, 16)),
        keras.layers.Conv2DTranspose(16, (4, 4), strides=(2, 2), padding="same"),
        keras.layers.LeakyReLU(negative_slope=0.2),
        keras.layers.Conv2DTranspose(16, (4, 4), strides=(2, 2), padding="same"),
        keras.layers.LeakyReLU(negative_slope=0.2),
        keras.layers.Conv2D(1, (3, 3), padding="same", activation="sigmoid"),
    ],
    name="generator",
)

d_optimizer = keras.optimizers.Adam(learning_rate=0.0003)
g_optimizer = keras.optimizers.Adam(learning_rate=0.0004)

loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)


@tf.function
def train_step(real_images):
    random_latent_vectors = tf.random.normal(shape=(batch_size, latent_dim))
    generated_images = generator(random_latent_vectors)
    combined_images = tf.concat([generated_images, real_images], axis=0)

    labels = tf.concat([tf.ones((batch_size, 1)), tf.zeros((real_images.shape[0], 1))], axis=0)
    labels += 0.05 * tf.random.uniform(labels.shape)

    with tf.GradientTape() as tape:
        predictions = discriminator(combined_images)
        d_loss = loss_fn(labels, predictions)
    grads = tape.gradient(d_loss, discriminator.trainable_weights)
    d_optimizer.apply(grads, discriminator.trainable_weights)

    random_latent_vectors = tf.random.normal(shape=(batch_size, latent_dim))
    misleading_labels = tf.zeros((batch_size, 1))

    with tf.GradientTape() as tape:
        predictions = discriminator(generator(random_latent_vectors))
        g_loss = loss_fn(misleading_labels, predictions)
    grads = tape.gradient(g_loss, generator.trainable_weights)
    g_optimizer.apply(grads, generator.trainable_weights)
    tf.print("ORACLE", "d_loss", d_loss, "g_loss", g_loss, output_stream=sys.stdout)
    return d_loss, g_loss, generated_images


batch_size = 8
all_digits = rng.random((48, 8, 8, 1)).astype("float32")
dataset = tf.data.Dataset.from_tensor_slices(all_digits)
dataset = dataset.shuffle(buffer_size=1024).batch(batch_size)

epochs = 1

for epoch in range(epochs):
    print(f"\nStart epoch {epoch}", file=sys.stderr)

    for step, real_images in enumerate(dataset):
        d_loss, g_loss, generated_images = train_step(real_images)

        if step % 100 == 0:
            print(f"discriminator loss at step {step}: {d_loss:.2f}", file=sys.stderr)
            print(f"adversarial loss at step {step}: {g_loss:.2f}", file=sys.stderr)

        if step > 2:
            break
