"""The report package builds renderables and one place prints them: each piece rendered into a recording
console reads right, `show` writes JSON and the env block raw, and only console.py prints. In process, no
TensorFlow."""

from __future__ import annotations

import ast
import io
import json
import signal
import subprocess
import sys

from rich.console import Console, RenderableType

from eagerrun import report
from eagerrun.diagnostics.compare import compare_values
from eagerrun.diagnostics.tracing import Change, FunctionTraces
from eagerrun.records import StepRecord, summarize
from eagerrun.report.console import Prose, Raw, Wide
from eagerrun.report.tables import Column, Rows, build_table
from tests.conftest import ROOT


def rendered(*renderables: RenderableType, width: int = 100, terminal: bool = False) -> str:
    """What `show` prints of `renderables` on a console `width` columns wide."""
    console = Console(record=True, width=width, file=io.StringIO(), force_terminal=terminal, color_system=None)
    report.show(*renderables, console=console)
    return console.export_text()


def steps(losses: list[float | None], *, mode: str = "graph") -> list[StepRecord]:
    return [StepRecord(step=i + 1, epoch=1, time_s=0.01, mode=mode, traced=i == 0, source="log_step",
                       values={"loss": loss}) for i, loss in enumerate(losses)]


def test_a_missing_loss_is_a_dash_in_the_step_table() -> None:
    """A step whose loss is None shows `—` in its loss cell; the first step's note says it traced."""
    text = rendered(report.StepTable(steps([0.5, None, 0.25])))
    assert text.splitlines()[0] == "3 steps, graph mode"
    cells = {line.split("│")[1].strip(): line.split("│")[3].strip() for line in text.splitlines()
             if line.startswith("│")}
    assert cells == {"1": "0.5000", "2": "—", "3": "0.2500"}
    assert "traced: the step's time includes tracing" in text


def test_building_a_table_prints_nothing(capsys) -> None:
    """A renderable is only built until `show` prints it: nothing reaches stdout or stderr before."""
    report.StepTable(steps([0.5, 0.4]))
    report.run_summary(modes=[("graph", "flag")], target="train.py", wall_s=1.0, exit_code=0)
    report.retraces([])
    assert capsys.readouterr() == ("", "")


def test_a_comparison_names_the_step_where_a_value_diverges() -> None:
    """The graph run's loss leaves eager's at step 3: the verdict names the loss and step 3."""
    eager, graph = steps([1.0, 0.9, 0.8, 0.7], mode="eager"), steps([1.0, 0.9, 0.85, 0.75])
    text = rendered(report.comparison(compare_values({"eager": eager, "graph": graph}, rtol=1e-4, atol=1e-6),
                                      log_every=None, as_json=False))
    assert "eager vs graph, one seed, fresh processes" in text
    assert "✗ loss first diverges at step 3" in text


def test_the_same_renderable_fits_each_console_it_is_shown_on() -> None:
    """One object: prose wrapped at a 40-column terminal, one line each in a pipe."""
    text = "word " * 20
    prose = Prose(text.strip())
    assert len(rendered(prose, width=40, terminal=True).splitlines()) == 3
    assert len(rendered(prose, width=40, terminal=False).splitlines()) == 1


def test_a_wide_table_keeps_its_width_off_a_terminal() -> None:
    """Into a file, a table wider than the console is never cut; on a terminal it fits the terminal."""
    columns = [Column(f"column {i}", ["12345.6789"], "metric") for i in range(8)]
    table = build_table(columns, Rows([None]))
    assert max(len(line) for line in rendered(Wide(table), width=40).splitlines()) > 40
    assert max(len(line) for line in rendered(Wide(table), width=40, terminal=True).splitlines()) <= 40


def test_run_summary_and_retraces_read_whole_in_a_pipe() -> None:
    """The closing line is one line however narrow the console; a retrace says what changed and the fix."""
    closing = rendered(report.run_summary(modes=[("eager", "flag")], target="train.py", wall_s=2.5, exit_code=130),
                       width=30)
    assert closing == "eagerrun │ mode eager (flag)  │ train.py  │ wall 2.50 s  │ exit 130\n"
    traces = FunctionTraces(name="train_step", file="train.py", line=3, signatures=[{}, {}],
                            retraces=[[Change("x", "shape", "(32, 3)", "(16, 3)")]])
    text = rendered(report.retraces([traces]))
    assert "retraced: train_step (train.py:3) traced 2 times" in text
    assert "  trace 2: x: shape (32, 3) → (16, 3)" in text and "  fix: " in text


def test_json_and_the_env_block_are_written_raw() -> None:
    """`check --json` is one JSON line on the console's file, past Rich; a stop before any step is one line."""
    file = io.StringIO()
    console = Console(file=file, width=20, force_terminal=True)
    report.show(report.check_report({"mode": "eager"}, agrees=True, as_json=True), console=console)
    assert json.loads(file.getvalue()) == {"mode": "eager", "agrees": True}
    assert isinstance(report.exit_message("bye"), Raw)
    assert rendered(report.stopped_before_steps(signal.SIGINT)).startswith("eagerrun: interrupted (Ctrl-C)")


def test_summary_names_the_mode_and_the_steps() -> None:
    records = steps([0.5, 0.4, 0.3])
    text = rendered(report.StepsSummary(summarize(records), mode="graph", wall_s=1.0, records=records))
    assert text.startswith("mode ") and "loss " in text and "0.5000 → 0.3000" in text


def test_only_console_py_prints_and_progress_draws() -> None:
    """No module of the package but console.py calls `.print(` or writes a console's file; progress.py's
    Live draws by itself."""
    printing = []
    for path in sorted((ROOT / "eagerrun" / "report").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("print", "write") and path.name != "console.py":
                printing.append(f"{path.name}:{node.lineno} .{node.attr}")
    assert printing == []


def test_the_report_imports_no_tensorflow() -> None:
    """`eagerrun --help` must not load TensorFlow: neither may the report, in a fresh interpreter."""
    code = "import sys, eagerrun.report, eagerrun.cli; assert 'tensorflow' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False).returncode == 0
