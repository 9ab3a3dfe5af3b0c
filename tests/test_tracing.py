"""Why a tf.function traced again: the retrace report, --max-retraces, and the run report's trace facts.

Graph mode only (eager mode traces nothing), so every run is in this process through Click's runner.
"""

from __future__ import annotations

import json
from pathlib import Path

from eagerrun.diagnostics.tracing import changes_between
from tests.conftest import run_in_process

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
