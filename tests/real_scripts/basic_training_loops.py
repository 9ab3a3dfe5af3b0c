"""TensorFlow's guide "Basic training loops" (tensorflow/docs site/en/guide/basic_training_loops.ipynb): a
linear model, first as a `tf.Module` with two `tf.Variable`s trained by a tape-only loop (no optimizer, no
tf.function: `t.gradient`, then `assign_sub` on each variable, one `train()` call per epoch), then as a
Keras model trained with `fit`.

As in the guide: 201 noisy points on the line 3x + 2, the weights starting at 5 and 0, 10 epochs of each.
Not as in the guide, where TensorFlow 2.21 and Keras 3 need it: the Keras model's weights come from
`add_weight` (Keras 3 does not train a `tf.Variable` assigned to a model), the loss is
`keras.losses.mean_squared_error` (`tf.keras.losses` no longer has it), and fit is quiet (`verbose=0`).
No plots, and the guide's second run of the tape loop on the Keras model is left out.

Prints JSON lines: {"start_loss": ...} before the tape loop, then {"phase": 1, "loss_after": ...} after
each `train()` call (the loss the guide reports, after the update), then {"phase": 2, "epoch": e,
"loss": ...} with the logs Keras hands to callbacks after each fit batch. `--tape-only` stops after the
tape loop, so that nothing runs as a tf.function.
"""

import json
import sys

import keras
import tensorflow as tf

tf.random.set_seed(0)

# The actual line
TRUE_W = 3.0
TRUE_B = 2.0

NUM_EXAMPLES = 201

# A vector of random x values
x = tf.linspace(-2, 2, NUM_EXAMPLES)
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

# Verify the model works
assert model(3.0).numpy() == 15.0


# This computes a single loss value for an entire batch
def loss(target_y, predicted_y):
    return tf.reduce_mean(tf.square(target_y - predicted_y))


# Given a callable model, inputs, outputs, and a learning rate...
def train(model, x, y, learning_rate):
    with tf.GradientTape() as t:
        # Trainable variables are automatically tracked by GradientTape
        current_loss = loss(y, model(x))

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


def training_loop(model, x, y):
    for epoch in epochs:
        # Update the model with the single giant batch
        train(model, x, y, learning_rate=0.1)

        # Track this before I update
        weights.append(model.w.numpy())
        biases.append(model.b.numpy())
        current_loss = loss(y, model(x))

        print(json.dumps({"phase": 1, "loss_after": float(current_loss)}), flush=True)


current_loss = loss(y, model(x))
print(json.dumps({"start_loss": float(current_loss)}), flush=True)

training_loop(model, x, y)


class MyModelKeras(tf.keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # Initialize the weights to `5.0` and the bias to `0.0`
        self.w = self.add_weight(shape=(), initializer=keras.initializers.Constant(5.0))
        self.b = self.add_weight(shape=(), initializer=keras.initializers.Constant(0.0))

    def call(self, x):
        return self.w * x + self.b


class PrintLogs(keras.callbacks.Callback):
    """What Keras passes to callbacks after each training batch, as one JSON line."""

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        values = {name: float(value) for name, value in (logs or {}).items()}
        print(json.dumps({"phase": 2, "epoch": self.epoch, **values}), flush=True)


if "--tape-only" not in sys.argv[1:]:
    keras_model = MyModelKeras()

    # compile sets the training parameters
    keras_model.compile(
        # By default, fit() uses tf.function().  You can
        # turn that off for debugging, but it is on now.
        run_eagerly=False,
        # Using a built-in optimizer, configuring as an object
        optimizer=tf.keras.optimizers.SGD(learning_rate=0.1),
        # Keras comes with built-in MSE error
        loss=keras.losses.mean_squared_error,
    )

    keras_model.fit(x, y, epochs=10, batch_size=1000, verbose=0, callbacks=[PrintLogs()])
