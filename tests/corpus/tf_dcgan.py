"""TensorFlow's "Deep Convolutional Generative Adversarial Network" tutorial, on synthetic images.

Origin: tensorflow/docs site/en/tutorials/generative/dcgan.ipynb, commit
7c3650212740204359d4ceae481abc79345541be. Kept as published: the generator (Dense with `input_shape`,
BatchNormalization, LeakyReLU, Reshape, three Conv2DTranspose, the shape asserts) and discriminator
(two Conv2D with LeakyReLU and Dropout(0.3), Flatten, Dense), the untrained generator's image and the
discriminator's `print(decision)`, both losses, two Adam(1e-4), the checkpoint, the fixed `seed` noise,
the `@tf.function train_step(images)` drawing `tf.random.normal([BATCH_SIZE, noise_dim])` (the full batch
size, also for the dataset's ragged last batch), two tapes in one `with`, two `apply_gradients`, no return
value, and `train()` looping over epochs and batches, generating from the seed after each epoch.

Adapted: MNIST replaced by 40 synthetic 8x8x1 images in [-1, 1] (numpy default_rng(0)); BUFFER_SIZE 60000
-> 40, BATCH_SIZE 256 -> 16 (so each epoch ends with a ragged batch of 8, which retraces train_step);
noise_dim 100 -> 8; the generator starts at 2x2x16 instead of 7x7x256 (filters 8, 4, 1) and the
discriminator's filters 64/128 -> 4/8; 2 epochs instead of 50; `generate_and_save_images` computes the
predictions without plotting or saving; no `display.clear_output`; the epoch line without its elapsed
time; `ORACLE gen_loss <v> disc_loss <v>` printed by tf.print inside train_step.
"""

import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf
from tensorflow.keras import layers

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)

print(tf.__version__)

train_images = rng.integers(0, 256, size=(40, 8, 8)).astype("uint8")

train_images = train_images.reshape(train_images.shape[0], 8, 8, 1).astype('float32')
train_images = (train_images - 127.5) / 127.5  # Normalize the images to [-1, 1]

BUFFER_SIZE = 40
BATCH_SIZE = 16

# Batch and shuffle the data
train_dataset = tf.data.Dataset.from_tensor_slices(train_images).shuffle(BUFFER_SIZE).batch(BATCH_SIZE)


def make_generator_model():
    model = tf.keras.Sequential()
    model.add(layers.Dense(2*2*16, use_bias=False, input_shape=(8,)))
    model.add(layers.BatchNormalization())
    model.add(layers.LeakyReLU())

    model.add(layers.Reshape((2, 2, 16)))
    assert model.output_shape == (None, 2, 2, 16)  # Note: None is the batch size

    model.add(layers.Conv2DTranspose(8, (5, 5), strides=(1, 1), padding='same', use_bias=False))
    assert model.output_shape == (None, 2, 2, 8)
    model.add(layers.BatchNormalization())
    model.add(layers.LeakyReLU())

    model.add(layers.Conv2DTranspose(4, (5, 5), strides=(2, 2), padding='same', use_bias=False))
    assert model.output_shape == (None, 4, 4, 4)
    model.add(layers.BatchNormalization())
    model.add(layers.LeakyReLU())

    model.add(layers.Conv2DTranspose(1, (5, 5), strides=(2, 2), padding='same', use_bias=False, activation='tanh'))
    assert model.output_shape == (None, 8, 8, 1)

    return model


generator = make_generator_model()

noise = tf.random.normal([1, 8])
generated_image = generator(noise, training=False)


def make_discriminator_model():
    model = tf.keras.Sequential()
    model.add(layers.Conv2D(4, (5, 5), strides=(2, 2), padding='same',
                                     input_shape=[8, 8, 1]))
    model.add(layers.LeakyReLU())
    model.add(layers.Dropout(0.3))

    model.add(layers.Conv2D(8, (5, 5), strides=(2, 2), padding='same'))
    model.add(layers.LeakyReLU())
    model.add(layers.Dropout(0.3))

    model.add(layers.Flatten())
    model.add(layers.Dense(1))

    return model


discriminator = make_discriminator_model()
decision = discriminator(generated_image)
print (decision)

# This method returns a helper function to compute cross entropy loss
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

checkpoint_dir = './training_checkpoints'
checkpoint_prefix = os.path.join(checkpoint_dir, "ckpt")
checkpoint = tf.train.Checkpoint(generator_optimizer=generator_optimizer,
                                 discriminator_optimizer=discriminator_optimizer,
                                 generator=generator,
                                 discriminator=discriminator)

EPOCHS = 2
noise_dim = 8
num_examples_to_generate = 16

# You will reuse this seed overtime (so it's easier)
# to visualize progress in the animated GIF)
seed = tf.random.normal([num_examples_to_generate, noise_dim])


# Notice the use of `tf.function`
# This annotation causes the function to be "compiled".
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
    tf.print("ORACLE", "gen_loss", gen_loss, "disc_loss", disc_loss, output_stream=sys.stdout)


def train(dataset, epochs):
  for epoch in range(epochs):
    start = time.time()

    for image_batch in dataset:
      train_step(image_batch)

    # Produce images for the GIF as you go
    generate_and_save_images(generator,
                             epoch + 1,
                             seed)

    # Save the model every 15 epochs
    if (epoch + 1) % 15 == 0:
      checkpoint.save(file_prefix = checkpoint_prefix)

    print ('Time for epoch {}'.format(epoch + 1))

  # Generate after the final epoch
  generate_and_save_images(generator,
                           epochs,
                           seed)


def generate_and_save_images(model, epoch, test_input):
  # Notice `training` is set to False.
  # This is so all layers run in inference mode (batchnorm).
  predictions = model(test_input, training=False)
  assert predictions.shape == (num_examples_to_generate, 8, 8, 1)


train(train_dataset, EPOCHS)

checkpoint.restore(tf.train.latest_checkpoint(checkpoint_dir))
