"""TensorFlow's "pix2pix: Image-to-image translation with a conditional GAN" tutorial, on synthetic images.

Origin: tensorflow/docs site/en/tutorials/generative/pix2pix.ipynb, commit
7c3650212740204359d4ceae481abc79345541be. Kept as published: `resize`, `random_crop`, `normalize`, the
`@tf.function() random_jitter` (with `if tf.random.uniform(()) > 0.5:` mirroring) called from
`load_image_train` inside `Dataset.map(..., num_parallel_calls=AUTOTUNE)`, the U-Net generator and the
PatchGAN discriminator built from `downsample`/`upsample`, both losses, both Adam(2e-4, beta_1=0.5)
optimizers, the checkpoint object, the `@tf.function train_step(input_image, target, step)` with two tapes
in one `with` and no return value, and `fit()` looping over
`train_ds.repeat().take(steps).enumerate()`.

Adapted: `tf.config.experimental.enable_op_determinism()` after seeding (without it the random ops in the
parallel `map` draw in thread order, so two python runs differ);
the facades JPEG files replaced by 4 train and 2 test synthetic side-by-side uint8 images of 32x64
(numpy default_rng(0)), so `load` takes the image tensor instead of reading and decoding a file; 32x32
images (resized to 36 for the jitter instead of 286 for 256), so the generator has 5 downsamples and 4
upsamples and every filter count is 4 or 8; `fit(..., steps=6)` instead of 40000; `generate_images`
computes the prediction without plotting; no `display.clear_output`; no summary writer and no
`tf.summary.scalar` calls in train_step (TensorBoard, which they need, is not installed here);
`ORACLE gen_total_loss <v> disc_loss <v>` printed by tf.print in train_step (the two gradient targets;
gen_gan_loss and gen_l1_loss are parts of gen_total_loss, not losses of their own).
"""

import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf

keras.utils.set_random_seed(0)
tf.config.experimental.enable_op_determinism()  # random ops in a parallel map draw in a fixed order
rng = np.random.default_rng(0)

train_images = rng.integers(0, 256, size=(4, 32, 64, 3)).astype("uint8")
test_images = rng.integers(0, 256, size=(2, 32, 64, 3)).astype("uint8")


def load(image):
  # Split each image tensor into two tensors:
  # - one with a real building facade image
  # - one with an architecture label image
  w = tf.shape(image)[1]
  w = w // 2
  input_image = image[:, w:, :]
  real_image = image[:, :w, :]

  # Convert both images to float32 tensors
  input_image = tf.cast(input_image, tf.float32)
  real_image = tf.cast(real_image, tf.float32)

  return input_image, real_image


# The facade training set consist of 400 images
BUFFER_SIZE = 4
# The batch size of 1 produced better results for the U-Net in the original pix2pix experiment
BATCH_SIZE = 1
# Each image is 256x256 in size
IMG_WIDTH = 32
IMG_HEIGHT = 32


def resize(input_image, real_image, height, width):
  input_image = tf.image.resize(input_image, [height, width],
                                method=tf.image.ResizeMethod.NEAREST_NEIGHBOR)
  real_image = tf.image.resize(real_image, [height, width],
                               method=tf.image.ResizeMethod.NEAREST_NEIGHBOR)

  return input_image, real_image


def random_crop(input_image, real_image):
  stacked_image = tf.stack([input_image, real_image], axis=0)
  cropped_image = tf.image.random_crop(
      stacked_image, size=[2, IMG_HEIGHT, IMG_WIDTH, 3])

  return cropped_image[0], cropped_image[1]


# Normalizing the images to [-1, 1]
def normalize(input_image, real_image):
  input_image = (input_image / 127.5) - 1
  real_image = (real_image / 127.5) - 1

  return input_image, real_image


@tf.function()
def random_jitter(input_image, real_image):
  # Resizing to 286x286
  input_image, real_image = resize(input_image, real_image, 36, 36)

  # Random cropping back to 256x256
  input_image, real_image = random_crop(input_image, real_image)

  if tf.random.uniform(()) > 0.5:
    # Random mirroring
    input_image = tf.image.flip_left_right(input_image)
    real_image = tf.image.flip_left_right(real_image)

  return input_image, real_image


