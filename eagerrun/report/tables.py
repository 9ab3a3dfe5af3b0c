"""Tables that fit a terminal: columns in groups, which leave a table too wide for the terminal in a set
order, and the rows a table shows of many steps. The step table and `compare`'s table are made of these."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rich.console import Console
from rich.table import Table

from eagerrun.report.console import measure

MAX_TABLE_ROWS = 25


@dataclass
class Column:
    """One column of a table: its header, its cells (one per row) and its group, which decides when it is
    left out of a table too wide for the terminal (see LEAVE_OUT)."""

    header: str
    cells: list[str]
    group: str
    justify: Literal["left", "right"] = "right"


# The order columns leave a table wider than the terminal, each group from its right: validation values
# (to their own table), examples/s, the global batch, the metrics, the note, every loss but the first.
# step, epoch, the first loss and the step time always stay. README "The step table" says the same.
LEAVE_OUT = ("validation", "rate", "batch", "metric", "note", "loss")


@dataclass
class Rows:
    """The rows of one table: each row's style, and the rows a new section (phase) starts at."""

    styles: list[str | None]
    sections: set[int] = field(default_factory=set)


def build_table(columns: list[Column], rows: Rows) -> Table:
    table = Table()
    for column in columns:
        table.add_column(column.header, justify=column.justify, no_wrap=True)
    for index, style in enumerate(rows.styles):
        if index in rows.sections:
            table.add_section()
        table.add_row(*(column.cells[index] for column in columns), style=style)
    return table


def fit_columns(columns: list[Column], rows: Rows, *, width: int | None, console: Console,
                order: tuple[str, ...] = LEAVE_OUT) -> tuple[list[Column], list[Column]]:
    """The columns that fit `width` (all of them where `width` is None) and those left out (in table order),
    leaving by `order`: each group from its right, the first loss kept, validation values together; then
    each column that left, the last first, comes back where the room others left holds it."""
    kept, left = list(columns), []
    for group in order:
        if width is None or measure(build_table(kept, rows), console) <= width:
            break
        members = [c for c in kept if c.group == group]
        if group == "validation":
            kept = [c for c in kept if c.group != group]
            left.extend(members)
            continue
        for column in reversed(members[1:] if group == "loss" else members):
            if measure(build_table(kept, rows), console) <= width:
                break
            kept.remove(column)
            left.append(column)
    for column in reversed([c for c in left if c.group != "validation"]):  # room a later one left makes
        wider = sorted([*kept, column], key=columns.index)
        if width is not None and measure(build_table(wider, rows), console) <= width:
            kept = wider
            left.remove(column)
    return kept, sorted(left, key=columns.index)


def rows_to_show(count: int, log_every: int | None) -> list[int]:
    """Indices of the records the table shows: every Nth step (N chosen to keep about 25 rows when not
    given), always the first and the last."""
    if count == 0:
        return []
    every = stride(count, log_every)
    shown = {0, count - 1, *range(every - 1, count, every)}
    return sorted(shown)


def stride(count: int, log_every: int | None) -> int:
    return log_every or max(1, -(-count // MAX_TABLE_ROWS))
