"""Where a step's time goes: the timeline's arithmetic in-process, and each verdict on real runs."""

from __future__ import annotations

import json

import pytest

from eagerrun.diagnostics.breakdown import INPUT, READ, RUN, TRACE, Pipeline, Stage, Timeline, shares_of, verdict
from eagerrun.records import Breakdown, StepRecord
from tests.conftest import run_eagerrun


def test_a_steps_parts_add_up_to_its_time() -> None:
    """Input and tracing inside a call are not counted twice; the rest of the span is Python between; a
    span two steps share is halved; what ended before a step is never counted in it."""
    timeline = Timeline()
    timeline.note(INPUT, 0.0, 0.5)  # before the step: not its
    timeline.note(INPUT, 1.0, 1.2)
    timeline.call_depth = 1
    timeline.note(TRACE, 1.3, 1.6)  # inside the call below
    timeline.note(READ, 1.65, 1.66, site="train.py:9")
    timeline.call_depth = 0
    timeline.note(RUN, 1.3, 1.9)
    step = timeline.spent(1.0, 2.0)
    assert step == Breakdown(input_s=pytest.approx(0.2), trace_s=pytest.approx(0.3), run_s=pytest.approx(0.3),
                             python_s=pytest.approx(0.2), host_reads=1)
    assert step.input_s + step.trace_s + step.run_s + step.python_s == pytest.approx(1.0)
    halves = Timeline()
    halves.note(RUN, 0.0, 0.8)
    assert halves.spent(0.0, 1.0, steps=2) == Breakdown(0.0, 0.0, pytest.approx(0.4), pytest.approx(0.1))
    assert timeline.read_sites == {"train.py:9": 1}


def test_the_breakdown_is_written_and_read_back() -> None:
    """A record's breakdown is in its metrics line beside its values, and reads back as itself."""
    record = StepRecord(step=1, epoch=1, time_s=1.0, mode="graph", traced=False, source="autolog",
                        values={"loss": 0.5}, breakdown=Breakdown(0.1, 0.2, 0.3, 0.4, host_reads=2))
    line = record.as_json()
    assert line["input_s"] == 0.1 and line["python_s"] == 0.4 and line["host_reads"] == 2
    assert StepRecord.from_json(json.loads(json.dumps(line))).breakdown == record.breakdown


def test_verdict_rules() -> None:
    """Each verdict from its shares: tracing over every step; input-bound naming the slowest stage with its
    fix; host-bound naming the read; compute-bound otherwise."""
    def shares(input_s: float, trace_s: float, run_s: float, python_s: float):
        return shares_of([(1.0, Breakdown(input_s, trace_s, run_s, python_s), False)])

    pipeline = Pipeline((Stage("tensor_slice", None, 0.0, False), Stage("map(parse)", "train.py:41", 0.0018, False)),
                        per_batch_s=0.002, prefetched=False)
    timeline = Timeline()
    none = lambda: None  # noqa: E731
    tracing = verdict(shares(0, 0, 1, 0), shares(0, 0.4, 0.6, 0), timeline=timeline,
                      most_traced=("train_step", 40), pipeline=none)
    assert tracing.kind == "tracing" and "train_step traced 40 times" in tracing.text
    bound = verdict(shares(0.62, 0, 0.3, 0.08), shares(0.62, 0, 0.3, 0.08), timeline=timeline, most_traced=None,
                    pipeline=lambda: pipeline)
    assert bound.kind == "input-bound" and "62% of each step waits" in bound.text
    assert "Dataset.map(parse) at train.py:41 (1.8 ms a batch" in bound.text
    assert "num_parallel_calls=tf.data.AUTOTUNE" in bound.text and ".prefetch" in bound.text
    timeline.note(READ, 0, 0, site="train.py:88")
    host = verdict(shares(0, 0, 0.3, 0.7), shares(0, 0, 0.3, 0.7), timeline=timeline, most_traced=None, pipeline=none)
    assert host.kind == "host-bound" and "train.py:88" in host.text
    compute = verdict(shares(0.05, 0, 0.9, 0.05), shares(0.05, 0, 0.9, 0.05), timeline=timeline, most_traced=None,
                      pipeline=none)
    assert compute.kind == "compute-bound"


