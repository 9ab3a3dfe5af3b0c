"""`--train`: eagerrun's own loop over a script's build() spec, its options and the spec's contract.

Every case runs eagerrun on tiny specs (a few steps, a Dense layer or two): in a subprocess where it
switches the mode, in this process through Click's runner where it only runs graphs.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_eagerrun, run_in_process, runner_for

MODES = pytest.mark.parametrize("mode", ["eager", "graph"], ids=["eager", "graph"])

# 10 examples in batches of 4: batches of 4, 4 and a ragged 2; two epochs make 6 steps.
TINY_SPEC = """
    import keras
    import numpy as np
    import tensorflow as tf

    print("imported by eagerrun")


    def build():
        rng = np.random.default_rng(0)
        x = rng.normal(size=(10, 3)).astype("float32")
        y = x.sum(axis=1, keepdims=True).astype("float32")
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"),
                                  keras.layers.Dense(1)])
        return {"model": model, "optimizer": keras.optimizers.SGD(0.05), "loss": "mse",
                "dataset": tf.data.Dataset.from_tensor_slices((x, y)).batch(4), "epochs": 2}


    if __name__ == "__main__":
        print("the __main__ block ran")
"""

# A custom train_step whose loss is NaN from its third call on; a tf.Variable counts calls in both modes.
NAN_AT_STEP_3 = """
    import numpy as np
    import tensorflow as tf


    def build():
        calls = tf.Variable(0)

        def train_step(batch):
            calls.assign_add(1)
            step = tf.cast(calls, tf.float32)
            return tf.where(calls >= 3, tf.constant(float("nan")), 1.0 / step)

        x, y = np.ones((12, 2), "float32"), np.ones((12, 1), "float32")
        return {"train_step": train_step, "dataset": tf.data.Dataset.from_tensor_slices((x, y)).batch(2)}
