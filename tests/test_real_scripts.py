"""Public training scripts, shrunk to synthetic data (tests/real_scripts/), through eagerrun in both modes.

Each script keeps the shape of the loop it mirrors (its tapes, optimizers, tf.functions and return values)
and prints, as JSON lines, the losses it computed itself; each test checks the metrics file against the step
contract: one step per iteration of the user's loop, the same steps in both modes, each loss under its
name with the script's own value, phases, traced steps, no false non-finite flags, no cut numbers. Eager
runs go through a subprocess, graph runs through Click's runner in this process (see conftest).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from eagerrun import records
from tests.conftest import run_eagerrun, runner_for

SCRIPTS = Path(__file__).resolve().parent / "real_scripts"
MODES = pytest.mark.parametrize("mode", ["eager", "graph"], ids=["eager", "graph"])
RECORD_KEYS = {"step", "phase", "epoch", "time_s", "mode", "traced", "source", "batch_size", "replicas"}
EAGERRUN_KEYS = records.RECORD_KEYS  # every key of eagerrun's own, the step's breakdown included


@dataclass(frozen=True)
class ScriptRun:
    result: CompletedProcess[str]
    records: list[dict]  # the metrics file, one dict a step
    printed: list[dict]  # the JSON lines the script printed itself


def run_script(mode: str, name: str, tmp_path: Path, *args: str) -> ScriptRun:
    metrics = tmp_path / "steps.jsonl"
    result = runner_for(mode)(f"--{mode}", "--metrics-out", str(metrics), str(SCRIPTS / name), *args)
    records = [json.loads(line) for line in metrics.read_text().splitlines()] if metrics.exists() else []
    printed = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return ScriptRun(result, records, printed)


def values(record: dict) -> set[str]:
    """The names of the numbers a step recorded (its losses and metrics), leaving out nulls and flags."""
    return {key for key, value in record.items()
            if key not in EAGERRUN_KEYS and isinstance(value, (int, float)) and not isinstance(value, bool)}


def column(records: list[dict], name: str) -> list[float | None]:
    return [record.get(name) for record in records]


def traced_steps(records: list[dict]) -> list[int]:
    return [record["step"] for record in records if record["traced"]]


def assert_step_contract(run: ScriptRun, mode: str) -> None:
    """What every healthy run owes: exit 0, steps 1..n, phases 1.. without gaps, every key, no traced step
    in eager mode, no non-finite flag anywhere, and a table that cuts no number."""
    result, records = run.result, run.records
    assert result.returncode == 0, result.stderr
    assert records, result.stderr
    for record in records:
        assert record.keys() >= RECORD_KEYS, record
        assert record["mode"] == mode and isinstance(record["traced"], bool)
        assert record["source"] in {"fit", "autolog", "log_step", "trainer"}
        assert record["epoch"] is None or isinstance(record["epoch"], int)
        assert record["time_s"] > 0 and record["replicas"] == 1
        assert "finite" not in record and "non_finite" not in record, record
    assert [record["step"] for record in records] == list(range(1, len(records) + 1))
    phases = [record["phase"] for record in records]
    assert phases[0] == 1 and all(later - earlier in (0, 1) for earlier, later in zip(phases, phases[1:])), phases
    if mode == "eager":
        assert traced_steps(records) == []
    assert "non-finite" not in result.stderr.lower()
    assert "…" not in result.stderr


@MODES
def test_dcgan_tutorial_records_one_step_per_train_step_call(tmp_path: Path, mode: str) -> None:
    """DCGAN (two tapes, two optimizers, a tf.function returning nothing): 8 steps with gen_loss, disc_loss."""
    run = run_script(mode, "dcgan.py", tmp_path)
    assert_step_contract(run, mode)
    records = run.records
    assert len(run.printed) == 8
    assert [record["step"] for record in records] == list(range(1, 9))
    assert {record["phase"] for record in records} == {1}
    assert {record["source"] for record in records} == {"autolog"}
    assert all(values(record) == {"gen_loss", "disc_loss"} for record in records), records
    assert column(records, "gen_loss") == pytest.approx(column(run.printed, "gen_loss"), rel=1e-5)
    assert column(records, "disc_loss") == pytest.approx(column(run.printed, "disc_loss"), rel=1e-5)
    assert traced_steps(records) == ([1] if mode == "graph" else [])


def test_a_run_that_only_generates_says_no_steps_were_recorded(tmp_path: Path) -> None:
    """DCGAN with --epochs 0 (inference only): no steps, exit 0, one stderr line pointing at log_step."""
    run = run_script("graph", "dcgan.py", tmp_path, "--epochs", "0")
    assert run.result.returncode == 0, run.result.stderr
    assert run.records == []
    notes = [line for line in run.result.stderr.splitlines()
             if line.startswith("eagerrun: no training steps were recorded")]
    assert len(notes) == 1, run.result.stderr
    assert "eagerrun.log_step" in notes[0]


@MODES
def test_keras_guide_loops_are_three_phases(tmp_path: Path, mode: str) -> None:
    """Keras' custom-loop guide (eager loop, tf.function loop, GAN): 6 + 6 + 3 steps, phases 1-3, its losses."""
    run = run_script(mode, "keras_guide_loops.py", tmp_path)
    assert_step_contract(run, mode)
    records, printed = run.records, [line for line in run.printed if "phase" in line]
    assert len(printed) == 15
    assert [record["phase"] for record in records] == [1] * 6 + [2] * 6 + [3] * 3
    assert {record["source"] for record in records} == {"autolog"}
    single, gan = records[:12], records[12:]
    assert all(values(record) == {"loss"} for record in single), single
    assert column(single, "loss") == pytest.approx(column(printed[:12], "loss"), rel=1e-5)
    assert all(values(record) == {"d_loss", "g_loss"} for record in gan), gan
    assert column(gan, "d_loss") == pytest.approx(column(printed[12:], "d_loss"), rel=1e-5)
    assert column(gan, "g_loss") == pytest.approx(column(printed[12:], "g_loss"), rel=1e-5)
    if mode == "graph":  # step 10 follows the first test_step trace: either way is honest
        traced = set(traced_steps(records))
        assert {7, 13} <= traced and not traced & {1, 2, 3, 4, 5, 6, 8, 9, 14, 15}, traced


