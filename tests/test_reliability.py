"""Nothing lost: signals stop at a step's end, checkpoints resume exactly, bad input is one line."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, run_eagerrun, run_in_process, start_eagerrun

RESUMABLE = str(ROOT / "tests" / "specs" / "resumable.py")


def losses(path: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in path.read_text().splitlines()]


def steps_in(path: Path) -> list[int]:
    return [json.loads(line)["step"] for line in path.read_text().splitlines()] if path.exists() else []


def wait_for_steps(metrics: Path, count: int, process: Any, limit_s: float = 120) -> None:
    deadline = time.monotonic() + limit_s
    while len(steps_in(metrics)) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no steps recorded in time"
        time.sleep(0.1)


COMMON = ["--eager", "--train", "--seed", "5", "--epochs", "3"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The metrics of the run every interrupted-and-resumed run must equal, step for step."""
    full = tmp_path_factory.mktemp("uninterrupted") / "full.jsonl"
    done = run_eagerrun(*COMMON, "--metrics-out", str(full), RESUMABLE)
    assert done.returncode == 0, done.stderr
    return full


# SIGTERM only: SIGINT takes the same path to its own code (130), which test_second_ctrl_c_exits_at_once and
# the launch tests check; benchmarks/fault_matrix.py sends both many times over.
@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143)], ids=["sigterm"])
def test_signal_stops_at_step_end_and_resume_is_exact(tmp_path: Path, uninterrupted: Path, signum: int,
                                                      code: int) -> None:
    """A real signal mid-run: exit 130/143, table shown, metrics and checkpoint kept; the resumed run ends
    with the same losses, step for step, as an uninterrupted one."""
    ckpt, metrics = tmp_path / "ckpt", tmp_path / "resumed.jsonl"
    process = start_eagerrun(*COMMON, "--checkpoint-dir", str(ckpt), "--metrics-out", str(metrics), RESUMABLE,
                             env={"TEST_STEP_SLEEP": "0.3"})
    wait_for_steps(metrics, 4, process)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    done = steps_in(metrics)
    assert done == list(range(1, len(done) + 1)) and len(done) < 18
    assert f"{len(done)} steps, eager mode" in stderr
    assert f'model_checkpoint_path: "ckpt-{len(done)}"' in (ckpt / "checkpoint").read_text()

    resumed = run_eagerrun(*COMMON, "--checkpoint-dir", str(ckpt), "--metrics-out", str(metrics), RESUMABLE)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed from step {len(done)}" in resumed.stderr
    assert steps_in(metrics) == list(range(1, 19))
    assert losses(metrics) == pytest.approx(losses(uninterrupted), rel=1e-6, abs=1e-7)

    again = run_eagerrun(*COMMON, "--checkpoint-dir", str(ckpt), "--metrics-out", str(metrics), RESUMABLE)
    assert again.returncode == 0 and "resumed from step 18" in again.stderr
    assert steps_in(metrics) == list(range(1, 19)), "a finished run does no more steps"


def test_resume_after_sigkill_redoes_the_lost_steps_once(tmp_path: Path, uninterrupted: Path) -> None:
    """SIGKILL between checkpoints: no handler runs, steps after the last checkpoint are in the metrics file
    but not in the checkpoint. The resumed run cuts them and redoes them: every step once, the same losses;
    its progress bar (drawn as on a terminal) counts the run's steps, ending at 18 of 18."""
    ckpt, metrics = tmp_path / "ckpt", tmp_path / "resumed.jsonl"
    process = start_eagerrun(*COMMON, "--checkpoint-dir", str(ckpt), "--checkpoint-every", "3",
                             "--metrics-out", str(metrics), RESUMABLE, env={"TEST_STEP_SLEEP": "1"})
    wait_for_steps(metrics, 4, process)
    process.kill()  # inside step 5's one-second sleep; the last checkpoint is step 3's
    process.communicate(timeout=60)
    assert steps_in(metrics) == [1, 2, 3, 4]
    resumed = run_eagerrun(*COMMON, "--checkpoint-dir", str(ckpt), "--metrics-out", str(metrics), RESUMABLE,
                           env={"TTY_COMPATIBLE": "1"})
    assert resumed.returncode == 0, resumed.stderr
    assert steps_in(metrics) == list(range(1, 19))
    assert losses(metrics) == pytest.approx(losses(uninterrupted), rel=1e-6, abs=1e-7)
    assert "18/18" in resumed.stderr


K4 = ["--graph", "--train", "--seed", "5", "--epochs", "3", "--steps-per-execution", "4"]


