"""TensorFlow's start-up lines are held back; everything else on stderr still shows, byte for byte.

The filter is tested on given bytes; the fd-level capture in a fresh interpreter without TensorFlow (it
swaps file descriptor 2); the real thing through the installed `eagerrun` in a subprocess, where
TensorFlow is imported for the first time."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest

from eagerrun.startup_log import StartupLineFilter, filter_startup_lines
from tests.conftest import ROOT, run_eagerrun

# What TensorFlow 2.21 printed at `import tensorflow` and first device look-up on a machine without a GPU.
STARTUP = (
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    b"I0000 00:00:1795659717.606513    3033 port.cc:153] oneDNN custom operations are on. You may see "
    b"slightly different numerical results due to floating-point round-off errors from different "
    b"computation orders. To turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.\n"
    b"I0000 00:00:1795659717.606795    3033 cudart_stub.cc:31] Could not find cuda drivers on your machine, "
    b"GPU will not be used.\n"
    b"I0000 00:00:1795659717.648132    3033 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to "
    b"use available CPU instructions in performance-critical operations.\n"
    b"To enable the following instructions: AVX2 AVX512F AVX512_VNNI AVX512_BF16 FMA, in other operations, "
    b"rebuild TensorFlow with the appropriate compiler flags.\n"
    b"W1126 12:00:01.250000 3033 some_file.cc:7] an absl warning with a real timestamp\n"
    b"E0000 00:00:1795659720.327258    3033 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
    b"Failed call to cuInit: UNKNOWN ERROR (303)\n"
)
KEPT = (
    b"E0000 00:00:1795659720.327258    3033 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
    b"Failed call to cuInit: CUDA_ERROR_UNKNOWN: unknown error\n"  # a GPU machine's broken driver
    b"E1126 12:00:02.000000    3033 op_kernel.cc:1840] OP_REQUIRES failed: a real error\n"
    b"F1126 12:00:02.000000    3033 logging.cc:1] Check failed: fatal\n"
    b"To enable the following instructions: only after a dropped line is this one dropped\n"
    b"Traceback (most recent call last):\n  ValueError: \xff not utf-8 \r\n"
    b"\n"
)
PARTIAL = b"I0000 00:00:1795659717.6 1 cut.cc:1] a last line without its newline"
STARTUP_LINE = re.compile(r"^([IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] |WARNING: All log messages before absl"
                          r"|To enable the following instructions|E\d{4} .*failed call to cuInit)", re.MULTILINE)


def test_filter_drops_known_lines_and_keeps_the_rest_byte_exact() -> None:
    """Known start-up lines go, any other line stays exactly, a last line without newline stays."""
    data = STARTUP + KEPT + STARTUP + PARTIAL
    assert filter_startup_lines(data) == KEPT + PARTIAL


def test_filter_gives_the_same_bytes_whatever_the_pieces() -> None:
    """Fed a byte at a time, as a pipe may deliver it, the filter keeps exactly what it keeps at once."""
    line_filter = StartupLineFilter()
    data = STARTUP + KEPT + STARTUP + PARTIAL
    out = b"".join(line_filter.feed(data[i:i + 1]) for i in range(len(data))) + line_filter.finish()
    assert out == KEPT + PARTIAL


CAPTURE = """
    import os, sys
    from eagerrun.startup_log import quiet_tensorflow_startup

    startup, kept = {startup!r}, {kept!r}
    try:
        with quiet_tensorflow_startup(show={show}):
            os.write(2, startup + kept)
            sys.stderr.write("python's own stderr\\n")
            os.write(2, b"x" * 999_999 + b"\\n")  # far past a pipe's buffer: read as it comes, no deadlock
            os.write(2, startup + b"cut short")
            raise ImportError("TensorFlow failed to import")
    except ImportError as exc:
        os.write(2, b"\\nafter: " + str(exc).encode() + b"\\n")
"""


@pytest.mark.parametrize("show", [False, True], ids=["quiet", "show"])
def test_capture_forwards_everything_else_even_when_the_block_raises(show: bool) -> None:
    """fd 2 is restored and every kept byte forwarded in order before the block's exception goes on;
    show=True hides nothing."""
    code = textwrap.dedent(CAPTURE).format(startup=STARTUP, kept=KEPT, show=show)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, timeout=60)
    startup = STARTUP if show else b""
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr == (startup + KEPT + b"python's own stderr\n" + b"x" * 999_999 + b"\n" + startup
                             + b"cut short" + b"\nafter: TensorFlow failed to import\n")


FAILING_TENSORFLOW = """
    import os
    os.write(2, {startup!r} + b"E0000 00:00:1795659720.1 1 loader.cc:1] a real error\\n")
    raise ImportError("libtensorflow_framework.so.2: cannot open shared object file")
"""
IMPORT_TENSORFLOW = """
    from eagerrun.errors import EagerrunError
    from eagerrun.modes import import_tensorflow
    try:
        import_tensorflow(show_tf_log={show})
    except EagerrunError as exc:
        print(exc.message)
"""


@pytest.mark.parametrize("show", [False, True], ids=["quiet", "show_tf_log"])
def test_import_that_fails_keeps_its_real_errors(write_script, tmp_path, show: bool) -> None:
    """A TensorFlow whose import writes start-up lines and an error, then raises: the error shows, the
    start-up lines only with show_tf_log, and eagerrun says in one line how to install TensorFlow."""
    write_script("fake/tensorflow/__init__.py", FAILING_TENSORFLOW.format(startup=STARTUP))
    code = textwrap.dedent(IMPORT_TENSORFLOW).format(show=show)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "fake"), str(ROOT)])})
    assert result.returncode == 0, result.stderr
    assert result.stderr == (STARTUP if show else b"") + b"E0000 00:00:1795659720.1 1 loader.cc:1] a real error\n"
    assert result.stdout.startswith(b"TensorFlow is not installed (libtensorflow_framework.so.2")


def test_eagerrun_check_prints_no_startup_lines(monkeypatch) -> None:
    """`eagerrun check`, TensorFlow's first import in its process: none of the start-up lines on stderr."""
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    result = run_eagerrun("check", fresh=True)
    assert result.returncode == 0, result.stderr
    assert STARTUP_LINE.search(result.stderr) is None, result.stderr


def test_script_can_still_configure_devices(write_script) -> None:
    """eagerrun looks the devices up without initialising the runtime, so a script may still split the CPU
    (as it might set a GPU's memory growth) before its first op."""
    script = write_script("configure_devices.py", """
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        print(len(tf.config.list_logical_devices("CPU")))
    """)
    result = run_eagerrun("--graph", "-q", str(script), fresh=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "2\n"
    assert STARTUP_LINE.search(result.stderr) is None, result.stderr
