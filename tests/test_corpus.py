"""The corpus' fast subset (tests/corpus/*.py marked `# corpus: fast`) under `eagerrun --graph` and `--eager`.

Each script is a TensorFlow or Keras tutorial shrunk to synthetic data that prints, as ORACLE lines, the
values it computed itself; each test runs it under plain python once (the reference) and under eagerrun in
one mode, and asserts the cell `python -m tests.corpus` would show: the same exit code and stdout as python,
one step per ORACLE line, and each oracle value in the metrics file under its name (tests/corpus/oracle.py).
Every run is a process of its own: tf.print writes from TensorFlow's runtime, which Click's runner cannot
capture. python's is started from scratch (it is the reference); eagerrun's are forked from the tests'
preloaded process (tests/preloaded.py), as `run_eagerrun` does; `python -m tests.corpus` starts each anew.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_eagerrun_process
from tests.corpus.oracle import Run, check_python, check_run, run_mode, run_python, scripts

FAST = scripts(fast=True)
_python_runs: dict[str, Run] = {}


def python_run(script: Path, folder: Path) -> Run:
    """`python script.py`, once per script for all its modes."""
    if script.stem not in _python_runs:
        _python_runs[script.stem] = run_python(script, folder)
    return _python_runs[script.stem]


@pytest.mark.parametrize("script,mode", [(script, mode) for script in FAST for mode in ("graph", "eager")],
                         ids=[f"{script.stem}-{mode}" for script in FAST for mode in ("graph", "eager")])
def test_corpus_cell(script: Path, mode: str, tmp_path: Path) -> None:
    python = python_run(script, tmp_path / "python")
    reference = check_python(python)
    assert reference.ok, f"{script.name} under python: " + "; ".join(reference.problems) + "\n" + python.stderr
    run = run_mode(script, mode, tmp_path / mode, start=run_eagerrun_process)
    cell = check_run(mode, python, run)
    assert cell.ok, f"{script.name} --{mode}: " + "; ".join(cell.problems) + "\n" + run.stderr[-3000:]


def test_fast_subset_is_small() -> None:
    """CI runs every fast script twice: keep the subset to a few tiny scripts."""
    assert 1 <= len(FAST) <= 4, [script.name for script in FAST]