def test_steps_per_execution_checkpoints_only_between_chunks(tmp_path: Path) -> None:
    """K=4 with --checkpoint-every 5, not a multiple of 4: a chunk ends wherever a checkpoint is due, so
    each checkpoint's step counter, weights and data position agree. SIGKILL while a chunk runs, resume;
    SIGTERM while a chunk runs (exit 143), resume: every step once, the losses of an uninterrupted run."""
    full, ckpt, metrics = tmp_path / "full.jsonl", tmp_path / "ckpt", tmp_path / "resumed.jsonl"
    done = run_in_process(*K4, "--metrics-out", str(full), RESUMABLE)  # graph mode: no subprocess needed
    assert done.returncode == 0, done.stderr
    interrupted = [*K4, "--checkpoint-dir", str(ckpt), "--checkpoint-every", "5", "--metrics-out", str(metrics)]

    process = start_eagerrun(*interrupted, RESUMABLE, env={"TEST_STEP_SLEEP": "0.2"})
    wait_for_steps(metrics, 6, process)  # chunks 1-4, 5 (checkpoint), 6 (epoch end); 7-10 is running
    process.kill()
    process.communicate(timeout=60)
    assert 'model_checkpoint_path: "ckpt-5"' in (ckpt / "checkpoint").read_text()

    process = start_eagerrun(*interrupted, RESUMABLE, env={"TEST_STEP_SLEEP": "0.2"})
    wait_for_steps(metrics, 11, process)  # 7-10, 11 (epoch end... of 12); the signal lands in a chunk
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    saved = steps_in(metrics)[-1]
    assert f'model_checkpoint_path: "ckpt-{saved}"' in (ckpt / "checkpoint").read_text()

    resumed = run_in_process(*interrupted, RESUMABLE)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed from step {saved}" in resumed.stderr
    assert steps_in(metrics) == list(range(1, 19))
    assert losses(metrics) == pytest.approx(losses(full), rel=1e-6, abs=1e-7)


def test_second_ctrl_c_exits_at_once(tmp_path: Path) -> None:
    """The first Ctrl-C waits for the step to end; a second one does not."""
    metrics = tmp_path / "m.jsonl"
    process = start_eagerrun("--eager", "--train", "--metrics-out", str(metrics), RESUMABLE,
                             env={"TEST_STEP_SLEEP": "300"})
    wait_for_steps(metrics, 2, process)
    time.sleep(0.5)  # now inside the third step's long sleep
    process.send_signal(signal.SIGINT)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)  # a wait for the step would take 300 s
    assert process.returncode == 130
    assert steps_in(metrics) == [1, 2]
    assert "Traceback" not in stderr


