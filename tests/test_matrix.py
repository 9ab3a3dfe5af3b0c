"""`eagerrun compare --matrix`: eager, graph, graph+XLA and mixed precision side by side."""

from __future__ import annotations

import json

from tests.conftest import SAMPLES, run_eagerrun


def test_a_plain_loop_side_by_side_with_a_configuration_that_fails(write_script) -> None:
    """A custom loop that refuses any policy but float32 (as a float32-only op would): every other
    configuration has its row, agreeing with graph; the mixed one shows its error in one line; exit 1."""
    script = write_script("loop.py", """
        import numpy as np
        import tensorflow as tf
        import keras

        if keras.mixed_precision.global_policy().name != "float32":
            raise TypeError("this model computes in float32 only")
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(1)])
        optimizer = keras.optimizers.SGD(0.01)


        @tf.function
        def train_step(x, y):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(model(x) - y))
            optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
            return loss


        x, y = np.ones((40, 4), "float32"), np.zeros((40, 1), "float32")
        for step in range(5):
            train_step(x[step * 8:(step + 1) * 8], y[step * 8:(step + 1) * 8])
    """)
    result = run_eagerrun("compare", "--matrix", str(script))
    assert result.returncode == 1, result.stderr
    rows = {line.split("│")[1].strip(): [cell.strip() for cell in line.split("│")[2:-1]]
            for line in result.stdout.splitlines() if line.startswith("│")}
    assert list(rows) == ["eager", "graph", "graph+xla", "mixed_float16"]
    assert rows["graph"][3] == "(reference)" and rows["eager"][3] == "✓ 5 steps" and rows["graph+xla"][3] == "✓ 5 steps"
    assert rows["eager"][1] == "1.00×" and rows["mixed_float16"][3] == "✗ failed"
    assert "✗ mixed_float16 failed (exit 1): TypeError: this model computes in float32 only" in result.stdout


def test_the_trainer_matrix_as_json() -> None:
    """--train: eagerrun's own --xla and --precision make the configurations; every one agrees with graph
    (mixed precision within its looser tolerance) and has its times; exit 0."""
    result = run_eagerrun("compare", "--matrix", "--train", "--steps", "4", "--json", str(SAMPLES / "mlp_spec.py"))
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)["matrix"]}
    assert set(rows) == {"eager", "graph", "graph+xla", "mixed_float16"}
    assert all(row["agrees"] and row["steps"] == 4 and row["median_step_s"] and row["failure"] is None
               for row in rows.values())
    assert rows["mixed_float16"]["tolerance"][0] > rows["graph"]["tolerance"][0]
    assert rows["graph"]["retraces"] == 0


def test_matrix_with_xla_is_a_usage_error() -> None:
    result = run_eagerrun("compare", "--matrix", "--xla", "--train", str(SAMPLES / "mlp_spec.py"))
    assert result.returncode == 2 and "--matrix runs graph+XLA already: drop --xla" in result.stderr
