"""TensorFlow's "TensorFlow 2 quickstart for experts" tutorial, on synthetic digits.

Origin: tensorflow/docs site/en/tutorials/quickstart/advanced.ipynb, commit
7c3650212740204359d4ceae481abc79345541be. Kept as published: the subclassed `MyModel` (Conv2D, Flatten,
two Dense), SparseCategoricalCrossentropy and Adam, the four metric objects, the `@tf.function
train_step(images, labels)` (tape, `apply_gradients`, then `train_loss(loss)` and `train_accuracy(...)`,
no return value), the `@tf.function test_step`, and the epoch loop resetting the metrics and printing
them with two decimals.

Adapted: MNIST replaced by 100 train and 20 test synthetic 8x8x1 images with 10 classes (numpy
default_rng(0)), so each epoch's last batch of 4 retraces train_step; Conv2D 32 -> 4 filters, Dense 128 ->
16 units; shuffle(10000) kept; 2 epochs instead of 5; `ORACLE loss <loss>` printed by tf.print inside
train_step (the loss is the gradient's target; `train_loss` is a metric of it).
"""

import sys

import keras
import numpy as np
import tensorflow as tf
print("TensorFlow version:", tf.__version__)

from tensorflow.keras.layers import Dense, Flatten, Conv2D
from tensorflow.keras import Model

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)

x_train, y_train = rng.integers(0, 256, size=(100, 8, 8)), rng.integers(0, 10, size=(100,))
x_test, y_test = rng.integers(0, 256, size=(20, 8, 8)), rng.integers(0, 10, size=(20,))
x_train, x_test = x_train / 255.0, x_test / 255.0

# Add a channels dimension
x_train = x_train[..., tf.newaxis].astype("float32")
x_test = x_test[..., tf.newaxis].astype("float32")

train_ds = tf.data.Dataset.from_tensor_slices(
    (x_train, y_train)).shuffle(10000).batch(32)

test_ds = tf.data.Dataset.from_tensor_slices((x_test, y_test)).batch(32)


class MyModel(Model):
  def __init__(self):
    super().__init__()
    self.conv1 = Conv2D(4, 3, activation='relu')
    self.flatten = Flatten()
    self.d1 = Dense(16, activation='relu')
    self.d2 = Dense(10)

  def call(self, x):
    x = self.conv1(x)
    x = self.flatten(x)
    x = self.d1(x)
    return self.d2(x)

# Create an instance of the model
model = MyModel()

loss_object = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

optimizer = tf.keras.optimizers.Adam()

train_loss = tf.keras.metrics.Mean(name='train_loss')
train_accuracy = tf.keras.metrics.SparseCategoricalAccuracy(name='train_accuracy')

test_loss = tf.keras.metrics.Mean(name='test_loss')
test_accuracy = tf.keras.metrics.SparseCategoricalAccuracy(name='test_accuracy')


@tf.function
def train_step(images, labels):
  with tf.GradientTape() as tape:
    # training=True is only needed if there are layers with different
    # behavior during training versus inference (e.g. Dropout).
    predictions = model(images, training=True)
    loss = loss_object(labels, predictions)
  gradients = tape.gradient(loss, model.trainable_variables)
  optimizer.apply_gradients(zip(gradients, model.trainable_variables))

  train_loss(loss)
  train_accuracy(labels, predictions)
  tf.print("ORACLE", "loss", loss, output_stream=sys.stdout)


@tf.function
def test_step(images, labels):
  # training=False is only needed if there are layers with different
  # behavior during training versus inference (e.g. Dropout).
  predictions = model(images, training=False)
  t_loss = loss_object(labels, predictions)

  test_loss(t_loss)
  test_accuracy(labels, predictions)


EPOCHS = 2

for epoch in range(EPOCHS):
  # Reset the metrics at the start of the next epoch
  train_loss.reset_state()
  train_accuracy.reset_state()
  test_loss.reset_state()
  test_accuracy.reset_state()

  for images, labels in train_ds:
    train_step(images, labels)

  for test_images, test_labels in test_ds:
    test_step(test_images, test_labels)

  print(
    f'Epoch {epoch + 1}, '
    f'Loss: {train_loss.result():0.2f}, '
    f'Accuracy: {train_accuracy.result() * 100:0.2f}, '
    f'Test Loss: {test_loss.result():0.2f}, '
    f'Test Accuracy: {test_accuracy.result() * 100:0.2f}'
  )
