"""Every hooked call in the forms scripts use: `fit` with all its arguments positional (callbacks the 6th),
with a tuple of callbacks by keyword, with a CallbackList; `tape.gradient` and `optimizer.apply` by keyword.
Prints what the script itself sees (its History, its callbacks list untouched), as under python."""

import json

import keras
import numpy as np
import tensorflow as tf

keras.utils.set_random_seed(0)
x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
y = x.sum(axis=1, keepdims=True)
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
history = keras.callbacks.History()
mine = [history]
model.fit(x, y, 32, 1, 0, mine)
print(json.dumps({"positional_epochs": history.epoch, "callbacks_kept": len(mine)}))
model.fit(x=x, y=y, batch_size=16, epochs=1, verbose=0, callbacks=(keras.callbacks.History(),))
model.fit(x, y, batch_size=32, epochs=1, verbose=0,
          callbacks=keras.callbacks.CallbackList([keras.callbacks.History()], model=model))

optimizer = keras.optimizers.SGD(0.01)


@tf.function
def train_step(xb, yb):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean((model(xb) - yb) ** 2)
    grads = tape.gradient(target=loss, sources=model.trainable_variables)
    optimizer.apply(grads=grads, trainable_variables=model.trainable_variables)
    return loss


for _ in range(3):
    print(json.dumps({"loss": float(train_step(x, y))}))