def load_image_train(image_file):
  input_image, real_image = load(image_file)
  input_image, real_image = random_jitter(input_image, real_image)
  input_image, real_image = normalize(input_image, real_image)

  return input_image, real_image


def load_image_test(image_file):
  input_image, real_image = load(image_file)
  input_image, real_image = resize(input_image, real_image,
                                   IMG_HEIGHT, IMG_WIDTH)
  input_image, real_image = normalize(input_image, real_image)

  return input_image, real_image


train_dataset = tf.data.Dataset.from_tensor_slices(train_images)
train_dataset = train_dataset.map(load_image_train,
                                  num_parallel_calls=tf.data.AUTOTUNE)
train_dataset = train_dataset.shuffle(BUFFER_SIZE)
train_dataset = train_dataset.batch(BATCH_SIZE)

test_dataset = tf.data.Dataset.from_tensor_slices(test_images)
test_dataset = test_dataset.map(load_image_test)
test_dataset = test_dataset.batch(BATCH_SIZE)

OUTPUT_CHANNELS = 3


def downsample(filters, size, apply_batchnorm=True):
  initializer = tf.random_normal_initializer(0., 0.02)

  result = tf.keras.Sequential()
  result.add(
      tf.keras.layers.Conv2D(filters, size, strides=2, padding='same',
                             kernel_initializer=initializer, use_bias=False))

  if apply_batchnorm:
    result.add(tf.keras.layers.BatchNormalization())

  result.add(tf.keras.layers.LeakyReLU())

  return result


def upsample(filters, size, apply_dropout=False):
  initializer = tf.random_normal_initializer(0., 0.02)

  result = tf.keras.Sequential()
  result.add(
    tf.keras.layers.Conv2DTranspose(filters, size, strides=2,
                                    padding='same',
                                    kernel_initializer=initializer,
                                    use_bias=False))

  result.add(tf.keras.layers.BatchNormalization())

  if apply_dropout:
      result.add(tf.keras.layers.Dropout(0.5))

  result.add(tf.keras.layers.ReLU())

  return result


def Generator():
  inputs = tf.keras.layers.Input(shape=[32, 32, 3])

  down_stack = [
    downsample(4, 4, apply_batchnorm=False),  # (batch_size, 16, 16, 4)
    downsample(8, 4),  # (batch_size, 8, 8, 8)
    downsample(8, 4),  # (batch_size, 4, 4, 8)
    downsample(8, 4),  # (batch_size, 2, 2, 8)
    downsample(8, 4),  # (batch_size, 1, 1, 8)
  ]

  up_stack = [
    upsample(8, 4, apply_dropout=True),  # (batch_size, 2, 2, 16)
    upsample(8, 4, apply_dropout=True),  # (batch_size, 4, 4, 16)
    upsample(8, 4),  # (batch_size, 8, 8, 16)
    upsample(4, 4),  # (batch_size, 16, 16, 8)
  ]

  initializer = tf.random_normal_initializer(0., 0.02)
  last = tf.keras.layers.Conv2DTranspose(OUTPUT_CHANNELS, 4,
                                         strides=2,
                                         padding='same',
                                         kernel_initializer=initializer,
                                         activation='tanh')  # (batch_size, 32, 32, 3)

  x = inputs

  # Downsampling through the model
  skips = []
  for down in down_stack:
    x = down(x)
    skips.append(x)

  skips = reversed(skips[:-1])

  # Upsampling and establishing the skip connections
  for up, skip in zip(up_stack, skips):
    x = up(x)
    x = tf.keras.layers.Concatenate()([x, skip])

  x = last(x)

  return tf.keras.Model(inputs=inputs, outputs=x)


generator = Generator()

LAMBDA = 100

loss_object = tf.keras.losses.BinaryCrossentropy(from_logits=True)


def generator_loss(disc_generated_output, gen_output, target):
  gan_loss = loss_object(tf.ones_like(disc_generated_output), disc_generated_output)

  # Mean absolute error
  l1_loss = tf.reduce_mean(tf.abs(target - gen_output))

  total_gen_loss = gan_loss + (LAMBDA * l1_loss)

  return total_gen_loss, gan_loss, l1_loss