SLOW_MAP = """
    import time

    import numpy as np
    import tensorflow as tf
    import keras


    def parse(x):
        return tf.ensure_shape(tf.py_function(lambda v: (time.sleep(0.002), v)[1], [x], tf.float32), (4,))


    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    optimizer = keras.optimizers.SGD(0.01)
    data = tf.data.Dataset.from_tensor_slices(np.ones((128, 4), "float32")).map(parse).batch(16)


    @tf.function
    def train_step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x)))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss


    for x in data:
        train_step(x)
"""


def run_report(write_script, name: str, source: str, mode: str, *extra: str) -> tuple[dict, list[dict]]:
    script = write_script(name, source)
    folder = script.parent
    result = run_eagerrun("run", "--mode", mode, "--run-report", str(folder / "r.json"), "--metrics-out",
                          str(folder / "m.jsonl"), *extra, str(script))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in (folder / "m.jsonl").read_text().splitlines()]
    return json.loads((folder / "r.json").read_text())["time"], lines


@pytest.mark.parametrize("mode", ["eager", "graph"])
def test_a_slow_map_is_input_bound_and_named(write_script, mode: str) -> None:
    """A map sleeping 2 ms an element: input-bound in both modes, the map's line named; every step's parts
    add up to its time."""
    time, steps = run_report(write_script, "slow_map.py", SLOW_MAP, mode)
    assert time["kind"] == "input-bound", time
    assert "Dataset.map(parse) at " in time["text"] and "slow_map.py:9" in time["text"]
    for step in steps:
        parts = step["input_s"] + step["trace_s"] + step["run_s"] + step["python_s"]
        assert parts == pytest.approx(step["time_s"], rel=0.05), step


@pytest.mark.parametrize("mode", ["eager", "graph"])
def test_a_float_of_the_loss_each_step_is_a_host_read_with_its_line(write_script, mode: str) -> None:
    """`float(loss)` each step, then Python work: host-bound, the read's line named, one read a step."""
    time, steps = run_report(write_script, "host.py", """
        import time

        import tensorflow as tf

        w = tf.Variable(1.0)


        @tf.function
        def step():
            with tf.GradientTape() as tape:
                loss = w * w
            w.assign_sub(0.01 * tape.gradient(loss, w))
            return loss


        for _ in range(20):
            loss = step()
            if float(loss) > 0:
                time.sleep(0.004)
    """, mode)
    assert time["kind"] == "host-bound" and "host.py:19 (if float(loss) > 0:)" in time["text"], time
    assert all(step["host_reads"] == 1 for step in steps[1:]), steps


def test_a_retrace_each_step_is_tracing(write_script) -> None:
    """A Python number as the step's argument retraces it every step: the verdict is tracing."""
    time, _ = run_report(write_script, "retrace.py", """
        import tensorflow as tf

        w = tf.Variable(1.0)


        @tf.function
        def step(n):
            with tf.GradientTape() as tape:
                loss = w * float(n)
            w.assign_sub(0.01 * tape.gradient(loss, w))
            return loss


        for n in range(10):
            step(n)
    """, "graph")
    assert time["kind"] == "tracing" and "step traced 10 times" in time["text"], time


HEAVY = """
    import tensorflow as tf

    w = tf.Variable(tf.random.normal((500, 500)))
    data = tf.data.Dataset.from_tensors(tf.random.normal((500, 500))).repeat(12)


    @tf.function
    def step(a):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.matmul(tf.matmul(a, w), w))
        w.assign_sub(0.0001 * tape.gradient(loss, w))
        return loss


    for a in data:
        step(a)
"""


