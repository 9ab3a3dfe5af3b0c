"""One run, start to finish: mode, then the user's code, then the report. The CLI calls `run` and exits
with what it returns."""

from __future__ import annotations

import time

from eagerrun import loader, modes, report
from eagerrun.config import RunConfig
from eagerrun.errors import EXIT_SIGINT


def run(config: RunConfig) -> int:
    """Apply the mode before any user code is imported, run the target, report, return the exit code."""
    report.install_log_handler(quiet=config.quiet)
    if config.target.module is not None:
        loader.check_module_exists(config.target.module)
    modes.apply_mode(config.mode)
    started = time.perf_counter()
    try:
        with modes.guard_script_mode(config.mode, script_decides=config.script_decides):
            outcome = loader.run_target(config.target)
    except KeyboardInterrupt:
        outcome = loader.ScriptOutcome(exit_code=EXIT_SIGINT)
    wall_s = time.perf_counter() - started
    if outcome.error is not None:
        report.script_traceback(outcome.error)
    if outcome.exit_message is not None:
        report.exit_message(outcome.exit_message)
    if not config.quiet:
        report.run_summary(
            mode=config.mode.mode,
            source=config.mode.source,
            target=config.target.display,
            wall_s=wall_s,
            exit_code=outcome.exit_code,
        )
    return outcome.exit_code


def check(choice: modes.ModeChoice, *, as_json: bool) -> int:
    """`eagerrun check`: apply the mode, prove it with a probe, exit 1 when the probe disagrees."""
    modes.apply_mode(choice)
    probe = modes.probe_mode(choice)
    agrees = modes.probe_agrees(probe)
    report.check_report(probe, agrees=agrees, as_json=as_json)
    return 0 if agrees else 1
