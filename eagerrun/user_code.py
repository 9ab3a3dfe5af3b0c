"""Which code is the user's: one rule for every place that looks for the script's own line.

The loss names (autolog: the line that asked for a gradient), the op's source line (numerics), the lines
that can make the modes differ (side effects), the traced function's file (tracing) and the post-mortem
debugger's frame all want the innermost frame that is not TensorFlow's, Keras', an installed package's,
the standard library's or eagerrun's own. AutoGraph's conversion of a user's function is the user's code
(its names and lines are theirs: where a loss gets its name); the debugger alone skips it
(`is_autograph_file`), as its locals are symbolic there.
"""

from __future__ import annotations

import functools
import os
import re
import sysconfig

EAGERRUN_DIR = os.path.join(os.path.dirname(os.path.realpath(__file__)), "")
# TensorFlow may cut a long path in its messages to `...` and its end: these are looked for anywhere in it.
LIBRARY_PARTS = ("site-packages", "dist-packages", f"{os.sep}tensorflow{os.sep}", f"{os.sep}keras{os.sep}")
LIBRARY_DIRS = tuple(
    os.path.join(os.path.realpath(path), "")
    for path in {sysconfig.get_path(name) for name in ("stdlib", "platstdlib", "purelib", "platlib")}
    if path
)


@functools.lru_cache(maxsize=4096)
def is_library_file(filename: str) -> bool:
    """Whether code from `filename` is not the user's (see the module's docstring); cached, as the step
    hooks ask at every gradient call."""
    if filename.startswith("<frozen"):
        return True
    if any(part in filename for part in LIBRARY_PARTS):
        return True
    path = os.path.realpath(filename)
    return path.startswith(EAGERRUN_DIR) or path.startswith(LIBRARY_DIRS)


def is_autograph_file(filename: str) -> bool:
    """AutoGraph's conversion of a graph-mode `tf.function` (a generated file in the temporary folder)."""
    return os.path.basename(filename).startswith("__autograph_generated_file")


# AutoGraph's "in user code:" messages cite each frame as `File "/path/train.py", line 12, in train_step`
_CITED_FRAME = re.compile(r'File "([^"]+)", line (\d+)')


def error_line(error: BaseException) -> str:
    """The exception in one line: its type and its message's last line, which is where TensorFlow puts
    the reason (an AutoGraph error's first line is only "in user code:")."""
    kind = type(error).__name__
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return kind
    last = lines[-1]
    return last if last.startswith(f"{kind}:") else f"{kind}: {last}"


def user_line_of(error: BaseException) -> str | None:
    """`file:line` of the user's code the exception came from: the innermost frame of theirs that a graph's
    error message cites, else the innermost of theirs in its traceback; None where none is theirs."""
    cited = [(file, line) for file, line in _CITED_FRAME.findall(str(error))
             if not is_library_file(file) and not is_autograph_file(file)]
    if cited:
        return f"{cited[-1][0]}:{cited[-1][1]}"
    tb, found = error.__traceback__, None
    while tb is not None:
        file = tb.tb_frame.f_code.co_filename
        if not is_library_file(file) and not is_autograph_file(file):
            found = f"{file}:{tb.tb_lineno}"
        tb = tb.tb_next
    return found