"""


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("eagerrun: error:")]


@MODES
def test_train_records_every_step_to_jsonl_and_table(write_script, tmp_path: Path, mode: str) -> None:
    """--train: JSONL keys per step, one traced step in graph (ragged last batch included), table on stderr."""
    spec = write_script("spec.py", TINY_SPEC)
    metrics = tmp_path / "steps.jsonl"
    result = runner_for(mode)(f"--{mode}", "--train", "--metrics-out", str(metrics), str(spec))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "imported by eagerrun\n"  # the table is on stderr; __main__ did not run
    assert f"6 steps, {mode} mode" in result.stderr
    records = read_jsonl(metrics)
    for record in records:
        assert {"step", "epoch", "loss", "time_s", "mode", "traced", "source", "batch_size"} <= record.keys()
        assert isinstance(record["traced"], bool) and isinstance(record["loss"], float)
        assert record["mode"] == mode and record["source"] == "trainer"
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert [r["epoch"] for r in records] == [1, 1, 1, 2, 2, 2]
    assert [r["batch_size"] for r in records] == [4, 4, 2, 4, 4, 2]
    traced = [r["step"] for r in records if r["traced"]]
    assert traced == ([1] if mode == "graph" else [])  # the open batch dimension: no retrace at the ragged 2


def test_seed_gives_eager_and_graph_the_same_losses_in_csv(write_script, tmp_path: Path) -> None:
    """--seed 0 with a CSV metrics file: a header row, and the same losses step for step in both modes."""
    spec = write_script("spec.py", TINY_SPEC)
    losses = {}
    for mode in ("eager", "graph"):
        metrics = tmp_path / f"{mode}.csv"
        result = run_eagerrun(f"--{mode}", "--train", "--seed", "0", "--metrics-out", str(metrics), str(spec))
        assert result.returncode == 0, result.stderr
        lines = metrics.read_text().splitlines()
        assert lines[0].split(",")[:7] == ["step", "phase", "epoch", "time_s", "mode", "traced", "source"]
        rows = list(csv.DictReader(lines))
        assert [row["step"] for row in rows] == ["1", "2", "3", "4", "5", "6"]
        assert {row["mode"] for row in rows} == {mode}
        losses[mode] = [float(row["loss"]) for row in rows]
    assert np.allclose(losses["eager"], losses["graph"], rtol=1e-5)


def test_steps_per_execution_matches_one_step_per_call(write_script, tmp_path: Path) -> None:
    """--steps-per-execution 4 (graph): every step recorded, with the losses of one step per call."""
    spec = write_script("spec.py", TINY_SPEC)
    runs = {}
    for k in ("1", "4"):
        metrics = tmp_path / f"k{k}.jsonl"
        result = run_in_process("--graph", "--train", "--seed", "0", "--steps-per-execution", k,
                              "--metrics-out", str(metrics), str(spec))
        assert result.returncode == 0, result.stderr
        runs[k] = read_jsonl(metrics)
    assert [r["step"] for r in runs["4"]] == [1, 2, 3, 4, 5, 6]
    assert [r["epoch"] for r in runs["4"]] == [1, 1, 1, 2, 2, 2]
    assert [r["batch_size"] for r in runs["4"]] == [4, 4, 2, 4, 4, 2]
    assert np.allclose([r["loss"] for r in runs["4"]], [r["loss"] for r in runs["1"]], rtol=1e-5)


@pytest.mark.parametrize("flag", [["--steps-per-execution", "4"], ["--xla"]], ids=["steps-per-execution", "xla"])
def test_graph_only_options_with_eager_are_usage_errors(write_script, flag: list[str]) -> None:
    """--steps-per-execution 4 or --xla with --eager: exit 2 in one line, before the script is imported."""
    spec = write_script("spec.py", TINY_SPEC)
    result = run_eagerrun("--eager", "--train", *flag, str(spec))
    assert result.returncode == 2
    assert len(error_lines(result.stderr)) == 1 and "--graph" in error_lines(result.stderr)[0]
    assert "imported by eagerrun" not in result.stdout


REPEATING_SPEC = """
    import keras
    import numpy as np
    import tensorflow as tf


    def build():
        x, y = np.ones((8, 2), "float32"), np.ones((8, 1), "float32")
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        return {"model": model, "optimizer": "sgd", "loss": "mse",
                "dataset": tf.data.Dataset.from_tensor_slices((x, y)).batch(4).repeat()}
"""


def test_steps_ends_a_dataset_that_repeats_forever(write_script, tmp_path: Path) -> None:
    """--steps 5 on a .repeat()ed dataset: exactly 5 steps, all in epoch 1."""
    metrics = tmp_path / "steps.jsonl"
    result = run_in_process("--graph", "--train", "--steps", "5", "--metrics-out", str(metrics),
                          str(write_script("spec.py", REPEATING_SPEC)))
    assert result.returncode == 0, result.stderr
    records = read_jsonl(metrics)
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5]
    assert {r["epoch"] for r in records} == {1}


def test_dataset_that_repeats_forever_needs_steps(write_script) -> None:
    """A .repeat()ed dataset without --steps: exit 2, one line saying to pass --steps."""
    result = run_in_process("--graph", "--train", str(write_script("spec.py", REPEATING_SPEC)))
    assert result.returncode == 2
    assert len(error_lines(result.stderr)) == 1
    assert "repeats forever" in result.stderr and "--steps" in error_lines(result.stderr)[0]


@MODES
def test_on_nan_stop_exits_3_naming_the_step(write_script, tmp_path: Path, mode: str) -> None:
    """--on-nan stop (the default): a NaN loss at step 3 ends the run with exit 3; steps 1-2 are kept."""
    metrics = tmp_path / "steps.jsonl"
    result = runner_for(mode)(f"--{mode}", "--train", "--metrics-out", str(metrics),
                          str(write_script("spec.py", NAN_AT_STEP_3)))
    assert result.returncode == 3, result.stderr
    assert "step 3" in error_lines(result.stderr)[0]
    records = read_jsonl(metrics)
    assert [r["step"] for r in records] == [1, 2, 3]
    assert [r["loss"] for r in records[:2]] == pytest.approx([1.0, 0.5])
    assert records[2]["loss"] is None and records[2]["non_finite"] == {"loss": "nan"}


def test_on_nan_stop_with_steps_per_execution_names_the_first_bad_step(write_script, tmp_path: Path) -> None:
    """K=4: the chunk of steps 1-4 ran in one call and step 3's loss is NaN: the error names step 3, not the
    chunk's end, every step that ran is recorded, and no checkpoint is written with the NaN weights."""
    metrics, ckpt = tmp_path / "steps.jsonl", tmp_path / "ckpt"
    result = run_in_process("--graph", "--train", "--steps-per-execution", "4", "--checkpoint-dir", str(ckpt),
                            "--metrics-out", str(metrics), str(write_script("spec.py", NAN_AT_STEP_3)))
    assert result.returncode == 3, result.stderr
    assert "loss is nan at step 3" in error_lines(result.stderr)[0]
    records = read_jsonl(metrics)
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert [r["loss"] is None for r in records] == [False, False, True, True]
    assert not (ckpt / "checkpoint").exists()


