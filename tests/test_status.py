"""Saying what is happening: the transient status (on a terminal only), the progress bar's total and time
left, the title of a stopped run, the mode the steps actually ran in, the plural of one. In process, on
built records and Rich consoles; one run of a script that switches the mode itself."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import pty
import select
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from eagerrun import interrupts, modes, report
from eagerrun.cluster import distribute, launch
from eagerrun.diagnostics.compare import LineCount, compare_values, run_watched
from eagerrun.records import Recorder, StepRecord
from eagerrun.report.steps import ValidationTable
from eagerrun.report.tables import Column
from eagerrun.session import fit_total
from tests.conftest import run_in_process


def recording(*, terminal: bool, width: int = 120) -> Console:
    return Console(record=True, width=width, file=io.StringIO(), force_terminal=terminal, color_system=None)


@pytest.fixture
def terminal() -> Iterator[tuple[Console, int]]:
    """A console on a pseudo-terminal, as a person's shell gives one, and the end to read what it shows."""
    master, slave = pty.openpty()
    with os.fdopen(slave, "w") as file:
        yield Console(file=file, force_terminal=True, width=100), master
    os.close(master)


def shown_on(master: int) -> str:
    out = b""
    while select.select([master], [], [], 0.05)[0]:
        out += os.read(master, 65536)
    return out.decode(errors="replace")


def steps(count: int, *, mode: str = "graph", first: int = 1) -> list[StepRecord]:
    return [StepRecord(step=step, epoch=1, time_s=0.01, mode=mode, traced=False, source="fit",
                       values={"loss": 1.0 / step}) for step in range(first, first + count)]


# -- the status ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("forced", [False, True], ids=["plain", "rich-forced"])
def test_status_never_reaches_a_pipe_or_a_file(tmp_path: Path, forced: bool) -> None:
    """Off a terminal, nothing at all: not even where FORCE_COLOR/TTY_COMPATIBLE make Rich draw as on one."""
    log = tmp_path / "stderr.log"
    with log.open("w") as file:
        console = Console(file=file, force_terminal=forced)
        with report.status("loading TensorFlow…", console=console) as line:
            line.update("eager run (1 of 2): step 3")
        assert not line.shown
    assert log.read_text() == ""
    memory = recording(terminal=True)
    with report.status("loading TensorFlow…", console=memory):
        pass
    assert memory.export_text() == ""


def test_status_on_a_terminal_shows_and_leaves_nothing(terminal: tuple[Console, int]) -> None:
    """On a terminal the text shows, updates, and is erased at the end, the cursor back at the line's start."""
    console, master = terminal
    with report.status("loading TensorFlow…", console=console) as line:
        assert line.shown
        line.update("graph run (2 of 2): step 34")
    shown = shown_on(master)
    assert "loading TensorFlow…" in shown and "graph run (2 of 2): step 34" in shown
    assert shown.endswith("\x1b[2K")  # the last thing written erases the status's line


@pytest.mark.parametrize("signum, ended", [(signal.SIGINT, True), (signal.SIGTERM, False)], ids=["sigint", "sigterm"])
def test_ctrl_c_while_tensorflow_loads_ends_the_echoed_line(monkeypatch, terminal, signum: int, ended: bool) -> None:
    """Ctrl-C while TensorFlow loads without a status (-q): the `^C` the terminal echoed gets its newline."""
    console, master = terminal
    monkeypatch.setattr(report.progress, "stderr", console)
    with pytest.raises(SystemExit) as exited, report.loading_tensorflow(enabled=False):
        interrupts._exit_now(signum, None)
    assert exited.value.code == {signal.SIGINT: 130, signal.SIGTERM: 143}[signum]
    assert shown_on(master) == ("\r\n" if ended else "")


