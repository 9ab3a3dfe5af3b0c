"""What is drawn while eagerrun waits, on a terminal only and erased when it ends: the progress bar of a
run's steps, and a spinner with a line saying what it waits for (TensorFlow loading, `compare`'s runs).
The one part of the package that draws by itself: each owns a Rich Live while its block runs."""

from __future__ import annotations

import contextlib
import io
import os
import signal
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

from eagerrun import interrupts
from eagerrun.report.console import Raw, show, stderr
from eagerrun.report.numbers import column_format

if TYPE_CHECKING:
    from rich.progress import Task

    from eagerrun.records import Recorder, StepRecord


@contextlib.contextmanager
def live_progress(recorder: Recorder, *, total: int | None, enabled: bool,
                  planned: Callable[[], int | None] | None = None,
                  console: Console | None = None) -> Iterator[None]:
    """A progress bar on stderr while steps come in, on a terminal only (a pipe gets the table alone): the
    step, of how many where that is known, and the time left at the rate so far. `total` is known before
    the steps start (the trainer's); `planned`, asked at each step, may learn it as the run goes (Keras
    fit's steps × epochs)."""
    console = console or stderr
    if not (enabled and console.is_terminal):
        yield
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("[bold]step"), MofNCompleteColumn(), BarColumn(),
                        TextColumn("{task.fields[info]}"), TimeElapsedColumn(), time_left_column(), console=console,
                        transient=True)
    task = progress.add_task("train", total=total, info="")
    started = False

    def advance(record: StepRecord) -> None:
        nonlocal started
        known = planned() if planned is not None else None
        if not started and record.step > 1:  # resumed: the rate counts from here, not from step 0
            progress.reset(task, completed=record.step - 1)
        started = True
        # the run's step number, not a count of this process's steps: a resumed run's bar starts where it was
        progress.update(task, completed=record.step, total=known if known is not None else total,
                        info=f"loss {column_format([record.loss])(record.loss)}  {record.time_s * 1000:.1f} ms")

    recorder.listeners.append(advance)
    try:
        with progress:
            yield
    finally:
        recorder.listeners.remove(advance)


def time_left_column() -> Any:
    from rich.progress import TimeRemainingColumn

    class TimeLeft(TimeRemainingColumn):
        """Rich's estimate of the time left, "left 0:01:23", and nothing while the total is unknown (Rich
        would draw -:--:--)."""

        def render(self, task: Task) -> Text:
            if task.total is None:
                return Text("")
            return Text.assemble(("left ", "dim"), super().render(task))

    return TimeLeft()


# -- status --------------------------------------------------------------------------------------------------


def on_a_terminal(console: Console | None = None) -> bool:
    """Whether `console` (stderr) is a person's terminal: Rich takes it for one and its file is a TTY.
    FORCE_COLOR and TTY_COMPATIBLE have Rich draw into a pipe or a CI log as if it were a terminal: a
    status there would be left behind as text."""
    console = console or stderr
    if not console.is_terminal:
        return False
    try:
        return os.isatty(console.file.fileno())
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):  # a StringIO, a closed stream
        return False


class StatusLine:
    """A transient spinner and one line of text saying what eagerrun is waiting for; `update` changes the
    text. `shown`: whether it is drawn at all (on a terminal only)."""

    def __init__(self, spinner: Spinner | None = None, live: Live | None = None) -> None:
        self.spinner, self.live = spinner, live

    @property
    def shown(self) -> bool:
        return self.live is not None

    def update(self, text: str) -> None:
        if self.spinner is not None and self.live is not None:
            self.spinner.update(text=Text(text))
            self.live.refresh()


@contextlib.contextmanager
def status(text: str, *, enabled: bool = True, console: Console | None = None) -> Iterator[StatusLine]:
    """`text` beside a spinner while the block runs, on a terminal only, erased when it ends: nothing of
    it is left on the screen, and none of it ever reaches a pipe or a file.

    It draws through its own duplicate of the terminal's file descriptor, taken as it starts: while
    TensorFlow loads, fd 2 is startup_log's pipe, which holds back a line until its newline, and a spinner
    never ends its line. It leaves sys.stdout and sys.stderr as they are (Rich's Live would swap them for
    proxies, which a logging handler made meanwhile would keep for good)."""
    console = console or stderr
    if not (enabled and on_a_terminal(console)):
        yield StatusLine()
        return
    try:
        terminal = open(os.dup(console.file.fileno()), "w", encoding="utf-8", errors="replace", closefd=True)  # noqa: SIM115
    except OSError:
        yield StatusLine()
        return
    with terminal:
        own = Console(file=terminal, force_terminal=True, highlight=False, width=console.width)
        spinner = Spinner("dots", text=Text(text), style="cyan")
        with Live(spinner, console=own, transient=True, redirect_stdout=False, redirect_stderr=False,
                  refresh_per_second=12.5) as live:
            yield StatusLine(spinner, live)


@contextlib.contextmanager
def loading_tensorflow(*, enabled: bool) -> Iterator[None]:
    """"loading TensorFlow…" while it loads (seconds, with nothing else to show). A Ctrl-C there ends
    eagerrun at once (`interrupts.exit_on_signals`) after the terminal echoed `^C`: the status erases that
    line with itself; without a status, the line is ended, so the shell's prompt starts a line of its own."""
    with status("loading TensorFlow…", enabled=enabled) as line:
        try:
            yield
        except interrupts.SignalExit as exc:
            if exc.signum == signal.SIGINT and not line.shown and on_a_terminal():
                show(Raw("\n"), console=stderr)
            raise


@contextlib.contextmanager
def compare_status(runs: list[str]) -> Iterator[Callable[[str, int | None], None]]:
    """`compare`'s status: which run is going and its steps so far, "graph run (2 of 2): step 34"; it
    yields `show(run, steps so far)`, None or 0 while the run's process starts."""

    def text(run: str, done: int | None) -> str:
        which = f"{run} run ({runs.index(run) + 1} of {len(runs)})" if run in runs else f"{run} run"
        return f"{which}: step {done}" if done else f"{which}: loading TensorFlow and the script…"

    with status(text(runs[0], None)) as line:
        yield lambda run, done: line.update(text(run, done))