def test_on_nan_warn_keeps_going(write_script, tmp_path: Path) -> None:
    """--on-nan warn: a warning per non-finite step, every batch still trained, exit 0."""
    metrics = tmp_path / "steps.jsonl"
    result = run_in_process("--graph", "--train", "--on-nan", "warn", "--metrics-out", str(metrics),
                          str(write_script("spec.py", NAN_AT_STEP_3)))
    assert result.returncode == 0, result.stderr
    assert "going on" in result.stderr
    records = read_jsonl(metrics)
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert [r["loss"] is None for r in records] == [False, False, True, True, True, True]


def spec_returning(parts: str) -> str:
    """A build() with a model, arrays x, y and a dataset of them at hand, returning `{parts}`."""
    return f"""
import keras
import numpy as np
import tensorflow as tf


def build():
    x, y = np.ones((8, 2), "float32"), np.ones((8, 1), "float32")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    return {{{parts}}}
"""


@pytest.mark.parametrize("parts, names", [
    ("'optimizer': 'sgd', 'loss': 'mse', 'dataset': dataset", "model:"),
    ("'model': model, 'optimizer': 42, 'loss': 'mse', 'dataset': dataset", "optimizer:"),
    ("'model': model, 'optimizer': 'sgd', 'loss': 'no_such_loss', 'dataset': dataset", "loss:"),
    ("'model': model, 'optimizer': 'sgd', 'loss': 'mse', 'dataset': dataset.map(lambda a, b: a)", "dataset:"),
    ("'model': model, 'optimizer': 'sgd', 'loss': 'mse', 'dataset': dataset.take(0)", "dataset is empty"),
    ("'model': model, 'optimizer': 'sgd', 'loss': 'mse', 'dataset': (x, y)", "batch_size:"),
], ids=["missing-model", "optimizer-wrong-type", "unknown-loss", "dataset-not-pairs", "empty-dataset",
        "arrays-without-batch-size"])
def test_spec_contract_errors_name_the_part(write_script, parts: str, names: str) -> None:
    """A broken spec part: exit 2, one line naming the part, no traceback."""
    result = run_in_process("--graph", "--train", str(write_script("spec.py", spec_returning(parts))))
    assert result.returncode == 2, result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and names in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_module_level_names_without_build(write_script, tmp_path: Path) -> None:
    """No build(): module-level model, optimizer, loss, arrays and batch_size are trained as a spec."""
    script = write_script("spec.py", """
        import keras
        import numpy as np

        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        optimizer = "adam"
        loss = "mse"
        dataset = (np.ones((10, 2), "float32"), np.ones((10, 1), "float32"))
        batch_size = 4
    """)
    metrics = tmp_path / "steps.jsonl"
    result = run_in_process("--graph", "--train", "--metrics-out", str(metrics), str(script))
    assert result.returncode == 0, result.stderr
    assert [r["batch_size"] for r in read_jsonl(metrics)] == [4, 4, 2]


