"""Everything eagerrun shows a person. The only package that prints, and in it only `show` (console.py)
does, but for the progress bar and spinners (progress.py), which draw while they run.

Each other function or class returns a Rich renderable; a caller builds one and hands it to `show`:
`report.show(report.StepTable(records))`. A renderable that depends on the width reads it from the console
it is rendered on, so a test renders it into `Console(record=True)` and reads it.

eagerrun writes to stderr, so the script's stdout stays the script's and a pipe gets only what the script
printed; `check`, `env` and `compare` show on stdout, their output being the answer asked for. Rich
handles the rest: colour and live progress on a terminal, plain text in a pipe, NO_COLOR honoured.
"""

from eagerrun.report.compare import comparison, matrix
from eagerrun.report.console import error, install_log_handler, show, stderr, stdout
from eagerrun.report.environment import check_report, environment
from eagerrun.report.notes import (
    exit_message,
    no_steps,
    numerics,
    retraces,
    script_traceback,
    stopped_before_steps,
    worker_line,
)
from eagerrun.report.profile import profile_summary
from eagerrun.report.progress import compare_status, live_progress, loading_tensorflow, status
from eagerrun.report.steps import StepsSummary, StepTable, modes_text, run_summary

__all__ = [
    "StepTable", "StepsSummary", "check_report", "compare_status", "comparison", "environment", "error",
    "exit_message", "install_log_handler", "live_progress", "loading_tensorflow", "modes_text", "no_steps",
    "matrix", "numerics", "profile_summary", "retraces", "run_summary", "script_traceback", "show", "status",
    "stderr", "stdout",
    "stopped_before_steps", "worker_line",
]
