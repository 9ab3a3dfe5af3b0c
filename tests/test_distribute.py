"""tf.distribute: a mirrored run over 2 logical CPUs, eager or graph, and a 2-worker launch give the
default strategy's losses; a worker that fails makes the launch fail fast with its message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from eagerrun.cli import cli
from tests.conftest import ROOT, SAMPLES, run_eagerrun, run_in_process

MLP = str(SAMPLES / "mlp_spec.py")  # 16 batches of 64 an epoch, the last one ragged (40)
FAILS_ON_WORKER_1 = str(ROOT / "tests" / "specs" / "fails_on_second_worker.py")


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def train(tmp: Path, name: str, *args: str, env: dict[str, str] | None = None, run=run_eagerrun) -> list[dict]:
    metrics = tmp / f"{name}.jsonl"
    done = run("--train", "--seed", "0", "--metrics-out", str(metrics), *args, MLP, env=env)
    assert done.returncode == 0, done.stderr
    return records(metrics)


def assert_same_losses(got: list[dict], expected: list[dict]) -> None:
    assert [r["step"] for r in got] == [r["step"] for r in expected]
    for mine, theirs in zip(got, expected):
        assert mine["loss"] == pytest.approx(theirs["loss"], rel=1e-5), mine["step"]


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """Two epochs (32 steps, a ragged batch in each) on one device: the losses every strategy must give."""
    return train(tmp_path_factory.mktemp("default"), "default", "--graph", "--epochs", "2", run=run_in_process)


def test_mirrored_over_two_cpu_replicas_gives_the_default_strategys_losses(default_run, tmp_path):
    mirrored = train(tmp_path, "mirrored", "--graph", "--epochs", "2", "--strategy", "mirrored",
                     "--cpu-replicas", "2")
    assert_same_losses(mirrored, default_run)
    assert {r["replicas"] for r in mirrored} == {2}
    assert [r["batch_size"] for r in mirrored[:16]] == [64] * 15 + [40]  # the global batch, ragged one too
    assert sum(r["traced"] for r in mirrored) == 1


def test_eager_mirrored_runs_the_step_through_strategy_run(default_run, tmp_path):
    metrics = tmp_path / "eager.jsonl"
    done = run_eagerrun("--eager", "--train", "--seed", "0", "--steps", "3", "--strategy", "mirrored",
                        "--cpu-replicas", "2", "--metrics-out", str(metrics), MLP)
    assert done.returncode == 0, done.stderr
    assert_same_losses(records(metrics), default_run[:3])
    assert "3 steps, eager mode, 2 replicas" in done.stderr
    assert "global batch" in done.stderr
    assert "strategy mirrored over 2 replicas (CPU:0, CPU:1 here)" in done.stderr


def test_mirrored_run_resumes_from_its_checkpoint_where_it_stopped(default_run, tmp_path):
    """Distributed iterators cannot be checkpointed: the resumed epoch skips the batches already done."""
    checkpoints = str(tmp_path / "checkpoints")
    common = ("--graph", "--strategy", "mirrored", "--cpu-replicas", "2", "--checkpoint-dir", checkpoints)
    train(tmp_path, "resumed", *common, "--steps", "10")
    both = train(tmp_path, "resumed", *common, "--steps", "20")  # appends to the same metrics file
    assert_same_losses(both, default_run[:20])
    assert both[15]["batch_size"] == 40  # the ragged batch came at the same step after resuming


def test_two_worker_launch_records_every_step_in_the_chiefs_metrics(default_run, tmp_path):
    metrics = tmp_path / "chief.jsonl"
    done = run_eagerrun("launch", "--workers", "2", "--graph", "--train", "--seed", "0", "--steps", "6",
                        "--metrics-out", str(metrics), MLP, timeout=240)
    assert done.returncode == 0, done.stderr
    assert_same_losses(records(metrics), default_run[:6])
    assert "strategy multi-worker mirrored over 2 replicas" in done.stderr
    assert done.stderr.count("6 steps, graph mode, 2 replicas") == 1  # the chief's table only


def test_a_worker_failing_while_building_fails_the_launch_fast_with_its_message():
    done = run_eagerrun("launch", "--workers", "2", "--train", FAILS_ON_WORKER_1, timeout=120)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last == ("eagerrun: error: worker 1 of 2 failed (exit 1): RuntimeError: worker 1 cannot open its "
                    "data shard; stopped the other workers")
    assert "worker 1 │ Traceback" in done.stderr


@pytest.mark.parametrize("args, message", [
    (["--train", "--cpu-replicas", "2", MLP], "--cpu-replicas splits the CPU for --strategy mirrored"),
    (["--strategy", "mirrored", MLP], "--strategy drives eagerrun's own training loop: add --train"),
    (["--train", "--strategy", "multiworker", MLP], "--strategy multiworker needs TF_CONFIG"),
    (["--train", "--strategy", "mirrored", "--cpu-replicas", "2", "--xla", MLP], "--xla with --cpu-replicas"),
    (["launch", "--workers", "2", MLP], "launch starts workers of eagerrun's own trainer: add --train"),
    (["launch", "--workers", "2", "--train", "--strategy", "mirrored", MLP], "drop --strategy mirrored"),
    (["launch", "--workers", "0", "--train", MLP], "Invalid value for '--workers'"),
], ids=["cpu-replicas-alone", "strategy-without-train", "no-tf-config", "xla-on-cpu-replicas",
        "launch-without-train", "launch-other-strategy", "zero-workers"])
def test_strategy_mistakes_are_one_line_usage_errors(args, message, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert result.output.count("\n") == 1
