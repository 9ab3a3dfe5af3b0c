"""TensorFlow's start-up lines held back from stderr while TensorFlow loads; everything else still shows.

TensorFlow 2.21's C++ runtime writes about ten lines to file descriptor 2 as it is imported (oneDNN, the
missing CUDA drivers, the CPU instructions it was not built for, twice the absl "All log messages before
absl::InitializeLog()" warning) and one more the first time it looks for devices (cuInit failing on a
machine without a GPU). They come before absl logging is initialised, so TF_CPP_MIN_LOG_LEVEL does not
hide them (measured with it unset, 2 and 3; at 3 only the cuInit line goes). After start-up the level
works again, and on a CPU nothing more comes at the first op, `tf.function`, `tf.data` pipeline or Keras
`fit` under eagerrun's level 2.

`quiet_tensorflow_startup` points fd 2 at a pipe for the duration, a thread reads it continuously (so a
chatty start-up never blocks on a full pipe) and writes every line that is not a known start-up line to
the real stderr at once, byte for byte. Python's own output, any other E or F line, and a last line
without its newline all pass. fd 2 is restored in a `finally`, and what was captured is forwarded before
the block's exception (a failed import, say) propagates.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterator

# absl's format: severity, MMDD, time, thread id, file:line, "] ". Before absl is initialised the date is
# 0000 and the time reads 00:00:<seconds since the epoch>, so the seconds take more than two digits.
_ABSL_INFO_OR_WARNING = re.compile(rb"[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] ")
_ABSL_PREAMBLE = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
# cpu_feature_guard.cc's info line goes on over a second line of its own, without absl's prefix.
_CONTINUATIONS = (b"To enable the following instructions: ",)
# cuInit failing where the CUDA driver library is absent (the stub answers 303, which it cannot name) or
# finds no device: a machine without a GPU. Any other cuInit failure is a broken driver and shows.
_NO_GPU_CUINIT = re.compile(
    rb"E\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] failed call to cuInit: "
    rb".*(UNKNOWN ERROR \(303\)|CUDA_ERROR_NO_DEVICE)")

_READ_SIZE = 65536
_JOIN_TIMEOUT_S = 5.0  # only reached when a child process started meanwhile still holds the pipe


def is_startup_line(line: bytes) -> bool:
    """Whether a whole line (without its newline) is one of TensorFlow's known start-up lines."""
    return (_ABSL_INFO_OR_WARNING.match(line) is not None or line == _ABSL_PREAMBLE
            or _NO_GPU_CUINIT.match(line) is not None)


class StartupLineFilter:
    """Drops TensorFlow's known start-up lines from a byte stream fed in pieces; keeps the rest exactly.

    `feed` returns the complete kept lines so far; `finish` returns a last line that never got its newline
    (kept whatever it looks like: it may have been cut short).
    """

    def __init__(self) -> None:
        self._partial = b""
        self._dropped_previous = False

    def feed(self, data: bytes) -> bytes:
        *lines, self._partial = (self._partial + data).split(b"\n")
        kept = []
        for line in lines:
            dropped = is_startup_line(line) or (self._dropped_previous and line.startswith(_CONTINUATIONS))
            if not dropped:
                kept.append(line + b"\n")
            self._dropped_previous = dropped
        return b"".join(kept)

    def finish(self) -> bytes:
        rest, self._partial = self._partial, b""
        return rest


def filter_startup_lines(data: bytes) -> bytes:
    """`data` without TensorFlow's known start-up lines (the whole stream at once)."""
    line_filter = StartupLineFilter()
    return line_filter.feed(data) + line_filter.finish()


@contextlib.contextmanager
def quiet_tensorflow_startup(*, show: bool = False) -> Iterator[None]:
    """Hide TensorFlow's start-up lines from fd 2 inside the block; `show=True` hides nothing.

    Meant for the block that imports TensorFlow and first lists its devices, before any user code runs:
    every line it lets through reaches the real stderr as it comes, in order, and all of it has been
    written by the time the block exits. Where fd 2 is closed, or no pipe can be made, nothing is captured.
    """
    if show:
        yield
        return
    _flush_python_stderr()
    try:
        saved_stderr = os.dup(2)  # first: were fd 2 closed, the pipe would take its number
    except OSError:
        yield
        return
    try:
        read_end, write_end = os.pipe()
    except OSError:  # out of file descriptors: TensorFlow's lines are the least of it
        os.close(saved_stderr)
        yield
        return
    forward_to = os.dup(saved_stderr)  # the reader's own: it closes it, even if it outlives the block
    reader = threading.Thread(target=_forward_kept_lines, args=(read_end, forward_to),
                              name="eagerrun-tf-startup-log", daemon=True)
    reader.start()
    os.dup2(write_end, 2)
    os.close(write_end)  # fd 2 is now the pipe's only writer: restoring fd 2 ends the reader's stream
    try:
        yield
    finally:
        _flush_python_stderr()
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)
        reader.join(_JOIN_TIMEOUT_S)


def _forward_kept_lines(read_end: int, forward_to: int) -> None:
    line_filter = StartupLineFilter()
    try:
        while chunk := os.read(read_end, _READ_SIZE):
            _write_all(forward_to, line_filter.feed(chunk))
        _write_all(forward_to, line_filter.finish())
    finally:
        os.close(read_end)
        os.close(forward_to)


def _write_all(fd: int, data: bytes) -> None:
    """Write all of `data`; a stderr that is gone (EPIPE) loses the output but never stops the draining."""
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view):]
    except OSError:
        pass


def _flush_python_stderr() -> None:
    """Python's buffered stderr text belongs on the side of the swap it was written on."""
    try:
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):  # None under pythonw, closed, or replaced by a stub
        pass
