"""TensorFlow's DCGAN tutorial (tensorflow/docs site/en/tutorials/generative/dcgan.ipynb) on synthetic data.

The loop keeps the tutorial's shape: one `@tf.function` train_step per batch with two GradientTapes (gen_tape,
disc_tape), two `apply_gradients` calls and no return value; `train()` loops over epochs and batches and
generates images from a fixed seed after each epoch (inference, not training). Smaller than the tutorial:
8x8 images, a few filters, 2 epochs of 4 batches, no image files or checkpoints.

The step returns nothing, so to show what it computed it keeps its two losses in variables (not part of the
tutorial; nothing it computes changes) and the loop prints them as one JSON line per step:
{"phase": 1, "gen_loss": ..., "disc_loss": ...}. `--epochs 0` trains nothing and only generates images.
"""

import argparse
import json

import keras
import numpy as np
import tensorflow as tf
from tensorflow.keras import layers

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=2)
EPOCHS = parser.parse_args().epochs

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
train_images = np.tanh(rng.normal(size=(32, 8, 8, 1))).astype("float32")  # in [-1, 1], as the tutorial's

BUFFER_SIZE = 32
BATCH_SIZE = 8

train_dataset = tf.data.Dataset.from_tensor_slices(train_images).shuffle(BUFFER_SIZE).batch(BATCH_SIZE)

noise_dim = 16


def make_generator_model():
    model = tf.keras.Sequential()
    model.add(keras.Input(shape=(noise_dim,)))
    model.add(layers.Dense(2 * 2 * 16, use_bias=False))
    model.add(layers.BatchNormalization())
    model.add(layers.LeakyReLU())

    model.add(layers.Reshape((2, 2, 16)))
    assert model.output_shape == (None, 2, 2, 16)  # Note: None is the batch size

    model.add(layers.Conv2DTranspose(8, (5, 5), strides=(1, 1), padding="same", use_bias=False))
    assert model.output_shape == (None, 2, 2, 8)
    model.add(layers.BatchNormalization())
    model.add(layers.LeakyReLU())

    model.add(layers.Conv2DTranspose(4, (5, 5), strides=(2, 2), padding="same", use_bias=False))
    assert model.output_shape == (None, 4, 4, 4)
    model.add(layers.BatchNormalization())
    model.add(layers.LeakyReLU())

    model.add(layers.Conv2DTranspose(1, (5, 5), strides=(2, 2), padding="same", use_bias=False,
                                     activation="tanh"))
    assert model.output_shape == (None, 8, 8, 1)

    return model


def make_discriminator_model():
    model = tf.keras.Sequential()
    model.add(keras.Input(shape=(8, 8, 1)))
    model.add(layers.Conv2D(8, (5, 5), strides=(2, 2), padding="same"))
    model.add(layers.LeakyReLU())
    model.add(layers.Dropout(0.3))

    model.add(layers.Conv2D(16, (5, 5), strides=(2, 2), padding="same"))
    model.add(layers.LeakyReLU())
    model.add(layers.Dropout(0.3))

    model.add(layers.Flatten())
    model.add(layers.Dense(1))

    return model


generator = make_generator_model()
discriminator = make_discriminator_model()

cross_entropy = tf.keras.losses.BinaryCrossentropy(from_logits=True)


def discriminator_loss(real_output, fake_output):
    real_loss = cross_entropy(tf.ones_like(real_output), real_output)
    fake_loss = cross_entropy(tf.zeros_like(fake_output), fake_output)
    total_loss = real_loss + fake_loss
    return total_loss


def generator_loss(fake_output):
    return cross_entropy(tf.ones_like(fake_output), fake_output)


generator_optimizer = tf.keras.optimizers.Adam(1e-4)
discriminator_optimizer = tf.keras.optimizers.Adam(1e-4)

num_examples_to_generate = 4
seed = tf.random.normal([num_examples_to_generate, noise_dim])

# Not in the tutorial: where the step leaves its losses, so that this script can print them.
gen_loss_seen = tf.Variable(0.0)
disc_loss_seen = tf.Variable(0.0)


@tf.function
def train_step(images):
    noise = tf.random.normal([BATCH_SIZE, noise_dim])

    with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
        generated_images = generator(noise, training=True)

        real_output = discriminator(images, training=True)
        fake_output = discriminator(generated_images, training=True)

        gen_loss = generator_loss(fake_output)
        disc_loss = discriminator_loss(real_output, fake_output)

    gradients_of_generator = gen_tape.gradient(gen_loss, generator.trainable_variables)
    gradients_of_discriminator = disc_tape.gradient(disc_loss, discriminator.trainable_variables)

    generator_optimizer.apply_gradients(zip(gradients_of_generator, generator.trainable_variables))
    discriminator_optimizer.apply_gradients(zip(gradients_of_discriminator, discriminator.trainable_variables))

    gen_loss_seen.assign(gen_loss)
    disc_loss_seen.assign(disc_loss)


def generate_images(model, test_input):
    # Notice `training` is set to False: all layers run in inference mode (batchnorm).
    return model(test_input, training=False)


def train(dataset, epochs):
    for epoch in range(epochs):
        for image_batch in dataset:
            train_step(image_batch)
            print(json.dumps({"phase": 1, "gen_loss": float(gen_loss_seen.numpy()),
                              "disc_loss": float(disc_loss_seen.numpy())}), flush=True)

        generate_images(generator, seed)

    # Generate after the final epoch
    generate_images(generator, seed)


train(train_dataset, EPOCHS)
