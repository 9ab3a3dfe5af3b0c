"""Keras' guide "Writing a training loop from scratch in TensorFlow", its `tf.function` train step.

Origin: keras-team/keras-io guides/writing_a_custom_training_loop_in_tensorflow.py, commit
1806537c4333fbff1f9fd038b78179beeda480fb, section "Speeding-up your training step with tf.function" (the
shape TensorFlow's basic training loops take: a `@tf.function` train_step with a GradientTape and a Keras
Adam applied through `optimizer.apply`, a Python loop over epochs and over a batched `Dataset`).

Adapted: MNIST replaced by 100 rows of 16 synthetic features (numpy default_rng(0)) and 10 classes; the
model's Dense layers shrunk from 64 to 8 units; 2 epochs (as the guide) over batches of 32 (kept), so
each epoch ends with a ragged batch of 4 that retraces the step; the step returns nothing (the guide's
`return loss_value` removed: eagerrun must find the loss itself) and prints `ORACLE loss <loss_value>` with
`tf.print`; the "every 100 batches" print and the validation loop, timing and accuracy prints left out.
"""
# corpus: fast

import sys

import keras
import numpy as np
import tensorflow as tf

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)


def get_model():
    inputs = keras.Input(shape=(16,), name="digits")
    x1 = keras.layers.Dense(8, activation="relu")(inputs)
    x2 = keras.layers.Dense(8, activation="relu")(x1)
    outputs = keras.layers.Dense(10, name="predictions")(x2)
    model = keras.Model(inputs=inputs, outputs=outputs)
    return model


model = get_model()

# Instantiate an optimizer.
optimizer = keras.optimizers.Adam(learning_rate=1e-3)
# Instantiate a loss function.
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

# Prepare the training dataset.
batch_size = 32
x_train = rng.normal(size=(100, 16)).astype("float32")
y_train = rng.integers(0, 10, size=(100,)).astype("int64")

train_dataset = tf.data.Dataset.from_tensor_slices((x_train, y_train))
train_dataset = train_dataset.shuffle(buffer_size=1024).batch(batch_size)

train_acc_metric = keras.metrics.SparseCategoricalAccuracy()


@tf.function
def train_step(x, y):
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss_value = loss_fn(y, logits)
    grads = tape.gradient(loss_value, model.trainable_weights)
    optimizer.apply(grads, model.trainable_weights)
    train_acc_metric.update_state(y, logits)
    tf.print("ORACLE", "loss", loss_value, output_stream=sys.stdout)


epochs = 2
for epoch in range(epochs):
    print(f"Start of epoch {epoch}")

    # Iterate over the batches of the dataset.
    for step, (x_batch_train, y_batch_train) in enumerate(train_dataset):
        train_step(x_batch_train, y_batch_train)

    # Reset training metrics at the end of each epoch
    train_acc_metric.reset_state()
