"""Loop shapes from public scripts that eagerrun got wrong (issue 18), each against the script's own values.

The scripts (tests/public_loops/) print what each step computed as JSON lines, from a variable of their own or
from what their loop got back; the metrics file must hold the same value at every step, or null where the
step computed none: never a value of another call, another trace or a default. Graph runs go through Click's
runner in this process; eager runs and runs that split the CPU into logical devices in a subprocess.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_eagerrun, runner_for

LOOPS = Path(__file__).resolve().parent / "public_loops"
MODES = pytest.mark.parametrize("mode", ["eager", "graph"], ids=["eager", "graph"])


def run(mode: str, name: str, tmp_path: Path, *args: str, subprocess_only: bool = False):
    metrics = tmp_path / f"{mode}.jsonl"
    runner = run_eagerrun if subprocess_only else runner_for(mode)
    result = runner(f"--{mode}", "--metrics-out", str(metrics), str(LOOPS / name), *args)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    printed = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result, records, printed


def assert_values_are_the_steps_own(records: list[dict], printed: list[dict], name: str = "loss") -> None:
    """One step per iteration of the script's loop, each value the script's own (1e-5 relative) or null
    where the script computed none."""
    oracle = [line[name] for line in printed]
    first = records[0]["step"] if records else 1
    assert [r["step"] for r in records] == list(range(first, first + len(oracle)))
    recorded = [r.get(name) for r in records]
    for step, (expected, got) in enumerate(zip(oracle, recorded), start=1):
        if expected is None:
            assert got is None, f"step {step}: {got} recorded where the step computed no {name}"
        else:
            assert got is not None and math.isclose(got, expected, rel_tol=1e-5, abs_tol=1e-7), \
                f"step {step}: recorded {got}, the step computed {expected}"
    assert not any("non_finite" in r for r in records)


@MODES
def test_a_retraced_function_records_each_calls_own_loss(mode, tmp_path):
    """Adam makes the first call trace twice and the ragged last batch traces again: three graphs of one
    function, each call read through the one that ran (issue 18: 0.0 shown at steps 5-7 in graph mode)."""
    _, records, printed = run(mode, "ragged_adam.py", tmp_path)
    assert len(printed) == 8
    assert_values_are_the_steps_own(records, printed)
    if mode == "graph":
        assert [r["step"] for r in records if r["traced"]] == [1, 4]


def test_traces_that_hold_their_loss_differently_are_each_read_their_own_way(tmp_path):
    """One trace returns its loss, another does not: the host's count of ring rows follows the graph that
    ran, so no call is read from another's row."""
    _, records, printed = run("graph", "returns_for_one_shape.py", tmp_path)
    assert len(printed) == 9
    assert_values_are_the_steps_own(records, printed)


@MODES
def test_a_loop_that_ran_no_iteration_has_no_loss(mode, tmp_path):
    """A loss made in a loop inside the function: a call whose loop ran no iteration computed none, so its
    step's loss is null, not the previous call's."""
    _, records, printed = run(mode, "loop_in_function.py", tmp_path)
    assert [line["loss"] is None for line in printed] == [False, False, True, False, True, False]
    assert_values_are_the_steps_own(records, printed)
    assert [r.get("batches_per_call", 1) for r in records] == [2, 1, 1, 3, 1, 1]  # counted as the loop ran


@pytest.mark.parametrize(("mode", "replicas", "shape"), [
    ("graph", "1", "step"), ("eager", "2", "step"), ("graph", "2", "step"), ("graph", "2", "epoch"),
], ids=["graph-one-replica", "eager-two-replicas", "graph-two-replicas", "graph-epoch-in-one-function"])
def test_strategy_run_loops_record_one_step_per_call_with_the_reduced_loss(mode, replicas, shape, tmp_path):
    """TensorFlow's distributed custom-training tutorial: one step per call of the outer tf.function, its
    value the loss `strategy.reduce` gave the script, the same in both modes, on one replica and two."""
    _, records, printed = run(mode, "strategy_loop.py", tmp_path, replicas, shape, subprocess_only=True)
    assert len(printed) == (2 if shape == "epoch" else 8)
    assert_values_are_the_steps_own(records, printed)
    assert [r.get("batches_per_call", 1) for r in records] == [4 if shape == "epoch" else 1] * len(printed)


def test_eager_runs_a_tf_function_called_inside_dataset_map(tmp_path):
    """pix2pix's random_jitter (a tf.function with `if tensor:`) inside Dataset.map: python runs it, so
    --eager must too; it stays traced there, and eagerrun says so once, naming it."""
    result, records, printed = run("eager", "jitter_in_map.py", tmp_path)
    assert len(records) == len(printed) == 2
    assert_values_are_the_steps_own(records, printed)
    warnings = [line for line in result.stderr.splitlines() if "random_jitter" in line]
    assert len(warnings) == 1 and "runs traced" in warnings[0] and "jitter_in_map.py:" in warnings[0]


def test_hooks_take_every_argument_form_python_takes(tmp_path):
    """fit with callbacks as its 6th positional argument, a tuple, a CallbackList; gradient and apply by
    keyword: the script sees what it sees under python (its History filled, its list unchanged)."""
    script = LOOPS / "argument_forms.py"
    plain = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=180)
    assert plain.returncode == 0, plain.stderr
    result, records, printed = run("graph", "argument_forms.py", tmp_path)
    assert printed[0] == {"positional_epochs": [0], "callbacks_kept": 1}
    assert [line for line in result.stdout.splitlines() if line.startswith("{")][0] == \
        [line for line in plain.stdout.splitlines() if line.startswith("{")][0]
    fit_steps = [r for r in records if r["source"] == "fit"]
    assert len(fit_steps) == 2 + 4  # 64 rows by 32, then by 16; the CallbackList fit is not recorded
    assert "CallbackList" in result.stderr
    loop = [r for r in records if r["source"] == "autolog"]
    assert_values_are_the_steps_own(loop, printed[1:])


def test_a_loop_eagerrun_cannot_see_is_named_with_why(write_script):
    """No step recorded: the line says which calls were seen and why none was a step."""
    from tests.conftest import run_in_process

    script = write_script("inference.py", """
        import tensorflow as tf

        v = tf.Variable(1.0)

        @tf.function
        def predict(x):
            return x * v

        for _ in range(3):
            predict(tf.constant(1.0))
        x = tf.constant(2.0)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = x * x
        tape.gradient(y, x)
        """)
    result = run_in_process("--graph", str(script))
    assert result.returncode == 0, result.stderr
    assert "no training steps were recorded" in result.stderr
    assert "predict (inference.py:6) called 3 times, without a gradient over variables" in result.stderr
    assert "GradientTape.gradient called 1 time over tensors" in result.stderr
