"""The two consoles and the one place that prints to them (`show`), with the pieces every report is made
of: a line the terminal wraps, prose broken between words, key-value pairs, a table at the width it needs.

Every other module of the package builds renderables and returns them; `show` prints them. A renderable
that depends on the width reads it when it is rendered, from the console printing it, so the same object
renders for a terminal, a pipe or a test's `Console(record=True)`.
"""

from __future__ import annotations

import logging
import re
import textwrap
from dataclasses import dataclass
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.text import Text

from eagerrun.switches import ProcessSwitches

stderr = Console(stderr=True, highlight=False)
stdout = Console(highlight=False)


@dataclass(frozen=True)
class Raw:
    """Text written to the console's file as it is, past Rich: JSON, Python's own traceback, TensorFlow's
    report, the `env` block (no colour, wrapping or cutting, so a copy keeps every value whole)."""

    text: str

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text(self.text, end="")  # as a test's recording console shows it; `show` writes it raw


def show(*renderables: RenderableType, console: Console | None = None) -> None:
    """Print `renderables` in order on `console` (stderr unless said): the one place the package prints.
    Nothing is cropped: a line longer than the console is one the terminal wraps (`SoftWrapped`) or a table
    given the width it needs (`Wide`); everything else is already fitted to the console's width."""
    console = console or stderr
    for renderable in renderables:
        if isinstance(renderable, Group):  # its parts in turn: a Raw among them is written raw
            show(*renderable.renderables, console=console)
        elif isinstance(renderable, Raw):
            console.file.write(renderable.text)
            console.file.flush()
        else:
            console.print(renderable, crop=False)


class SoftWrapped:
    """`renderable` on lines as long as it needs: the terminal wraps them, a pipe or a log keeps each whole."""

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from console.render(self.renderable, options.update(no_wrap=True, overflow="ignore"))


def line(*parts: str | tuple[str, str] | Text, style: str = "") -> SoftWrapped:
    """One line of text (`Text.assemble`'s parts), which the terminal wraps."""
    return SoftWrapped(Text.assemble(*parts, style=style))


def error_line(message: str) -> SoftWrapped:
    """One line, no traceback: what went wrong and, where the message has it, what to do."""
    return line(("eagerrun: ", "bold"), ("error: ", "bold red"), message)


def error(message: str) -> None:
    """Show `error_line(message)` on stderr."""
    show(error_line(message))


class _WarningHandler(logging.Handler):
    """Shows eagerrun's log records as one-line `eagerrun: warning: …` messages on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        level = "warning" if record.levelno >= logging.WARNING else "note"
        style = "yellow" if level == "warning" else "cyan"
        show(line(("eagerrun: ", "bold"), (f"{level}: ", style), record.getMessage()))


def install_log_handler(*, quiet: bool, switches: ProcessSwitches) -> None:
    """Route the `eagerrun` logger to stderr once; `quiet` keeps warnings but drops notes. A run's
    `switches` put the logger back as it was when the run ends (`switches.kept()` leaves it)."""
    logger = logging.getLogger("eagerrun")
    handler = None if any(isinstance(h, _WarningHandler) for h in logger.handlers) else _WarningHandler()
    level = logging.WARNING if quiet else logging.INFO
    switches.logger("eagerrun", level=level, handler=handler, propagate=False)


# -- prose ---------------------------------------------------------------------------------------------------

NO_BREAK = "\u00a0"  # textwrap breaks only at ASCII whitespace: a number and its unit stay on one line
_NUMBER_UNIT = re.compile(r"(?<=\d) (?=(?:ms|s|µs|×|%|columns|steps?|examples/s)\b)")


def prose(text: str, *, width: int | None) -> list[str]:
    """`text` in lines of at most `width` (the console's, on a terminal; None: one line each, for a log
    file), broken between words, never between a number and its unit, no line ending in a space."""
    if width is None:
        return text.splitlines()
    lines = []
    for paragraph in _NUMBER_UNIT.sub(NO_BREAK, text).splitlines():
        indent = paragraph[:len(paragraph) - len(paragraph.lstrip())]
        lines += textwrap.wrap(paragraph.lstrip(), width=width, initial_indent=indent, subsequent_indent=indent,
                               break_long_words=False, break_on_hyphens=False) or [""]
    return [line.replace(NO_BREAK, " ") for line in lines]


class Prose:
    """`text` broken into lines by `prose`: at the console's width on a terminal, one line each elsewhere."""

    def __init__(self, text: str, *, style: str | None = None) -> None:
        self.text, self.style = text, style

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for shown in prose(self.text, width=options.max_width if console.is_terminal else None):
            yield SoftWrapped(Text(shown, style=self.style or ""))


class Pairs:
    """Keys (dim) and their values in two columns, one pair a line, never cut or wrapped by eagerrun, no
    line ending in spaces (a Rich grid pads its last column)."""

    def __init__(self, pairs: dict[str, str], *, indent: str = "") -> None:
        self.pairs, self.indent = pairs, indent

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max((len(key) for key in self.pairs), default=0)
        for key, value in self.pairs.items():
            yield line(self.indent, (key.ljust(width), "dim"), "  ", value)


class Wide:
    """On a terminal at the terminal's width (a step table has been fitted to it); elsewhere (a CI log,
    `2>file`) at the width the renderable needs, so no number is ever cut."""

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        needed = measure(self.renderable, console)
        if console.is_terminal or needed <= options.max_width:
            yield from console.render(self.renderable, options)
        else:  # Console.print clamps any width it is given to the console's: the renderable gets its own
            yield from console.render(self.renderable, options.update(width=needed))


def measure(renderable: Any, console: Console) -> int:
    """The width `renderable` takes when nothing limits it."""
    return Measurement.get(console, console.options.update(width=100_000), renderable).maximum
