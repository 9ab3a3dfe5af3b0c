"""`--profile`: where the capture went, the steps it marked, and the ops that took its time."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.table import Table

from eagerrun.report.console import Wide, line
from eagerrun.report.numbers import plural

if TYPE_CHECKING:
    from eagerrun.diagnostics.profile import Capture


def profile_summary(capture: Capture) -> RenderableType:
    """One line on the capture (its folder, its steps, how to open it), then its top ops by self time."""
    steps = capture.steps
    marked = f"steps {steps[0]}–{steps[-1]}" if len(steps) > 1 else f"step {steps[0]}" if steps else "no step marker"
    parts: list[RenderableType] = [line(("profile: ", "bold"), f"{plural(len(steps), 'step marker')} ({marked}) in "
                                        f"{capture.logdir}; open it with: tensorboard --logdir {capture.logdir} "
                                        "(its Profile tab)")]
    if capture.top_ops:
        table = Table(title="top ops, by self time on the host", title_justify="left", box=None, pad_edge=False)
        # names are never cut: on a terminal they fold, elsewhere the table takes the width it needs (Wide)
        for header, justify in (("op", "left"), ("type", "left"), ("calls", "right"), ("self ms", "right"),
                                ("share", "right")):
            table.add_column(header, justify=justify, overflow="fold")  # type: ignore[arg-type]
        for op in capture.top_ops:
            table.add_row(op.name, op.op_type, str(op.occurrences), f"{op.self_s * 1000:.3f}", f"{op.share:.0%}")
        parts.append(Wide(table))
    return Group(*parts)