@MODES
def test_gans_trained_with_fit_record_keras_logs(tmp_path: Path, mode: str) -> None:
    """The fit-guide GAN and WGAN-GP: a step per batch, phases 1-2, d_loss/g_loss equal to Keras' logs, no "loss"."""
    run = run_script(mode, "fit_gans.py", tmp_path)
    assert_step_contract(run, mode)
    records, printed = run.records, run.printed
    assert len(printed) == 7
    assert [record["phase"] for record in records] == [1, 1, 1, 2, 2, 2, 2]
    assert [record["epoch"] for record in records] == [1, 1, 1, 1, 1, 2, 2]
    assert {record["source"] for record in records} == {"fit"}
    assert all("loss" not in record and values(record) == {"d_loss", "g_loss"} for record in records), records
    assert column(records, "d_loss") == pytest.approx(column(printed, "d_loss"), rel=1e-5)
    assert column(records, "g_loss") == pytest.approx(column(printed, "g_loss"), rel=1e-5)
    assert column(records[3:], "batch_size") == [8, 8, 8, 8]
    assert traced_steps(records) == ([1, 4] if mode == "graph" else [])


@MODES
def test_basic_training_loops_tape_loop_then_fit(tmp_path: Path, mode: str) -> None:
    """Basic-training-loops guide: 10 assign_sub tape steps, then 10 fit steps, phases 1 and 2, its losses."""
    run = run_script(mode, "basic_training_loops.py", tmp_path)
    assert_step_contract(run, mode)
    records, printed = run.records, run.printed
    start = [line["start_loss"] for line in printed if "start_loss" in line]
    after = [line["loss_after"] for line in printed if "loss_after" in line]
    logged = [line for line in printed if line.get("phase") == 2]
    tape_losses = start + after[:-1]  # each train() differentiates the loss the step before left
    assert len(tape_losses) == 10 and len(logged) == 10
    assert [record["phase"] for record in records] == [1] * 10 + [2] * 10
    assert [record["source"] for record in records] == ["autolog"] * 10 + ["fit"] * 10
    assert all(values(record) == {"loss"} for record in records), records
    assert column(records[:10], "loss") == pytest.approx(tape_losses, rel=1e-5)
    assert column(records[10:], "loss") == pytest.approx(column(logged, "loss"), rel=1e-5)
    assert column(records[10:], "epoch") == list(range(1, 11))
    assert column(records[10:], "batch_size") == [201] * 10
    assert traced_steps(records) == ([11] if mode == "graph" else [])


@MODES
def test_function_guide_alternating_step_functions_pair_up(tmp_path: Path, mode: str) -> None:
    """tf.function guide: two TrainStep modules called once each, then two tf.functions called in turn.
    Training calls of different functions that follow each other are one step, as a GAN's d_step and g_step
    are: 1 step (L and L_2, one per optimizer) in phase 1, then 5 steps of two calls each in phase 2."""
    run = run_script(mode, "function_guide.py", tmp_path)
    assert_step_contract(run, mode)
    records = run.records
    assert len(run.printed) == 12
    assert [(record["step"], record["phase"]) for record in records] == [(1, 1), *((n, 2) for n in range(2, 7))]
    assert all(values(record) == {"L", "L_2"} for record in records), records
    printed = column(run.printed, "loss")
    assert column(records, "L") == pytest.approx(printed[0::2], rel=1e-5)
    assert column(records, "L_2") == pytest.approx(printed[1::2], rel=1e-5)
    assert traced_steps(records) == ([1, 2] if mode == "graph" else [])


def test_compare_basic_training_loops_match() -> None:
    """compare --json on the seeded basic-training-loops script: 20 steps in each mode, they match, exit 0."""
    result = run_eagerrun("compare", "--json", str(SCRIPTS / "basic_training_loops.py"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["steps"] == {"eager": 20, "graph": 20}
    assert report["match"] is True
    assert report["first_divergent_step"] is None and report["likely_cause"] is None


def test_compare_without_tf_function_says_both_modes_ran_the_same_code() -> None:
    """compare on the tape loop alone (no tf.function at all): exit 0, the text says both modes ran the same code."""
    result = run_eagerrun("compare", str(SCRIPTS / "basic_training_loops.py"), "--tape-only")
    assert result.returncode == 0, result.stderr
    assert "same code" in " ".join(result.stdout.split()).lower(), result.stdout

