"""Why a tf.function traced again: the retrace report, --max-retraces, and the run report's trace facts.

Graph mode only (eager mode traces nothing), so every run is in this process through Click's runner, but
the mirrored one: its script splits the CPU, which needs a runtime not yet started.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eagerrun.diagnostics.tracing import changes_between
from tests.conftest import run_eagerrun, run_in_process

RETRACING = """
    import numpy as np
    import tensorflow as tf
    import keras

    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    optimizer = keras.optimizers.SGD(0.01)

    @tf.function
    def train_step(x, lr):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x))) * lr
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    for lr in (0.1, 0.1, 0.01):  # a Python float that changes each epoch
        for size in (32, 32, 17):  # a ragged last batch
            train_step(np.ones((size, 8), "float32"), lr)
"""


def test_retrace_report_names_each_change_and_its_fix(write_script, tmp_path: Path) -> None:
    """A new batch length and a new Python float: the summary names the function, its line, each change
    (shape, Python value) and the fix for each; the run report holds the same facts."""
    script = write_script("retrace.py", RETRACING)
    report_path = tmp_path / "run.json"
    result = run_in_process("--graph", "--run-report", str(report_path), str(script))
    assert result.returncode == 0, result.stderr
    assert "train_step (" in result.stderr and "retrace.py:9) traced 4 times" in result.stderr
    assert "trace 2: x: shape (32, 8) → (17, 8)" in result.stderr
    assert "trace 3: lr: Python value 0.1 → 0.01" in result.stderr
    assert "reduce_retracing=True" in result.stderr and "pass a tensor" in result.stderr
    function = next(f for f in json.loads(report_path.read_text())["functions"] if f["name"] == "train_step")
    assert function["distinct_traces"] == 4
    assert [[(c["argument"], c["kind"]) for c in changes] for changes in function["retraces"]] == [
        [("x", "shape")], [("lr", "python")], [("lr", "python")]]


def test_max_retraces_stops_the_run_with_the_report(write_script, tmp_path: Path) -> None:
    """--max-retraces 1: the third distinct trace (step 7) stops the run (exit 4) with one line naming the function,
    the report above it, and the steps done before it in the metrics file."""
    script = write_script("retrace.py", RETRACING)
    metrics = tmp_path / "steps.jsonl"
    result = run_in_process("--graph", "--max-retraces", "1", "--metrics-out", str(metrics), str(script))
    assert result.returncode == 4
    assert "eagerrun: error: train_step (" in result.stderr and "more than --max-retraces 1" in result.stderr
    assert "trace 2: x: shape (32, 8) → (17, 8)" in result.stderr
    assert "Traceback" not in result.stderr
    assert [json.loads(line)["step"] for line in metrics.read_text().splitlines()] == [1, 2, 3, 4, 5, 6]


def test_changes_between_two_traces() -> None:
    """A dtype and a shape of one tensor, a Python value, a new object, an argument that appears."""
    before = {"x": ("tensor", "(32, 8) float32"), "lr": ("python", "0.1"), "o": ("object", "a Obj at 0x1")}
    after = {"x": ("tensor", "(17, 8) float64"), "lr": ("python", "0.01"), "o": ("object", "a Obj at 0x2"),
             "extra": ("python", "True")}
    assert [(c.argument, c.kind, c.before, c.after) for c in changes_between(before, after)] == [
        ("x", "dtype", "float32", "float64"), ("x", "shape", "(32, 8)", "(17, 8)"), ("lr", "python", "0.1", "0.01"),
        ("o", "object", "a Obj at 0x1", "a Obj at 0x2"), ("extra", "arguments", "absent", "the Python value True")]


RECREATED = """
    import numpy as np
    import tensorflow as tf
    import keras

    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    optimizer = keras.optimizers.SGD(0.01)
    x = np.ones((32, 8), "float32")

    for epoch in range(4):
        @tf.function  # a new tf.function object each epoch: each traces once, none retraces
        def train_step(x):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(model(x)))
            optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
            return loss

        for _ in range(3):
            train_step(x)
