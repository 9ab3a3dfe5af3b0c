"""Every process-wide setting a run changes and can put back, and the putting back.

A run changes TensorFlow, Keras and Python for its own sake: check-numerics, Keras' dtype policy, the
`eagerrun` logger's level and handler, the environment TensorFlow reads as it loads. Each change goes
through the run's one `ProcessSwitches`, which undoes them all, newest first, when the run ends: a run in
a longer-lived process (a test, a notebook, `benchmarks/`) leaves it as it found it.

What a run cannot put back is done elsewhere, and says so where it is done: the mode itself
(`modes.apply_mode`: tf.data debug mode cannot be turned off), the strategy and its logical devices (the
runtime is configured once), and the hooks, which `hooks.installed` takes out again itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any


class ProcessSwitches:
    """The run's changes to process-wide state, each with its undo."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], object]] = []

    def on_undo(self, undo: Callable[[], object]) -> None:
        """Register the undo of a change made elsewhere (TensorFlow's check-numerics, which modes.py
        switches on while TensorFlow loads)."""
        self._undo.append(undo)

    def environ_default(self, name: str, value: str) -> None:
        """`os.environ.setdefault(name, value)`: a value the user set is theirs and stays."""
        if name in os.environ:
            return
        os.environ[name] = value
        self._undo.append(lambda: os.environ.pop(name, None))

    def logger(self, name: str, *, level: int, handler: logging.Handler | None = None,
               propagate: bool | None = None) -> None:
        """A logger's level, and a handler and propagation for the run."""
        logger = logging.getLogger(name)
        old_level, old_propagate = logger.level, logger.propagate
        logger.setLevel(level)
        if propagate is not None:
            logger.propagate = propagate
        if handler is not None:
            logger.addHandler(handler)

        def undo() -> None:
            if handler is not None:
                logger.removeHandler(handler)
            logger.setLevel(old_level)
            logger.propagate = old_propagate

        self._undo.append(undo)

    def dtype_policy(self, name: str) -> None:
        """Keras' global dtype policy (`--precision`), set before the script is imported."""
        import keras

        previous = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy(name)
        self._undo.append(lambda: keras.mixed_precision.set_global_policy(previous))

    def undo_all(self) -> None:
        """Undo every change, newest first; one undo that fails does not keep the others from running."""
        while self._undo:
            undo = self._undo.pop()
            with contextlib.suppress(Exception):
                undo()


class KeptSwitches(ProcessSwitches):
    """Switches that are never undone: for the callers outside a run (`check`, `env`, `launch`,
    benchmarks), whose process ends with the command. Every change still goes through one interface."""

    def undo_all(self) -> None:
        self._undo.clear()


def kept() -> ProcessSwitches:
    """Switches for a command that is the whole process: what it changes stays changed."""
    return KeptSwitches()


@contextlib.contextmanager
def restored() -> Iterator[ProcessSwitches]:
    """The switches of one run: whatever they changed is put back when the block ends, however it ends."""
    switches = ProcessSwitches()
    try:
        yield switches
    finally:
        switches.undo_all()


def tensorflow_check_numerics(switches: ProcessSwitches, tf: Any) -> None:
    """`tf.debugging.enable_check_numerics()` for the run (graphs traced meanwhile keep their checks)."""
    tf.debugging.enable_check_numerics()
    switches.on_undo(tf.debugging.disable_check_numerics)
