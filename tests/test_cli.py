"""The command line itself: parsing, usage errors and start-up, none of which may import TensorFlow."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from eagerrun.cli import cli
from eagerrun.config import ModeChoice, resolve_mode
from eagerrun.errors import EagerrunError
from tests.conftest import run_eagerrun, run_python


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["run", "--help"], ["check", "--help"], ["-h"]],
                         ids=["help", "version", "run-help", "check-help", "short-help"])
def test_help_and_version_never_import_tensorflow(args: list[str]) -> None:
    """--help, --version and each subcommand's --help answer without importing TensorFlow."""
    result = run_python(f"""
        import sys
        from eagerrun.cli import cli
        try:
            cli.main({args!r}, prog_name="eagerrun")
        except SystemExit as exc:
            code = exc.code
        print("EXIT", code, "TF", "tensorflow" in sys.modules)
    """)
    assert result.stdout.strip().splitlines()[-1] == "EXIT 0 TF False", result.stderr


def test_version_names_the_package(runner: CliRunner) -> None:
    """--version prints the package version."""
    from eagerrun import __version__

    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


@pytest.mark.parametrize("args", [
    ["--eager", "--graph", "x.py"],
    ["--eager", "--mode", "graph", "x.py"],
    ["check", "--eager", "--graph"],
], ids=["eager-and-graph", "eager-and-mode-graph", "check-eager-and-graph"])
def test_conflicting_modes_are_a_usage_error(runner: CliRunner, args: list[str], tmp_path) -> None:
    """Two modes at once: one line, exit 2, before anything runs."""
    script = tmp_path / "x.py"
    script.write_text("raise SystemExit('must not run')\n")
    result = runner.invoke(cli, [str(script) if arg == "x.py" else arg for arg in args])
    assert result.exit_code == 2
    assert "choose one mode" in result.output
    assert "must not run" not in result.output


def test_unknown_mode_name_is_a_usage_error(runner: CliRunner) -> None:
    """--mode fast: exit 2 naming the valid choices."""
    result = runner.invoke(cli, ["--mode", "fast", "x.py"])
    assert result.exit_code == 2
    assert "'fast' is not one of 'eager', 'graph'" in result.output


def test_unknown_mode_in_environment_is_a_usage_error(runner: CliRunner) -> None:
    """EAGERRUN_MODE=fast: exit 2, the same message as the flag's."""
    result = runner.invoke(cli, ["check"], env={"EAGERRUN_MODE": "fast"})
    assert result.exit_code == 2
    assert "'fast' is not one of" in result.output


@pytest.mark.parametrize("args, expected", [
    (["nope.py"], "'nope.py' does not exist"),
    (["--eager", "nope.py", "--lr", "1"], "'nope.py' does not exist"),
    (["."], "is a directory"),
    (["-m", "no_such_module_xyz"], "No module named 'no_such_module_xyz'"),
], ids=["missing-file", "missing-file-with-args", "directory", "missing-module"])
def test_unrunnable_target_is_one_line_exit_2(args: list[str], expected: str) -> None:
    """A missing file, a directory or an unknown module: one line on stderr, exit 2, no traceback."""
    result = run_eagerrun(*args)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_missing_tensorflow_says_how_to_install() -> None:
    """Without TensorFlow a command that needs it says so in one line and exits 1."""
    result = run_python("""
        import sys
        sys.modules["tensorflow"] = None  # what an environment without TensorFlow looks like to import
        from eagerrun.cli import cli
        cli.main(["check"], prog_name="eagerrun")
    """)
    assert result.returncode == 1
    assert "TensorFlow is not installed" in result.stderr
    assert "pip install" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("kwargs, expected", [
    (dict(eager=True, graph=False, mode_option=None, option_source="default"), ModeChoice("eager", "flag")),
    (dict(eager=False, graph=True, mode_option="eager", option_source="env"), ModeChoice("graph", "flag")),
    (dict(eager=False, graph=False, mode_option="eager", option_source="env"), ModeChoice("eager", "env")),
    (dict(eager=False, graph=False, mode_option="eager", option_source="flag"), ModeChoice("eager", "flag")),
    (dict(eager=False, graph=False, mode_option=None, option_source="default"), ModeChoice("graph", "default")),
], ids=["flag", "flag-beats-env", "env", "mode-option", "default-graph"])
def test_mode_precedence(kwargs: dict, expected: ModeChoice) -> None:
    """Flag, then EAGERRUN_MODE, then the default, graph."""
    assert resolve_mode(**kwargs) == expected


def test_flags_that_agree_are_fine() -> None:
    """--eager with --mode eager is one request, not a conflict."""
    assert resolve_mode(eager=True, graph=False, mode_option="eager", option_source="flag").mode == "eager"
    with pytest.raises(EagerrunError):
        resolve_mode(eager=True, graph=False, mode_option="graph", option_source="flag")


def test_python_dash_m_eagerrun_works() -> None:
    """`python -m eagerrun --version` is the same program."""
    result = run_python("import runpy, sys; sys.argv = ['eagerrun', '--version']; "
                        "runpy.run_module('eagerrun', run_name='__main__')")
    assert result.returncode == 0
    assert "eagerrun, version" in result.stdout
