"""First contact (issue 19): nothing lost, never a traceback.

A run that eagerrun refuses is refused in one line, exit 2, before the script runs, TensorFlow loads or
any output is opened, so an existing metrics file is as it was. Most cases never get past the command
line and run in this process through Click's runner with `session.run` made to fail; the few that run a
script do it in graph mode in this process too (see conftest), and one subprocess checks that refusing
imports no TensorFlow.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import sys
from pathlib import Path

import pytest

from eagerrun import records, session
from eagerrun.config import OutputOptions
from tests.conftest import ROOT, SAMPLES, run_in_process, run_python

LINUX = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and /sys are Linux's")


@pytest.fixture
def refused(monkeypatch: pytest.MonkeyPatch):
    """`eagerrun ARGS` that must be refused on its command line: exit 2, one line, the run never started."""

    def never(config):
        raise AssertionError(f"the run started: {config}")

    monkeypatch.setattr(session, "run", never)

    def refuse(*args: str) -> str:
        result = run_in_process(*args)
        assert result.returncode == 2, result.stderr
        assert_one_line_error(result.stderr)
        return result.stderr

    return refuse


def assert_one_line_error(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith("eagerrun: error: "), stderr


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "train.py"
    path.write_text("raise SystemExit('the script must not run')\n")
    return path


@pytest.fixture
def metrics(tmp_path: Path) -> Path:
    """A metrics file from an earlier run, which no refused run may touch."""
    path = tmp_path / "m.jsonl"
    path.write_text('{"step": 1, "loss": 0.5}\n')
    os.utime(path, (1_000_000_000, 1_000_000_000))
    return path


def assert_untouched(path: Path) -> None:
    assert path.read_text() == '{"step": 1, "loss": 0.5}\n'
    assert path.stat().st_mtime == 1_000_000_000


@pytest.mark.parametrize("args, expected", [
    (["-m", "no_such_module_xyz"], "No module named 'no_such_module_xyz'"),
    (["missing.py"], "'missing.py' does not exist"),
    (["--eager", "--graph", "{script}"], "choose one mode"),
    (["--epochs", "2", "{script}"], "--epochs drives eagerrun's own training loop: add --train"),
    (["--run-report", "missing/r.json", "{script}"], "missing/r.json: folder missing does not exist"),
    (["--train", "{script}", "--seed", "0"], "put `--seed 0` before SCRIPT"),
], ids=["missing-module", "missing-script", "two-modes", "train-only-option", "report-folder", "args-after-train"])
def test_a_refused_run_leaves_the_metrics_file_untouched(refused, script, metrics, args, expected) -> None:
    """Every check that can refuse the run passes before --metrics-out is opened: the old file stays."""
    stderr = refused("--metrics-out", str(metrics), *[arg.format(script=script) for arg in args])
    assert expected in stderr
    assert_untouched(metrics)


@pytest.mark.parametrize("option, path, expected", [
    ("--metrics-out", "train.py/m.jsonl", "train.py/m.jsonl: train.py is a file"),
    ("--metrics-out", "no_folder/m.jsonl", "no_folder/m.jsonl: folder no_folder does not exist"),
    ("--run-report", "missing/r.json", "missing/r.json: folder missing does not exist"),
    ("--metrics-out", ".", ". is a folder, not a file"),
    ("--tensorboard", "train.py", "train.py is a file, not a folder"),
    ("--checkpoint-dir", "train.py/ck", "train.py/ck: train.py is a file"),
    pytest.param("--metrics-out", "/proc/m.jsonl", "/proc/m.jsonl: folder /proc is not writable", marks=LINUX),
    pytest.param("--metrics-out", "/sys/m.csv", "/sys/m.csv: folder /sys is not writable", marks=LINUX),
    pytest.param("--tensorboard", "/proc/tb", "/proc/tb: folder /proc is not writable", marks=LINUX),
    pytest.param("--checkpoint-dir", "/proc/ck", "/proc/ck: folder /proc is not writable", marks=LINUX),
], ids=["file-as-folder", "missing-folder", "report-missing-folder", "folder-as-file", "tb-is-a-file",
        "checkpoint-under-a-file", "proc", "sys", "tb-proc", "checkpoint-proc"])
def test_an_unwritable_output_is_one_line_before_the_run(refused, script, monkeypatch, option, path,
                                                         expected) -> None:
    """Each output path is checked as the command line is read: the path, what is wrong, exit 2."""
    monkeypatch.chdir(script.parent)
    train = ["--train"] if option == "--checkpoint-dir" else []
    stderr = refused(*train, option, path, script.name)
    assert f"Invalid value for '{option}': {expected}" in stderr


@LINUX
def test_a_non_chief_worker_does_not_check_the_chiefs_outputs(script, monkeypatch) -> None:
    """Worker 1 of a TF_CONFIG cluster writes nothing: a folder that exists on the chief's machine alone
    does not stop it; its paths are still made absolute."""
    configs = []
    monkeypatch.setattr(session, "run", lambda settled: configs.append(settled.config) or 0)
    tf_config = json.dumps({"cluster": {"worker": ["localhost:1", "localhost:2"]},
                            "task": {"type": "worker", "index": 1}})
    result = run_in_process("--train", "--strategy", "multiworker", "--metrics-out", "/proc/m.jsonl",
                            "--checkpoint-dir", "/proc/ck", str(script), env={"TF_CONFIG": tf_config})
    assert result.returncode == 0, result.stderr
    assert configs[0].output == OutputOptions(quiet=True)  # no metrics file, no table: the chief's
    assert configs[0].train.checkpoint_dir == Path("/proc/ck")


def test_an_output_over_the_script_or_another_output_is_refused(refused, script, metrics) -> None:
    """--metrics-out SCRIPT would empty the script; --metrics-out and --run-report in one file, one of them."""
    assert "SCRIPT and --metrics-out are one file" in refused("--metrics-out", str(script), str(script))
    assert script.read_text() == "raise SystemExit('the script must not run')\n"
    stderr = refused("--metrics-out", str(metrics), "--run-report", str(metrics), str(script))
    assert "--metrics-out and --run-report are one file" in stderr
    assert_untouched(metrics)


def test_options_after_script_with_train_are_refused(refused) -> None:
    """With --train the script takes no arguments: eagerrun's options after it are not dropped silently."""
    spec = str(SAMPLES / "mlp_spec.py")
    stderr = refused("--graph", "--train", spec, "--epochs", "3", "--seed", "0")
    assert "put `--epochs 3 --seed 0` before SCRIPT" in stderr
    assert "drop `a b`" in refused("--train", spec, "a", "b")
    assert "put `--steps 2` before SCRIPT" in refused("compare", "--train", spec, "--steps", "2")


