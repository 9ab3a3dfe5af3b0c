"""--precision: Keras' dtype policy set before build() and put back after; mixed_float16's loss scaling, its
skipped steps recorded as skipped (not a NaN stop), and a checkpoint that resumes with its scale."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from tests.conftest import run_in_process

SPEC = """
    import keras
    import numpy as np
    import tensorflow as tf

    print("policy at import:", keras.mixed_precision.global_policy().name)


    def build():
        rng = np.random.default_rng(0)
        x = rng.normal(size=(64, 8)).astype("float32")
        y = (100 * x.sum(axis=1, keepdims=True)).astype("float32")  # large: the first scaled gradients overflow
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                                  keras.layers.Dense(1, dtype="float32")])
        print("layer policy:", model.layers[0].dtype_policy.name)
        return {"model": model, "optimizer": keras.optimizers.SGD(1e-4), "loss": "mse",
                "dataset": tf.data.Dataset.from_tensor_slices((x, y)).batch(8), "epochs": 1}
"""


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16", "mixed_float16"])
def test_each_policy_reaches_the_model_and_is_put_back_after_the_run(write_script, tmp_path: Path,
                                                                     policy: str) -> None:
    metrics = tmp_path / "steps.jsonl"
    result = run_in_process("--graph", "--train", "--seed", "0", "--precision", policy, "--metrics-out",
                            str(metrics), str(write_script("spec.py", SPEC)))
    assert result.returncode == 0, result.stderr
    assert f"policy at import: {policy}" in result.stdout and f"layer policy: {policy}" in result.stdout
    records = read_jsonl(metrics)
    assert [r["step"] for r in records] == list(range(1, 9))
    assert all(r["loss"] is not None and np.isfinite(r["loss"]) for r in records)  # recorded as float32 values
    assert ("loss_scale" in records[0]) == (policy == "mixed_float16")
    assert keras.mixed_precision.global_policy().name == "float32"


def test_mixed_float16_skips_overflowing_steps_and_resumes_with_its_loss_scale(write_script, tmp_path: Path) -> None:
    """The first steps' scaled gradients overflow float16: those steps are skipped (noted, `"skipped": true`,
    the scale halved), the run goes on under --on-nan stop; stopped after step 3 and resumed, it ends with
    the losses and scales of an uninterrupted run."""
    spec = write_script("spec.py", SPEC)
    full, resumed, ckpt = tmp_path / "full.jsonl", tmp_path / "resumed.jsonl", tmp_path / "ckpt"
    common = ["--graph", "--train", "--seed", "0", "--precision", "mixed_float16"]
    result = run_in_process(*common, "--metrics-out", str(full), str(spec))
    assert result.returncode == 0, result.stderr
    records = read_jsonl(full)
    skipped = [r["step"] for r in records if r.get("skipped")]
    assert skipped and skipped[0] == 1
    assert "skipped: gradients not finite" in result.stderr
    scales = [r["loss_scale"] for r in records]
    assert all(scales[s - 1] == scales[s - 2] / 2 if s > 1 else scales[0] == 2.0**15 / 2 for s in skipped)
    for steps in ("3", None):
        more = ["--steps", steps] if steps else []
        result = run_in_process(*common, *more, "--checkpoint-dir", str(ckpt), "--metrics-out", str(resumed),
                                str(spec))
        assert result.returncode == 0, result.stderr
    assert "resumed from step 3" in result.stderr
    again = read_jsonl(resumed)
    assert [r["step"] for r in again] == list(range(1, 9))
    assert [r["loss_scale"] for r in again] == scales
    assert np.allclose([r["loss"] for r in again], [r["loss"] for r in records], rtol=1e-6)
