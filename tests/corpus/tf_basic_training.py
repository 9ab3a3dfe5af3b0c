"""TensorFlow's guide "Basic training loops": a tf.Module trained by hand, the same loop on a Keras model, fit.

Origin: tensorflow/docs site/en/guide/basic_training_loops.ipynb, commit
7c3650212740204359d4ceae481abc79345541be. Kept as published: 201 noisy points on 3x + 2, `MyModel` as a
`tf.Module` with `w = 5.0`, `b = 0.0`, the MSE `loss`, `train()` (a tape, `t.gradient` over `[model.w,
model.b]`, `assign_sub` on each: no optimizer, no tf.function), `report` and `training_loop` over 10
epochs with their prints, then the same `training_loop` on a Keras model and that model compiled with
SGD(0.1) and trained by `fit(x, y, epochs=10, batch_size=1000)` (one batch of 201 per epoch). So three
phases: the module's loop, the Keras model's loop, fit.

Adapted, for TensorFlow 2.21 and Keras 3: `MyModelKeras` makes its weights with `add_weight` (Keras 3 does
not track a `tf.Variable` assigned to a model, so fit would have nothing to train), `save_weights` writes
`my_checkpoint.weights.h5` (Keras 3 needs that suffix), the loss is `keras.losses.mean_squared_error`
(`tf.keras.losses` no longer has it) and fit is quiet (`verbose=0`: its progress bar prints timings); no
plots. The ORACLE probe: `train()` prints `ORACLE loss <current_loss>` (the gradient's target, before the
update) with tf.print, and a Keras callback prints fit's per-batch logs as `ORACLE loss <v>`.
"""
# corpus: fast

import sys

import keras
import tensorflow as tf

keras.utils.set_random_seed(0)

# The actual line
TRUE_W = 3.0
TRUE_B = 2.0

NUM_EXAMPLES = 201

# A vector of random x values
x = tf.linspace(-2,2, NUM_EXAMPLES)
x = tf.cast(x, tf.float32)

def f(x):
  return x * TRUE_W + TRUE_B

# Generate some noise
noise = tf.random.normal(shape=[NUM_EXAMPLES])

# Calculate y
y = f(x) + noise


class MyModel(tf.Module):
  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    # Initialize the weights to `5.0` and the bias to `0.0`
    # In practice, these should be randomly initialized
    self.w = tf.Variable(5.0)
    self.b = tf.Variable(0.0)

  def __call__(self, x):
    return self.w * x + self.b

model = MyModel()

# List the variables tf.modules's built-in variable aggregation.
print("Variables:", model.variables)

# Verify the model works
assert model(3.0).numpy() == 15.0


# This computes a single loss value for an entire batch
def loss(target_y, predicted_y):
  return tf.reduce_mean(tf.square(target_y - predicted_y))


print("Current loss: %1.6f" % loss(y, model(x)).numpy())


# Given a callable model, inputs, outputs, and a learning rate...
def train(model, x, y, learning_rate):

  with tf.GradientTape() as t:
    # Trainable variables are automatically tracked by GradientTape
    current_loss = loss(y, model(x))
  tf.print("ORACLE", "loss", current_loss, output_stream=sys.stdout)

  # Use GradientTape to calculate the gradients with respect to W and b
  dw, db = t.gradient(current_loss, [model.w, model.b])

  # Subtract the gradient scaled by the learning rate
  model.w.assign_sub(learning_rate * dw)
  model.b.assign_sub(learning_rate * db)


model = MyModel()

# Collect the history of W-values and b-values to plot later
weights = []
biases = []
epochs = range(10)

# Define a training loop
def report(model, loss):
  return f"W = {model.w.numpy():1.2f}, b = {model.b.numpy():1.2f}, loss={loss:2.5f}"


def training_loop(model, x, y):

  for epoch in epochs:
    # Update the model with the single giant batch
    train(model, x, y, learning_rate=0.1)

    # Track this before I update
    weights.append(model.w.numpy())
    biases.append(model.b.numpy())
    current_loss = loss(y, model(x))

    print(f"Epoch {epoch:2d}:")
    print("    ", report(model, current_loss))


current_loss = loss(y, model(x))

print(f"Starting:")
print("    ", report(model, current_loss))

training_loop(model, x, y)

print("Current loss: %1.6f" % loss(model(x), y).numpy())


class MyModelKeras(tf.keras.Model):
  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    # Initialize the weights to `5.0` and the bias to `0.0`
    # In practice, these should be randomly initialized
    self.w = self.add_weight(shape=(), initializer=keras.initializers.Constant(5.0))
    self.b = self.add_weight(shape=(), initializer=keras.initializers.Constant(0.0))

  def call(self, x):
    return self.w * x + self.b

keras_model = MyModelKeras()

# Reuse the training loop with a Keras model
training_loop(keras_model, x, y)

# You can also save a checkpoint using Keras's built-in support
keras_model.save_weights("my_checkpoint.weights.h5")

keras_model = MyModelKeras()

# compile sets the training parameters
keras_model.compile(
    # By default, fit() uses tf.function().  You can
    # turn that off for debugging, but it is on now.
    run_eagerly=False,

    # Using a built-in optimizer, configuring as an object
    optimizer=tf.keras.optimizers.SGD(learning_rate=0.1),

    # Keras comes with built-in MSE error
    # However, you could use the loss function
    # defined above
    loss=keras.losses.mean_squared_error,
)


class Oracle(tf.keras.callbacks.Callback):
  def on_train_batch_end(self, batch, logs=None):
    print("ORACLE " + " ".join(f"{k} {float(v)!r}" for k, v in logs.items()))


print(x.shape[0])
keras_model.fit(x, y, epochs=10, batch_size=1000, verbose=0, callbacks=[Oracle()])
