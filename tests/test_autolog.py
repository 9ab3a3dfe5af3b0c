"""Plain scripts get the step table unchanged: Keras fit, eagerrun.log_step and custom loops, in both modes.

Every case runs eagerrun on the sample scripts or a tiny script in tmp_path: eager cases in a subprocess,
graph cases in this process through Click's runner (see conftest).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SAMPLES, run_python, runner_for

MODES = pytest.mark.parametrize("mode", ["eager", "graph"], ids=["eager", "graph"])


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def traced_steps(records: list[dict]) -> list[int]:
    return [r["step"] for r in records if r["traced"]]


def run_with_metrics(mode: str, script: Path | str, tmp_path: Path, *args: str, options: tuple[str, ...] = ()):
    metrics = tmp_path / "steps.jsonl"
    result = runner_for(mode)(f"--{mode}", *options, "--metrics-out", str(metrics), str(script), *args)
    return result, read_jsonl(metrics)


@MODES
def test_keras_fit_records_each_batch(tmp_path: Path, mode: str) -> None:
    """fit_mlp.py: 10 batches x 2 epochs recorded from fit, with epoch, batch size and accuracy."""
    result, records = run_with_metrics(mode, SAMPLES / "fit_mlp.py", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("final accuracy:")
    assert f"20 steps, {mode} mode" in result.stderr
    assert [r["step"] for r in records] == list(range(1, 21))
    assert [r["epoch"] for r in records] == [1] * 10 + [2] * 10
    assert {r["source"] for r in records} == {"fit"} and {r["batch_size"] for r in records} == {64}
    assert all(np.isfinite(r["loss"]) and 0 <= r["accuracy"] <= 1 for r in records)
    assert traced_steps(records) == ([1] if mode == "graph" else [])


@MODES
def test_log_step_records_the_scripts_own_steps(tmp_path: Path, mode: str) -> None:
    """log_step_loop.py: one step per log_step call, with its metric, and no autolog duplicates."""
    result, records = run_with_metrics(mode, SAMPLES / "log_step_loop.py", tmp_path)
    assert result.returncode == 0, result.stderr
    assert [r["step"] for r in records] == list(range(1, 17))  # 512 examples in batches of 32
    assert {r["source"] for r in records} == {"log_step"}
    assert all(r["max_error"] >= 0 for r in records)
    assert records[-1]["loss"] < records[0]["loss"]
    assert traced_steps(records) == ([1] if mode == "graph" else [])


def test_log_step_is_a_no_op_under_plain_python() -> None:
    """log_step_loop.py under plain python: runs to the end, prints nothing."""
    result = run_python(f"import runpy; runpy.run_path({str(SAMPLES / 'log_step_loop.py')!r}, run_name='__main__')")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "eagerrun" not in result.stderr


@MODES
def test_custom_loop_in_a_tf_function_is_found(tmp_path: Path, mode: str) -> None:
    """custom_loop.py --steps 20: 20 autolog steps whose 20th loss is the one the script prints."""
    result, records = run_with_metrics(mode, SAMPLES / "custom_loop.py", tmp_path, "--steps", "20")
    assert result.returncode == 0, result.stderr
    assert [r["step"] for r in records] == list(range(1, 21))
    assert {r["source"] for r in records} == {"autolog"}
    printed = float(result.stdout.split("loss")[-1])  # "step 20: loss 0.1234"
    assert records[-1]["loss"] == pytest.approx(printed, abs=1e-4)
    assert traced_steps(records) == ([1] if mode == "graph" else [])


EAGER_LOOP = """
    import json

    import keras
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    optimizer = keras.optimizers.SGD(0.05)
    losses = []
    for xb, yb in tf.data.Dataset.from_tensor_slices((x, y)).batch(4):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(xb) - yb))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        losses.append(float(loss))
    print(json.dumps(losses))
"""


@MODES
def test_fully_eager_loop_without_tf_function_is_found(write_script, tmp_path: Path, mode: str) -> None:
    """A loop with no tf.function at all: one autolog step per optimizer update, with the tape's loss."""
    result, records = run_with_metrics(mode, write_script("loop.py", EAGER_LOOP), tmp_path)
    assert result.returncode == 0, result.stderr
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert {r["source"] for r in records} == {"autolog"}
    assert np.allclose([r["loss"] for r in records], json.loads(result.stdout), rtol=1e-6)
    assert traced_steps(records) == []  # nothing is a tf.function, in either mode


