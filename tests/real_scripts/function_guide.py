"""The training steps of TensorFlow's guide "Better performance with tf.function" (tensorflow/docs
site/en/guide/function.ipynb), section "Using with multiple Keras optimizers": steps that return nothing,
one GradientTape target `L` each, on one scalar variable `w`.

1. `TrainStep(tf.Module)` with an `@tf.function` `__call__`, one instance per optimizer: `train_o1` and
   `train_o2` each called once;
2. one Python `train_step` wrapped twice, `train_step_1 = tf.function(train_step)` and
   `train_step_2 = tf.function(train_step)`, called alternately with `opt1` and `opt2`, 10 calls.

As in the guide, except that the guide's call showing that one tf.function refuses a second optimizer
(a ValueError) is left out. The steps return nothing, so before each call the script computes the loss
the step is about to compute (w, x, y are what the step reads) and prints it as one JSON line:
{"part": p, "loss": ...}.
"""

import json

import tensorflow as tf

w = tf.Variable(2.0)
x = tf.constant([-1.0])
y = tf.constant([2.0])


def report(part):
    print(json.dumps({"part": part, "loss": float(tf.reduce_sum(tf.square(w * x - y)))}), flush=True)


class TrainStep(tf.Module):
    def __init__(self, optimizer):
        self.optimizer = optimizer

    @tf.function
    def __call__(self, w, x, y):
        with tf.GradientTape() as tape:
            L = tf.reduce_sum(tf.square(w * x - y))
        gradients = tape.gradient(L, [w])
        self.optimizer.apply_gradients(zip(gradients, [w]))


opt1 = tf.keras.optimizers.Adam(learning_rate=1e-2)
opt2 = tf.keras.optimizers.Adam(learning_rate=1e-3)

train_o1 = TrainStep(opt1)
train_o2 = TrainStep(opt2)

report(1)
train_o1(w, x, y)
report(1)
train_o2(w, x, y)

opt1 = tf.keras.optimizers.Adam(learning_rate=1e-2)
opt2 = tf.keras.optimizers.Adam(learning_rate=1e-3)


# Not a tf.function.
def train_step(w, x, y, optimizer):
    with tf.GradientTape() as tape:
        L = tf.reduce_sum(tf.square(w * x - y))
    gradients = tape.gradient(L, [w])
    optimizer.apply_gradients(zip(gradients, [w]))


w = tf.Variable(2.0)
x = tf.constant([-1.0])
y = tf.constant([2.0])

# Make a new tf.function and ConcreteFunction for each optimizer.
train_step_1 = tf.function(train_step)
train_step_2 = tf.function(train_step)
for i in range(10):
    report(2)
    if i % 2 == 0:
        train_step_1(w, x, y, opt1)
    else:
        train_step_2(w, x, y, opt2)
