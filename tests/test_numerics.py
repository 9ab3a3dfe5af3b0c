"""--check-numerics: the op that made the first NaN, named in a few lines, in both modes and under --train.

Eager runs in a subprocess, graph runs in this process through Click's runner (eagerrun switches check
numerics off again when the run ends).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_eagerrun, run_in_process, runner_for

LOG_OF_NEGATIVE = """
    import sys

    import numpy as np
    import tensorflow as tf
    import keras


    class LogLayer(keras.layers.Layer):
        def call(self, x):
            return tf.math.log(x)


    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), LogLayer(), keras.layers.Dense(1)])
    optimizer = keras.optimizers.SGD(0.01)


    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x) - y))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss


    for step in range(1, 9):
        x = np.full((4, 2), 2.0 if step < 5 else -1.0, "float32")  # the log's input turns negative at step 5
        if "--bad-data" in sys.argv:
            x = np.full((4, 2), 2.0, "float32")
            x[1, 0] = np.nan if step == 3 else 2.0
        train_step(x, np.ones((4, 1), "float32"))
"""


def read_steps(path: Path) -> list[int]:
    return [json.loads(line)["step"] for line in path.read_text().splitlines()]


@pytest.mark.parametrize("mode", ["eager", "graph"], ids=["eager", "graph"])
def test_names_the_op_its_layer_line_and_step(write_script, tmp_path: Path, mode: str) -> None:
    """A custom layer's log of data that turns negative at step 5: exit 3, op Log, LogLayer.call at its
    line, train_step, step 5, bad math; steps 1-4 in the table and the metrics file; no traceback."""
    script = write_script("model.py", LOG_OF_NEGATIVE)
    metrics = tmp_path / "steps.jsonl"
    runner = run_eagerrun if mode == "eager" else run_in_process
    result = runner(f"--{mode}", "--check-numerics", "--metrics-out", str(metrics), str(script))
    assert result.returncode == 3, result.stderr
    assert "the first non-finite value came from op Log at step 5" in result.stderr
    assert "model.py:11 in LogLayer.call" in result.stderr
    assert "tf.function train_step" in result.stderr
    assert "the op made it (bad math)" in result.stderr
    assert "Traceback" not in result.stderr and "Stack trace of op's creation" not in result.stderr
    assert read_steps(metrics) == [1, 2, 3, 4] and "4 steps" in result.stderr


def test_a_nan_in_the_data_is_named_as_that_batch_and_input(write_script, tmp_path: Path) -> None:
    """A NaN in step 3's batch: stopped before the call, naming the argument and the step (exit 3)."""
    result = run_eagerrun("--graph", "--check-numerics", str(write_script("model.py", LOG_OF_NEGATIVE)),
                          "--bad-data")
    assert result.returncode == 3, result.stderr
    assert "the input x of train_step at step 3 holds 1 non-finite values of 8: bad data" in result.stderr


def test_under_the_trainer_too(write_script) -> None:
    """--train with a spec whose LogLayer meets negative data in its fifth batch: the same report."""
    script = write_script("spec.py", """
        import numpy as np
        import tensorflow as tf
        import keras


        class LogLayer(keras.layers.Layer):
            def call(self, x):
                return tf.math.log(x)


        def build():
            x = np.concatenate([np.full((16, 2), 2.0), np.full((16, 2), -1.0)]).astype("float32")
            model = keras.Sequential([keras.Input((2,)), LogLayer(), keras.layers.Dense(1)])
            return {"model": model, "optimizer": "sgd", "loss": "mse",
                    "dataset": tf.data.Dataset.from_tensor_slices((x, np.ones((32, 1), "float32"))).batch(4)}
    """)
    result = runner_for("eager")("--eager", "--train", "--check-numerics", str(script))
    assert result.returncode == 3, result.stderr
    assert "came from op Log at step 5" in result.stderr and "spec.py:9 in LogLayer.call" in result.stderr


def test_under_the_trainer_a_nan_batch_is_named(write_script) -> None:
    """--train --on-nan debug with a NaN in the third batch's x: check numerics stops at the dataset's op
    (exit 3), naming the step and the batch's part; steps 1-2 done."""
    script = write_script("spec.py", """
        import numpy as np
        import tensorflow as tf
        import keras


        def build():
            x = np.ones((16, 2), "float32")
            x[9, 1] = np.nan  # the third batch of 4
            model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
            return {"model": model, "optimizer": "sgd", "loss": "mse",
                    "dataset": tf.data.Dataset.from_tensor_slices((x, np.ones((16, 1), "float32"))).batch(4)}
    """)
    result = run_in_process("--graph", "--train", "--on-nan", "debug", str(script))
    assert result.returncode == 3, result.stderr
    assert "came from op IteratorGetNext at step 3" in result.stderr
    assert "the dataset's batch held it: bad data (output 0 of the batch: its part 1, e.g. x of (x, y)" \
        in result.stderr
    assert "2 steps" in result.stderr
