"""`--train` with build()'s `validation` and `metrics`, and a custom train_step's named values.

The numbers are checked against Keras' own: `model.evaluate` and Keras metrics on the weights the run
checkpointed. Graph runs go through Click's runner in this process; eager and mirrored runs, which change
process-wide state, in a subprocess.
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_eagerrun, run_in_process

# 10 training examples in batches of 4 (4, 4 and a ragged 2), 7 validation examples (4 and a ragged 3).
CLASSIFIER = """
    import keras
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x, xv = rng.normal(size=(10, 3)).astype("float32"), rng.normal(size=(7, 3)).astype("float32")
    y, yv = (x[:, :1] > 0).astype("int32") + (x[:, 1:2] > 0), (xv[:, :1] > 0).astype("int32") + (xv[:, 1:2] > 0)


    def make_model():
        return keras.Sequential([keras.Input((3,)), keras.layers.Dense(8, activation="relu"),
                                 keras.layers.Dense(3, activation="softmax")])


    def build():
        return {"model": make_model(), "optimizer": keras.optimizers.SGD(LEARNING_RATE),
                "loss": "sparse_categorical_crossentropy",
                "dataset": tf.data.Dataset.from_tensor_slices((x, y)).batch(4),
                "validation": (xv, yv), "batch_size": 4, "epochs": 2,
                "metrics": ["accuracy", keras.metrics.SparseCategoricalCrossentropy(name="xent")]}
"""


def classifier(write_script, *, learning_rate: float = 0.1) -> Path:
    return write_script("spec.py", CLASSIFIER.replace("LEARNING_RATE", repr(learning_rate)))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


VALUES = ("loss", "accuracy", "xent", "val_loss", "val_accuracy", "val_xent")


def assert_same_values(expected: dict, got: dict, context: str) -> None:
    """The same steps' values to 1e-5, absent in both where validation did not run."""
    for name in VALUES:
        if expected.get(name) is None:
            assert got.get(name) is None, (context, got["step"], name)
        else:
            assert got.get(name) == pytest.approx(expected[name], rel=1e-5), (context, got["step"], name)


def restored(spec: Path, checkpoint_dir: Path) -> tuple[dict, object]:
    """The spec's globals and its model with the weights the run checkpointed last."""
    import tensorflow as tf

    module = runpy.run_path(str(spec))
    model = module["make_model"]()
    tf.train.Checkpoint(model=model).restore(tf.train.latest_checkpoint(str(checkpoint_dir))).expect_partial()
    return module, model


def test_validation_and_metrics_match_keras_evaluate(write_script, tmp_path: Path) -> None:
    """val_loss and val_<metric> at the last step are Keras' evaluate on the final weights; keys by Keras name."""
    spec, metrics, checkpoints = classifier(write_script), tmp_path / "steps.jsonl", tmp_path / "ckpt"
    result = run_in_process("--graph", "--train", "--seed", "0", "--metrics-out", str(metrics),
                            "--checkpoint-dir", str(checkpoints), str(spec))
    assert result.returncode == 0, result.stderr
    records = read_jsonl(metrics)
    assert [r["step"] for r in records if "val_loss" in r] == [3, 6]  # each epoch's end
    last = records[-1]
    assert list(last)[list(last).index("loss"):] == ["loss", "accuracy", "xent", "val_loss", "val_accuracy",
                                                     "val_xent"]
    assert last["validation_s"] > 0 and "validation_s" not in records[0]
    module, model = restored(spec, checkpoints)
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy", "sparse_categorical_crossentropy"])
    keras_says = model.evaluate(module["xv"], module["yv"], batch_size=4, verbose=0, return_dict=True)
    assert last["val_loss"] == pytest.approx(keras_says["loss"], rel=1e-5)
    assert last["val_accuracy"] == pytest.approx(keras_says["accuracy"], rel=1e-5)
    assert last["val_xent"] == pytest.approx(keras_says["sparse_categorical_crossentropy"], rel=1e-5)
    assert "val_loss" in result.stderr and "best" in result.stderr  # the table's column and the summary


