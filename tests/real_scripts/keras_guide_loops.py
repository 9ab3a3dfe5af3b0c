"""The Keras guide "Writing a training loop from scratch in TensorFlow" (keras-io
guides/writing_a_custom_training_loop_in_tensorflow.py) on synthetic data, three of its training loops in
order (its second eager loop, the same as the first with an accuracy metric, is left out; the fresh model and
optimizer made for it are what loop 2 trains, as in the guide):

1. an eager loop with no tf.function: GradientTape, `tape.gradient`, `optimizer.apply`, one model and
   optimizer;
2. a fresh model and optimizer, trained by an `@tf.function` train_step that returns `loss_value` and updates
   an accuracy metric, with an `@tf.function` test_step (no training) over the validation set each epoch;
3. a GAN: one `@tf.function` train_step with two tapes and two optimizers (d_optimizer, then g_optimizer)
   that returns `d_loss, g_loss, generated_images`, in the guide's loop with its stop after 10 steps (not
   reached here).

Smaller than the guide: 16 features instead of MNIST's 784, 8x8 images, 2 epochs of 3 batches in loops 1
and 2, 3 batches in the GAN loop. Each step prints what the script computed as one JSON line:
{"phase": p, "loss": ...} or {"phase": 3, "d_loss": ..., "g_loss": ...}.
"""

import json
import os

os.environ["KERAS_BACKEND"] = "tensorflow"

import keras
import numpy as np
import tensorflow as tf

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)


def get_model():
    inputs = keras.Input(shape=(16,), name="digits")
    x1 = keras.layers.Dense(8, activation="relu")(inputs)
    x2 = keras.layers.Dense(8, activation="relu")(x1)
    outputs = keras.layers.Dense(10, name="predictions")(x2)
    model = keras.Model(inputs=inputs, outputs=outputs)
    return model


model = get_model()

# Instantiate an optimizer.
optimizer = keras.optimizers.Adam(learning_rate=1e-3)
# Instantiate a loss function.
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

# Prepare the training dataset.
batch_size = 16
x_train = rng.random((80, 16)).astype("float32")
y_train = rng.integers(0, 10, size=(80,))

# Reserve 32 samples for validation.
x_val = x_train[-32:]
y_val = y_train[-32:]
x_train = x_train[:-32]
y_train = y_train[:-32]

train_dataset = tf.data.Dataset.from_tensor_slices((x_train, y_train))
train_dataset = train_dataset.shuffle(buffer_size=1024).batch(batch_size)

val_dataset = tf.data.Dataset.from_tensor_slices((x_val, y_val))
val_dataset = val_dataset.batch(batch_size)

# 1. The eager loop.
epochs = 2
for epoch in range(epochs):
    for step, (x_batch_train, y_batch_train) in enumerate(train_dataset):
        with tf.GradientTape() as tape:
            logits = model(x_batch_train, training=True)  # Logits for this minibatch
            loss_value = loss_fn(y_batch_train, logits)
        grads = tape.gradient(loss_value, model.trainable_weights)
        optimizer.apply(grads, model.trainable_weights)

        print(json.dumps({"phase": 1, "loss": float(loss_value)}), flush=True)

# 2. A fresh model, its step compiled with tf.function.
model = get_model()
optimizer = keras.optimizers.Adam(learning_rate=1e-3)
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
train_acc_metric = keras.metrics.SparseCategoricalAccuracy()
val_acc_metric = keras.metrics.SparseCategoricalAccuracy()


@tf.function
def train_step(x, y):
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss_value = loss_fn(y, logits)
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
    for step, (x_batch_train, y_batch_train) in enumerate(train_dataset):
        loss_value = train_step(x_batch_train, y_batch_train)
        print(json.dumps({"phase": 2, "loss": float(loss_value)}), flush=True)

    train_acc = train_acc_metric.result()
    train_acc_metric.reset_state()

    for x_batch_val, y_batch_val in val_dataset:
        test_step(x_batch_val, y_batch_val)
    val_acc = val_acc_metric.result()
    val_acc_metric.reset_state()
    print(json.dumps({"train_acc": float(train_acc), "val_acc": float(val_acc)}), flush=True)

# 3. A GAN trained from scratch.
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

# Instantiate one optimizer for the discriminator and another for the generator.
d_optimizer = keras.optimizers.Adam(learning_rate=0.0003)
g_optimizer = keras.optimizers.Adam(learning_rate=0.0004)

# Instantiate a loss function.
loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)


@tf.function
def train_step(real_images):
    # Sample random points in the latent space
    random_latent_vectors = tf.random.normal(shape=(batch_size, latent_dim))
    # Decode them to fake images
    generated_images = generator(random_latent_vectors)
    # Combine them with real images
    combined_images = tf.concat([generated_images, real_images], axis=0)

    # Assemble labels discriminating real from fake images
    labels = tf.concat([tf.ones((batch_size, 1)), tf.zeros((real_images.shape[0], 1))], axis=0)
    # Add random noise to the labels - important trick!
    labels += 0.05 * tf.random.uniform(labels.shape)

    # Train the discriminator
    with tf.GradientTape() as tape:
        predictions = discriminator(combined_images)
        d_loss = loss_fn(labels, predictions)
    grads = tape.gradient(d_loss, discriminator.trainable_weights)
    d_optimizer.apply(grads, discriminator.trainable_weights)

    # Sample random points in the latent space
    random_latent_vectors = tf.random.normal(shape=(batch_size, latent_dim))
    # Assemble labels that say "all real images"
    misleading_labels = tf.zeros((batch_size, 1))

    # Train the generator (note that we should *not* update the weights of the discriminator)!
    with tf.GradientTape() as tape:
        predictions = discriminator(generator(random_latent_vectors))
        g_loss = loss_fn(misleading_labels, predictions)
    grads = tape.gradient(g_loss, generator.trainable_weights)
    g_optimizer.apply(grads, generator.trainable_weights)
    return d_loss, g_loss, generated_images


batch_size = 16
all_digits = rng.random((48, 8, 8, 1)).astype("float32")
dataset = tf.data.Dataset.from_tensor_slices(all_digits)
dataset = dataset.shuffle(buffer_size=1024).batch(batch_size)

epochs = 1
for epoch in range(epochs):
    for step, real_images in enumerate(dataset):
        # Train the discriminator & generator on one batch of real images.
        d_loss, g_loss, generated_images = train_step(real_images)

        print(json.dumps({"phase": 3, "d_loss": float(d_loss), "g_loss": float(g_loss)}), flush=True)

        # To limit execution time we stop after 10 steps.
        if step > 10:
            break
