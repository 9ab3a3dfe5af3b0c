"""Shared helpers: run the installed `eagerrun` entry point in a subprocess, the only honest way to test
anything that switches TensorFlow's process-global mode; or, for graph-mode runs, in this process through
Click's runner (graph is TensorFlow's default, so nothing process-global changes, and each run saves a
TensorFlow import of about five seconds)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_scripts"


def eagerrun_command() -> list[str]:
    """The console script installed beside this Python, else `python -m eagerrun`."""
    script = Path(sys.executable).parent / "eagerrun"
    if script.exists():
        return [str(script)]
    found = shutil.which("eagerrun")
    return [found] if found else [sys.executable, "-m", "eagerrun"]


def run_eagerrun(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
                 timeout: float = 180) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("EAGERRUN_")}
    environment.update(env or {})
    return subprocess.run([*eagerrun_command(), *args], cwd=cwd, env=environment, capture_output=True,
                          text=True, timeout=timeout)


def run_in_process(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`eagerrun --graph ...` through Click's runner, answered like `run_eagerrun`. Only for graph-mode runs
    of code that never switches the mode itself: `guard_graph_mode` fails any test that leaves it eager."""
    from eagerrun.cli import cli

    environment = {k: None for k in os.environ if k.startswith("EAGERRUN_")}
    result = CliRunner().invoke(cli, list(args), env={**environment, **(env or {})})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # eagerrun let an exception escape: show it whole
    return subprocess.CompletedProcess(["eagerrun", *args], result.exit_code, result.stdout, result.stderr)


def runner_for(mode: str):
    """Eager runs in a subprocess (eager mode cannot be undone in a process), graph runs in this one."""
    return run_eagerrun if mode == "eager" else run_in_process


@pytest.fixture(autouse=True)
def guard_graph_mode():
    """A test that ran eagerrun in this process must leave TensorFlow as it found it: graph mode."""
    yield
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        assert not tf.config.functions_run_eagerly(), "this test left the pytest process in eager mode"


def run_python(code: str, *, cwd: Path | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run a Python snippet in a fresh interpreter (for checks that must see a clean process)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def write_script(tmp_path: Path):
    """Write a dedented Python file under tmp_path and return its path."""

    def write(name: str, source: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
        return path

    return write