def test_the_samples_own_commands_are_valid(monkeypatch) -> None:
    """Each `eagerrun ...` line in mlp_spec.py's docstring parses, options before SCRIPT (nothing is run)."""
    from eagerrun.cli import build_run_config, run

    monkeypatch.chdir(ROOT)
    lines = [line.split() for line in (SAMPLES / "mlp_spec.py").read_text().split('"""')[1].splitlines()]
    commands = [words[1:] for words in lines if words[:1] == ["eagerrun"] and "compare" not in words]
    assert commands
    for words in commands:
        with run.make_context("eagerrun", list(words)) as ctx:
            config = build_run_config(ctx, **ctx.params)
        assert config.train is not None and config.target.args == (), shlex.join(words)


@pytest.mark.parametrize("content", [
    bytes(range(256)) * 2,  # a NUL byte among them
    bytes([ord("#")] + [random.Random(1).randrange(128, 256) for _ in range(300)]),  # compiled to an empty module
], ids=["with-nul", "not-utf8"])
def test_a_file_of_bytes_is_refused_in_one_clean_line(refused, tmp_path, metrics, content) -> None:
    """bin.py of random bytes: 'bin.py is not a Python source file (...)', exit 2, no byte of it shown."""
    binary = tmp_path / "bin.py"
    binary.write_bytes(content)
    stderr = refused("--metrics-out", str(metrics), str(binary))
    assert f"{binary} is not a Python source file (" in stderr
    assert stderr.isascii() and stderr.rstrip("\n").isprintable(), repr(stderr)
    assert_untouched(metrics)


def test_bare_eagerrun_shows_the_help_without_an_error() -> None:
    """`eagerrun` alone: the group's help, as Click shows it (exit 2), with no 'error:' in front."""
    result = run_in_process()
    assert result.returncode == 2
    assert result.stderr.startswith("Usage: ") and "[OPTIONS] COMMAND [ARGS]..." in result.stderr
    assert "error" not in result.stderr.lower()
    assert "eagerrun run --help" in result.stderr


def test_a_typo_of_a_command_suggests_it(refused) -> None:
    """`eagerrun chek` is neither a file nor a command: did you mean `check`?"""
    assert "no command or file named 'chek': did you mean `check`?" in refused("chek")


def test_help_points_to_the_run_options_and_fits_80_columns() -> None:
    """Top-level --help names the run options and `eagerrun run --help`; its examples are kept whole."""
    from click.testing import CliRunner

    from eagerrun.cli import cli

    result = CliRunner().invoke(cli, ["--help"], terminal_width=80)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80, result.output
    assert "    eagerrun --train --epochs 3 --metrics-out m.jsonl spec.py" in lines
    assert "    eagerrun run --help" in lines
    for option in ("--train", "--metrics-out", "--run-report", "--checkpoint-dir"):
        assert option in result.output


