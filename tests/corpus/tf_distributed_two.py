"""TensorFlow's "Custom training with tf.distribute.Strategy" tutorial, two CPU replicas, on synthetic images.

Origin: tensorflow/docs site/en/tutorials/distribute/custom_training.ipynb, commit
7c3650212740204359d4ceae481abc79345541be. Kept as published: `tf.distribute.MirroredStrategy`,
`experimental_distribute_dataset`, the model, loss and metrics created under `strategy.scope()`,
`compute_loss` with `tf.nn.compute_average_loss` and `tf.nn.scale_regularization_loss`, Adam(0.001), the
checkpoint, `train_step`/`test_step` and the `@tf.function distributed_train_step` calling
`strategy.run(train_step, ...)` and returning `strategy.reduce(SUM, ...)`, `distributed_test_step`, and the
epoch loop summing the returned losses.

Adapted: the CPU split into two logical devices (`tf.config.set_logical_device_configuration`, before anything
else touches a device) and the strategy given both, `MirroredStrategy(["/cpu:0", "/cpu:1"])`, so that each
batch is split over two replicas and distributed_train_step reduces two losses; Fashion-MNIST replaced by 72
train and 16 test synthetic 12x12x1 images with 10 classes (numpy default_rng(0)); filters 32/64 -> 4/8 and
the Dense layer 64 -> 16 units; BATCH_SIZE_PER_REPLICA 64 -> 16 (global batches of 32, 32 and a ragged 8 each
epoch); the model and Adam built under the scope before training (`model.build`, `optimizer.build`): under two
replicas, creating their variables in the first distributed_train_step call fails under plain python with
TensorFlow 2.21 and Keras 3 ("You must feed a value for placeholder tensor 'cond/else/_1/cond/Placeholder'",
in tf.function's fn_with_cond); 2 epochs instead of 10; the metrics' `reset_states()` spelled `reset_state()`
(Keras 3); the epoch line prints the epoch only (its losses and accuracies are floats an eager run may round
differently); the reduced loss bound to a name so that distributed_train_step can print `ORACLE loss <loss>`
(tf.print, in the outer function, not per replica) before returning it; the cells after the training loop
(restoring without a strategy, the iterator and epoch-function variants) left out.
"""

import os
import sys

import keras
import numpy as np
import tensorflow as tf

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)

print(tf.__version__)

cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])

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

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])

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

  model.build((None, 12, 12, 1))
  optimizer.build(model.trainable_variables)


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


# `run` replicates the provided computation and runs it
# with the distributed input.
@tf.function
def distributed_train_step(dataset_inputs):
  per_replica_losses = strategy.run(train_step, args=(dataset_inputs,))
  reduced = strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica_losses,
                            axis=None)
  tf.print("ORACLE", "loss", reduced, output_stream=sys.stdout)
  return reduced

@tf.function
def distributed_test_step(dataset_inputs):
  return strategy.run(test_step, args=(dataset_inputs,))

for epoch in range(EPOCHS):
  # TRAIN LOOP
  total_loss = 0.0
  num_batches = 0
  for x in train_dist_dataset:
    total_loss += distributed_train_step(x)
    num_batches += 1
  train_loss = total_loss / num_batches

  # TEST LOOP
  for x in test_dist_dataset:
    distributed_test_step(x)

  if epoch % 2 == 0:
    checkpoint.save(checkpoint_prefix)

  template = ("Epoch {}")
  print(template.format(epoch + 1))

  test_loss.reset_state()
  train_accuracy.reset_state()
  test_accuracy.reset_state()
