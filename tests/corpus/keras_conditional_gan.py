"""Keras example "Conditional GAN" (Sayak Paul): a GAN conditioned on one-hot class labels, trained with
`fit` on a tf.data dataset of (image, one-hot label) through an overridden `train_step`: labels tiled into
image channels with `tf.repeat` for the discriminator and concatenated to the noise for the generator, one
discriminator and one generator update with two optimizers, two Mean trackers whose `metrics` property
lists the generator's first, returned as {"g_loss", "d_loss"}.

Origin: keras-team/keras-io examples/generative/conditional_gan.py at commit
8bda227c08adf855a8b9ec579840e2a7171fff60 (keras-io is over the fetch size limit; read through the file
index).

As published: the discriminator (InputLayer with image + class channels, two strided Conv2D with
LeakyReLU(0.2), GlobalMaxPooling2D, Dense(1)) and generator (InputLayer of latent_dim + num_classes, Dense,
LeakyReLU, Reshape, two strided Conv2DTranspose, Conv2D with sigmoid), `ConditionalGAN` with its
`compile(d_optimizer, g_optimizer, loss_fn)`, `metrics` and `train_step`, Adam(0.0003) twice,
BinaryCrossentropy(from_logits=True), `fit(dataset, epochs)` on a shuffled, batched dataset of digits and
`keras.utils.to_categorical` labels.

Adapted: MNIST replaced by 48 synthetic 8x8x1 images and labels from 10 classes (numpy, seeded), so
image_size 8 and the generator grows 2x2 -> 8x8; 8 and 16 filters (the original: 64/128 and 128/128),
latent_dim 8 (128), batch_size 16 (3 batches), 2 epochs (20); Keras 3 spellings: `import keras`,
LeakyReLU(negative_slope=0.2), InputLayer(shape=...), `super().__init__()`, and the one-hot labels cast
to float32 (Keras 3's `to_categorical` gives float64, which `tf.concat` with the noise refuses); the interpolation and GIF
sections are left out; `verbose=0`; and the ORACLE probe: a callback that prints, after each training
batch, the logs Keras hands to callbacks (what eagerrun records for fit) as `ORACLE <name> <value> ...`.
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


batch_size = 16
num_channels = 1
num_classes = 10
image_size = 8
latent_dim = 8

all_digits = rng.integers(0, 256, size=(48, image_size, image_size)).astype("uint8")
all_labels = rng.integers(0, num_classes, size=(48,))

all_digits = all_digits.astype("float32") / 255.0
all_digits = np.reshape(all_digits, (-1, image_size, image_size, 1))
all_labels = keras.utils.to_categorical(all_labels, 10).astype("float32")

dataset = tf.data.Dataset.from_tensor_slices((all_digits, all_labels))
dataset = dataset.shuffle(buffer_size=1024).batch(batch_size)

generator_in_channels = latent_dim + num_classes
discriminator_in_channels = num_channels + num_classes

discriminator = keras.Sequential(
    [
        keras.layers.InputLayer(shape=(image_size, image_size, discriminator_in_channels)),
        layers.Conv2D(8, (3, 3), strides=(2, 2), padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(16, (3, 3), strides=(2, 2), padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.GlobalMaxPooling2D(),
        layers.Dense(1),
    ],
    name="discriminator",
)

generator = keras.Sequential(
    [
        keras.layers.InputLayer(shape=(generator_in_channels,)),
        layers.Dense(2 * 2 * generator_in_channels),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Reshape((2, 2, generator_in_channels)),
        layers.Conv2DTranspose(16, (4, 4), strides=(2, 2), padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2DTranspose(16, (4, 4), strides=(2, 2), padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(1, (3, 3), padding="same", activation="sigmoid"),
    ],
    name="generator",
)


class ConditionalGAN(keras.Model):
    def __init__(self, discriminator, generator, latent_dim):
        super().__init__()
        self.discriminator = discriminator
        self.generator = generator
        self.latent_dim = latent_dim
        self.gen_loss_tracker = keras.metrics.Mean(name="generator_loss")
        self.disc_loss_tracker = keras.metrics.Mean(name="discriminator_loss")

    @property
    def metrics(self):
        return [self.gen_loss_tracker, self.disc_loss_tracker]

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss_fn

    def train_step(self, data):
        real_images, one_hot_labels = data

        image_one_hot_labels = one_hot_labels[:, :, None, None]
        image_one_hot_labels = tf.repeat(image_one_hot_labels, repeats=[image_size * image_size])
        image_one_hot_labels = tf.reshape(image_one_hot_labels, (-1, image_size, image_size, num_classes))

        batch_size = tf.shape(real_images)[0]
        random_latent_vectors = tf.random.normal(shape=(batch_size, self.latent_dim))
        random_vector_labels = tf.concat([random_latent_vectors, one_hot_labels], axis=1)

        generated_images = self.generator(random_vector_labels)

        fake_image_and_labels = tf.concat([generated_images, image_one_hot_labels], -1)
        real_image_and_labels = tf.concat([real_images, image_one_hot_labels], -1)
        combined_images = tf.concat([fake_image_and_labels, real_image_and_labels], axis=0)

        labels = tf.concat([tf.ones((batch_size, 1)), tf.zeros((batch_size, 1))], axis=0)

        with tf.GradientTape() as tape:
            predictions = self.discriminator(combined_images)
            d_loss = self.loss_fn(labels, predictions)
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))

        random_latent_vectors = tf.random.normal(shape=(batch_size, self.latent_dim))
        random_vector_labels = tf.concat([random_latent_vectors, one_hot_labels], axis=1)

        misleading_labels = tf.zeros((batch_size, 1))

        with tf.GradientTape() as tape:
            fake_images = self.generator(random_vector_labels)
            fake_image_and_labels = tf.concat([fake_images, image_one_hot_labels], -1)
            predictions = self.discriminator(fake_image_and_labels)
            g_loss = self.loss_fn(misleading_labels, predictions)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))

        self.gen_loss_tracker.update_state(g_loss)
        self.disc_loss_tracker.update_state(d_loss)
        return {
            "g_loss": self.gen_loss_tracker.result(),
            "d_loss": self.disc_loss_tracker.result(),
        }


cond_gan = ConditionalGAN(discriminator=discriminator, generator=generator, latent_dim=latent_dim)
cond_gan.compile(
    d_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
    g_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
    loss_fn=keras.losses.BinaryCrossentropy(from_logits=True),
)

cond_gan.fit(dataset, epochs=2, verbose=0, callbacks=[Oracle()])
