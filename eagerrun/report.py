"""Everything eagerrun shows a person. The only module that prints.

eagerrun writes to stderr, so the script's stdout stays the script's and a pipe gets only what the script
printed; `check --json` and `compare --json` are the exceptions, their JSON being the answer asked for.
Rich handles the rest: colour and live progress on a terminal, plain text in a pipe, NO_COLOR honoured.
"""

from __future__ import annotations

import json
import logging
import traceback
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

stderr = Console(stderr=True, highlight=False)
stdout = Console(highlight=False)


class _WarningHandler(logging.Handler):
    """Shows eagerrun's log records as one-line `eagerrun: warning: …` messages on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        level = "warning" if record.levelno >= logging.WARNING else "note"
        style = "yellow" if level == "warning" else "cyan"
        line = Text.assemble(("eagerrun: ", "bold"), (f"{level}: ", style), record.getMessage())
        stderr.print(line, soft_wrap=True)


def install_log_handler(*, quiet: bool) -> None:
    """Route the `eagerrun` logger to stderr once; `quiet` keeps warnings but drops notes."""
    logger = logging.getLogger("eagerrun")
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False
    if not any(isinstance(h, _WarningHandler) for h in logger.handlers):
        logger.addHandler(_WarningHandler())


def error(message: str) -> None:
    """One line, no traceback: what went wrong and, where the message has it, what to do."""
    stderr.print(Text.assemble(("eagerrun: ", "bold"), ("error: ", "bold red"), message), soft_wrap=True)


def script_traceback(exc: BaseException) -> None:
    """The user's traceback (eagerrun's frames already cut): Rich's on a terminal, Python's own in a pipe."""
    if stderr.is_terminal:
        from rich.traceback import Traceback

        stderr.print(Traceback.from_exception(type(exc), exc, exc.__traceback__))
    else:
        stderr.file.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        stderr.file.flush()


def exit_message(message: str) -> None:
    """`sys.exit("text")` prints its text to stderr, as Python does."""
    stderr.file.write(message + "\n")
    stderr.file.flush()


def run_summary(*, mode: str, source: str, target: str, wall_s: float, exit_code: int) -> None:
    """The closing line of every run: what ran, in which mode and why, how long, how it ended."""
    status = Text(str(exit_code), style="green" if exit_code == 0 else "bold red")
    summary = Text.assemble(
        ("eagerrun ", "bold"),
        ("│ mode ", "dim"), (mode, "bold cyan"), (f" ({source})", "dim"),
        ("  │ ", "dim"), target,
        ("  │ wall ", "dim"), f"{wall_s:.2f} s",
        ("  │ exit ", "dim"), status,
    )
    stderr.print(summary, soft_wrap=True)


def check_report(report: dict[str, Any], *, agrees: bool, as_json: bool) -> None:
    """`eagerrun check`: JSON on stdout when asked for, otherwise a table on stdout with the verdict."""
    if as_json:
        stdout.file.write(json.dumps({**report, "agrees": agrees}) + "\n")
        return
    table = Table(title="eagerrun check", show_header=False, title_justify="left")
    table.add_column(style="dim")
    table.add_column()
    rows = {
        "mode requested": f"{report['mode']} (from {report['source']})",
        "tf.function bodies": _eager_or_graph(report["function_body_eager"]),
        "tf.data functions": _eager_or_graph(report["data_function_eager"]),
        "tf.executing_eagerly() at top level": str(report["executing_eagerly"]),
        "tf.config.functions_run_eagerly()": str(report["functions_run_eagerly"]),
        "tf.data debug mode": str(report["data_debug_mode"]),
        "XLA JIT (global)": str(report["xla_jit"]),
        "devices": ", ".join(report["devices"]),
        "TensorFlow / Keras / Python": f"{report['tensorflow']} / {report['keras']} / {report['python']}",
    }
    for key, value in rows.items():
        table.add_row(key, value)
    stdout.print(table)
    verdict = (
        Text(f"✓ the probe ran in {report['mode']} mode, as requested", style="green")
        if agrees
        else Text(f"✗ the probe did not run in {report['mode']} mode", style="bold red")
    )
    stdout.print(verdict)


def _eager_or_graph(eager: bool) -> str:
    return "eager (op by op, proven by a probe)" if eager else "graph (traced, proven by a probe)"
