"""eagerrun's frames kept out of the stacks TensorFlow records for graph ops ("defined at ...").

When an op fails inside a graph, TensorFlow's message says "Detected at node X defined at (most recent
call last):" and lists the Python stack of the moment the op was created, which `ops.py` recorded at
trace time with `tf_stack.extract_stack`. That stack leaves out the files named by the filter on top of
the calling thread's filter stack (`tf_stack.StackTraceFilter`, matched by exact `co_filename`); autograph
pushes its own filter on top for each converted call and adds the filter beneath it. So a filter pushed
beneath the user's code takes eagerrun's frames out of every op stack recorded on that thread, before
anything is stored: nothing in TensorFlow is patched.

Hidden: every file of the eagerrun package (its hooks sit between the script's own frames), runpy
(`run_path`/`run_module`), and every frame already on the stack when the filter is pushed, which is
whatever launched eagerrun: the console script or `python -m eagerrun`, Click, eagerrun's CLI and
session (and pytest, in tests). Matching is by file, so a script's own use of Click or runpy goes out
too. Stacks recorded on other threads (a thread the script starts itself) keep every frame.
"""

from __future__ import annotations

import contextlib
import functools
import os
import runpy
import sys
from collections.abc import Iterator
from typing import Any

from eagerrun import _tf_compat as private

_EAGERRUN_DIR = os.path.dirname(os.path.abspath(__file__))


@contextlib.contextmanager
def hiding_launcher_frames() -> Iterator[None]:
    """Push the filter for the block, on this thread. Enter it where eagerrun is about to run the user's
    code (TensorFlow imported), in the thread that runs it; a TensorFlow without this internal API gets
    no filter, and its messages stay as they were."""
    try:
        tf_stack = private.get("tf_stack")
        filter_class = _filter_class(tf_stack)
    except (ImportError, AttributeError):
        yield
        return
    with filter_class(launcher_filenames(sys._getframe(1))):
        yield


def launcher_filenames(frame: Any) -> frozenset[str]:
    """The files to hide, as code objects name them: eagerrun's own, runpy's, and those of `frame` and
    every frame that called it (the launcher, when `frame` is where eagerrun is about to run the script)."""
    names = {os.path.join(folder, name) for folder, _, files in os.walk(_EAGERRUN_DIR)
             for name in files if name.endswith(".py")}
    names.add(runpy._run_code.__code__.co_filename)  # type: ignore[attr-defined]  # "<frozen runpy>" on Python 3.11+, runpy.py before
    while frame is not None:
        names.add(frame.f_code.co_filename)
        frame = frame.f_back
    return frozenset(names)


@functools.cache
def _filter_class(tf_stack: Any) -> type:
    """A `tf_stack.StackTraceFilter` for fixed files, built on first use so that importing this module
    does not import TensorFlow."""

    class FixedFilesFilter(tf_stack.StackTraceFilter):
        def __init__(self, filenames: frozenset[str]) -> None:
            super().__init__()
            self._filenames = filenames

        def get_filtered_filenames(self) -> frozenset[str]:
            return self._filenames | self.parent.get_filtered_filenames()

    return FixedFilesFilter
