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
    result = run_eagerrun("compare", "--no-bisect", str(script))  # (the bisect has its own tests)
    assert result.returncode == 1, result.stderr
    assert "loss first diverges at step 2" in result.stdout
    assert "The steps before 2 agree and step 2 differs: Python side effects inside a traced" in result.stdout
    assert "side_effect.py:10  calls.append(1)" in result.stdout  # the line, found among those the trace ran
    assert "first step already differs" not in result.stdout


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
    result = run_eagerrun("compare", "--no-bisect", "--json", str(script))
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["first_divergent_step"] == 1 and report["likely_cause"] == "unseeded_randomness"
    assert [(s["line"], s["kind"]) for s in report["suspects"]] == [(5, "unseeded_random_op")]  # the map's line


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
    from eagerrun.diagnostics.compare import Comparison, Failure

    eager = [record(1, 1.0), record(2, 2.0)]
    result = Comparison(runs={"eager": eager, "graph": eager[:1]}, first_divergent_step=None, max_abs_diff=0.0,
                        steps_compared=1, failures={"graph": Failure(1, "ValueError: boom", "train.py:3")})
    assert not result.match and result.likely_cause == "mode_failed" and result.speedup is None
    assert result.as_json()["failed"] == {"graph": {"exit_code": 1, "error": "ValueError: boom", "at": "train.py:3"}}


def test_side_effects_are_named_only_among_the_lines_that_ran(write_script) -> None:
    """Each kind of line that makes the modes differ, among the lines a trace ran; a line that did not run
    (an untraced branch), a local list and a layer's build are not suspects."""
    from eagerrun.diagnostics.side_effects import side_effects_at

    script = write_script("suspects.py", """
        import random
        import time

        import numpy as np

        seen, total, state = [], 0, {"calls": 0}


        def step(x, model):
            global total
            print("tracing")
            seen.append(x)
            total += 1
            state["calls"] += 1
            model.last = x
            noise = np.random.rand()
            jitter = random.random() + time.time()
            mine = []
            mine.append(x)
            if x is None:
                seen.append(0)
            return x * 2 + noise + jitter


        def build(self):
            self.kernel = 1
    """)
    ran = set(range(11, 25)) - {22} | {27}  # (the file's first line is blank) all of step but line 22; build
    found = side_effects_at({str(script): ran})
    assert [(s.line, s.kind) for s in found] == [
        (12, "print"), (13, "python_container"), (14, "python_counter"), (15, "python_counter"),
        (16, "python_state"), (17, "python_random"), (18, "python_clock"), (18, "python_random")]


def test_trace_evidence_from_the_graphs_built(tmp_path) -> None:
    """In-process, on real TensorFlow: the random ops of the graphs traced, at the user's line, through a
    helper, a layer's call, a tf.cond branch and a Dataset.map function; not the one in a branch no trace
    took (Python `if eps is None`); and the user's lines that ran while tracing."""
    import importlib.util

    import tensorflow as tf

    from eagerrun.autolog import hooks
    from eagerrun.diagnostics.trace_evidence import TraceEvidence
    from eagerrun.diagnostics.tracing import TraceCounter

    source = tmp_path / "evidence_case.py"
    source.write_text(
        "import tensorflow as tf\n"                                                    # 1
        "import keras\n"                                                               # 2
        "class Noise(keras.layers.Layer):\n"                                           # 3
        "    def call(self, x):\n"                                                     # 4
        "        return x + tf.random.normal(tf.shape(x))\n"                           # 5
        "def helper(x, eps=None):\n"                                                   # 6
        "    if eps is None:\n"                                                        # 7
        "        eps = tf.random.uniform(tf.shape(x))\n"                               # 8
        "    return x * eps\n"                                                         # 9
        "noise = Noise()\n"                                                            # 10
        "@tf.function\n"                                                               # 11
        "def step(x):\n"                                                               # 12
        "    y = helper(x, eps=x) + noise(x)\n"                                        # 13
        "    return tf.cond(tf.reduce_sum(x) > 0, lambda: tf.random.shuffle(y), lambda: y)\n"  # 14
        "def mapped(x):\n"                                                             # 15
        "    return tf.image.random_flip_left_right(x)\n"                              # 16
    )
    spec = importlib.util.spec_from_file_location("evidence_case", source)
    module = importlib.util.module_from_spec(spec)
    evidence = TraceEvidence()
    with hooks.installed(traces=TraceCounter(), evidence=evidence):
        spec.loader.exec_module(module)
        module.step(tf.ones((2, 3)))
        next(iter(tf.data.Dataset.from_tensors(tf.ones((2, 2, 1))).map(module.mapped)))
    found = {(op.line, op.op_type) for op in evidence.random_ops.values() if op.file == str(source)}
    assert found == {(5, "RandomStandardNormal"), (14, "RandomShuffle"), (16, "RandomUniform")}
    assert {13, 9, 7, 5} <= evidence.executed[str(source)] and 8 not in evidence.executed[str(source)]


