"""One run, start to finish: mode, then the user's code (or the trainer), then the report.

The CLI calls `run` and exits with what it returns. Whatever ends the run (success, the script's
exception, a non-finite loss, Ctrl-C), the steps recorded so far are flushed and shown.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from eagerrun import interrupts, loader, modes, report, switches, tf_stacks
from eagerrun.autolog import hooks
from eagerrun.autolog.collector import StepCollector
from eagerrun.cluster import distribute
from eagerrun.config import RunConfig, Settled, StrategyOptions
from eagerrun.diagnostics import postmortem
from eagerrun.diagnostics.bisect import Bisector
from eagerrun.diagnostics.breakdown import Timeline, TimeReport, where_time_went
from eagerrun.diagnostics.numerics import NumericsReport, is_numerics_error, numerics_report
from eagerrun.diagnostics.profile import Capture, StepProfiler
from eagerrun.diagnostics.side_effects import suspects_of
from eagerrun.diagnostics.trace_evidence import TraceEvidence
from eagerrun.diagnostics.tracing import TraceCounter
from eagerrun.errors import EXIT_FAILURE, EXIT_NONFINITE_LOSS, EXIT_SIGINT, EXIT_USAGE, EagerrunError
from eagerrun.records import Recorder, RunReport, StepRecord, StepSink, metrics_sink, summarize
from eagerrun.train import precision
from eagerrun.train.checkpoints import has_checkpoint
from eagerrun.user_code import error_line, user_line_of

log = logging.getLogger("eagerrun")


def run(settled: Settled) -> int:
    """Apply the mode before any user code is imported, run, report, return the exit code. Every process
    switch the run turns (switches.py) is put back after it."""
    with switches.restored() as process:
        return run_with(settled, process)


def run_with(settled: Settled, process: switches.ProcessSwitches) -> int:
    """The run, its switches given: mode and strategy, then one stack of contexts around the user's code
    (signals wait for a step's end, eagerrun's frames hidden, the hooks), then the outputs closed and the
    outcome shown; what the steps recorded is flushed and shown whatever ended them."""
    config = settled.config
    strategy_options = config.train.strategy if config.train is not None else StrategyOptions()
    report.install_log_handler(quiet=config.output.quiet, switches=process)
    for warning in settled.warnings:
        log.warning("%s", warning)
    with report.loading_tensorflow(enabled=not config.output.quiet):
        modes.apply_mode(config.mode, show_tf_log=config.output.verbose, check_numerics=config.check_numerics,
                         switches=process)
        strategy = distribute.create_strategy(strategy_options)  # before any op: it may configure the runtime
    recorder = Recorder(mode=config.mode.mode)  # its sinks are opened by start_outputs, as the steps start
    timeline = Timeline() if config.breakdown else None
    recorder.timeline = timeline
    step_modes = modes.StepModes(config.mode, on_switch=lambda mode: setattr(recorder, "mode", mode))
    plan = PlannedSteps()
    recorder.listeners += [step_modes.step, plan.step]
    traces = TraceCounter(enabled=not config.mode.eager, max_retraces=config.max_retraces)
    evidence = TraceEvidence() if config.explain_traces else None
    bisector = None if config.bisect_step is None else Bisector(config.bisect_step, rtol=config.bisect_tolerance[0],
                                                                atol=config.bisect_tolerance[1])
    profiler = None if config.output.profile is None else StepProfiler(
        *config.output.profile, logdir=config.output.profile_dir or Path("eagerrun-profile"))
    watchers = [w for w in (profiler, bisector) if w is not None]
    guard = modes.script_mode_guard(config.mode, script_decides=config.script_decides, step_modes=step_modes)
    started = time.perf_counter()
    failure: EagerrunError | None = None
    steps = None
    stop: interrupts.StopRequest | None = None
    stopped_by: int | None = None  # the signal that stopped the run, for its report
    try:
        with contextlib.ExitStack() as run_stack:
            stop = run_stack.enter_context(interrupts.stop_at_step_end())
            run_stack.enter_context(tf_stacks.hiding_launcher_frames())
            if strategy is not None:
                run_stack.enter_context(distribute.eager_overhead_said_once())
            seed_everything(config.seed)
            if config.train is not None:
                run_stack.enter_context(hooks.installed(traces=traces, mode_guard=guard, evidence=evidence,
                                                        watchers=watchers, timeline=timeline))
                outcome = run_trainer(config, recorder, traces, strategy, plan, process)
            else:
                steps = StepCollector(recorder, traces, autolog=config.autolog, eager=config.mode.eager,
                                      check_numerics=config.check_numerics)
                plan.fit_of = steps
                if config.dtype_policy is not None:  # compare --matrix's mixed run: before the script's import
                    process.dtype_policy(config.dtype_policy)
                run_stack.enter_context(hooks.installed(traces=traces, steps=steps, mode_guard=guard,
                                                        evidence=evidence, watchers=watchers,
                                                        timeline=timeline))
                outcome = run_script(config, recorder, plan)
        if stop.signum is not None and outcome.exit_code == 0:
            # the signal came after the last step's end, where nothing asked whether to stop: still 130/143
            outcome = replace(outcome, exit_code=interrupts.EXIT_CODES[stop.signum])
    except interrupts.Interrupted as exc:
        outcome = loader.ScriptOutcome(exit_code=exc.exit_code)
        stopped_by = exc.signum  # a multi-worker stop agreed with a peer that got the signal, too
    except KeyboardInterrupt:  # the script's own
        outcome = loader.ScriptOutcome(exit_code=EXIT_SIGINT)
        stopped_by = signal.SIGINT
    except EagerrunError as exc:
        failure = exc
        outcome = loader.ScriptOutcome(exit_code=exc.exit_code)
    finally:
        if steps is not None:
            steps.finish()
        if profiler is not None:
            profiler.finish()
        unwritten = close_outputs(recorder)
    wall_s = time.perf_counter() - started
    if stop is not None and stop.signum is not None:
        stopped_by = stop.signum
    numerics = None
    if config.check_numerics and is_numerics_error(outcome.error):
        assert outcome.error is not None
        numerics = numerics_report(outcome.error, step=len(recorder.records) + 1,
                                   function=steps.failed_in if steps is not None else None,
                                   script=config.target.script)
        outcome = replace(outcome, exit_code=EXIT_NONFINITE_LOSS)
    capture = profiler.capture() if profiler is not None else None
    if profiler is not None and capture is None:
        log.warning("--profile %d:%d: the run ended before step %d's call; no profile written",
                    profiler.start, profiler.stop, profiler.start)
    time_report = None
    if timeline is not None and recorder.records:
        time_report = where_time_went(recorder.records, timeline, [f.as_json() for f in traces.functions.values()],
                                      time_pipelines=strategy is None)
    if config.output.run_report is not None:
        try:
            run_report(config, outcome, recorder, traces, wall_s, step_modes, evidence, bisector,
                       time_report, capture).write(config.output.run_report)
        except OSError as exc:
            unwritten.append(f"--run-report {config.output.run_report}: not written ({exc.strerror or exc})")
    if unwritten and outcome.exit_code == 0:
        outcome = replace(outcome, exit_code=EXIT_FAILURE)  # an output asked for and lost is a failed run
    show_outcome(config, outcome, recorder, wall_s, strategy=strategy, steps=steps, traces=traces,
                 time_report=time_report, capture=capture,
                 numerics=numerics, unwritten=unwritten, step_modes=step_modes, stopped_by=stopped_by,
                 planned=plan.total)
    if failure is not None:
        raise failure
    return outcome.exit_code


def run_report(config: RunConfig, outcome: loader.ScriptOutcome, recorder: Recorder, traces: TraceCounter,
               wall_s: float, step_modes: modes.StepModes, evidence: TraceEvidence | None = None,
               bisector: Bisector | None = None, time_report: TimeReport | None = None,
               capture: Capture | None = None) -> RunReport:
    error = outcome.error
    ran = step_modes.modes()
    return RunReport(
        mode=ran[0][0] if len(ran) == 1 else config.mode.mode, exit_code=outcome.exit_code, steps=len(recorder.records),
        phases=len({r.phase for r in recorder.records}), wall_s=wall_s,
        error=None if error is None else error_line(error), error_at=None if error is None else user_line_of(error),
        functions=[function.as_json() for function in traces.functions.values()],
        suspects=None if evidence is None else [suspect.as_json() for suspect in suspects_of(evidence)],
        parting=None if bisector is None or bisector.parting is None else bisector.parting.as_json(),
        time=None if time_report is None else time_report.as_json(),
        profile=None if capture is None else capture.as_json())


def start_outputs(config: RunConfig, recorder: Recorder) -> None:
    """Open the metrics file and the TensorBoard writer as the steps are about to start, once every check
    that can refuse the run has passed (the CLI's path checks, the mode, the strategy, the spec): a refused
    run leaves an existing metrics file as it was. A run that resumes from a checkpoint appends to it
    instead of starting it over."""
    output = config.output
    if output.metrics_out is not None:
        append = config.train is not None and has_checkpoint(config.train.checkpoint_dir)
        recorder.sinks.append(opened(output.metrics_out, lambda path: metrics_sink(path, append=append)))
    if output.tensorboard is not None:
        from eagerrun.records import TensorBoardSink

        recorder.sinks.append(opened(output.tensorboard, TensorBoardSink))


def opened(path: Path, open_sink: Callable[[Path], StepSink]) -> StepSink:
    """The sink, or one line: the CLI checked the path, so this is the file system changed since."""
    try:
        return open_sink(path)
    except EagerrunError:
        raise
    except Exception as exc:  # OSError, or TensorFlow's OpError from its summary writer
        reason = getattr(exc, "strerror", None) or str(exc).strip().splitlines()[0]
        raise EagerrunError(f"cannot write {path}: {reason}", exit_code=EXIT_USAGE) from None


def close_outputs(recorder: Recorder) -> list[str]:
    """Close the sinks. What could not be written at the end comes back as a line to show, not an
    exception: the table, and every step already written and flushed, are kept."""
    try:
        recorder.close()
    except OSError as exc:
        return [f"closing the metrics output failed ({exc.strerror or exc}); every step before was flushed"]
    return []


def seed_everything(seed: int | None) -> None:
    """`keras.utils.set_random_seed` (Python, NumPy and TensorFlow) before the user's code builds anything."""
    if seed is not None:
        import keras

        keras.utils.set_random_seed(seed)


class PlannedSteps:
    """How many steps the run will have, as far as that is known at each step (a recorder listener), for
    the progress bar and the title of a run stopped early: the trainer's count, set before its first step,
    or, while Keras fit runs (`fit_of`: the script's step collector), what Keras counts for that call."""

    def __init__(self) -> None:
        self.total: int | None = None
        self.fit_of: StepCollector | None = None
        self._phase_starts: dict[int, StepRecord] = {}

    def step(self, record: StepRecord) -> None:
        if self.fit_of is None:
            return
        first = self._phase_starts.setdefault(record.phase, record)
        self.total = fit_total(running_fit_params(self.fit_of), first) if record.source == "fit" else None


def running_fit_params(steps: StepCollector) -> Mapping[str, Any] | None:
    """The `params` Keras gave the callback of the fit call now running ("steps" per epoch, "epochs"),
    read from the collector without changing it; None outside fit."""
    return steps.fit_params


def fit_total(params: Mapping[str, Any] | None, first: StepRecord) -> int | None:
    """The run's step count once the fit call whose first step is `first` ends: the steps before it, and
    its steps per epoch × the epochs it runs (from its first one: fit(initial_epoch=...) skips some). None
    where Keras does not know (a dataset of unknown length)."""
    try:
        per_epoch, epochs = int(params["steps"]), int(params["epochs"])  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        return None
    return first.step - 1 + per_epoch * max(1, epochs - (first.epoch or 1) + 1)


def run_script(config: RunConfig, recorder: Recorder, plan: PlannedSteps) -> loader.ScriptOutcome:
    start_outputs(config, recorder)
    with report.live_progress(recorder, total=None, planned=lambda: plan.total, enabled=not config.output.quiet):
        return loader.run_target(config.target)


def run_trainer(config: RunConfig, recorder: Recorder, traces: TraceCounter, strategy: Any,
                plan: PlannedSteps, process: switches.ProcessSwitches) -> loader.ScriptOutcome:
    """Import the script (its __main__ block does not run) and build its spec inside the strategy's
    scope, under the --precision policy, validate the spec, train it."""
    assert config.train is not None
    process.dtype_policy(config.train.precision)  # before the script's import: a model built there gets it
    return train_spec(config, recorder, traces, strategy, plan)


def train_spec(config: RunConfig, recorder: Recorder, traces: TraceCounter, strategy: Any,
               plan: PlannedSteps) -> loader.ScriptOutcome:
    from eagerrun.train.spec import spec_from_module, validate_spec
    from eagerrun.train.trainer import build_trainer

    assert config.train is not None
    try:
        with distribute.scope(strategy):
            module = loader.import_target(config.target)
            spec = validate_spec(spec_from_module(module))
            spec = precision.with_loss_scaling(spec, config.train.precision)
    except loader.UserCodeError as exc:
        return loader.ScriptOutcome(exit_code=EXIT_FAILURE, error=exc.error)
    checkpoint = None
    if strategy is not None:
        distribute.build_under_scope(strategy, spec)
        recorder.replicas = strategy.num_replicas_in_sync
    if config.train.checkpoint_dir is not None:
        from eagerrun.train.checkpoints import TrainCheckpoint

        checkpoint = TrainCheckpoint(config.train.checkpoint_dir, model=spec.model, optimizer=spec.optimizer,
                                     every=config.train.checkpoint_every,
                                     chief=distribute.is_chief(config.train.strategy),
                                     metrics=spec.metrics if spec.train_step is None else ())
    trainer = build_trainer(spec, config.train, eager=config.mode.eager, recorder=recorder, traces=traces,
                            checkpoint=checkpoint, strategy=strategy)
    try:
        start_outputs(config, recorder)
        plan.total = trainer.total_steps()
        with report.live_progress(recorder, total=plan.total, enabled=not config.output.quiet):
            trainer.run()
    except (EagerrunError, KeyboardInterrupt):
        raise
    except Exception as exc:  # the step failed in the user's model, loss or data: their error, not a crash
        error = exc if is_numerics_error(exc) else loader.user_facing(exc, config.target)
        return loader.ScriptOutcome(exit_code=EXIT_FAILURE, error=error)
    finally:
        if checkpoint is not None:
            checkpoint.close()
    return loader.ScriptOutcome(exit_code=0)


def show_outcome(config: RunConfig, outcome: loader.ScriptOutcome, recorder: Recorder, wall_s: float, *,
                 strategy: Any = None, steps: StepCollector | None = None,
                 traces: TraceCounter | None = None, numerics: NumericsReport | None = None,
                 unwritten: list[str] | None = None, step_modes: modes.StepModes | None = None,
                 stopped_by: int | None = None, planned: int | None = None,
                 time_report: TimeReport | None = None, capture: Capture | None = None) -> None:
    """The script's own error first (it is the script's output), then eagerrun's table and summary, each
    output that could not be written, and the closing line. A --check-numerics stop shows its short report
    instead of TensorFlow's long error. A run stopped by a signal says so in the table's title, with the
    step it stopped after and, where known, the `planned` count."""
    if numerics is not None:
        report.show(report.numerics(numerics, verbose=config.output.verbose))
    elif outcome.error is not None:
        report.show(report.script_traceback(outcome.error))
    if outcome.error is not None and config.output.pdb:
        postmortem.debug_post_mortem(outcome.error)
    if outcome.exit_message is not None:
        report.show(report.exit_message(outcome.exit_message))
    if config.options_after_script and outcome.exit_code not in (0, *interrupts.EXIT_CODES.values()):
        names = config.options_after_script
        log.warning("%s came after SCRIPT, so %s went to the script: eagerrun's own options go before SCRIPT",
                    " and ".join(names), "it" if len(names) == 1 else "they")
    for line in unwritten or ():
        report.error(line)
    if config.output.quiet:
        return
    ran: list[tuple[str, str]] = [(config.mode.mode, config.mode.source)]
    if step_modes is not None:
        ran = step_modes.modes()
    if recorder.records:
        report.show(report.StepTable(recorder.records, log_every=config.output.log_every, stopped_by=stopped_by,
                                     planned=planned),
                    report.StepsSummary(summarize(recorder.records), mode=report.modes_text(ran), wall_s=wall_s,
                                        records=recorder.records, extra=None if time_report is None else {
                                            "time goes": time_report.shares.line(),
                                            "verdict": time_report.verdict.text}))
    elif stopped_by is not None:
        report.show(report.stopped_before_steps(stopped_by))
    elif steps is not None and outcome.exit_code == 0:  # a script that failed has its own error to read
        report.show(report.no_steps(autolog=config.autolog, legacy_keras="tf_keras" in sys.modules,
                                    seen=steps.calls_not_steps() if config.autolog else []))
    if traces is not None:
        report.show(report.retraces(traces.retraced_functions(), traces.recreated_functions()))
    if capture is not None:
        report.show(report.profile_summary(capture))
    report.show(report.run_summary(modes=ran, target=config.target.display, wall_s=wall_s,
                                   exit_code=outcome.exit_code,
                                   strategy=None if strategy is None else distribute.describe(strategy)))


def check(choice: modes.ModeChoice, *, as_json: bool) -> int:
    """`eagerrun check`: apply the mode, prove it with a probe, exit 1 when the probe disagrees."""
    with report.loading_tensorflow(enabled=True):
        modes.apply_mode(choice, switches=switches.kept())
    probe = modes.probe_mode(choice)
    agrees = modes.probe_agrees(probe)
    report.show(report.check_report(probe, agrees=agrees, as_json=as_json), console=report.stdout)
    return 0 if agrees else 1