def test_compare_status_names_the_run_and_its_steps(terminal, monkeypatch) -> None:
    """compare's status: which run of how many, loading until its first step, then its steps so far."""
    console, master = terminal
    monkeypatch.setattr(report.progress, "stderr", console)
    with report.compare_status(["eager", "graph"]) as show:
        show("eager", None)
        show("graph", 34)
    shown = shown_on(master)
    assert "eager run (1 of 2): loading TensorFlow and the script…" in shown
    assert "graph run (2 of 2): step 34" in shown


def test_compare_counts_a_runs_steps_as_its_metrics_file_grows(tmp_path: Path) -> None:
    """The child's metrics file is counted as it grows, a line a step; its output is kept whole."""
    metrics = tmp_path / "m.jsonl"
    child = ("import sys, time\n"
             f"with open({str(metrics)!r}, 'w') as f:\n"
             "    for i in range(3):\n"
             "        f.write('{}\\n'); f.flush(); time.sleep(0.3)\n"
             "print('x' * 200000); print('done', file=sys.stderr)\n")
    seen: list[int] = []
    done = run_watched([sys.executable, "-c", child], LineCount(metrics), seen.append)
    assert done.returncode == 0 and done.stdout == "x" * 200000 + "\n" and done.stderr == "done\n"
    assert seen and seen == sorted(seen) and 0 < seen[-1] <= 3


# -- the progress bar ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("planned, shown, left", [(2500, "758/2500", True), (None, "758/?", False)],
                         ids=["total-known", "total-unknown"])
def test_progress_shows_the_total_and_time_left_where_known(planned, shown: str, left: bool) -> None:
    """A fit of 2500 batches says 758/2500 and the time left; a loop of unknown length 758/? and no estimate."""
    console, recorder = recording(terminal=True), Recorder(mode="graph")
    with report.live_progress(recorder, total=None, planned=lambda: planned, enabled=True, console=console):
        for _ in range(758):
            recorder.add(time_s=0.01, source="fit", loss=0.5)
    text = console.export_text()
    assert shown in text
    assert ("left " in text) == left


def test_a_resumed_runs_progress_counts_the_runs_steps() -> None:
    """Resumed at step 5000 of 6000: the bar starts there, not at 0, and still knows the time left."""
    console, recorder = recording(terminal=True), Recorder(mode="graph", first_step=5001)
    with report.live_progress(recorder, total=6000, enabled=True, console=console):
        for _ in range(10):
            recorder.add(time_s=0.01, source="trainer", loss=0.5)
    text = console.export_text()
    assert "5010/6000" in text and "left " in text


def test_progress_is_not_drawn_off_a_terminal() -> None:
    """In a pipe the table alone tells the steps."""
    console, recorder = recording(terminal=False), Recorder(mode="graph")
    with report.live_progress(recorder, total=10, enabled=True, console=console):
        recorder.add(time_s=0.01, source="fit", loss=0.5)
    assert console.export_text() == ""


@pytest.mark.parametrize("params, first, total", [
    ({"steps": 250, "epochs": 10, "verbose": 0}, steps(1)[0], 2500),
    ({"steps": 250, "epochs": 10}, steps(1, first=101)[0], 2600),  # a second fit after 100 steps
    ({"steps": 250, "epochs": 10}, StepRecord(step=1, epoch=3, time_s=0.0, mode="graph", traced=False,
                                              source="fit"), 2000),  # fit(initial_epoch=2)
    ({"steps": None, "epochs": 10}, steps(1)[0], None),  # a dataset of unknown length
    (None, steps(1)[0], None),
], ids=["one-fit", "second-fit", "initial-epoch", "unknown-length", "no-params"])
def test_fit_total_is_steps_times_epochs(params, first: StepRecord, total: int | None) -> None:
    """Keras' own count for the fit call: its steps per epoch × its epochs, after the run's earlier steps."""
    assert fit_total(params, first) == total


# -- the title of a stopped run ------------------------------------------------------------------------------