def test_a_heavy_matmul_is_compute_bound_five_times_of_five(write_script) -> None:
    """No false verdict on a compute-bound model: five runs, five compute-bound verdicts."""
    kinds = [run_report(write_script, f"heavy{i}.py", HEAVY, "graph")[0]["kind"] for i in range(5)]
    assert kinds == ["compute-bound"] * 5


@pytest.mark.parametrize("loop", ["trainer", "fit"])
def test_the_trainer_and_fit_steps_have_breakdowns(tmp_path, loop: str) -> None:
    """The trainer's chunks and fit's batches carry their breakdown too, each adding up to its step's time,
    and `--no-breakdown` leaves it out."""
    from tests.conftest import SAMPLES

    target = ["--train", "--steps", "6", str(SAMPLES / "mlp_spec.py")] if loop == "trainer" else \
        [str(SAMPLES / "fit_mlp.py")]
    metrics = tmp_path / "m.jsonl"
    result = run_eagerrun("--graph", "--metrics-out", str(metrics), *target)
    assert result.returncode == 0, result.stderr
    steps = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert steps and all(step["input_s"] + step["trace_s"] + step["run_s"] + step["python_s"]
                         == pytest.approx(step["time_s"], rel=0.05) for step in steps)
    assert "time goes" in result.stderr and "verdict" in result.stderr
    off = run_eagerrun("--graph", "--no-breakdown", "--metrics-out", str(tmp_path / "off.jsonl"), *target)
    assert off.returncode == 0 and "time goes" not in off.stderr
    assert all("run_s" not in json.loads(line) for line in (tmp_path / "off.jsonl").read_text().splitlines())


SLOW_SPEC = """
    import time

    import numpy as np
    import tensorflow as tf
    import keras


    def parse(x, y):
        x = tf.ensure_shape(tf.py_function(lambda v: (time.sleep(0.002), v)[1], [x], tf.float32), (4,))
        return x, y


    def build():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        data = tf.data.Dataset.from_tensor_slices((np.ones((128, 4), "float32"), np.zeros((128, 1), "float32")))
        return {"model": model, "optimizer": keras.optimizers.SGD(0.01), "loss": keras.losses.MeanSquaredError(),
                "dataset": data.map(parse).batch(16)}


    if __name__ == "__main__":
        spec = build()
        spec["model"].compile(spec["optimizer"], spec["loss"])
        spec["model"].fit(spec["dataset"], epochs=1, verbose=0)
"""


@pytest.mark.parametrize("mode", ["eager", "graph"])
@pytest.mark.parametrize("loop", ["fit", "trainer"])
def test_fit_and_the_trainer_on_a_slow_map_are_input_bound(write_script, loop: str, mode: str) -> None:
    """The same slow map under Keras fit and eagerrun's trainer, which read their batches inside the step's
    graph in graph mode: the pipeline timed alone makes the verdict, naming the map's line."""
    time, _ = run_report(write_script, "slow_spec.py", SLOW_SPEC, mode, *(["--train"] if loop == "trainer" else []))
    assert time["kind"] == "input-bound", time
    assert "Dataset.map(parse) at " in time["text"] and "slow_spec.py:9" in time["text"], time


def test_a_tf_function_made_anew_each_step_is_tracing(write_script) -> None:
    """`tf.function(f)` inside the loop: a new object each step, each traced once: the verdict is tracing,
    counting the re-creations."""
    time, _ = run_report(write_script, "recreate.py", """
        import tensorflow as tf

        w = tf.Variable(1.0)


        def loss_of(n):
            with tf.GradientTape() as tape:
                loss = w * n
            w.assign_sub(0.01 * tape.gradient(loss, w))
            return loss


        for _ in range(10):
            step = tf.function(loss_of)
            step(tf.constant(1.0))
    """, "graph")
    assert time["kind"] == "tracing" and "loss_of traced 10 times" in time["text"], time