def test_no_autolog_turns_off_fit_and_custom_loop_recording(write_script, tmp_path: Path) -> None:
    """--no-autolog: a fit call and a custom loop in one script record nothing; the script still runs."""
    script = write_script("both.py", EAGER_LOOP + """
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    print("done")
    """)
    result, records = run_with_metrics("graph", script, tmp_path, options=("--no-autolog",))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "done"
    assert records == []
    assert "steps, graph mode" not in result.stderr


def test_metrics_file_keeps_steps_before_a_crash(write_script, tmp_path: Path) -> None:
    """A log_step loop that raises at step 5: exit 1, the script's traceback, steps 1-4 in the file."""
    script = write_script("crash.py", """
        import keras
        import numpy as np
        import tensorflow as tf

        import eagerrun

        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        optimizer = keras.optimizers.SGD(0.01)


        @tf.function
        def train_step(x):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(model(x) - 1.0))
            optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
            return loss


        for step in range(1, 9):
            loss = train_step(np.ones((4, 2), "float32"))
            if step == 5:
                raise RuntimeError("the data went away at step 5")
            eagerrun.log_step(loss)
    """)
    result, records = run_with_metrics("graph", script, tmp_path)
    assert result.returncode == 1
    assert "RuntimeError: the data went away at step 5" in result.stderr
    assert "crash.py" in result.stderr
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert {r["source"] for r in records} == {"log_step"}
    assert "4 steps, graph mode" in result.stderr


FIT_K_WITH_VALIDATION = """
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(160, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    model.compile("adam", "mse", metrics=["mae"], steps_per_execution=4)
    model.fit(x, y, batch_size=8, epochs=2, validation_split=0.2, verbose=0, shuffle=False)
"""


def test_fit_steps_per_execution_records_every_batch_and_validation_apart(write_script, tmp_path: Path) -> None:
    """compile(steps_per_execution=4), 16 batches an epoch: 32 steps, each marked as one of 4 in a call; the
    epoch's last step carries val_loss and val_mae and the validation time, which no step's time includes."""
    result, records = run_with_metrics("graph", write_script("fit_k.py", FIT_K_WITH_VALIDATION), tmp_path)
    assert result.returncode == 0, result.stderr
    assert [r["step"] for r in records] == list(range(1, 33))
    assert {r["batches_per_call"] for r in records} == {4}
    assert [r["step"] for r in records if r.get("val_loss") is not None] == [16, 32]
    assert [r["step"] for r in records if "validation_s" in r] == [16, 32]
    first_of_epoch_2 = records[16]
    assert first_of_epoch_2["epoch"] == 2 and first_of_epoch_2["time_s"] < records[15]["validation_s"]
    calls = [records[i:i + 4] for i in range(0, 32, 4)]
    assert all(len({r["loss"] for r in call}) == 1 for call in calls)  # a call's batches share its values
    assert "val_loss" in result.stderr and "best" in result.stderr  # the summary's best and last


TRAIN_STEP = """
    import threading

    import keras
    import numpy as np
    import tensorflow as tf


    def make_train_step():
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        optimizer = keras.optimizers.SGD(0.01)

        @tf.function
        def train_step(x):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(model(x)))
            optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
            return loss

        return train_step
"""

RETRACING_LOOP = TRAIN_STEP + """
    train_step = make_train_step()
    for batch in (8, 8, 8, 5, 5):  # the fourth call has a new shape: a retrace
        train_step(np.ones((batch, 3), "float32"))
"""


def test_first_trace_is_traced_and_a_new_shape_is_a_retrace(write_script, tmp_path: Path) -> None:
    """Graph mode: step 1 traced (not retraced, though TensorFlow traces a first call that makes variables
    twice), step 4 retraced for its new shape, the others neither."""
    result, records = run_with_metrics("graph", write_script("retrace.py", RETRACING_LOOP), tmp_path)
    assert result.returncode == 0, result.stderr
    assert [(r["step"], r["traced"], r.get("retraced", False)) for r in records] == [
        (1, True, False), (2, False, False), (3, False, False), (4, True, True), (5, False, False)]


THREADED = TRAIN_STEP + """
    train_step, background_step = make_train_step(), make_train_step()
    worker = threading.Thread(target=lambda: [background_step(np.ones((4, 3), "float32")) for _ in range(20)])
    worker.start()
    for _ in range(6):
        train_step(np.ones((4, 3), "float32"))
    worker.join()
"""


def test_a_tf_function_in_another_thread_never_becomes_a_step(write_script, tmp_path: Path) -> None:
    """A training tf.function called 20 times from a background thread: the 6 main-loop calls are the steps."""
    result, records = run_with_metrics("graph", write_script("threads.py", THREADED), tmp_path)
    assert result.returncode == 0, result.stderr
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6] and {r["phase"] for r in records} == {1}