@pytest.mark.parametrize("signum, planned, title", [
    (signal.SIGINT, 800, "206 steps, graph mode; interrupted (Ctrl-C) after step 206 of 800"),
    (signal.SIGINT, None, "206 steps, graph mode; interrupted (Ctrl-C) after step 206"),
    (signal.SIGTERM, 800, "206 steps, graph mode; stopped (SIGTERM) after step 206 of 800"),
], ids=["ctrl-c", "total-unknown", "sigterm"])
def test_a_stopped_runs_title_says_what_stopped_it_and_where(signum: int, planned: int | None, title: str) -> None:
    """Ctrl-C at step 206 of 800 is in the table's title, not only the closing line's exit 130."""
    console = recording(terminal=False)
    report.show(report.StepTable(steps(206), stopped_by=signum, planned=planned), console=console)
    assert console.export_text().splitlines()[0] == title


def test_a_run_that_ended_has_no_stop_in_its_title() -> None:
    console = recording(terminal=False)
    report.show(report.StepTable(steps(3)), console=console)
    assert console.export_text().splitlines()[0] == "3 steps, graph mode"


def test_ctrl_c_in_a_scripts_loop_is_in_the_title(write_script) -> None:
    """A Ctrl-C after the third step of a loop of unknown length: exit 130, and the title says so."""
    script = write_script("loop.py", """
        import os
        import signal
        import eagerrun
        for step in range(10):
            eagerrun.log_step(1.0 / (step + 1))
            if step == 2:
                os.kill(os.getpid(), signal.SIGINT)
    """)
    done = run_in_process("--graph", str(script))
    assert done.returncode == 130, done.stderr
    title = next(line for line in done.stderr.splitlines() if " steps, graph mode" in line)
    assert title.endswith(f"; interrupted (Ctrl-C) after step {title.split()[0]}")


# -- the mode the steps ran in -------------------------------------------------------------------------------


def test_the_script_that_switched_is_who_decided() -> None:
    """Default graph, the script switches to eager at train.py:12 and back after its steps: they ran eager."""
    choice = modes.ModeChoice(mode="graph", source="default")
    recorder = Recorder(mode="graph")
    step_modes = modes.StepModes(choice, on_switch=lambda mode: setattr(recorder, "mode", mode))
    recorder.listeners.append(step_modes.step)
    step_modes.switched("eager", os.path.join(os.getcwd(), "train.py"), 12)
    recorder.add(time_s=0.01, source="log_step", loss=1.0)
    step_modes.switched("graph", os.path.join(os.getcwd(), "train.py"), 40)  # the tutorial's reset at its end
    assert recorder.records[0].mode == "eager"
    assert step_modes.modes() == [("eager", "the script, train.py:12")]


@pytest.mark.parametrize("ran, line", [
    ([("graph", "flag")], "mode graph (flag)"),
    ([("eager", "the script, train.py:12")], "mode eager (the script, train.py:12)"),
    ([("eager", "the script, train.py:5"), ("graph", "the script, train.py:9")],
     "mode eager (the script, train.py:5), then graph (the script, train.py:9)"),
], ids=["flag", "script", "both"])
def test_closing_line_names_the_mode_the_steps_ran_in(ran: list[tuple[str, str]], line: str) -> None:
    console = recording(terminal=False, width=200)
    report.show(report.run_summary(modes=ran, target="train.py", wall_s=1.0, exit_code=0), console=console)
    assert line in console.export_text()


def test_without_steps_the_mode_in_force_is_named() -> None:
    step_modes = modes.StepModes(modes.ModeChoice(mode="eager", source="env"))
    assert step_modes.modes() == [("eager", "env")]


