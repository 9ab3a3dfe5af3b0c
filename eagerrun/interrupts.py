"""Stopping cleanly on Ctrl-C (SIGINT) and on SIGTERM, the signal schedulers send before preempting.

The first signal asks the run to stop at the end of the current step, so the step's record, the metrics
file and a checkpoint are all consistent; the step sources call `stop_point()` where a step ends. If no
step has finished yet (a script still setting up, or one eagerrun finds no steps in), there is no step end
to wait for and the run stops at once. A second Ctrl-C always stops at once.
"""

from __future__ import annotations

import contextlib
import contextvars
import signal
from collections.abc import Callable, Iterator
from types import FrameType

from eagerrun.errors import EXIT_SIGINT, EXIT_SIGTERM

EXIT_CODES: dict[int, int] = {signal.SIGINT: EXIT_SIGINT, signal.SIGTERM: EXIT_SIGTERM}
# What stopped a run, in the words of its report: "interrupted (Ctrl-C) after step 206 of 800".
STOPPED_BY: dict[int, str] = {signal.SIGINT: "interrupted (Ctrl-C)", signal.SIGTERM: "stopped (SIGTERM)"}


class Interrupted(KeyboardInterrupt):
    """Raised at a step's end (or at once) after SIGINT or SIGTERM; a KeyboardInterrupt, so a script that
    saves its work on Ctrl-C does the same on SIGTERM."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = EXIT_CODES.get(signum, EXIT_SIGINT)


class StopRequest:
    """The signal received, if any, and whether a step has finished yet (which decides how to stop)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.steps_seen = False

    def stop_point(self) -> None:
        """Called where a step ends: raise if a stop was asked for."""
        self.steps_seen = True
        if self.signum is not None:
            raise Interrupted(self.signum)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None or not self.steps_seen:
            self.signum = signum
            raise Interrupted(signum)
        self.signum = signum


# The run's stop request, while `stop_at_step_end` holds one: a context variable, set and reset by its owner.
_current: contextvars.ContextVar[StopRequest | None] = contextvars.ContextVar("eagerrun_stop", default=None)


def stop_point() -> None:
    request = _current.get()
    if request is not None:
        request.stop_point()


def stop_requested() -> int | None:
    """The signal that asked the run to stop, if one did (for a stop that must be agreed with peers)."""
    request = _current.get()
    return request.signum if request is not None else None


def steps_will_end() -> None:
    """A loop that always reaches a step end (the trainer) has every signal wait for it, from its first
    step on: stopping in the middle of a step could save a checkpoint whose step counter is behind its
    weights (a resumed run's first step, before any step had ended)."""
    request = _current.get()
    if request is not None:
        request.steps_seen = True


class SignalExit(SystemExit):
    """The exit `exit_on_signals` makes on SIGINT or SIGTERM: 130/143, and the signal, for whoever shows
    the end (the line a Ctrl-C's `^C` was echoed on)."""

    def __init__(self, signum: int) -> None:
        super().__init__(EXIT_CODES[signum])
        self.signum = signum


def exit_on_signals() -> None:
    """Outside a run's own handlers (while Python, eagerrun and TensorFlow load, and while the report
    prints), SIGINT and SIGTERM end eagerrun at once with 130/143 (`SystemExit`, so nothing catches it as
    an error and `finally` blocks run), never with a traceback, an "Aborted!" or death by the signal."""
    for signum in EXIT_CODES:
        signal.signal(signum, _exit_now)


def _exit_now(signum: int, frame: FrameType | None) -> None:
    raise SignalExit(signum)


@contextlib.contextmanager
def stop_at_step_end() -> Iterator[StopRequest]:
    """Install the handlers for SIGINT and SIGTERM for the run, and put the previous ones back after."""
    request = StopRequest()
    previous: dict[int, Callable[..., object] | int | None] = {}
    for signum in EXIT_CODES:
        previous[signum] = signal.signal(signum, request._handle)
    token = _current.set(request)
    try:
        yield request
    finally:
        _current.reset(token)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