def test_training_metrics_are_running_means_reset_each_epoch(write_script, tmp_path: Path) -> None:
    """With fixed weights (learning rate 0) each step's metric is the mean over its epoch's examples so far."""
    import keras

    spec, metrics, checkpoints = classifier(write_script, learning_rate=0.0), tmp_path / "s.jsonl", tmp_path / "c"
    result = run_in_process("--graph", "--train", "--seed", "0", "--metrics-out", str(metrics),
                            "--checkpoint-dir", str(checkpoints), str(spec))
    assert result.returncode == 0, result.stderr
    module, model = restored(spec, checkpoints)
    probabilities = np.asarray(model(module["x"]))
    per_example = keras.losses.sparse_categorical_crossentropy(module["y"], probabilities).numpy()
    correct = (probabilities.argmax(axis=1) == module["y"][:, 0]).astype("float32")
    seen = [4, 8, 10]  # examples of the epoch so far, after each of its 3 batches
    expected_xent = [per_example[:n].mean() for n in seen] * 2
    expected_accuracy = [correct[:n].mean() for n in seen] * 2
    records = read_jsonl(metrics)
    assert [r["xent"] for r in records] == pytest.approx(expected_xent, rel=1e-5)
    assert [r["accuracy"] for r in records] == pytest.approx(expected_accuracy, rel=1e-5)
    assert records[0]["loss"] == pytest.approx(per_example[:4].mean(), rel=1e-5)  # the loss is the batch's


def test_a_run_resumed_mid_epoch_goes_on_with_the_epochs_running_means(write_script, tmp_path: Path) -> None:
    """Stopped after step 2 of the epoch's 3 and resumed: the metrics' state came back with the checkpoint,
    so step 3's running means (and every later value) are an uninterrupted run's."""
    spec = classifier(write_script)
    full, resumed, checkpoints = tmp_path / "full.jsonl", tmp_path / "resumed.jsonl", tmp_path / "c"
    assert run_in_process("--graph", "--train", "--seed", "0", "--metrics-out", str(full),
                          str(spec)).returncode == 0
    for steps in (["--steps", "2"], []):
        result = run_in_process("--graph", "--train", "--seed", "0", *steps, "--metrics-out", str(resumed),
                                "--checkpoint-dir", str(checkpoints), str(spec))
        assert result.returncode == 0, result.stderr
    assert "resumed from step 2" in result.stderr
    for expected, got in zip(read_jsonl(full), read_jsonl(resumed), strict=True):
        if got["step"] == 2:  # where --steps 2 ended the first run, which validated there
            got = {name: value for name, value in got.items() if not name.startswith("val_")}
        assert_same_values(expected, got, "resumed")


def test_validate_every_and_steps_per_execution(write_script, tmp_path: Path) -> None:
    """--validate-every 2: val values on steps 2, 3 (epoch end), 4 and 6 only, the same with K=4 chunks."""
    spec = classifier(write_script)
    runs = {}
    for k in ("1", "4"):
        metrics = tmp_path / f"k{k}.jsonl"
        result = run_in_process("--graph", "--train", "--seed", "0", "--validate-every", "2",
                                "--steps-per-execution", k, "--metrics-out", str(metrics), str(spec))
        assert result.returncode == 0, result.stderr
        runs[k] = read_jsonl(metrics)
    for records in runs.values():
        assert [r["step"] for r in records if "val_loss" in r] == [2, 3, 4, 6]
        assert [r["step"] for r in records if "validation_s" in r] == [2, 3, 4, 6]
    for one, chunked in zip(runs["1"], runs["4"]):
        assert one.keys() - {"validation_s"} == chunked.keys() - {"validation_s"}
        assert_same_values(one, chunked, "K=4")