def test_plain_script_sigterm_keeps_its_steps(write_script, tmp_path: Path) -> None:
    """SIGTERM to a plain script's loop: it stops after a step, exit 143, every step so far recorded."""
    metrics = tmp_path / "m.jsonl"
    script = write_script("loop.py", """
        import time
        import eagerrun
        for step in range(10_000):
            time.sleep(0.05)
            eagerrun.log_step(1.0 / (step + 1))
    """)
    process = start_eagerrun("--graph", "--metrics-out", str(metrics), str(script), env={})
    wait_for_steps(metrics, 3, process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143
    recorded = steps_in(metrics)
    assert recorded == list(range(1, len(recorded) + 1))
    assert f"{len(recorded)} steps, graph mode" in stderr


def test_checkpoint_of_another_model_is_refused_untouched(tmp_path: Path, write_script) -> None:
    """A checkpoint of a different model: exit 2, one line, every file in DIR byte-for-byte as it was."""
    ckpt = tmp_path / "ckpt"
    first = run_in_process("--graph", "--train", "--epochs", "1", "--checkpoint-dir", str(ckpt), RESUMABLE)
    assert first.returncode == 0, first.stderr
    before = {path.name: path.read_bytes() for path in ckpt.iterdir()}
    other = write_script("other.py", """
        import keras, numpy as np
        x = np.zeros((32, 6), "float32"); y = np.zeros((32, 1), "float32")
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3), keras.layers.Dense(1)])
        optimizer, loss, dataset, batch_size = "adam", "mse", (x, y), 8
    """)
    refused = run_in_process("--graph", "--train", "--checkpoint-dir", str(ckpt), str(other))
    assert refused.returncode == 2
    assert "does not belong to this model" in refused.stderr and "Traceback" not in refused.stderr
    assert {path.name: path.read_bytes() for path in ckpt.iterdir()} == before


@pytest.mark.parametrize("source, code, expected", [
    ("", 2, "defines nothing to train"),
    ("import math\n", 2, "defines nothing to train"),
    ("def build():\n    raise RuntimeError('cannot build')\n", 1, "RuntimeError: cannot build"),
], ids=["empty-file", "nothing-trainable", "build-raises"])
def test_bad_trainer_scripts(write_script, source: str, code: int, expected: str) -> None:
    """Empty or untrainable scripts are exit 2 in one line; a build() that raises shows its traceback, exit 1."""
    result = run_in_process("--graph", "--train", str(write_script("spec.py", source)))
    assert result.returncode == code, result.stderr
    assert expected in result.stderr
    assert "eagerrun/" not in result.stderr.replace("eagerrun │", "")


def test_binary_file_under_train(tmp_path: Path) -> None:
    """A binary file given to --train: non-zero, no eagerrun frames."""
    binary = tmp_path / "weights.h5"
    binary.write_bytes(b"\x89HDF\r\n\x1a\n\x00\x00" + bytes(range(256)))
    result = run_in_process("--train", str(binary))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr or "eagerrun/" not in result.stderr


def test_unknown_option_value_is_exit_2() -> None:
    """--on-nan maybe: exit 2 naming the choices."""
    result = run_eagerrun("--train", "--on-nan", "maybe", RESUMABLE)
    assert result.returncode == 2
    assert "'maybe' is not one of 'stop', 'warn'" in result.stderr


def test_a_signal_after_the_last_step_still_ends_the_run_143(write_script) -> None:
    """SIGTERM after the loop's last step (where no step end asks whether to stop): exit 143, not 0."""
    script = write_script("late_signal.py", """
        import os
        import signal

        import eagerrun

        for step in range(3):
            eagerrun.log_step(1.0 / (step + 1))
        os.kill(os.getpid(), signal.SIGTERM)
        print("the script ran to its end")
    """)
    result = run_eagerrun("--graph", str(script))
    assert result.returncode == 143, result.stderr
    assert "the script ran to its end" in result.stdout and "3 steps" in result.stderr


def test_relative_paths_are_resolved_before_the_spec_changes_directory(write_script, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A build() that chdirs into a folder holding an unrelated m.jsonl: that file is left as it was, and
    --metrics-out m.jsonl and --checkpoint-dir ck land in the folder the command was run from."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "m.jsonl").write_text("not ours\nnot ours\nnot ours\n")
    script = write_script("spec.py", f"""
        import os

        import keras
        import numpy as np
        import tensorflow as tf


        def build():
            os.chdir({str(data)!r})  # as scripts do to find their data
            x, y = np.ones((8, 2), "float32"), np.ones((8, 1), "float32")
            return {{"model": keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]), "optimizer": "sgd",
                    "loss": "mse", "dataset": tf.data.Dataset.from_tensor_slices((x, y)).batch(4)}}
    """)
    monkeypatch.chdir(tmp_path)
    result = run_in_process("--graph", "--train", "--metrics-out", "m.jsonl", "--checkpoint-dir", "ck", str(script))
    assert result.returncode == 0, result.stderr
    assert (data / "m.jsonl").read_text() == "not ours\nnot ours\nnot ours\n"
    assert len((tmp_path / "m.jsonl").read_text().splitlines()) == 2
    assert (tmp_path / "ck").is_dir() and not (data / "ck").exists()


def test_once_the_trainer_loop_starts_a_signal_waits_for_the_step_end() -> None:
    """Before any step ended a signal stops at once; after steps_will_end() (the trainer's loop has begun,
    a resumed run's first step included) it waits for stop_point, so no checkpoint is saved mid-step."""
    from eagerrun import interrupts

    with interrupts.stop_at_step_end() as request:
        with pytest.raises(interrupts.Interrupted):
            request._handle(signal.SIGTERM, None)  # no step end to wait for yet: at once
    with interrupts.stop_at_step_end() as request:
        interrupts.steps_will_end()
        request._handle(signal.SIGTERM, None)  # mid-step: noted, not raised
        with pytest.raises(interrupts.Interrupted) as stopped:
            interrupts.stop_point()
        assert stopped.value.exit_code == 143


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["sigint", "sigterm"])
def test_a_signal_while_tensorflow_loads_ends_the_run_with_its_code(write_script, signum: int, code: int) -> None:
    """One second in, eagerrun is still importing TensorFlow (it takes seconds): the signal ends it with
    130/143, as at any other moment, not by the signal itself, not with a traceback or "Aborted!"."""
    process = start_eagerrun("--graph", str(write_script("sleepy.py", "import time\ntime.sleep(60)\n")), fresh=True)
    time.sleep(1.0)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr and "Aborted" not in stderr