def test_refusing_never_imports_tensorflow(tmp_path: Path) -> None:
    """A refused run is answered before TensorFlow loads (a second, not five)."""
    (tmp_path / "train.py").write_text("print('hi')\n")
    result = run_python(f"""
        import os, sys
        os.chdir({str(tmp_path)!r})
        from eagerrun.cli import cli
        for args in (["--metrics-out", "train.py/m.jsonl", "train.py"], ["-m", "no_such_module_xyz"],
                     ["--train", "train.py", "--seed", "0"], ["chek"]):
            try:
                cli.main(args, prog_name="eagerrun")
            except SystemExit as exc:
                print("EXIT", exc.code)
        print("TF", "tensorflow" in sys.modules)
    """)
    assert result.stdout.split() == ["EXIT", "2"] * 4 + ["TF", "False"], result.stderr


FAILING = {
    "argparse-error": ("import argparse\nargparse.ArgumentParser().parse_args()\n", 2),
    "syntax-error": ("x = (\n", 1),
    "exception": ("raise ValueError('bad data')\n", 1),
    "exit-3": ("raise SystemExit(3)\n", 3),
}


@pytest.mark.parametrize("name", list(FAILING))
def test_no_steps_line_only_after_a_normal_end(tmp_path: Path, name: str) -> None:
    """A script that failed has its own error to read: no 'no training steps were recorded' after it; and
    eagerrun's own option given after SCRIPT is named as the likely cause."""
    source, code = FAILING[name]
    failing = tmp_path / "fails.py"
    failing.write_text(source)
    result = run_in_process("--graph", str(failing), "--eager")
    assert result.returncode == code, result.stderr
    assert "no training steps were recorded" not in result.stderr
    assert "eagerrun: warning: --eager came after SCRIPT, so it went to the script" in result.stderr
    assert "eagerrun/" not in result.stderr  # no frame of ours in the script's traceback


def test_no_steps_line_after_a_script_that_ended_normally(tmp_path: Path) -> None:
    """exit 0 and no step: the note saying so, and nothing about options (none came after SCRIPT)."""
    quiet = tmp_path / "quiet.py"
    quiet.write_text("print('done')\n")
    result = run_in_process("--graph", str(quiet), "--lr", "1")
    assert result.returncode == 0, result.stderr
    assert "no training steps were recorded" in result.stderr
    assert "came after SCRIPT" not in result.stderr


LOGS_THREE_STEPS = """
import eagerrun
for step in range(3):
    eagerrun.log_step(1.0 / (step + 1))
"""


def test_a_run_report_that_cannot_be_written_is_one_line_and_keeps_the_table(tmp_path: Path, monkeypatch) -> None:
    """The disk fills before the run report is written: one line, exit 1, the table and the steps kept."""
    script = tmp_path / "steps.py"
    script.write_text(LOGS_THREE_STEPS)

    def disk_full(self, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(records.RunReport, "write", disk_full)
    report, metrics = tmp_path / "r.json", tmp_path / "m.jsonl"
    result = run_in_process("--graph", "--metrics-out", str(metrics), "--run-report", str(report), str(script))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"eagerrun: error: --run-report {report}: not written (No space left on device)" in result.stderr
    assert "3 steps" in result.stderr and "exit 1" in result.stderr.splitlines()[-1]
    assert [json.loads(line)["step"] for line in metrics.read_text().splitlines()] == [1, 2, 3]


def test_the_spec_sample_learns_the_same_way_every_run_and_a_finished_run_says_so(tmp_path: Path) -> None:
    """mlp_spec.py: the loss falls by more than half, the same losses again without --seed; run on its
    finished checkpoint it trains nothing, says 'already complete at step 32', and keeps its metrics."""
    spec = str(SAMPLES / "mlp_spec.py")
    first, again, checkpoints = tmp_path / "first.jsonl", tmp_path / "again.jsonl", tmp_path / "ck"
    done = run_in_process("--graph", "--train", "--checkpoint-dir", str(checkpoints), "--metrics-out", str(first),
                          spec)
    assert done.returncode == 0, done.stderr
    losses = [json.loads(line)["loss"] for line in first.read_text().splitlines()]
    assert len(losses) == 32 and losses[-1] < losses[0] / 2, losses
    assert run_in_process("--graph", "--train", "--steps", "8", "--metrics-out", str(again), spec).returncode == 0
    assert [json.loads(line)["loss"] for line in again.read_text().splitlines()] == pytest.approx(losses[:8],
                                                                                                  rel=1e-6)

    rerun = run_in_process("--graph", "--train", "--checkpoint-dir", str(checkpoints), "--metrics-out", str(first),
                           spec)
    assert rerun.returncode == 0, rerun.stderr
    assert f"--checkpoint-dir {checkpoints}: already complete at step 32" in rerun.stderr
    assert len(first.read_text().splitlines()) == 32


def test_the_fit_sample_learns_visibly() -> None:
    """fit_mlp.py: seeded, from a coin toss's accuracy to above 0.9 in its 20 steps."""
    result = run_in_process("--graph", str(SAMPLES / "fit_mlp.py"))
    assert result.returncode == 0, result.stderr
    final, before = (float(word.strip("():")) for word in result.stdout.split() if word.strip("():")[:2] == "0.")
    assert before < 0.6 < 0.9 < final, result.stdout
