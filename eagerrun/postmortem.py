"""`--pdb`: Python's post-mortem debugger on the script's uncaught exception, as `python -m pdb` opens it,
but starting in the script's own innermost frame.

The exception reaching here already has eagerrun's and runpy's frames cut out (loader.user_facing). Frames
of installed libraries (NumPy, Keras, the standard library) below the script's innermost frame are cut too,
so the debugger starts where the script's code failed: with `--eager` that can be a `tf.function` body,
whose values are real tensors there. `up` walks out through the script's callers as usual.
"""

from __future__ import annotations

import logging
import os
import pdb
import sys
import sysconfig
from types import TracebackType

log = logging.getLogger("eagerrun")

_LIBRARY_DIRS = tuple(
    os.path.join(os.path.realpath(path), "")
    for path in {sysconfig.get_path(name) for name in ("stdlib", "platstdlib", "purelib", "platlib")}
    if path
)


def debug_post_mortem(error: BaseException) -> None:
    """Open pdb on `error` in the script's innermost frame and return when the user quits it.

    Without a terminal on stdin (a pipe, CI, `< /dev/null`) a debugger would hang or read garbage: one
    note, and the run goes on as without --pdb.
    """
    if not sys.stdin.isatty():
        log.info("--pdb needs a terminal; going on without it")
        return
    traceback = up_to_innermost_script_frame(error.__traceback__)
    if traceback is None:
        log.info("--pdb: nothing to debug: the error came before any of the script's code ran")
        return
    pdb.post_mortem(traceback)


def up_to_innermost_script_frame(tb: TracebackType | None) -> TracebackType | None:
    """The traceback chain ending at its innermost frame outside installed libraries (the whole chain when
    every frame is a library's: a script run from site-packages)."""
    entries = []
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    script = [index for index, entry in enumerate(entries) if not is_library_file(entry.tb_frame.f_code.co_filename)]
    kept = entries[:script[-1] + 1] if script else entries
    rebuilt = None
    for entry in reversed(kept):
        rebuilt = TracebackType(rebuilt, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return rebuilt


def is_library_file(filename: str) -> bool:
    """Whether code from `filename` belongs to the standard library or an installed package, or is
    AutoGraph's conversion of a graph-mode `tf.function` (its locals are symbolic; the caller's are not)."""
    if filename.startswith("<frozen ") or os.path.basename(filename).startswith("__autograph_generated_file"):
        return True
    return os.path.realpath(filename).startswith(_LIBRARY_DIRS)
