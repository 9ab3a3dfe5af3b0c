"""Keras example "DCGAN to generate face images" (fchollet): a DCGAN trained with `fit` on a tf.data
dataset of unlabeled images (batched, then `map(lambda x: x / 255.0)`) through an overridden `train_step`:
a discriminator update on fake + real images with noisy labels, then a generator update, two optimizers,
two Mean metrics created in `compile` and listed in `metrics`, returned as {"d_loss", "g_loss"}; a callback
draws images at each epoch's end. The dataset's last batch is smaller, as `image_dataset_from_directory`'s
usually is.

Origin: keras-team/keras-io examples/generative/dcgan_overriding_train_step.py at commit
cca4efba8e0b8514ae3817931696294039b3bfc9; its Keras 3 conversion (keras-team/keras
examples/keras_io/tensorflow/generative/dcgan_overriding_train_step.py at commit
046159f36416a2e11604dfb1ac871c03028e8986) has the same `GAN` (keras-io is over the fetch size limit; both
read through the file index).

As published: the discriminator (three 4x4 strided Conv2D with LeakyReLU(0.2), Flatten, Dropout(0.2),
Dense(1, sigmoid)), the generator (Dense, Reshape, three 4x4 strided Conv2DTranspose with LeakyReLU, a 5x5
Conv2D with sigmoid), `GAN` with `compile(d_optimizer, g_optimizer, loss_fn)`, `metrics` and `train_step`
(`tf.random.normal` / `tf.random.uniform` draws), `GANMonitor`, Adam(0.0001) twice,
BinaryCrossentropy(), epochs = 1, `fit(dataset, epochs, callbacks=[GANMonitor(...)])`.

Adapted: the CelebA folder (gdown download, `image_dataset_from_directory(label_mode=None,
image_size=(64, 64), batch_size=32)`) replaced by 56 synthetic 16x16x3 images with values 0-255 (numpy,
seeded) in `Dataset.from_tensor_slices(...).batch(16)` (batches of 16, 16, 16, 8), then the same map; the
networks shrunk to 16x16 (8-16-16 discriminator filters, generator from a 2x2x16 seed through 16-16-16
filters; the original: 64-128-128 and 8x8x128 through 128-256-512), latent_dim 8 (128); Keras 3 spellings
(`import keras`, LeakyReLU(negative_slope=0.2), `super().__init__()`); `GANMonitor` draws its images but
saves no PNG (no PIL here); no sample display; `verbose=0`; and the ORACLE probe: a callback that prints,
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


dataset = tf.data.Dataset.from_tensor_slices(rng.integers(0, 256, size=(56, 16, 16, 3)).astype("float32")).batch(16)
dataset = dataset.map(lambda x: x / 255.0)

discriminator = keras.Sequential(
    [
        keras.Input(shape=(16, 16, 3)),
        layers.Conv2D(8, kernel_size=4, strides=2, padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(16, kernel_size=4, strides=2, padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(16, kernel_size=4, strides=2, padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Flatten(),
        layers.Dropout(0.2),
        layers.Dense(1, activation="sigmoid"),
    ],
    name="discriminator",
)

latent_dim = 8

generator = keras.Sequential(
    [
        keras.Input(shape=(latent_dim,)),
        layers.Dense(2 * 2 * 16),
        layers.Reshape((2, 2, 16)),
        layers.Conv2DTranspose(16, kernel_size=4, strides=2, padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2DTranspose(16, kernel_size=4, strides=2, padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2DTranspose(16, kernel_size=4, strides=2, padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.Conv2D(3, kernel_size=5, padding="same", activation="sigmoid"),
    ],
    name="generator",
)


class GAN(keras.Model):
    def __init__(self, discriminator, generator, latent_dim):
        super().__init__()
        self.discriminator = discriminator
        self.generator = generator
        self.latent_dim = latent_dim

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss_fn
        self.d_loss_metric = keras.metrics.Mean(name="d_loss")
        self.g_loss_metric = keras.metrics.Mean(name="g_loss")

    @property
    def metrics(self):
        return [self.d_loss_metric, self.g_loss_metric]

    def train_step(self, real_images):
        batch_size = tf.shape(real_images)[0]
        random_latent_vectors = tf.random.normal(shape=(batch_size, self.latent_dim))

        generated_images = self.generator(random_latent_vectors)

        combined_images = tf.concat([generated_images, real_images], axis=0)

        labels = tf.concat([tf.ones((batch_size, 1)), tf.zeros((batch_size, 1))], axis=0)
        labels += 0.05 * tf.random.uniform(tf.shape(labels))

        with tf.GradientTape() as tape:
            predictions = self.discriminator(combined_images)
            d_loss = self.loss_fn(labels, predictions)
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))

        random_latent_vectors = tf.random.normal(shape=(batch_size, self.latent_dim))

        misleading_labels = tf.zeros((batch_size, 1))

        with tf.GradientTape() as tape:
            predictions = self.discriminator(self.generator(random_latent_vectors))
            g_loss = self.loss_fn(misleading_labels, predictions)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))

        self.d_loss_metric.update_state(d_loss)
        self.g_loss_metric.update_state(g_loss)
        return {
            "d_loss": self.d_loss_metric.result(),
            "g_loss": self.g_loss_metric.result(),
        }


class GANMonitor(keras.callbacks.Callback):
    def __init__(self, num_img=3, latent_dim=128):
        self.num_img = num_img
        self.latent_dim = latent_dim

    def on_epoch_end(self, epoch, logs=None):
        random_latent_vectors = tf.random.normal(shape=(self.num_img, self.latent_dim))
        generated_images = self.model.generator(random_latent_vectors)
        generated_images *= 255
        generated_images.numpy()  # the original then saves each image as a PNG


epochs = 1

gan = GAN(discriminator=discriminator, generator=generator, latent_dim=latent_dim)
gan.compile(
    d_optimizer=keras.optimizers.Adam(learning_rate=0.0001),
    g_optimizer=keras.optimizers.Adam(learning_rate=0.0001),
    loss_fn=keras.losses.BinaryCrossentropy(),
)

gan.fit(dataset, epochs=epochs, callbacks=[GANMonitor(num_img=10, latent_dim=latent_dim), Oracle()], verbose=0)
