"""What eagerrun's hooks cost a plain script's step, measured paired in one process.

    python benchmarks/paired_script.py [--blocks 40] [--steps 100] [--only custom_loop]   # prints one JSON object

Fresh processes on a small shared machine scatter by 10-40% from one to the next (bench_overhead.py shows
the spread), more than the few percent to be measured. Here one process holds the same workload twice:
one copy runs with every eagerrun hook installed and a step collector recording (its tf.function traced
under the hooks, so its graph is the one eagerrun would run), the other plain; blocks of steps alternate
between them in random order, so both see the machine at the same moments, and the ratio is taken per pair
of blocks. A second plain copy in the same rotation is an A/A control: its ratio to the first is the
measure's own noise. Two copies of one model can differ by a few percent for as long as they live (where
their memory happens to lie), so a fourth member of the rotation is the hooked copy itself run without the
hooks: `same_copy_ratio` is what the hooks' Python costs with no copy in between (it leaves out what
eagerrun adds to the graph, which both of its runs execute: the ring writes of a loop returning nothing).
`*_us` are the medians of the per-pair differences, in microseconds a step. Workloads as in
bench_overhead.py: an @tf.function custom loop returning its loss, the same loop returning nothing (its loss
read through eagerrun's ring), and Keras fit.
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

from eagerrun.autolog import hooks  # noqa: E402
from eagerrun.autolog.collector import StepCollector  # noqa: E402
from eagerrun.diagnostics.tracing import TraceCounter  # noqa: E402
from eagerrun.records import Recorder  # noqa: E402


def dataset() -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices(make_data(4096)).batch(BATCH, drop_remainder=True).repeat()


class CustomLoop:
    """A fresh model, optimizer and @tf.function step; calling it runs n steps."""

    def __init__(self, *, returns_loss: bool) -> None:
        model, optimizer, loss_fn = make_model(), keras.optimizers.Adam(1e-3), keras.losses.MeanSquaredError()
        self.batches = iter(dataset())

        @tf.function
        def train_step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor | None:
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss if returns_loss else None

        self.train_step = train_step

    def __call__(self, n: int) -> None:
        for _ in range(n):
            x, y = next(self.batches)
            self.train_step(x, y)


def hooks_alone_us(*, returns_loss: bool, calls: int = 20000, repeats: int = 5) -> float:
    """What the hooks' own Python costs a call of the step (recording it included), warm, in microseconds:
    the traced step is called with TensorFlow's `Function.__call__` replaced by one returning what the step
    returned, hooked and not, and the fastest of `repeats` differences taken. Steadier than any measure of
    whole steps on a busy machine, but it leaves out what the hooks cost in situ (their code and data
    fetched again after each step's TensorFlow work) and what eagerrun adds to the graph."""
    from tensorflow.python.eager.polymorphic_function.polymorphic_function import Function

    collector = StepCollector(Recorder(mode="graph"), TraceCounter(), autolog=True, eager=False)
    loop = CustomLoop(returns_loss=returns_loss)
    x, y = next(loop.batches)
    with hooks.installed(traces=collector.traces, steps=collector):
        for _ in range(300):
            returned = loop.train_step(x, y)
    real_call = Function.__call__
    Function.__call__ = lambda function, *args, **kwargs: returned
    try:
        differences = []
        for _ in range(repeats):
            with hooks.installed(traces=collector.traces, steps=collector):
                started = time.perf_counter()
                for _ in range(calls):
                    loop.train_step(x, y)
                hooked = time.perf_counter() - started
            started = time.perf_counter()
            for _ in range(calls):
                loop.train_step(x, y)
            differences.append((hooked - (time.perf_counter() - started)) / calls)
    finally:
        Function.__call__ = real_call
    return 1e6 * min(differences)


def keras_fit() -> Callable[[int], None]:
    model = make_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    data = dataset()

    def run(n: int) -> None:
        model.fit(data, steps_per_epoch=n, epochs=1, verbose=0)

    return run


def measure(make: Callable[[], Callable[[int], None]], *, blocks: int, steps: int) -> dict[str, float]:
    """Median per-pair ratios and differences against the plain copy (hooked; the control) and against the
    hooked copy without its hooks, and ms per step."""
    collector = StepCollector(Recorder(mode="graph"), TraceCounter(), autolog=True, eager=False)
    installed = lambda: hooks.installed(traces=collector.traces, steps=collector)  # noqa: E731
    plain, control = make(), make()
    with installed():
        hooked = make()
        hooked(steps)  # traced under the hooks, as under eagerrun
    plain(steps)
    control(steps)
    times: dict[str, list[float]] = {"plain": [], "hooked": [], "control": [], "hooked_copy_unhooked": []}
    for _ in range(blocks):
        order = list(times)
        random.shuffle(order)
        for name in order:
            started = time.perf_counter()
            if name == "hooked":
                with installed():
                    hooked(steps)
            else:
                {"plain": plain, "control": control, "hooked_copy_unhooked": hooked}[name](steps)
            times[name].append((time.perf_counter() - started) / steps)
        collector.flush_steps()

    def ratio(name: str, base: str) -> float:
        return statistics.median(a / b for a, b in zip(times[name], times[base]))

    def extra_us(name: str, base: str) -> float:
        return statistics.median(1e6 * (a - b) for a, b in zip(times[name], times[base]))

    return {"ratio": ratio("hooked", "plain"), "control_ratio": ratio("control", "plain"),
            "same_copy_ratio": ratio("hooked", "hooked_copy_unhooked"),
            "hooked_us": extra_us("hooked", "plain"), "control_us": extra_us("control", "plain"),
            "same_copy_us": extra_us("hooked", "hooked_copy_unhooked"),
            "plain_ms": 1e3 * statistics.median(times["plain"]), "hooked_ms": 1e3 * statistics.median(times["hooked"]),
            "recorded": len(collector.recorder.records)}


WORKLOADS: dict[str, Callable[[], Callable[[int], None]]] = {
    "custom_loop": lambda: CustomLoop(returns_loss=True),
    "custom_loop_returning_nothing": lambda: CustomLoop(returns_loss=False),
    "keras_fit": keras_fit,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=40)
    parser.add_argument("--steps", type=int, default=100, help="steps per block")
    parser.add_argument("--only", choices=sorted(WORKLOADS), action="append", help="this workload (repeatable)")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    results = {name: measure(make, blocks=args.blocks, steps=args.steps)
               for name, make in WORKLOADS.items() if not args.only or name in args.only}
    for name, returns_loss in (("custom_loop", True), ("custom_loop_returning_nothing", False)):
        if name in results:
            results[name]["hooks_alone_us"] = hooks_alone_us(returns_loss=returns_loss)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
