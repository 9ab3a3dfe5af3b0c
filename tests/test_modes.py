"""Modes are set before the script is imported, proven by a probe, and kept against the script's own call.

Every case that ends in eager mode, or lets a script switch the mode, runs eagerrun in a subprocess: the mode
is process-global and tf.data debug mode cannot be undone. Cases that end in graph mode (TensorFlow's
default) run in this process through Click's runner, where any slip into eager mode fails the test.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import SAMPLES, run_eagerrun, run_python, runner_for

PRINT_MODE = str(SAMPLES / "print_mode.py")
DEBUG_FLAG = str(SAMPLES / "debug_flag.py")


@pytest.mark.parametrize("args, env, eager", [
    (["--eager"], {}, True),
    (["--graph"], {}, False),
    (["--mode", "eager"], {}, True),
    (["run", "--eager"], {}, True),
    ([], {"EAGERRUN_MODE": "eager"}, True),
    (["--graph"], {"EAGERRUN_MODE": "eager"}, False),
    ([], {}, False),
], ids=["eager", "graph", "mode-eager", "run-subcommand", "env-eager", "flag-beats-env", "default-graph"])
def test_mode_reaches_import_time_functions_and_datasets(args, env, eager) -> None:
    """A tf.function decorated at import time and a Dataset.map function both run in the requested mode."""
    result = runner_for("eager" if eager else "graph")(*args, PRINT_MODE, "--json", env=env)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["function_body_eager"] is eager
    assert seen["data_function_eager"] is eager
    assert seen["top_level_eager"] is True  # TF2 is always eager at top level, in both modes


@pytest.mark.parametrize("args, env, mode, source", [
    (["--eager"], {}, "eager", "flag"),
    (["--graph"], {}, "graph", "flag"),
    ([], {"EAGERRUN_MODE": "eager"}, "eager", "env"),
    ([], {}, "graph", "default"),
], ids=["eager", "graph", "env", "default"])
def test_check_json_reports_the_proven_mode(args, env, mode, source) -> None:
    """check --json: the keys the issue names, the probe's verdict matching the request, exit 0."""
    result = runner_for(mode)("check", *args, "--json", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for key in ("mode", "source", "tensorflow", "keras", "executing_eagerly", "functions_run_eagerly",
                "function_body_eager", "data_debug_mode", "devices"):
        assert key in report
    assert (report["mode"], report["source"]) == (mode, source)
    assert report["function_body_eager"] is (mode == "eager")
    assert report["functions_run_eagerly"] is (mode == "eager")
    assert report["data_debug_mode"] is (mode == "eager")
    assert report["executing_eagerly"] is True
    assert any("CPU" in device for device in report["devices"])


def test_check_table_on_a_terminal_less_stdout() -> None:
    """check without --json prints the table and the verdict."""
    result = runner_for("graph")("check", "--graph")
    assert result.returncode == 0, result.stderr
    assert "tf.function bodies" in result.stdout
    assert "the probe ran in graph mode, as requested" in result.stdout


def test_check_exits_1_when_the_probe_disagrees() -> None:
    """If TensorFlow ignores the request (here: run_functions_eagerly made a no-op), check says so, exit 1."""
    result = run_python("""
        import tensorflow as tf
        tf.config.run_functions_eagerly = lambda value: None  # a TensorFlow that ignores the request
        from eagerrun.cli import cli
        cli.main(["check", "--eager", "--json"], prog_name="eagerrun")
    """)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["agrees"] is False and report["function_body_eager"] is False


def test_command_line_beats_the_scripts_own_switch() -> None:
    """--graph with a script that turns eager on: graph stays, one warning names the script's file:line."""
    result = run_eagerrun("--graph", DEBUG_FLAG, "--debug")
    assert result.returncode == 0, result.stderr
    assert "square body runs eagerly: False" in result.stdout
    warnings = [line for line in result.stderr.splitlines() if "warning:" in line]
    assert len(warnings) == 1
    assert f"{DEBUG_FLAG}:15" in warnings[0]


def test_eager_flag_beats_a_script_that_turns_eager_off() -> None:
    """--eager with a script calling run_functions_eagerly(False): eager stays, with the warning."""
    result = run_eagerrun("--eager", DEBUG_FLAG)
    assert "square body runs eagerly: True" in result.stdout
    assert "run_functions_eagerly(False); ignored" in result.stderr


@pytest.mark.parametrize("args", [["--graph", "--script-decides"], []], ids=["script-decides", "default-mode"])
def test_script_has_the_last_word_when_allowed(args) -> None:
    """With --script-decides, or no mode requested at all, the script's own call wins, silently."""
    result = run_eagerrun(*args, DEBUG_FLAG, "--debug")
    assert result.returncode == 0, result.stderr
    assert "square body runs eagerly: True" in result.stdout
    assert "warning:" not in result.stderr