def test_script_decides_run_reports_eager(write_script, tmp_path: Path) -> None:
    """--graph --script-decides, a script that turns eager on for its loop and off after: the closing line,
    the summary and every record say eager, decided by the script's line."""
    script = write_script("switches.py", """
        import tensorflow as tf
        import eagerrun
        tf.config.run_functions_eagerly(True)
        for step in range(3):
            eagerrun.log_step(1.0 / (step + 1))
        tf.config.run_functions_eagerly(False)
    """)
    metrics = tmp_path / "m.jsonl"
    done = run_in_process("--graph", "--script-decides", "--metrics-out", str(metrics), str(script))
    assert done.returncode == 0, done.stderr
    # the source starts with a newline: the script's mode call is on line 4
    assert f"mode eager (the script, {modes.short_path(str(script))}:4)" in done.stderr
    assert "3 steps, eager mode" in done.stderr
    assert {json.loads(line)["mode"] for line in metrics.read_text().splitlines()} == {"eager"}


# -- one, not ones -------------------------------------------------------------------------------------------


def test_one_step_is_one_step() -> None:
    """1 step, 1 validation, agrees over 1 step."""
    console = recording(terminal=False)
    record = StepRecord(step=1, epoch=1, time_s=0.01, mode="graph", traced=False, source="fit",
                        values={"loss": 1.0, "val_loss": 0.9})
    report.show(report.StepTable([record]),
                ValidationTable([record], [Column("val_loss", ["0.9"], "validation")], width=None, where=""),
                report.comparison(compare_values({"eager": [record], "graph": [record]}, rtol=0, atol=0),
                                  log_every=None, as_json=False), console=console)
    text = console.export_text()
    assert text.startswith("1 step, graph mode")
    assert "val_* values, 1 validation\n" in text and "agrees over 1 step " in text
    assert "1 steps" not in text


@contextlib.contextmanager
def logged(*names: str) -> Iterator[dict[str, list[str]]]:
    """The messages each named logger gets meanwhile, eagerrun's notes included."""
    seen: dict[str, list[str]] = {name: [] for name in names}
    handlers = {name: logging.Handler() for name in names}
    for name, handler in handlers.items():
        handler.emit = seen[name].append  # type: ignore[assignment, method-assign]
        logging.getLogger(name).addHandler(handler)
    eagerrun_logger = logging.getLogger("eagerrun")
    level = eagerrun_logger.level
    eagerrun_logger.setLevel(logging.INFO)
    try:
        yield seen
    finally:
        for name, handler in handlers.items():
            logging.getLogger(name).removeHandler(handler)
        eagerrun_logger.setLevel(level)


def messages(records: list[Any]) -> list[str]:
    return [record.getMessage() for record in records]


def test_a_clean_launch_says_nothing_of_restarts() -> None:
    """0 restarts of --max-restarts 3 is no news; 1 restart is."""
    with logged("eagerrun") as seen:
        launch.note_restarts([], 3)
        assert seen["eagerrun"] == []
        launch.note_restarts([launch.WorkerFailed("worker 1 of 2 failed", code=1)], 3)
        assert messages(seen["eagerrun"])[0].startswith("1 restart of --max-restarts 3")


# -- TensorFlow's warning, in eagerrun's words ---------------------------------------------------------------


def test_eager_mirrored_overhead_is_said_once_for_the_run() -> None:
    """TensorFlow's five warnings become one note of eagerrun's; after the run the filter is gone."""
    warning = ("Using MirroredStrategy eagerly has significant overhead currently. We will be working on "
               "improving this in the future, but for now please wrap `call_for_each_replica` or "
               "`experimental_run` or `run` inside a tf.function to get the best performance.")
    tensorflow = logging.getLogger("tensorflow")
    with logged("tensorflow", "eagerrun") as seen:
        with distribute.eager_overhead_said_once():
            for _ in range(5):
                tensorflow.warning(warning)
            tensorflow.warning("something else")
        assert messages(seen["tensorflow"]) == ["something else"]
        notes = messages(seen["eagerrun"])
        assert len(notes) == 1 and notes[0].startswith("--eager runs each step of the strategy op by op")
        tensorflow.warning(warning)
        assert messages(seen["tensorflow"])[-1] == warning
