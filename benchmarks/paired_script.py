"""What eagerrun's hooks cost a plain script's step, measured paired in one process.

    python benchmarks/paired_script.py [--blocks 40] [--steps 100]     # prints one JSON object

Fresh processes on a small shared machine scatter by 10-40% from one to the next (bench_overhead.py shows
the spread), more than the few percent to be measured. Here one process holds the same workload twice:
one copy runs with every eagerrun hook installed and a step collector recording (its tf.function traced
under the hooks, so its graph is the one eagerrun would run), the other plain; blocks of steps alternate
between them in random order, so both see the machine at the same moments, and the ratio is taken per pair
of blocks. A second plain copy in the same rotation is an A/A control: its ratio to the first is the
measure's own noise. Workloads as in bench_overhead.py: an @tf.function custom loop returning its loss, the
same loop returning nothing (its loss read through eagerrun's ring), and Keras fit.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import keras
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_model import BATCH, make_data, make_model  # noqa: E402

from eagerrun import hooks  # noqa: E402
from eagerrun.autolog import StepCollector  # noqa: E402
from eagerrun.records import Recorder  # noqa: E402
from eagerrun.tracing import TraceCounter  # noqa: E402


def dataset() -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices(make_data(4096)).batch(BATCH, drop_remainder=True).repeat()


def custom_loop(*, returns_loss: bool) -> Callable[[int], None]:
    """A fresh model, optimizer and @tf.function step; the returned function runs n steps."""
    model, optimizer, loss_fn = make_model(), keras.optimizers.Adam(1e-3), keras.losses.MeanSquaredError()
    batches = iter(dataset())

    @tf.function
    def train_step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor | None:
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss if returns_loss else None

    def run(n: int) -> None:
        for _ in range(n):
            x, y = next(batches)
            train_step(x, y)

    return run


def keras_fit() -> Callable[[int], None]:
    model = make_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    data = dataset()

    def run(n: int) -> None:
        model.fit(data, steps_per_epoch=n, epochs=1, verbose=0)

    return run


def measure(make: Callable[[], Callable[[int], None]], *, blocks: int, steps: int) -> dict[str, float]:
    """Median per-pair ratios hooked / plain and plain copy / plain (the control), and ms per step."""
    collector = StepCollector(Recorder(mode="graph"), TraceCounter(), autolog=True, eager=False)
    installed = lambda: hooks.installed(traces=collector.traces, steps=collector)  # noqa: E731
    plain, control = make(), make()
    with installed():
        hooked = make()
        hooked(steps)  # traced under the hooks, as under eagerrun
    plain(steps)
    control(steps)
    times: dict[str, list[float]] = {"plain": [], "hooked": [], "control": []}
    for _ in range(blocks):
        order = list(times)
        random.shuffle(order)
        for name in order:
            started = time.perf_counter()
            if name == "hooked":
                with installed():
                    hooked(steps)
            else:
                (plain if name == "plain" else control)(steps)
            times[name].append((time.perf_counter() - started) / steps)
        collector.flush_steps()
    ratio = [h / p for h, p in zip(times["hooked"], times["plain"])]
    control_ratio = [c / p for c, p in zip(times["control"], times["plain"])]
    return {"ratio": statistics.median(ratio), "control_ratio": statistics.median(control_ratio),
            "plain_ms": 1e3 * statistics.median(times["plain"]), "hooked_ms": 1e3 * statistics.median(times["hooked"]),
            "recorded": len(collector.recorder.records)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=40)
    parser.add_argument("--steps", type=int, default=100, help="steps per block")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    results = {
        "custom_loop": measure(lambda: custom_loop(returns_loss=True), blocks=args.blocks, steps=args.steps),
        "custom_loop_returning_nothing": measure(lambda: custom_loop(returns_loss=False), blocks=args.blocks,
                                                 steps=args.steps),
        "keras_fit": measure(keras_fit, blocks=args.blocks, steps=args.steps),
    }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