def test_mirrored_and_eager_give_the_default_strategys_numbers(write_script, tmp_path: Path) -> None:
    """--strategy mirrored over 2 CPU replicas (ragged batches split unevenly) and --eager: the graph run's
    losses, metrics and validation values, step for step."""
    spec = classifier(write_script)
    runs = {}
    for name, args, runner in [("graph", ["--graph"], run_in_process), ("eager", ["--eager"], run_eagerrun),
                               ("mirrored", ["--graph", "--strategy", "mirrored", "--cpu-replicas", "2"],
                                run_eagerrun)]:
        metrics = tmp_path / f"{name}.jsonl"
        result = runner(*args, "--train", "--seed", "0", "--metrics-out", str(metrics), str(spec))
        assert result.returncode == 0, result.stderr
        runs[name] = read_jsonl(metrics)
    assert runs["mirrored"][0]["replicas"] == 2
    for other in ("eager", "mirrored"):
        for expected, got in zip(runs["graph"], runs[other], strict=True):
            assert_same_values(expected, got, other)


def test_custom_train_step_dict_is_recorded_whole(write_script, tmp_path: Path) -> None:
    """A train_step returning {"grad_norm", "loss"}: both recorded, loss first; validation uses model and loss."""
    script = write_script("spec.py", """
        import keras
        import numpy as np
        import tensorflow as tf


        def build():
            x = np.linspace(-1, 1, 12, dtype="float32").reshape(6, 2)
            model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
            optimizer = keras.optimizers.SGD(0.1)

            def train_step(batch):
                x, y = batch
                with tf.GradientTape() as tape:
                    loss = tf.reduce_mean(tf.square(model(x) - y))
                grads = tape.gradient(loss, model.trainable_variables)
                optimizer.apply_gradients(zip(grads, model.trainable_variables))
                return {"grad_norm": tf.linalg.global_norm(grads), "loss": loss}

            data = tf.data.Dataset.from_tensor_slices((x, 2 * x[:, :1])).batch(2)
            return {"train_step": train_step, "model": model, "loss": "mse", "dataset": data, "validation": data,
                    "metrics": ["mae"]}
    """)
    metrics = tmp_path / "steps.jsonl"
    result = run_in_process("--graph", "--train", "--metrics-out", str(metrics), str(script))
    assert result.returncode == 0, result.stderr
    records = read_jsonl(metrics)
    assert len(records) == 3
    values = [key for key in records[-1] if key in ("loss", "grad_norm") or key.startswith("val_")]
    assert values == ["loss", "grad_norm", "val_loss", "val_mae"]
    assert all(r["grad_norm"] > 0 for r in records)
    assert "val_loss" not in records[0]


def spec_with(parts: str) -> str:
    return f"""
import keras
import numpy as np
import tensorflow as tf


def build():
    x, y = np.ones((8, 2), "float32"), np.ones((8, 1), "float32")
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    return {{"model": keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]), "optimizer": "sgd",
             "loss": "mse", "dataset": dataset, {parts}}}
"""


@pytest.mark.parametrize("parts, names", [
    ("'metrics': 'mae'", "metrics: expected a list"),
    ("'metrics': ['no_such_metric']", "metrics:"),
    ("'metrics': ['mae', keras.metrics.MeanAbsoluteError(name='mae')]", "'mae'"),
    ("'validation': dataset.map(lambda a, b: a)", "validation:"),
    ("'validation': dataset.repeat()", "validation repeats forever"),
    ("'validation': (x, y)", "batch_size:"),
], ids=["metrics-not-a-list", "unknown-metric", "two-metrics-one-name", "validation-not-pairs",
        "validation-repeats", "validation-arrays-without-batch-size"])
def test_validation_and_metrics_contract_errors(write_script, parts: str, names: str) -> None:
    """A wrong validation or metrics part: exit 2, one line naming it."""
    result = run_in_process("--graph", "--train", str(write_script("spec.py", spec_with(parts))))
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("eagerrun: error:")]
    assert len(lines) == 1 and names in lines[0], result.stderr


def test_validate_every_needs_train(write_script) -> None:
    """--validate-every without --train: a usage error saying to add --train."""
    result = run_in_process("--graph", "--validate-every", "2", str(write_script("plain.py", "print('ran')\n")))
    assert result.returncode == 2 and "--validate-every" in result.stderr and "--train" in result.stderr
