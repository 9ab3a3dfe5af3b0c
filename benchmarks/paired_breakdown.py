"""What the step breakdown costs, and what the input-bound verdict's fix buys, measured paired in one process.

    python benchmarks/paired_breakdown.py [--blocks 30] [--steps 100]   # prints one JSON object

Cost: the same workload runs hooked as under eagerrun (hooks installed, a step collector recording), with
the breakdown's timeline (`breakdown`) and without it (`hooked`, what `--no-breakdown` runs), blocks of
steps alternating in random order with a second copy of `hooked` as the A/A control (its ratio to the first
is the measure's own noise). `ratio` is breakdown/hooked, per pair of blocks, median.

Fix: a custom loop whose `Dataset.map` sleeps 2 ms an element (in a `tf.py_function`), batches of 16, as the
verdict names it, and the same pipeline with the verdict's fix (`num_parallel_calls=tf.data.AUTOTUNE` and
`.prefetch(tf.data.AUTOTUNE)`): `fix_ratio` is fixed/slow per step, paired the same way.
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
from paired_script import WORKLOADS  # noqa: E402

from eagerrun.autolog import hooks  # noqa: E402
from eagerrun.autolog.collector import StepCollector  # noqa: E402
from eagerrun.diagnostics.breakdown import Timeline  # noqa: E402
from eagerrun.diagnostics.tracing import TraceCounter  # noqa: E402
from eagerrun.records import Recorder  # noqa: E402


def rotation(members: dict[str, Callable[[int], None]], *, blocks: int, steps: int,
             after_block: Callable[[], None] = lambda: None) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in members}
    for _ in range(blocks):
        order = list(members)
        random.shuffle(order)
        for name in order:
            started = time.perf_counter()
            members[name](steps)
            times[name].append((time.perf_counter() - started) / steps)
        after_block()
    return times


def ratio(times: dict[str, list[float]], name: str, base: str) -> float:
    return statistics.median(a / b for a, b in zip(times[name], times[base]))


def cost(make: Callable[[], Callable[[int], None]], *, blocks: int, steps: int) -> dict[str, float]:
    timeline = Timeline()
    plain_recorder, timed_recorder = Recorder(mode="graph"), Recorder(mode="graph")
    timed_recorder.timeline = timeline
    collectors = {"hooked": StepCollector(plain_recorder, TraceCounter(), autolog=True, eager=False),
                  "breakdown": StepCollector(timed_recorder, TraceCounter(), autolog=True, eager=False)}
    collectors["control"] = collectors["hooked"]

    def member(name: str) -> Callable[[int], None]:
        collector = collectors[name]
        with hooks.installed(traces=collector.traces, steps=collector):
            work = make()
            work(steps)  # traced under the hooks, as under eagerrun

        def run(n: int) -> None:
            with hooks.installed(traces=collector.traces, steps=collector,
                                 timeline=timeline if name == "breakdown" else None):
                work(n)
        return run

    members = {name: member(name) for name in ("hooked", "breakdown", "control")}
    times = rotation(members, blocks=blocks, steps=steps,
                     after_block=lambda: [c.flush_steps() for c in collectors.values()])
    measured = [r for r in timed_recorder.records if r.breakdown is not None]
    return {"ratio": ratio(times, "breakdown", "hooked"), "control_ratio": ratio(times, "control", "hooked"),
            "hooked_ms": 1e3 * statistics.median(times["hooked"]),
            "breakdown_ms": 1e3 * statistics.median(times["breakdown"]), "steps_with_breakdown": len(measured)}


def slow_map_loop(*, fixed: bool) -> Callable[[int], None]:
    def parse(x: tf.Tensor) -> tf.Tensor:
        return tf.ensure_shape(tf.py_function(lambda v: (time.sleep(0.002), v)[1], [x], tf.float32), (4,))

    data = tf.data.Dataset.from_tensor_slices(tf.ones((1024, 4)))
    data = data.map(parse, num_parallel_calls=tf.data.AUTOTUNE) if fixed else data.map(parse)
    data = data.batch(16).repeat()
    if fixed:
        data = data.prefetch(tf.data.AUTOTUNE)
    batches = iter(data)
    model, optimizer = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)]), keras.optimizers.SGD(0.01)

    @tf.function
    def step(x: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x)))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    def run(n: int) -> None:
        for _ in range(n):
            step(next(batches))
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=30)
    parser.add_argument("--steps", type=int, default=100, help="steps per block")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    results: dict[str, object] = {name: cost(WORKLOADS[name], blocks=args.blocks, steps=args.steps)
                                  for name in ("custom_loop", "keras_fit")}
    slow, fixed = slow_map_loop(fixed=False), slow_map_loop(fixed=True)
    slow(2)
    fixed(2)
    times = rotation({"slow": slow, "fixed": fixed}, blocks=max(4, args.blocks // 5), steps=10)
    results["slow_map_fix"] = {"fix_ratio": ratio(times, "fixed", "slow"),
                               "slow_ms": 1e3 * statistics.median(times["slow"]),
                               "fixed_ms": 1e3 * statistics.median(times["fixed"])}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