def test_compiled_model_brings_its_own_loss_and_optimizer(write_script, tmp_path: Path) -> None:
    """A compiled Keras model with only a dataset beside it: trained with its compile() loss and optimizer."""
    script = write_script("spec.py", """
        import keras
        import numpy as np
        import tensorflow as tf


        def build():
            x = np.linspace(-1, 1, 16, dtype="float32").reshape(8, 2)
            model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
            model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
            return {"model": model, "dataset": tf.data.Dataset.from_tensor_slices((x, 3 * x[:, :1])).batch(2),
                    "epochs": 5}
    """)
    metrics = tmp_path / "steps.jsonl"
    result = run_in_process("--graph", "--train", "--metrics-out", str(metrics), str(script))
    assert result.returncode == 0, result.stderr
    losses = [r["loss"] for r in read_jsonl(metrics)]
    assert len(losses) == 20 and losses[-1] < losses[0]  # the compiled optimizer really trains


def test_train_only_option_without_train_is_a_usage_error(write_script) -> None:
    """--epochs 2 without --train: exit 2 saying to add --train; the script does not run."""
    script = write_script("plain.py", "print('ran')\n")
    result = run_eagerrun("--graph", "--epochs", "2", str(script))
    assert result.returncode == 2
    assert "--epochs" in error_lines(result.stderr)[0] and "--train" in error_lines(result.stderr)[0]
    assert result.stdout == ""


def test_metrics_out_in_missing_folder_fails_before_anything_runs(write_script, tmp_path: Path) -> None:
    """--metrics-out in a folder that does not exist: exit 2 naming it, and the script never ran."""
    marker = tmp_path / "ran"
    script = write_script("plain.py", f"open({str(marker)!r}, 'w').close()\n")
    result = run_eagerrun("--graph", "--metrics-out", str(tmp_path / "nope" / "steps.jsonl"), str(script))
    assert result.returncode == 2
    assert "does not exist" in error_lines(result.stderr)[0]
    assert not marker.exists()


CACHED_SPEC = """
    import keras
    import numpy as np
    import tensorflow as tf


    def build():
        rng = np.random.default_rng(0)
        x = rng.normal(size=(24, 3)).astype("float32")
        y = x.sum(axis=1, keepdims=True).astype("float32")
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(1)])
        dataset = tf.data.Dataset.from_tensor_slices((x, y)).cache().shuffle(24, seed=1).batch(4).prefetch(2)
        return {"model": model, "optimizer": keras.optimizers.SGD(0.05), "loss": "mse", "dataset": dataset,
                "epochs": 3}
"""


def test_a_pipeline_whose_position_cannot_be_saved_resumes_by_reading_up_to_it(write_script,
                                                                                 tmp_path: Path) -> None:
    """cache() has no symbolic checkpoint state: the checkpoint leaves the position out and the resumed run
    reads the reshuffled data again up to step 8 (in epoch 2), then goes on with an uninterrupted run's losses."""
    spec = write_script("spec.py", CACHED_SPEC)
    full, resumed, ckpt = tmp_path / "full.jsonl", tmp_path / "resumed.jsonl", tmp_path / "ckpt"
    assert run_in_process("--graph", "--train", "--seed", "2", "--metrics-out", str(full), str(spec)).returncode == 0
    common = ["--graph", "--train", "--seed", "2", "--checkpoint-dir", str(ckpt), "--metrics-out", str(resumed)]
    first = run_in_process(*common, "--steps", "8", str(spec))
    assert first.returncode == 0, first.stderr
    assert "position is not saved" in first.stderr
    second = run_in_process(*common, str(spec))
    assert second.returncode == 0, second.stderr
    assert "resumed from step 8" in second.stderr
    assert [r["step"] for r in read_jsonl(resumed)] == list(range(1, 19))
    assert np.allclose([r["loss"] for r in read_jsonl(resumed)], [r["loss"] for r in read_jsonl(full)], rtol=1e-6)
