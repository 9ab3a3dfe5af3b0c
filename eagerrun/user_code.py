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
