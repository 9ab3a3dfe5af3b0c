"""TensorFlow's "Custom training: walkthrough" tutorial (penguin classification), on synthetic penguins.

Origin: tensorflow/docs site/en/tutorials/customization/custom_training_walkthrough.ipynb, commit
7c3650212740204359d4ceae481abc79345541be. Kept as published: the three-layer Sequential model (Dense with
`input_shape=(4,)`), its untrained predictions, `loss(model, x, y, training)`, the `grad()` helper (a
tape, returning the loss and `tape.gradient`), SGD(0.01), the single first step by hand with its two
prints, the training loop with no tf.function at all (`grad`, `apply_gradients`, the `Mean` and
`SparseCategoricalAccuracy` metric objects updated each batch, a print every 50 epochs), the test-set
accuracy loop, and the predictions on three unlabeled examples.

Adapted: tensorflow_datasets' penguins/processed replaced by 90 synthetic rows of 4 features in [0, 1] and
3 classes (numpy default_rng(0)), split as the tutorial does (the first 20% for test, the rest, 72 rows,
batched by 32: a ragged last batch of 8); the tfds dataframe and `info.features` prints and the plots left
out; 3 epochs instead of 201; `ORACLE loss <loss_value>` printed by tf.print in `grad()` (each call is one
training step: its loss is the gradient's target).
"""
# corpus: fast

import os
import sys

import keras
import numpy as np
import tensorflow as tf

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)

print("TensorFlow version: {}".format(tf.__version__))

class_names = ['Adélie', 'Chinstrap', 'Gentoo']

features_all = rng.uniform(size=(90, 4)).astype("float32")
labels_all = rng.integers(0, 3, size=(90,)).astype("int64")
ds_test = tf.data.Dataset.from_tensor_slices((features_all[:18], labels_all[:18]))
ds_train = tf.data.Dataset.from_tensor_slices((features_all[18:], labels_all[18:]))
assert isinstance(ds_test, tf.data.Dataset)

ds_train_batch = ds_train.batch(32)

features, labels = next(iter(ds_train_batch))
print(features)
print(labels)

model = tf.keras.Sequential([
  tf.keras.layers.Dense(10, activation=tf.nn.relu, input_shape=(4,)),  # input shape required
  tf.keras.layers.Dense(10, activation=tf.nn.relu),
  tf.keras.layers.Dense(3)
])

predictions = model(features)
predictions[:5]

tf.nn.softmax(predictions[:5])

print("Prediction: {}".format(tf.math.argmax(predictions, axis=1)))
print("    Labels: {}".format(labels))

loss_object = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

def loss(model, x, y, training):
  # training=training is needed only if there are layers with different
  # behavior during training versus inference (e.g. Dropout).
  y_ = model(x, training=training)

  return loss_object(y_true=y, y_pred=y_)

l = loss(model, features, labels, training=False)
print("Loss test: {}".format(l))


def grad(model, inputs, targets):
  with tf.GradientTape() as tape:
    loss_value = loss(model, inputs, targets, training=True)
  tf.print("ORACLE", "loss", loss_value, output_stream=sys.stdout)
  return loss_value, tape.gradient(loss_value, model.trainable_variables)


optimizer = tf.keras.optimizers.SGD(learning_rate=0.01)

loss_value, grads = grad(model, features, labels)

print("Step: {}, Initial Loss: {}".format(optimizer.iterations.numpy(),
                                          loss_value.numpy()))

optimizer.apply_gradients(zip(grads, model.trainable_variables))

print("Step: {},         Loss: {}".format(optimizer.iterations.numpy(),
                                          loss(model, features, labels, training=True).numpy()))

## Note: Rerunning this cell uses the same model parameters

# Keep results for plotting
train_loss_results = []
train_accuracy_results = []

num_epochs = 3

for epoch in range(num_epochs):
  epoch_loss_avg = tf.keras.metrics.Mean()
  epoch_accuracy = tf.keras.metrics.SparseCategoricalAccuracy()

  # Training loop - using batches of 32
  for x, y in ds_train_batch:
    # Optimize the model
    loss_value, grads = grad(model, x, y)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))

    # Track progress
    epoch_loss_avg.update_state(loss_value)  # Add current batch loss
    # Compare predicted label to actual label
    # training=True is needed only if there are layers with different
    # behavior during training versus inference (e.g. Dropout).
    epoch_accuracy.update_state(y, model(x, training=True))

  # End epoch
  train_loss_results.append(epoch_loss_avg.result())
  train_accuracy_results.append(epoch_accuracy.result())

  if epoch % 50 == 0:
    print("Epoch {:03d}: Loss: {:.3f}, Accuracy: {:.3%}".format(epoch,
                                                                epoch_loss_avg.result(),
                                                                epoch_accuracy.result()))

test_accuracy = tf.keras.metrics.Accuracy()
ds_test_batch = ds_test.batch(10)

for (x, y) in ds_test_batch:
  # training=False is needed only if there are layers with different
  # behavior during training versus inference (e.g. Dropout).
  logits = model(x, training=False)
  prediction = tf.math.argmax(logits, axis=1, output_type=tf.int64)
  test_accuracy(prediction, y)

print("Test set accuracy: {:.3%}".format(test_accuracy.result()))

tf.stack([y,prediction],axis=1)

predict_dataset = tf.convert_to_tensor([
    [0.3, 0.8, 0.4, 0.5,],
    [0.4, 0.1, 0.8, 0.5,],
    [0.7, 0.9, 0.8, 0.4]
])

# training=False is needed only if there are layers with different
# behavior during training versus inference (e.g. Dropout).
predictions = model(predict_dataset, training=False)

for i, logits in enumerate(predictions):
  class_idx = tf.math.argmax(logits).numpy()
  p = tf.nn.softmax(logits)[class_idx]
  name = class_names[class_idx]
  print("Example {} prediction: {} ({:4.1f}%)".format(i, name, 100*p))