COMPARE_CASES = """
    import numpy as np
    import tensorflow as tf
    import keras
    import eagerrun

    CASE = {case!r}
    state = {{"calls": 0}}


    class Noise(keras.layers.Layer):
        def call(self, x):
            return x + tf.random.normal(tf.shape(x)) if CASE == "layer" else x


    def reparameterize(h, eps=None):
        if eps is None:
            eps = tf.random.normal(tf.shape(h))  # only without eps: the trace never takes this branch
        return h + eps * 0.1 if CASE == "helper" else h


    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    noise = Noise()
    optimizer = keras.optimizers.SGD(0.01)


    @tf.function
    def train_step(x, y):
        if CASE == "counter":
            state["calls"] += 1
        with tf.GradientTape() as tape:
            h = noise(reparameterize(model(x), eps=None if CASE == "helper" else 0.0))
            loss = tf.reduce_mean(tf.square(h - y)) * float(state["calls"] + 1)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss


    x, y = np.ones((32, 4), "float32"), np.zeros((32, 1), "float32")
    for step in range(4):
        eagerrun.log_step(train_step(x[step * 8:(step + 1) * 8], y[step * 8:(step + 1) * 8]))
"""


def compare_case(write_script, case: str) -> dict:
    script = write_script(f"case_{case}.py", COMPARE_CASES.format(case=case))
    result = run_eagerrun("compare", "--no-bisect", "--json", str(script))  # (the bisect has its own tests)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def test_an_unseeded_random_op_two_calls_down_is_named_from_the_graph(write_script) -> None:
    """tf.random.normal in a helper the step calls, and in a layer's call: named at their lines, as random
    ops of the traced graph (in the other cases the helper's branch is not traced, and not named)."""
    helper = compare_case(write_script, "helper")
    assert helper["likely_cause"] == "unseeded_randomness" and helper["first_divergent_step"] == 1
    assert [(s["line"], s["kind"]) for s in helper["suspects"]] == [(18, "unseeded_random_op")]
    assert "RandomStandardNormal in train_step → reparameterize" in helper["suspects"][0]["detail"]
    layer = compare_case(write_script, "layer")
    assert [(s["line"], s["kind"]) for s in layer["suspects"]] == [(13, "unseeded_random_op")]
    assert "train_step → call" in layer["suspects"][0]["detail"]


def test_a_dict_counter_in_the_step_is_a_side_effect_from_step_2(write_script) -> None:
    """`state["calls"] += 1` in the step: frozen at trace time in graph mode, so step 2 differs, and the
    line is named; no random op is (the untraced branch's is not)."""
    report = compare_case(write_script, "counter")
    assert report["first_divergent_step"] == 2 and report["likely_cause"] == "python_side_effect"
    assert [(s["line"], s["kind"]) for s in report["suspects"]] == [(30, "python_counter")]


def test_the_same_loop_without_randomness_or_side_effects_agrees(write_script) -> None:
    """The same script with neither: every step agrees under compare's seed."""
    report = compare_case(write_script, "none")
    assert report["match"] is True and report["likely_cause"] is None and report["steps_compared"] == 4


