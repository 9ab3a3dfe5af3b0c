"""Shared helpers: run the installed `eagerrun` entry point in a subprocess, the only honest way to test
anything that switches TensorFlow's process-global mode."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

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