def Discriminator():
  initializer = tf.random_normal_initializer(0., 0.02)

  inp = tf.keras.layers.Input(shape=[32, 32, 3], name='input_image')
  tar = tf.keras.layers.Input(shape=[32, 32, 3], name='target_image')

  x = tf.keras.layers.concatenate([inp, tar])  # (batch_size, 32, 32, channels*2)

  down1 = downsample(4, 4, False)(x)  # (batch_size, 16, 16, 4)
  down2 = downsample(8, 4)(down1)  # (batch_size, 8, 8, 8)
  down3 = downsample(8, 4)(down2)  # (batch_size, 4, 4, 8)

  zero_pad1 = tf.keras.layers.ZeroPadding2D()(down3)  # (batch_size, 6, 6, 8)
  conv = tf.keras.layers.Conv2D(8, 4, strides=1,
                                kernel_initializer=initializer,
                                use_bias=False)(zero_pad1)  # (batch_size, 3, 3, 8)

  batchnorm1 = tf.keras.layers.BatchNormalization()(conv)

  leaky_relu = tf.keras.layers.LeakyReLU()(batchnorm1)

  zero_pad2 = tf.keras.layers.ZeroPadding2D()(leaky_relu)  # (batch_size, 5, 5, 8)

  last = tf.keras.layers.Conv2D(1, 4, strides=1,
                                kernel_initializer=initializer)(zero_pad2)  # (batch_size, 2, 2, 1)

  return tf.keras.Model(inputs=[inp, tar], outputs=last)


discriminator = Discriminator()


def discriminator_loss(disc_real_output, disc_generated_output):
  real_loss = loss_object(tf.ones_like(disc_real_output), disc_real_output)

  generated_loss = loss_object(tf.zeros_like(disc_generated_output), disc_generated_output)

  total_disc_loss = real_loss + generated_loss

  return total_disc_loss


generator_optimizer = tf.keras.optimizers.Adam(2e-4, beta_1=0.5)
discriminator_optimizer = tf.keras.optimizers.Adam(2e-4, beta_1=0.5)

checkpoint_dir = './training_checkpoints'
checkpoint_prefix = os.path.join(checkpoint_dir, "ckpt")
checkpoint = tf.train.Checkpoint(generator_optimizer=generator_optimizer,
                                 discriminator_optimizer=discriminator_optimizer,
                                 generator=generator,
                                 discriminator=discriminator)


def generate_images(model, test_input, tar):
  prediction = model(test_input, training=True)
  assert prediction.shape == test_input.shape


@tf.function
def train_step(input_image, target, step):
  with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
    gen_output = generator(input_image, training=True)

    disc_real_output = discriminator([input_image, target], training=True)
    disc_generated_output = discriminator([input_image, gen_output], training=True)

    gen_total_loss, gen_gan_loss, gen_l1_loss = generator_loss(disc_generated_output, gen_output, target)
    disc_loss = discriminator_loss(disc_real_output, disc_generated_output)

  generator_gradients = gen_tape.gradient(gen_total_loss,
                                          generator.trainable_variables)
  discriminator_gradients = disc_tape.gradient(disc_loss,
                                               discriminator.trainable_variables)

  generator_optimizer.apply_gradients(zip(generator_gradients,
                                          generator.trainable_variables))
  discriminator_optimizer.apply_gradients(zip(discriminator_gradients,
                                              discriminator.trainable_variables))

  tf.print("ORACLE", "gen_total_loss", gen_total_loss, "disc_loss", disc_loss, output_stream=sys.stdout)


def fit(train_ds, test_ds, steps):
  example_input, example_target = next(iter(test_ds.take(1)))
  start = time.time()

  for step, (input_image, target) in train_ds.repeat().take(steps).enumerate():
    if (step) % 1000 == 0:
      if step != 0:
        print(f'Time taken for 1000 steps: {time.time()-start:.2f} sec\n')

      start = time.time()

      generate_images(generator, example_input, example_target)
      print(f"Step: {step//1000}k")

    train_step(input_image, target, step)

    # Training step
    if (step+1) % 10 == 0:
      print('.', end='', flush=True)


    # Save (checkpoint) the model every 5k steps
    if (step + 1) % 5000 == 0:
      checkpoint.save(file_prefix=checkpoint_prefix)


fit(train_dataset, test_dataset, steps=6)
