"""TensorFlow's "Custom training with tf.distribute.Strategy" tutorial, its whole-epoch tf.function variant.

Origin: tensorflow/docs site/en/tutorials/distribute/custom_training.ipynb, commit
7c3650212740204359d4ceae481abc79345541be. Kept as published: `tf.distribute.MirroredStrategy()` (devices
auto-detected: one CPU replica here), `experimental_distribute_dataset`, the model, loss and metrics created
under `strategy.scope()`, `compute_loss` with `tf.nn.compute_average_loss` and
`tf.nn.scale_regularization_loss`, Adam(0.001), the checkpoint, `train_step`, and the last cell's variant: the
`@tf.function distributed_train_epoch(dataset)` iterating the distributed dataset inside itself
(`strategy.run` and `total_loss += strategy.reduce(...)` each batch), returning the epoch's mean loss, called
once per epoch.

Adapted: Fashion-MNIST replaced by 72 train and 16 test synthetic 12x12x1 images with 10 classes (numpy
default_rng(0)); filters 32/64 -> 4/8 and the Dense layer 64 -> 16 units; BATCH_SIZE_PER_REPLICA 64 -> 16 (a
ragged last batch of 8: 5 batches per epoch, so `ORACLE_STEPS_PER_CALL 5`); 2 epochs instead of 10; the
metrics' `reset_states()` spelled `reset_state()` (Keras 3); the epoch line prints the epoch only (its loss
and accuracy are floats an eager run may round differently); one ORACLE line per call, printed by tf.print
after the loop: `ORACLE loss <the epoch's mean reduced loss>`, the value the call returns (what eagerrun
records for a call whose training runs in strategy.run replicas, and what the tutorial prints); the training cells before the
variant (distributed_train_step's epoch loop, the test loop, the checkpoint restore) left out.
"""

import os
import sys

import keras
import numpy as np
import tensorflow as tf

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)

print(tf.__version__)

train_images = rng.integers(0, 256, size=(72, 12, 12)).astype("uint8")
train_labels = rng.integers(0, 10, size=(72,)).astype("uint8")
test_images = rng.integers(0, 256, size=(16, 12, 12)).astype("uint8")
test_labels = rng.integers(0, 10, size=(16,)).astype("uint8")

# Add a dimension to the array -> new shape == (28, 28, 1)
# This is done because the first layer in our model is a convolutional
# layer and it requires a 4D input (batch_size, height, width, channels).
# batch_size dimension will be added later on.
train_images = train_images[..., None]
test_images = test_images[..., None]

# Scale the images to the [0, 1] range.
train_images = train_images / np.float32(255)
test_images = test_images / np.float32(255)

# If the list of devices is not specified in
# `tf.distribute.MirroredStrategy` constructor, they will be auto-detected.
strategy = tf.distribute.MirroredStrategy()

print('Number of devices: {}'.format(strategy.num_replicas_in_sync))

BUFFER_SIZE = len(train_images)

BATCH_SIZE_PER_REPLICA = 16
GLOBAL_BATCH_SIZE = BATCH_SIZE_PER_REPLICA * strategy.num_replicas_in_sync

EPOCHS = 2

train_dataset = tf.data.Dataset.from_tensor_slices((train_images, train_labels)).shuffle(BUFFER_SIZE).batch(GLOBAL_BATCH_SIZE)
test_dataset = tf.data.Dataset.from_tensor_slices((test_images, test_labels)).batch(GLOBAL_BATCH_SIZE)

train_dist_dataset = strategy.experimental_distribute_dataset(train_dataset)
test_dist_dataset = strategy.experimental_distribute_dataset(test_dataset)


def create_model():
  regularizer = tf.keras.regularizers.L2(1e-5)
  model = tf.keras.Sequential([
      tf.keras.layers.Conv2D(4, 3,
                             activation='relu',
                             kernel_regularizer=regularizer),
      tf.keras.layers.MaxPooling2D(),
      tf.keras.layers.Conv2D(8, 3,
                             activation='relu',
                             kernel_regularizer=regularizer),
      tf.keras.layers.MaxPooling2D(),
      tf.keras.layers.Flatten(),
      tf.keras.layers.Dense(16,
                            activation='relu',
                            kernel_regularizer=regularizer),
      tf.keras.layers.Dense(10, kernel_regularizer=regularizer)
    ])

  return model


# Create a checkpoint directory to store the checkpoints.
checkpoint_dir = './training_checkpoints'
checkpoint_prefix = os.path.join(checkpoint_dir, "ckpt")

with strategy.scope():
  # Set reduction to `NONE` so you can do the reduction yourself.
  loss_object = tf.keras.losses.SparseCategoricalCrossentropy(
      from_logits=True,
      reduction=tf.keras.losses.Reduction.NONE)
  def compute_loss(labels, predictions, model_losses):
    per_example_loss = loss_object(labels, predictions)
    loss = tf.nn.compute_average_loss(per_example_loss)
    if model_losses:
      loss += tf.nn.scale_regularization_loss(tf.add_n(model_losses))
    return loss

with strategy.scope():
  test_loss = tf.keras.metrics.Mean(name='test_loss')

  train_accuracy = tf.keras.metrics.SparseCategoricalAccuracy(
      name='train_accuracy')
  test_accuracy = tf.keras.metrics.SparseCategoricalAccuracy(
      name='test_accuracy')

# A model, an optimizer, and a checkpoint must be created under `strategy.scope`.
with strategy.scope():
  model = create_model()

  optimizer = tf.keras.optimizers.Adam(learning_rate=0.001)

  checkpoint = tf.train.Checkpoint(optimizer=optimizer, model=model)


def train_step(inputs):
  images, labels = inputs

  with tf.GradientTape() as tape:
    predictions = model(images, training=True)
    loss = compute_loss(labels, predictions, model.losses)

  gradients = tape.gradient(loss, model.trainable_variables)
  optimizer.apply_gradients(zip(gradients, model.trainable_variables))

  train_accuracy.update_state(labels, predictions)
  return loss

def test_step(inputs):
  images, labels = inputs

  predictions = model(images, training=False)
  t_loss = loss_object(labels, predictions)

  test_loss.update_state(t_loss)
  test_accuracy.update_state(labels, predictions)


@tf.function
def distributed_train_epoch(dataset):
  total_loss = 0.0
  num_batches = 0
  for x in dataset:
    per_replica_losses = strategy.run(train_step, args=(x,))
    total_loss += strategy.reduce(
      tf.distribute.ReduceOp.SUM, per_replica_losses, axis=None)
    num_batches += 1
  tf.print("ORACLE", "loss", total_loss / tf.cast(num_batches, dtype=tf.float32), output_stream=sys.stdout)  # probe
  return total_loss / tf.cast(num_batches, dtype=tf.float32)

print("ORACLE_STEPS_PER_CALL", len(train_dataset))

for epoch in range(EPOCHS):
  train_loss = distributed_train_epoch(train_dist_dataset)

  template = ("Epoch {}")
  print(template.format(epoch + 1))

  train_accuracy.reset_state()
