"""The baselines eagerrun is measured against, written as TensorFlow's guides write them.

    python benchmarks/handwritten.py {function,eager,fit} STEPS TIMES.json

`function`: a `@tf.function` GradientTape step in a Python loop. `eager`: the same step without
`tf.function`. `fit`: Keras `fit` with its defaults (steps_per_execution=1, jit_compile="auto", which is
off on a CPU), verbose=0 so no progress bar is drawn. Each step is timed the way eagerrun times it: from
asking for the batch until the loss is a Python float (for fit: between consecutive batch ends), and the
times are written as a JSON list.
"""

import json
import sys
import time

import keras
import tensorflow as tf
from bench_model import build


def guide_step(model, optimizer, loss_fn):
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(loss_fn(y, model(x, training=True)))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return train_step


class GuideLoop:
    """The guides' loop over one model; its step is compiled once and reused by every `run`."""

    def __init__(self, parts, *, compiled):
        self.step = guide_step(parts["model"], parts["optimizer"], keras.losses.get(parts["loss"]))
        if compiled:
            self.step = tf.function(self.step)
        self.dataset = parts["dataset"]

    def run(self, steps):
        times, iterator = [], iter(self.dataset)
        for _ in range(steps):
            started = time.perf_counter()
            x, y = next(iterator)
            float(self.step(x, y))
            times.append(time.perf_counter() - started)
        return times


class BatchEnds(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.ends = [time.perf_counter()]

    def on_train_batch_end(self, batch, logs=None):
        float(logs["loss"])  # the loss on the host, as the other loops have it
        self.ends.append(time.perf_counter())


def keras_fit(parts, steps):
    model = parts["model"]
    model.compile(optimizer=parts["optimizer"], loss=parts["loss"])
    ends = BatchEnds()
    model.fit(parts["dataset"], epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[ends])
    return [b - a for a, b in zip(ends.ends, ends.ends[1:])]


def main():
    kind, steps, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    keras.utils.set_random_seed(0)
    parts = build()
    if kind == "fit":
        times = keras_fit(parts, steps)
    else:
        times = GuideLoop(parts, compiled=kind == "function").run(steps)
    with open(out, "w") as f:
        json.dump(times, f)


if __name__ == "__main__":
    main()
