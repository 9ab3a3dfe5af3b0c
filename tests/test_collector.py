"""The step collector and the hooks, driven directly in this process on real TensorFlow (graph mode, the
process' own: nothing switches), without the CLI, a script file or a subprocess: the fast layer under the
end-to-end tests. Each loop computes its own values in Python (the oracle), and the records must hold them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from eagerrun.autolog import hooks  # noqa: E402
from eagerrun.autolog.collector import StepCollector  # noqa: E402
from eagerrun.diagnostics.tracing import TraceCounter  # noqa: E402
from eagerrun.records import Recorder, StepRecord  # noqa: E402


def collected(loop: Callable[[], list[float | None]]) -> tuple[list[StepRecord], list[float | None]]:
    """Run `loop` under the hooks, as a script runs under eagerrun; (its records, what it says it computed)."""
    recorder, traces = Recorder(mode="graph"), TraceCounter()
    steps = StepCollector(recorder, traces, autolog=True, eager=False)
    with hooks.installed(traces=traces, steps=steps):
        oracle = loop()
        steps.finish()
    return recorder.records, oracle


def assert_each_steps_own(records: list[StepRecord], oracle: list[float | None]) -> None:
    assert len(records) == len(oracle)
    for step, (record, expected) in enumerate(zip(records, oracle), start=1):
        got = record.values.get("loss")
        if expected is None:
            assert got is None, f"step {step}: {got} where the step computed no loss"
        else:
            assert got is not None and math.isclose(got, expected, rel_tol=1e-6), (step, got, expected)


def model_and_data(rows: int = 20, features: int = 3) -> tuple[keras.Model, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, features)).astype("float32")
    return keras.Sequential([keras.Input((features,)), keras.layers.Dense(1)]), x, x.sum(1, keepdims=True)


def batches(x: np.ndarray, y: np.ndarray, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for start in range(0, len(x), size):
        yield x[start:start + size], y[start:start + size]


@pytest.mark.parametrize("returns", [True, False], ids=["returns-loss", "returns-nothing"])
def test_each_call_is_read_through_the_trace_that_ran(returns):
    """Three graphs of one function (Adam's variable-making first trace, its second, the ragged batch's),
    called in turn: every step holds its own call's loss."""
    model, x, y = model_and_data(rows=20)
    optimizer = keras.optimizers.Adam(0.01)
    seen = tf.Variable(0.0)

    @tf.function
    def train_step(xb, yb):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(xb) - yb) ** 2)
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        seen.assign(loss)
        return loss if returns else None

    def loop() -> list[float | None]:
        oracle = []
        for _ in range(2):
            for xb, yb in batches(x, y, 8):  # 8, 8, 4
                train_step(xb, yb)
                oracle.append(float(seen.numpy()))
        return oracle

    records, oracle = collected(loop)
    assert_each_steps_own(records, oracle)
    assert [r.traced for r in records] == [True, False, True, False, False, False]


def test_a_ring_row_of_another_trace_is_never_read_as_this_ones():
    """Two traces writing their loss to the ring, called alternately many times (more calls than the ring
    has rows between flushes is not needed: the stamps name the trace)."""
    model, x, y = model_and_data(rows=12)
    optimizer = keras.optimizers.SGD(0.01)
    seen = tf.Variable(0.0)

    @tf.function
    def train_step(xb, yb, scale):
        with tf.GradientTape() as tape:
            loss = scale * tf.reduce_mean((model(xb) - yb) ** 2)
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        seen.assign(loss)

    def loop() -> list[float | None]:
        oracle = []
        for call in range(40):
            train_step(x, y, 1.0 if call % 2 else 2.0)  # a Python float: one trace per value
            oracle.append(float(seen.numpy()))
        return oracle

    records, oracle = collected(loop)
    assert_each_steps_own(records, oracle)


def test_a_gan_step_records_both_losses_under_their_names():
    """Two tapes, two optimizers, no return value (the DCGAN tutorial's shape): one step a call, each loss
    under the variable name the script gave it."""
    generator = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    discriminator = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    g_opt, d_opt = keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3)
    real = np.random.default_rng(1).normal(size=(8, 3)).astype("float32")
    noise = np.random.default_rng(2).normal(size=(8, 2)).astype("float32")
    kept = tf.Variable([0.0, 0.0])

    @tf.function
    def train_step(images, z):
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            fake = generator(z)
            gen_loss = tf.reduce_mean(discriminator(fake) ** 2)
            disc_loss = tf.reduce_mean((discriminator(images) - 1) ** 2) + tf.reduce_mean(discriminator(fake) ** 2)
        g_opt.apply_gradients(zip(gen_tape.gradient(gen_loss, generator.trainable_variables),
                                  generator.trainable_variables))
        d_opt.apply_gradients(zip(disc_tape.gradient(disc_loss, discriminator.trainable_variables),
                                  discriminator.trainable_variables))
        kept.assign([gen_loss, disc_loss])

    def loop() -> list[float | None]:
        oracle = []
        for _ in range(4):
            train_step(real, noise)
            oracle.append(kept.numpy().tolist())
        return oracle

    records, oracle = collected(loop)
    assert len(records) == 4
    for record, (gen_loss, disc_loss) in zip(records, oracle):
        assert math.isclose(record.values["gen_loss"], gen_loss, rel_tol=1e-6)
        assert math.isclose(record.values["disc_loss"], disc_loss, rel_tol=1e-6)


def test_fit_with_every_argument_positional_keeps_the_scripts_callbacks():
    """fit(x, y, batch_size, epochs, verbose, callbacks): bound as fit binds it; the script's own list
    unchanged and its History filled; each batch a step."""
    model, x, y = model_and_data(rows=16)
    model.compile(optimizer="sgd", loss="mse")
    history = keras.callbacks.History()
    mine = [history]

    def loop() -> list[float | None]:
        model.fit(x, y, 8, 2, 0, mine)
        return []

    records, _ = collected(loop)
    assert len(mine) == 1 and history.epoch == [0, 1]
    assert [r.source for r in records] == ["fit"] * 4
    assert records[-1].values["loss"] == pytest.approx(history.history["loss"][-1], rel=1e-6)


def test_a_function_that_never_trains_is_named_as_seen_not_a_step():
    """An inference function is no step; the collector says it saw it and why."""
    v = tf.Variable(2.0)

    @tf.function
    def predict(x):
        return x * v

    recorder, traces = Recorder(mode="graph"), TraceCounter()
    steps = StepCollector(recorder, traces, autolog=True, eager=False)
    with hooks.installed(traces=traces, steps=steps):
        for _ in range(3):
            predict(tf.constant(1.0))
        steps.finish()
    assert recorder.records == []
    assert any(line.startswith("predict (test_collector.py:") and "called 3 times" in line
               for line in steps.calls_not_steps())
    assert hooks.active_steps() is None  # the run is over: log_step finds none
