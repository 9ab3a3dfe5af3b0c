"""Keras example "WGAN-GP overriding `Model.train_step`" (A_K_Nain): a Wasserstein GAN whose `train_step`
runs `d_steps` = 3 critic updates (a Python `for` loop inside the step, each with its own GradientTape, a
gradient penalty from a nested tape that watches the interpolated images: a gradient over inputs, not
variables) and then one generator update, returning {"d_loss": d_loss, "g_loss": g_loss} (the raw losses of
the batch, no trackers); fit on an array with a callback that draws images at each epoch's end.

Origin: keras-team/keras-io examples/generative/wgan_gp.py at commit 81aa0edb72a1735c5c577f123bb3a4a475a181c9,
whose `WGAN`, losses and fit are the same in its Keras 3 form (keras-team/keras
examples/keras_io/tensorflow/generative/wgan_gp.py at commit 5c3177064111d0ef8f9b35279208bbb406544e0e),
followed here (keras-io is over the fetch size limit; both read through the file index).

As published: `conv_block` and `upsample_block`, the critic (ZeroPadding2D, four 5x5 strided conv blocks
with LeakyReLU(0.2) and dropout where the original has it, Flatten, Dropout(0.2), Dense(1)), the generator
(Dense without bias, BatchNorm, LeakyReLU, Reshape, three upsample blocks with BatchNorm, tanh, Cropping2D),
the `WGAN` model (`compile(d_optimizer, g_optimizer, d_loss_fn, g_loss_fn)`, `gradient_penalty`,
`train_step`), `discriminator_loss` / `generator_loss`, Adam(0.0002, beta_1=0.5, beta_2=0.9) for both,
discriminator_extra_steps=3, gp_weight 10, `fit(train_images, batch_size=BATCH_SIZE, epochs, callbacks=[cbk])`.

Adapted: Fashion-MNIST replaced by 16 synthetic 12x12x1 images in [-1, 1] (numpy, seeded), so the critic
pads to 16x16 and the generator grows 2x2 -> 16x16 and crops to 12x12; filters 4-8-8-8 in the critic, 8-8-1
in the generator, noise_dim 8 (the original: 64-512, 128-64-1, 128); BATCH_SIZE 8 (2 batches an epoch),
2 epochs (the original: 20); `GANMonitor` draws its images but saves no PNG (no PIL here) and no display;
`verbose=0`; and the ORACLE probe: a callback that prints, after each training batch, the logs Keras hands
to callbacks (what eagerrun records for fit) as `ORACLE <name> <value> ...`.
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


IMG_SHAPE = (12, 12, 1)
BATCH_SIZE = 8

noise_dim = 8

train_images = rng.integers(0, 256, size=(16, *IMG_SHAPE)).astype("float32")
train_images = (train_images - 127.5) / 127.5


def conv_block(
    x,
    filters,
    activation,
    kernel_size=(3, 3),
    strides=(1, 1),
    padding="same",
    use_bias=True,
    use_bn=False,
    use_dropout=False,
    drop_value=0.5,
):
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias)(x)
    if use_bn:
        x = layers.BatchNormalization()(x)
    x = activation(x)
    if use_dropout:
        x = layers.Dropout(drop_value)(x)
    return x


def get_discriminator_model():
    img_input = layers.Input(shape=IMG_SHAPE)
    x = layers.ZeroPadding2D((2, 2))(img_input)
    x = conv_block(x, 4, kernel_size=(5, 5), strides=(2, 2), use_bn=False, use_bias=True,
                   activation=layers.LeakyReLU(0.2), use_dropout=False, drop_value=0.3)
    x = conv_block(x, 8, kernel_size=(5, 5), strides=(2, 2), use_bn=False, activation=layers.LeakyReLU(0.2),
                   use_bias=True, use_dropout=True, drop_value=0.3)
    x = conv_block(x, 8, kernel_size=(5, 5), strides=(2, 2), use_bn=False, activation=layers.LeakyReLU(0.2),
                   use_bias=True, use_dropout=True, drop_value=0.3)
    x = conv_block(x, 8, kernel_size=(5, 5), strides=(2, 2), use_bn=False, activation=layers.LeakyReLU(0.2),
                   use_bias=True, use_dropout=False, drop_value=0.3)

    x = layers.Flatten()(x)
    x = layers.Dropout(0.2)(x)
    x = layers.Dense(1)(x)

    d_model = keras.models.Model(img_input, x, name="discriminator")
    return d_model


d_model = get_discriminator_model()


def upsample_block(
    x,
    filters,
    activation,
    kernel_size=(3, 3),
    strides=(1, 1),
    up_size=(2, 2),
    padding="same",
    use_bn=False,
    use_bias=True,
    use_dropout=False,
    drop_value=0.3,
):
    x = layers.UpSampling2D(up_size)(x)
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias)(x)

    if use_bn:
        x = layers.BatchNormalization()(x)

    if activation:
        x = activation(x)
    if use_dropout:
        x = layers.Dropout(drop_value)(x)
    return x


def get_generator_model():
    noise = layers.Input(shape=(noise_dim,))
    x = layers.Dense(2 * 2 * 8, use_bias=False)(noise)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(0.2)(x)

    x = layers.Reshape((2, 2, 8))(x)
    x = upsample_block(x, 8, layers.LeakyReLU(0.2), strides=(1, 1), use_bias=False, use_bn=True, padding="same",
                       use_dropout=False)
    x = upsample_block(x, 8, layers.LeakyReLU(0.2), strides=(1, 1), use_bias=False, use_bn=True, padding="same",
                       use_dropout=False)
    x = upsample_block(x, 1, layers.Activation("tanh"), strides=(1, 1), use_bias=False, use_bn=True)
    x = layers.Cropping2D((2, 2))(x)

    g_model = keras.models.Model(noise, x, name="generator")
    return g_model


g_model = get_generator_model()


class WGAN(keras.Model):
    def __init__(
        self,
        discriminator,
        generator,
        latent_dim,
        discriminator_extra_steps=3,
        gp_weight=10.0,
    ):
        super().__init__()
        self.discriminator = discriminator
        self.generator = generator
        self.latent_dim = latent_dim
        self.d_steps = discriminator_extra_steps
        self.gp_weight = gp_weight

    def compile(self, d_optimizer, g_optimizer, d_loss_fn, g_loss_fn):
        super().compile()
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.d_loss_fn = d_loss_fn
        self.g_loss_fn = g_loss_fn

    def gradient_penalty(self, batch_size, real_images, fake_images):
        alpha = tf.random.normal([batch_size, 1, 1, 1], 0.0, 1.0)
        diff = fake_images - real_images
        interpolated = real_images + alpha * diff

        with tf.GradientTape() as gp_tape:
            gp_tape.watch(interpolated)
            pred = self.discriminator(interpolated, training=True)

        grads = gp_tape.gradient(pred, [interpolated])[0]
        norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]))
        gp = tf.reduce_mean((norm - 1.0) ** 2)
        return gp

    def train_step(self, real_images):
        if isinstance(real_images, tuple):
            real_images = real_images[0]

        batch_size = tf.shape(real_images)[0]

        for i in range(self.d_steps):
            random_latent_vectors = tf.random.normal(shape=(batch_size, self.latent_dim))
            with tf.GradientTape() as tape:
                fake_images = self.generator(random_latent_vectors, training=True)
                fake_logits = self.discriminator(fake_images, training=True)
                real_logits = self.discriminator(real_images, training=True)

                d_cost = self.d_loss_fn(real_img=real_logits, fake_img=fake_logits)
                gp = self.gradient_penalty(batch_size, real_images, fake_images)
                d_loss = d_cost + gp * self.gp_weight

            d_gradient = tape.gradient(d_loss, self.discriminator.trainable_variables)
            self.d_optimizer.apply_gradients(zip(d_gradient, self.discriminator.trainable_variables))

        random_latent_vectors = tf.random.normal(shape=(batch_size, self.latent_dim))
        with tf.GradientTape() as tape:
            generated_images = self.generator(random_latent_vectors, training=True)
            gen_img_logits = self.discriminator(generated_images, training=True)
            g_loss = self.g_loss_fn(gen_img_logits)

        gen_gradient = tape.gradient(g_loss, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(gen_gradient, self.generator.trainable_variables))
        return {"d_loss": d_loss, "g_loss": g_loss}


class GANMonitor(keras.callbacks.Callback):
    def __init__(self, num_img=6, latent_dim=128):
        self.num_img = num_img
        self.latent_dim = latent_dim

    def on_epoch_end(self, epoch, logs=None):
        random_latent_vectors = tf.random.normal(shape=(self.num_img, self.latent_dim))
        generated_images = self.model.generator(random_latent_vectors)
        generated_images = (generated_images * 127.5) + 127.5

        for i in range(self.num_img):
            img = generated_images[i].numpy()  # the original saves it as a PNG here


generator_optimizer = keras.optimizers.Adam(learning_rate=0.0002, beta_1=0.5, beta_2=0.9)
discriminator_optimizer = keras.optimizers.Adam(learning_rate=0.0002, beta_1=0.5, beta_2=0.9)


def discriminator_loss(real_img, fake_img):
    real_loss = tf.reduce_mean(real_img)
    fake_loss = tf.reduce_mean(fake_img)
    return fake_loss - real_loss


def generator_loss(fake_img):
    return -tf.reduce_mean(fake_img)


epochs = 2

cbk = GANMonitor(num_img=3, latent_dim=noise_dim)

wgan = WGAN(
    discriminator=d_model,
    generator=g_model,
    latent_dim=noise_dim,
    discriminator_extra_steps=3,
)

wgan.compile(
    d_optimizer=discriminator_optimizer,
    g_optimizer=generator_optimizer,
    g_loss_fn=generator_loss,
    d_loss_fn=discriminator_loss,
)

wgan.fit(train_images, batch_size=BATCH_SIZE, epochs=epochs, callbacks=[cbk, Oracle()], verbose=0)
