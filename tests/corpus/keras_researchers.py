"""Keras guide "Introduction to Keras for Researchers" (fchollet): its training loops one after the other,
each one phase: (1) an eager loop training a hand-written `Linear` layer (weights from `add_weight` in
`build`) with SGD; (2) an eager loop training `SparseMLP`, whose `ActivityRegularization` sublayer calls
`self.add_loss`, the loss plus `sum(mlp.losses)`, and `tape.gradient` called *inside* the `with
tf.GradientTape()` block; (3) an eager loop over 2 epochs updating a `SparseCategoricalAccuracy` metric and
resetting it each epoch; (4) a `@tf.function` `train_on_batch` (gradient again inside the tape block)
returning the loss; (5) `fit` on a `CustomModel` that sets its own optimizer in `__init__`, keeps its own
Mean / accuracy trackers and is compiled with `compile()` and no arguments; (6) the end-to-end VAE: a
`Layer` (not a Model) adding its KL term with `add_loss`, a `@tf.function` `training_step` that adds
`sum(vae.losses)` to the MSE and returns the loss, a loop that reads each loss with `float(loss)` and
stops with `break`.

Origin: keras-team/keras-io guides/intro_to_keras_for_researchers.py at commit
092e21c653cd0b4a5842c56de8237710802b2a20 (keras-io is over the fetch size limit; read through the file
index).

As published: `Linear`, `ActivityRegularization`, `SparseMLP`, `Sampling`, `Encoder`, `Decoder`,
`VariationalAutoEncoder`, `CustomModel`, the loop bodies, `train_on_batch`, `training_step`, their losses
and optimizers (SparseCategoricalCrossentropy(from_logits=True), SGD(1e-3), Adam(1e-3), MeanSquaredError)
and the loops' logging prints (each with its `float(loss)` or `accuracy.result()`), which go to stderr
here (the values they print may differ between runs, and the corpus compares stdout between runs).

Adapted: MNIST replaced by 48 synthetic rows of 64 features (8x8 "digits", float32 in [0, 1]) with labels
from 10 classes (numpy, seeded), in shuffled batches of 16 (3 an epoch; the guide: 64, and 32 for the VAE);
the VAE's original_dim 64, intermediate_dim 16, latent_dim 4 (784, 64, 32), its loop stopping at step 2
(`if step >= 2`, the guide: 1000); Keras 3 spellings: `import keras` for `tf.keras`, `tf.random.normal`
in `Sampling` (Keras 3 has no `keras.backend.random_normal`; keras-io's VAE example made the same change),
`accuracy.reset_state()` for `reset_states()`, `super().__init__()`; left out: the guide's plain
`model.fit(dataset, epochs=2)` just before the CustomModel (the same shape as keras_mnist_convnet.py), its
functional-API VAE with `vae.add_loss(kl_loss)` on a symbolic tensor (refused by Keras 3), and the
hypernetwork (it marks layers `built` and assigns kernels, which Keras 3 does not allow); `CustomModel`
fits 1 epoch (the guide: 2) with `verbose=0`; and the ORACLE probe, one line per step:
`tf.print("ORACLE", "loss", <the loss>)` in the loop body right after the loss in loops 1-3, inside the
`tf.function` in 4 and 6, and for the fit a callback that prints, after each training batch, the logs
Keras hands to callbacks (what eagerrun records for fit) as `ORACLE <name> <value> ...`.
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


x_train = rng.random((48, 64)).astype("float32")
y_train = rng.integers(0, 10, size=(48,))


def make_dataset():
    dataset = tf.data.Dataset.from_tensor_slices((x_train, y_train))
    return dataset.shuffle(buffer_size=1024).batch(16)


class Linear(keras.layers.Layer):
    """y = w.x + b"""

    def __init__(self, units=32):
        super().__init__()
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(
            shape=(input_shape[-1], self.units),
            initializer="random_normal",
            trainable=True,
        )
        self.b = self.add_weight(shape=(self.units,), initializer="random_normal", trainable=True)

    def call(self, inputs):
        return tf.matmul(inputs, self.w) + self.b


# 1. Layer gradients.
dataset = make_dataset()

linear_layer = Linear(10)

loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

optimizer = keras.optimizers.SGD(learning_rate=1e-3)

for step, (x, y) in enumerate(dataset):
    with tf.GradientTape() as tape:
        logits = linear_layer(x)

        loss = loss_fn(y, logits)
    tf.print("ORACLE", "loss", loss, output_stream=sys.stdout)

    gradients = tape.gradient(loss, linear_layer.trainable_weights)

    optimizer.apply_gradients(zip(gradients, linear_layer.trainable_weights))

    if step % 100 == 0:
        print("Step:", step, "Loss:", float(loss), file=sys.stderr)


# 2. Tracking losses created by layers.
class ActivityRegularization(keras.layers.Layer):
    """Layer that creates an activity sparsity regularization loss."""

    def __init__(self, rate=1e-2):
        super().__init__()
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * tf.reduce_sum(inputs))
        return inputs


class SparseMLP(keras.layers.Layer):
    """Stack of Linear layers with a sparsity regularization loss."""

    def __init__(self):
        super().__init__()
        self.linear_1 = Linear(32)
        self.regularization = ActivityRegularization(1e-2)
        self.linear_3 = Linear(10)

    def call(self, inputs):
        x = self.linear_1(inputs)
        x = tf.nn.relu(x)
        x = self.regularization(x)
        return self.linear_3(x)


dataset = make_dataset()

mlp = SparseMLP()

loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
optimizer = keras.optimizers.SGD(learning_rate=1e-3)

for step, (x, y) in enumerate(dataset):
    with tf.GradientTape() as tape:
        logits = mlp(x)

        loss = loss_fn(y, logits)

        loss += sum(mlp.losses)
        tf.print("ORACLE", "loss", loss, output_stream=sys.stdout)

        gradients = tape.gradient(loss, mlp.trainable_weights)

    optimizer.apply_gradients(zip(gradients, mlp.trainable_weights))

    if step % 100 == 0:
        print("Step:", step, "Loss:", float(loss), file=sys.stderr)

# 3. Keeping track of training metrics.
accuracy = keras.metrics.SparseCategoricalAccuracy()

model = keras.Sequential(
    [
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(10),
    ]
)
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
optimizer = keras.optimizers.Adam(learning_rate=1e-3)

for epoch in range(2):
    for step, (x, y) in enumerate(dataset):
        with tf.GradientTape() as tape:
            logits = model(x)
            loss_value = loss_fn(y, logits)
        tf.print("ORACLE", "loss", loss_value, output_stream=sys.stdout)

        accuracy.update_state(y, logits)

        gradients = tape.gradient(loss_value, model.trainable_weights)
        optimizer.apply_gradients(zip(gradients, model.trainable_weights))

        if step % 200 == 0:
            print("Epoch:", epoch, "Step:", step, file=sys.stderr)
            print("Total running accuracy so far: %.3f" % accuracy.result(), file=sys.stderr)

    accuracy.reset_state()

# 4. Compiled functions.
model = keras.Sequential(
    [
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(10),
    ]
)
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
optimizer = keras.optimizers.Adam(learning_rate=1e-3)


@tf.function
def train_on_batch(x, y):
    with tf.GradientTape() as tape:
        logits = model(x)
        loss = loss_fn(y, logits)
        gradients = tape.gradient(loss, model.trainable_weights)
    optimizer.apply_gradients(zip(gradients, model.trainable_weights))
    tf.print("ORACLE", "loss", loss, output_stream=sys.stdout)
    return loss


dataset = make_dataset()

for step, (x, y) in enumerate(dataset):
    loss = train_on_batch(x, y)
    if step % 100 == 0:
        print("Step:", step, "Loss:", float(loss), file=sys.stderr)


# 5. A Model subclass with its own train_step, optimizer and trackers, trained with fit.
class CustomModel(keras.Model):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy = keras.metrics.SparseCategoricalAccuracy()
        self.loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        self.optimizer = keras.optimizers.Adam(learning_rate=1e-3)

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.loss_fn(y, y_pred)
        gradients = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        self.loss_tracker.update_state(loss)
        self.accuracy.update_state(y, y_pred)
        return {"loss": self.loss_tracker.result(), "accuracy": self.accuracy.result()}

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy]


inputs = keras.Input(shape=(64,), dtype="float32")
x = keras.layers.Dense(32, activation="relu")(inputs)
x = keras.layers.Dense(32, activation="relu")(x)
outputs = keras.layers.Dense(10)(x)
model = CustomModel(inputs, outputs)
model.compile()
model.fit(dataset, epochs=1, verbose=0, callbacks=[Oracle()])


# 6. End-to-end experiment example 1: variational autoencoders.
class Sampling(layers.Layer):
    """Uses (z_mean, z_log_var) to sample z, the vector encoding a digit."""

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch = tf.shape(z_mean)[0]
        dim = tf.shape(z_mean)[1]
        epsilon = tf.random.normal(shape=(batch, dim))
        return z_mean + tf.exp(0.5 * z_log_var) * epsilon


class Encoder(layers.Layer):
    """Maps MNIST digits to a triplet (z_mean, z_log_var, z)."""

    def __init__(self, latent_dim=32, intermediate_dim=64, **kwargs):
        super().__init__(**kwargs)
        self.dense_proj = layers.Dense(intermediate_dim, activation=tf.nn.relu)
        self.dense_mean = layers.Dense(latent_dim)
        self.dense_log_var = layers.Dense(latent_dim)
        self.sampling = Sampling()

    def call(self, inputs):
        x = self.dense_proj(inputs)
        z_mean = self.dense_mean(x)
        z_log_var = self.dense_log_var(x)
        z = self.sampling((z_mean, z_log_var))
        return z_mean, z_log_var, z


class Decoder(layers.Layer):
    """Converts z, the encoded digit vector, back into a readable digit."""

    def __init__(self, original_dim, intermediate_dim=64, **kwargs):
        super().__init__(**kwargs)
        self.dense_proj = layers.Dense(intermediate_dim, activation=tf.nn.relu)
        self.dense_output = layers.Dense(original_dim, activation=tf.nn.sigmoid)

    def call(self, inputs):
        x = self.dense_proj(inputs)
        return self.dense_output(x)


class VariationalAutoEncoder(layers.Layer):
    """Combines the encoder and decoder into an end-to-end model for training."""

    def __init__(self, original_dim, intermediate_dim=64, latent_dim=32, **kwargs):
        super().__init__(**kwargs)
        self.original_dim = original_dim
        self.encoder = Encoder(latent_dim=latent_dim, intermediate_dim=intermediate_dim)
        self.decoder = Decoder(original_dim, intermediate_dim=intermediate_dim)

    def call(self, inputs):
        z_mean, z_log_var, z = self.encoder(inputs)
        reconstructed = self.decoder(z)
        kl_loss = -0.5 * tf.reduce_mean(z_log_var - tf.square(z_mean) - tf.exp(z_log_var) + 1)
        self.add_loss(kl_loss)
        return reconstructed


vae = VariationalAutoEncoder(original_dim=64, intermediate_dim=16, latent_dim=4)

loss_fn = keras.losses.MeanSquaredError()
optimizer = keras.optimizers.Adam(learning_rate=1e-3)

dataset = tf.data.Dataset.from_tensor_slices(x_train)
dataset = dataset.shuffle(buffer_size=1024).batch(16)


@tf.function
def training_step(x):
    with tf.GradientTape() as tape:
        reconstructed = vae(x)
        loss = loss_fn(x, reconstructed)
        loss += sum(vae.losses)
    grads = tape.gradient(loss, vae.trainable_weights)
    optimizer.apply_gradients(zip(grads, vae.trainable_weights))
    tf.print("ORACLE", "loss", loss, output_stream=sys.stdout)
    return loss


losses = []
for step, x in enumerate(dataset):
    loss = training_step(x)
    losses.append(float(loss))
    if step % 100 == 0:
        print("Step:", step, "Loss:", sum(losses) / len(losses), file=sys.stderr)

    if step >= 2:
        break
