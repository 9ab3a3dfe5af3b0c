"""`--profile START:STOP`: a TensorBoard capture with one step marker per profiled step, for each loop."""

from __future__ import annotations

import json

import pytest

from eagerrun.diagnostics.profile import step_markers
from tests.conftest import SAMPLES, run_eagerrun

GAN = """
    import numpy as np
    import tensorflow as tf
    import keras

    generator = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8)])
    discriminator = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    g_opt, d_opt = keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3)


    @tf.function
    def discriminator_step(real):
        with tf.GradientTape() as tape:
            fake = generator(tf.random.normal((8, 4)))
            loss = tf.reduce_mean(discriminator(fake)) - tf.reduce_mean(discriminator(real))
        d_opt.apply_gradients(zip(tape.gradient(loss, discriminator.trainable_variables),
                                  discriminator.trainable_variables))
        return loss


    @tf.function
    def generator_step():
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(discriminator(generator(tf.random.normal((8, 4)))))
        g_opt.apply_gradients(zip(tape.gradient(loss, generator.trainable_variables), generator.trainable_variables))
        return loss


    for real in tf.data.Dataset.from_tensor_slices(np.ones((64, 8), "float32")).batch(8):
        discriminator_step(real)
        generator_step()
"""


def profiled(tmp_path, *args: str) -> tuple[dict, str]:
    folder = tmp_path / "profile"
    result = run_eagerrun("--graph", "--profile-dir", str(folder), "--run-report", str(tmp_path / "r.json"), *args)
    assert result.returncode == 0, result.stderr
    return json.loads((tmp_path / "r.json").read_text())["profile"], result.stderr


@pytest.mark.parametrize("loop", ["custom_loop", "gan", "fit", "trainer"])
def test_one_step_marker_per_profiled_step(tmp_path, write_script, loop: str) -> None:
    """Steps 3 to 5 of a custom loop, a GAN of two tf.functions a step, Keras fit and eagerrun's trainer: the
    capture (read back from its files) holds one `train` marker for each, and its top ops."""
    target = {"custom_loop": [str(SAMPLES / "custom_loop.py")], "fit": [str(SAMPLES / "fit_mlp.py")],
              "trainer": ["--train", "--steps", "8", str(SAMPLES / "mlp_spec.py")],
              "gan": [str(write_script("gan.py", GAN))]}[loop]
    profile, stderr = profiled(tmp_path, "--profile", "3:5", *target)
    assert profile["steps"] == [3, 4, 5]
    files = [str(path) for path in (tmp_path / "profile").rglob("*.xplane.pb")]
    assert step_markers(files) == [3, 4, 5]  # what TensorBoard reads, not what eagerrun meant to write
    assert profile["top_ops"] and all(op["self_s"] >= 0 for op in profile["top_ops"])
    assert f"profile: 3 step markers (steps 3–5) in {tmp_path / 'profile'}" in stderr
    assert "top ops, by self time on the host" in stderr


def test_a_profile_past_the_last_step_says_so(tmp_path) -> None:
    """--profile beyond the run's steps writes nothing and says so; the run still exits 0."""
    result = run_eagerrun("--graph", "--profile", "500:510", "--profile-dir", str(tmp_path / "p"),
                          str(SAMPLES / "custom_loop.py"))
    assert result.returncode == 0, result.stderr
    assert "--profile 500:510: the run ended before step 500's call; no profile written" in result.stderr


@pytest.mark.parametrize("value", ["5:3", "0:2", "a:b"])
def test_a_bad_profile_range_is_a_usage_error(value: str) -> None:
    result = run_eagerrun("--profile", value, str(SAMPLES / "custom_loop.py"))
    assert result.returncode == 2 and "Invalid value for '--profile'" in result.stderr
