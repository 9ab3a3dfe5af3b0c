"""A graph op's "defined at" stack names the script's frames, not eagerrun's, Click's or runpy's.

Graph mode only, so everything runs in this process: the op fails when the graph runs, and its message
carries the stack TensorFlow recorded when the function was traced."""

from __future__ import annotations

import re

from eagerrun import tf_stacks
from eagerrun.loader import Target, run_target
from tests.conftest import run_in_process

GATHER_OUT_OF_RANGE = """
    import tensorflow as tf


    @tf.function
    def lookup(params, index):
        return tf.gather(params, index)


    def main():
        lookup(tf.constant([1.0, 2.0, 3.0]), tf.constant(7))


    main()
"""
FRAME = re.compile(r'\s+File "(?P<file>[^"]+)", line \d+, in \S+$')


def defined_at_files(message: str) -> list[str]:
    """The files of the "defined at (most recent call last):" stack in a TensorFlow error message."""
    files = []
    for line in message.split("defined at (most recent call last):\n", 1)[1].splitlines():
        frame = FRAME.match(line)
        if frame:
            files.append(frame["file"])
        elif line.strip():
            break
    return files


def test_filter_leaves_the_launcher_out_of_recorded_stacks(write_script) -> None:
    """Run through eagerrun's loader (runpy) from pytest: without the filter the stack holds loader.py and
    runpy; with it, only the script's frames, outermost first."""
    script = write_script("gather_fails.py", GATHER_OUT_OF_RANGE)
    unfiltered = defined_at_files(str(run_target(Target(script=script)).error))
    assert any(name.endswith("loader.py") for name in unfiltered) and any("runpy" in name for name in unfiltered)
    with tf_stacks.hiding_launcher_frames():
        filtered = run_target(Target(script=script))
    files = defined_at_files(str(filtered.error))
    assert files == [str(script)] * 3, str(filtered.error)


def test_graph_error_through_the_cli_names_only_the_script(write_script) -> None:
    """`eagerrun --graph script.py` whose tf.function fails at run time: the "defined at" stack is the
    script's, as under plain python, with no eagerrun, Click or runpy frame."""
    script = write_script("gather_fails.py", GATHER_OUT_OF_RANGE)
    result = run_in_process("--graph", str(script))
    assert result.returncode == 1
    assert "indices = 7 is not in [0, 3)" in result.stderr
    files = defined_at_files(result.stderr)
    assert files and all(name.endswith("gather_fails.py") for name in files), result.stderr