def test_a_failed_mode_says_its_error_and_line(write_script) -> None:
    """`.numpy()` inside a tf.function fails only as a graph: the verdict gives its type, message and the
    user's line, how far the eager run got, and no second step-count verdict; nothing compared is null."""
    script = write_script("fails.py", """
        import tensorflow as tf
        import eagerrun

        w = tf.Variable(1.0)


        @tf.function
        def step():
            loss = w * 2.0
            return float(loss.numpy())


        for _ in range(3):
            eagerrun.log_step(step())
    """)
    result = run_eagerrun("compare", str(script))
    assert result.returncode == 1, result.stderr
    assert ("✗ the graph run failed (exit 1) after 0 steps: AttributeError: 'SymbolicTensor' object has no "
            "attribute 'numpy'") in result.stdout
    assert f"at {script}:11" in result.stdout  # (the file's first line is blank)
    assert "the eager run ran to its end: 3 steps, loss 2.0000" in result.stdout
    assert "different numbers of steps" not in result.stdout
    report = json.loads(run_eagerrun("compare", "--json", str(script)).stdout)
    assert report["max_abs_diff"] is None and report["steps_compared"] == 0
    assert report["failed"]["graph"]["at"] == f"{script}:11" and report["likely_cause"] == "mode_failed"


def test_bisect_names_the_third_of_five_layers_that_computes_differently(write_script) -> None:
    """A layer that computes differently as a graph, third of five: compare's bisect run names it, with its
    line, and the two layer calls before it agree; the verdict is a real mode difference."""
    script = write_script("five.py", """
        import numpy as np
        import tensorflow as tf
        import keras
        import eagerrun


        class Scale(keras.layers.Layer):
            def call(self, x):
                return x * (1.0 if tf.executing_eagerly() else 1.01)


        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(8), Scale(),
                                  keras.layers.Dense(8), keras.layers.Dense(1)])
        optimizer = keras.optimizers.SGD(0.01)


        @tf.function
        def train_step(x, y):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(model(x) - y))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss


        x, y = np.ones((32, 4), "float32"), np.zeros((32, 1), "float32")
        for step in range(4):
            eagerrun.log_step(train_step(x[step * 8:(step + 1) * 8], y[step * 8:(step + 1) * 8]))
    """)
    report = json.loads(run_eagerrun("compare", "--json", str(script)).stdout)
    assert report["likely_cause"] == "mode_difference" and report["suspects"] == []
    parting = report["bisect"]
    assert parting["layer"] == "scale (Scale)" and parting["where"] == f"{script}:9"  # its call's def
    assert parting["layers_compared"] == 3 and parting["step"] == report["first_divergent_step"]


def test_bisect_says_when_only_a_gradient_differs() -> None:
    """In-process: a layer whose forward pass agrees and whose gradient doubles as a graph; the parting is
    the gradient of the weight below it, the forward pass agreeing over every layer call."""
    import keras
    import tensorflow as tf

    from eagerrun.diagnostics.bisect import parting_on

    class GradientDiffers(keras.layers.Layer):
        def call(self, x):
            @tf.custom_gradient
            def same_forward(x):
                return tf.identity(x), lambda dy: dy * (1.0 if tf.executing_eagerly() else 2.0)

            return same_forward(x)

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, name="below"), GradientDiffers(),
                              keras.layers.Dense(1)])
    parting = parting_on(model, [tf.ones((2, 4))], step=5, rtol=1e-4, atol=1e-6)
    assert parting is not None and parting.layer is None and parting.layers_compared == 3
    assert parting.gradient_of.endswith("below/kernel") and parting.step == 5
    agreeing = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4), keras.layers.Dense(1)])
    assert parting_on(agreeing, [tf.ones((2, 4))], step=1, rtol=1e-4, atol=1e-6).layers_compared == 2


def test_bisect_finds_fits_model_and_batch_behind_its_train_function() -> None:
    """In-process: Keras fit's train function takes an iterator and closes over the model two functions
    down; the bisector finds the model there and takes the iterator's next element as the step's batch."""
    import keras
    import numpy as np
    import tensorflow as tf

    from eagerrun.diagnostics.bisect import batch_of, models_reachable

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    model.fit(np.ones((4, 3), "float32"), np.zeros((4, 2), "float32"), batch_size=2, epochs=1, verbose=0)
    assert model in models_reachable(model.train_function, ())
    iterator = iter(tf.data.Dataset.from_tensor_slices((np.arange(6.0).reshape(2, 3), np.zeros((2, 2)))).batch(2))
    x, y = batch_of((iterator,))
    assert x.shape == (2, 3) and y.shape == (2, 2) and float(x[1, 0]) == 3.0