"""


def test_a_tf_function_recreated_each_epoch_is_named_and_counted(write_script, tmp_path: Path) -> None:
    """A `@tf.function` defined inside the epoch loop: one line names it, how often it was made and the fix;
    the run report counts the objects and the three traces made again."""
    script = write_script("recreate.py", RECREATED)
    report_path = tmp_path / "run.json"
    result = run_in_process("--graph", "--run-report", str(report_path), str(script))
    assert result.returncode == 0, result.stderr
    assert "recreated: train_step (" in result.stderr
    assert "recreate.py:11) created 4×, each traced once" in result.stderr
    assert "define it once outside the loop" in result.stderr
    assert "retraces cost " in result.stderr and "(3 re-creations)" in result.stderr
    assert "retraced: train_step" not in result.stderr
    function = next(f for f in json.loads(report_path.read_text())["functions"] if f["name"] == "train_step")
    assert (function["created"], function["recreated"], function["traces"]) == (4, 3, 4)
    assert [trace["why"] for trace in function["each_trace"]] == ["first", "recreated", "recreated", "recreated"]


def test_max_retraces_counts_recreations(write_script) -> None:
    """--max-retraces 1: the third object of the same function stops the run (exit 4)."""
    script = write_script("recreate.py", RECREATED)
    result = run_in_process("--graph", "--max-retraces", "1", str(script))
    assert result.returncode == 4
    assert "eagerrun: error: train_step (" in result.stderr
    assert "created 3 times, more than --max-retraces 1 allows" in result.stderr


def test_each_trace_has_its_time_and_graph_size(write_script, tmp_path: Path) -> None:
    """Every trace of the retracing script has a wall time and an op count; the retraces' cost is their
    time, in the summary and the run report."""
    script = write_script("retrace.py", RETRACING)
    report_path = tmp_path / "run.json"
    result = run_in_process("--graph", "--run-report", str(report_path), str(script))
    assert result.returncode == 0, result.stderr
    function = next(f for f in json.loads(report_path.read_text())["functions"] if f["name"] == "train_step")
    traces = function["each_trace"]
    assert [trace["why"] for trace in traces] == ["first", "retrace", "retrace", "retrace"]
    assert all(trace["ops"] > 10 and 0 < trace["seconds"] < 30 for trace in traces)
    retraces = [trace for trace in traces if trace["why"] == "retrace"]
    assert function["cost_seconds"] == pytest.approx(sum(trace["seconds"] for trace in retraces), abs=1e-5)
    assert function["trace_seconds"] >= function["cost_seconds"]
    ops = retraces[0]["ops"]
    assert f", {ops} ops)" in result.stderr and "retraces cost " in result.stderr and "(3 retraces)" in result.stderr


AGREEING = """
    import numpy as np
    import tensorflow as tf
    import keras

    def make_step(model, optimizer):  # one step function per model, both kept: not a re-creation
        @tf.function
        def step(x):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(model(x)))
            optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
            return loss
        return step

    models = [keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)]) for _ in range(2)]
    steps = [make_step(model, keras.optimizers.SGD(0.01)) for model in models]
    for _ in range(4):
        for step in steps:
            step(np.ones((32, 8), "float32"))
"""


def test_a_script_that_never_retraces_gets_no_retrace_report(write_script) -> None:
    """Two step functions from one factory, used side by side, each traced once: nothing is said."""
    script = write_script("agreeing.py", AGREEING)
    result = run_in_process("--graph", "--max-retraces", "0", str(script))
    assert result.returncode == 0, result.stderr
    assert "retraced:" not in result.stderr and "recreated:" not in result.stderr
    assert "retraces cost" not in result.stderr


def test_a_jit_compile_retrace_is_an_xla_recompile(write_script) -> None:
    """A `jit_compile=True` function traced for two shapes: XLA compiled it twice."""
    script = write_script("xla.py", """
        import tensorflow as tf

        @tf.function(jit_compile=True)
        def scaled(x):
            return tf.reduce_sum(x * 2.0)

        for size in (4, 4, 6):
            scaled(tf.ones((size,)))
    """)
    result = run_in_process("--graph", str(script))
    assert result.returncode == 0, result.stderr
    assert "xla.py:4) traced 2 times, so XLA compiled it 2 times (jit_compile)" in result.stderr


MIRRORED = """
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        w = tf.Variable(1.0)

    @tf.function
    def replica_loss(x):  # called in each replica's thread
        return tf.reduce_sum(x) * w

    def replica_step(x):
        return replica_loss(x)

    for size in (4, 4, 6):  # a new length: replica_loss retraces, in both replicas
        strategy.run(replica_step, args=(tf.ones((size,)),))
"""


def test_a_retrace_in_mirrored_replicas_is_counted_once(write_script, tmp_path: Path) -> None:
    """A tf.function called in a MirroredStrategy's replica threads (2 CPU replicas) retraces for a new
    length: one retrace, two distinct traces, though each replica traced it for its device."""
    script = write_script("mirrored.py", MIRRORED)
    report_path = tmp_path / "run.json"
    result = run_eagerrun("--graph", "--run-report", str(report_path), str(script))
    assert result.returncode == 0, result.stderr
    assert "retraced: replica_loss (" in result.stderr and "mirrored.py:10) traced 2 times" in result.stderr
    assert "trace 2: x: shape (4,) → (6,)" in result.stderr
    function = next(f for f in json.loads(report_path.read_text())["functions"] if f["name"] == "replica_loss")
    assert (function["traces"], function["distinct_traces"], len(function["retraces"])) == (2, 2, 1)
