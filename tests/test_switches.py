"""A run puts back every process-wide setting it changed (switches.py): checked in this process, after real
runs, with TensorFlow's and Keras' own getters and the logging module."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from eagerrun.switches import ProcessSwitches, restored
from tests.conftest import SAMPLES, run_in_process


def test_undo_runs_newest_first_and_a_failing_undo_does_not_stop_the_others() -> None:
    done: list[str] = []
    with restored() as switches:
        switches.on_undo(lambda: done.append("first"))
        switches.on_undo(lambda: 1 / 0)
        switches.on_undo(lambda: done.append("last"))
    assert done == ["last", "first"]


def test_an_environment_variable_the_user_set_stays_theirs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EAGERRUN_TEST_SET", "mine")
    monkeypatch.delenv("EAGERRUN_TEST_UNSET", raising=False)
    with restored() as switches:
        switches.environ_default("EAGERRUN_TEST_SET", "ours")
        switches.environ_default("EAGERRUN_TEST_UNSET", "ours")
        assert os.environ["EAGERRUN_TEST_SET"] == "mine" and os.environ["EAGERRUN_TEST_UNSET"] == "ours"
    assert os.environ["EAGERRUN_TEST_SET"] == "mine" and "EAGERRUN_TEST_UNSET" not in os.environ


def logger_state(name: str) -> tuple[int, bool, list[logging.Handler]]:
    logger = logging.getLogger(name)
    return logger.level, logger.propagate, list(logger.handlers)


def test_a_check_numerics_run_leaves_the_process_as_it_found_it(write_script) -> None:
    """After `--check-numerics`, TensorFlow no longer checks new graphs, and eagerrun's logger is as before."""
    import tensorflow as tf

    before = logger_state("eagerrun"), os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    script = write_script("fine.py", """
        import tensorflow as tf
        import eagerrun

        @tf.function
        def step(x):
            return tf.reduce_sum(x * x)

        for _ in range(2):
            eagerrun.log_step(step(tf.ones(3)))
    """)
    done = run_in_process("--graph", "--check-numerics", str(script))
    assert done.returncode == 0, done.stderr
    assert (logger_state("eagerrun"), os.environ.get("TF_CPP_MIN_LOG_LEVEL")) == before

    @tf.function
    def log_of_negative(x: tf.Tensor) -> tf.Tensor:
        return tf.math.log(x)

    assert bool(tf.math.is_nan(log_of_negative(tf.constant(-1.0))))  # not an InvalidArgumentError: checks are off


def test_a_precision_run_puts_keras_dtype_policy_back(tmp_path: Path) -> None:
    import keras

    before = keras.mixed_precision.global_policy().name
    done = run_in_process("--graph", "--train", "--steps", "2", "--precision", "mixed_bfloat16",
                          str(SAMPLES / "mlp_spec.py"))
    assert done.returncode == 0, done.stderr
    assert keras.mixed_precision.global_policy().name == before == "float32"


def test_switches_cover_a_logger_level_handler_and_propagation() -> None:
    name = "eagerrun.test_switches"
    handler = logging.NullHandler()
    before = logger_state(name)
    switches = ProcessSwitches()
    switches.logger(name, level=logging.ERROR, handler=handler, propagate=False)
    assert logger_state(name) == (logging.ERROR, False, [*before[2], handler])
    switches.undo_all()
    assert logger_state(name) == before
