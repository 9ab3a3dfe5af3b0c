"""`eagerrun compare`: eager and graph in fresh processes, compared step by step."""

from __future__ import annotations

import json

from eagerrun.diagnostics.compare import compare_values
from eagerrun.records import StepRecord
from tests.conftest import SAMPLES, run_eagerrun


def test_trainer_spec_matches_across_modes() -> None:
    """compare --train --json on the MLP spec: the losses agree, graph is faster, exit 0."""
    result = run_eagerrun("compare", "--train", "--steps", "12", "--seed", "3", "--json",
                          str(SAMPLES / "mlp_spec.py"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["match"] is True and report["first_divergent_step"] is None
    assert report["steps_compared"] == 12
    assert report["max_abs_diff"] < 1e-3
    assert set(report["median_step_s"]) == {"eager", "graph"}
    assert report["speedup"] > 0


def test_python_side_effect_diverges_and_says_why(write_script) -> None:
    """A Python counter inside a tf.function: frozen at trace time in graph mode, so the losses diverge."""
    script = write_script("side_effect.py", """
        import tensorflow as tf
        import eagerrun

        calls = []
        w = tf.Variable(1.0)

        @tf.function
        def step():
            calls.append(1)  # runs every step eagerly, once at trace time as a graph
            loss = w * float(len(calls))
            w.assign_sub(0.01)
            return loss

        for _ in range(5):
            eagerrun.log_step(step())
    """)
    result = run_eagerrun("compare", str(script))
    assert result.returncode == 1, result.stderr
    assert "loss first diverges at step 2" in result.stdout
    assert "Python side effects inside a tf.function" in result.stdout
    assert "side_effect.py:10  calls.append(1)" in result.stdout  # the line, found in the traced function
    assert "tf.data" not in result.stdout


def test_unseeded_random_op_in_tf_data_diverges_at_step_1(write_script) -> None:
    """A random op without its own seed in a Dataset.map: --eager runs it op by op (tf.data debug mode) and
    it draws other numbers, so the first step already differs, and the verdict says to suspect that."""
    script = write_script("noisy_data.py", """
        import tensorflow as tf
        import eagerrun

        noisy = tf.data.Dataset.range(4).map(lambda i: tf.cast(i, tf.float32) + tf.random.uniform([]))
        for value in noisy:
            eagerrun.log_step(value)
    """)
    result = run_eagerrun("compare", "--json", str(script))
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["first_divergent_step"] == 1 and report["likely_cause"] == "unseeded_randomness"


def record(step: int, loss: float | None, **values: float | None) -> StepRecord:
    return StepRecord(step=step, epoch=1, time_s=0.01, mode="eager", traced=False, source="test",
                      values={"loss": loss, **values})


def test_tolerance_decides_divergence() -> None:
    """A difference inside atol + rtol·|loss| agrees; one outside is the first divergent step."""
    eager = [record(1, 1.0), record(2, 2.0), record(3, 3.0)]
    close = [record(1, 1.0), record(2, 2.0 + 1e-6), record(3, 3.0)]
    far = [record(1, 1.0), record(2, 2.0), record(3, 3.1)]
    assert compare_values({"eager": eager, "graph": close}, rtol=1e-4, atol=1e-6).match
    diverged = compare_values({"eager": eager, "graph": far}, rtol=1e-4, atol=1e-6)
    assert not diverged.match and diverged.first_divergent_step == 3
    assert abs(diverged.max_abs_diff - 0.1) < 1e-9


def test_a_missing_value_against_a_real_one_diverges() -> None:
    """A value one run recorded and the other could not is a divergence, named; a value neither recorded
    is not compared."""
    eager = [record(1, 1.0, gen_loss=0.5), record(2, None, gen_loss=0.4)]
    graph = [record(1, 1.0, gen_loss=0.5), record(2, None, gen_loss=None)]
    result = compare_values({"eager": eager, "graph": graph}, rtol=1e-4, atol=1e-6)
    assert not result.match and result.first_divergent_step == 2 and result.divergent_value == "gen_loss"
    assert compare_values({"eager": eager[:1], "graph": graph[:1]}, rtol=1e-4, atol=1e-6).match


def test_different_step_counts_are_their_own_verdict() -> None:
    """Runs of 3 and 2 steps that agree where both have steps: no match, step_count_mismatch, no divergent step."""
    eager = [record(1, 1.0), record(2, 2.0), record(3, 3.0)]
    result = compare_values({"eager": eager, "graph": eager[:2]}, rtol=1e-4, atol=1e-6)
    assert not result.match and result.first_divergent_step is None
    assert result.likely_cause == "step_count_mismatch" and result.step_counts == {"eager": 3, "graph": 2}


def test_a_failed_mode_is_its_own_verdict() -> None:
    """One run failed: no match, likely_cause mode_failed, no speedup, and the error kept for the report."""
    from eagerrun.diagnostics.compare import Comparison

    eager = [record(1, 1.0), record(2, 2.0)]
    result = Comparison(runs={"eager": eager, "graph": eager[:1]}, first_divergent_step=None, max_abs_diff=0.0,
                        steps_compared=1, failures={"graph": "exit 1: ValueError: boom"})
    assert not result.match and result.likely_cause == "mode_failed" and result.speedup is None
    assert result.as_json()["failed"] == {"graph": "exit 1: ValueError: boom"}


def test_suspect_lines_of_a_traced_function(write_script) -> None:
    """Each kind of line that makes the modes differ, found in the traced function's source; a seeded op
    and the function's own TensorFlow math are not suspects."""
    from eagerrun.diagnostics.side_effects import suspects_in

    script = write_script("suspects.py", """
        import random
        import time

        import numpy as np
        import tensorflow as tf

        seen, total = [], 0


        @tf.function
        def step(x):
            global total
            print("tracing")
            seen.append(x)
            total += 1
            noise = np.random.rand()
            jitter = random.random() + time.time()
            drop = tf.random.uniform([3])
            kept = tf.random.uniform([3], seed=1)
            tf.random.set_seed(0)
            return x * 2 + noise + jitter + drop + kept
    """)
    found = suspects_in([{"name": "step", "file": str(script), "line": 11}])  # its decorator's line
    assert [(s.line, s.kind) for s in found] == [
        (14, "print"), (15, "python_container"), (16, "python_counter"), (17, "python_random"),
        (18, "python_clock"), (18, "python_random"), (19, "unseeded_random_op"), (21, "seed_at_trace")]
