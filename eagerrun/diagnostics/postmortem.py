"""`--pdb`: Python's post-mortem debugger on the script's uncaught exception, as `python -m pdb` opens it,
but starting in the script's own innermost frame.

The exception reaching here already has eagerrun's and runpy's frames cut out (loader.user_facing). Frames
of installed libraries (NumPy, Keras, the standard library) below the script's innermost frame are cut too,
so the debugger starts where the script's code failed: with `--eager` that can be a `tf.function` body,
whose values are real tensors there. `up` walks out through the script's callers as usual.
"""

from __future__ import annotations

import logging
import pdb
import sys
from types import TracebackType

from eagerrun.user_code import is_autograph_file, is_library_file

log = logging.getLogger("eagerrun")

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
    script = [index for index, entry in enumerate(entries) if not is_library_file(entry.tb_frame.f_code.co_filename)
              and not is_autograph_file(entry.tb_frame.f_code.co_filename)]
    kept = entries[:script[-1] + 1] if script else entries
    rebuilt = None
    for entry in reversed(kept):
        rebuilt = TracebackType(rebuilt, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return rebuilt
