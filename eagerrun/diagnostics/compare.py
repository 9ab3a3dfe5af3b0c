"""`eagerrun compare`: the same script, eager and graph, each in a fresh process, step by step.

Each mode needs its own process (the mode is process-global and tf.data debug mode cannot be undone), so
compare runs eagerrun itself twice (three times with XLA) with one seed, a metrics file and a run report
each, and reads them back: what it compares is exactly what `--metrics-out` recorded, every value of every
step (each loss, each metric).
"""

from __future__ import annotations

import functools
import json
import math
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eagerrun import report
from eagerrun.config import CompareOptions
from eagerrun.diagnostics.bisect import Parting
from eagerrun.diagnostics.side_effects import RANDOMNESS, SIDE_EFFECTS, Suspect
from eagerrun.errors import EXIT_FAILURE, EagerrunError
from eagerrun.records import RunReport, StepRecord, summarize


@dataclass(frozen=True)
class Failure:
    """How a mode's run failed: its exit code, its exception in one line (type and the message's last line)
    and the user's `file:line` it came from, where the run could say."""

    exit_code: int
    error: str
    at: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"exit_code": self.exit_code, "error": self.error, "at": self.at}


@dataclass(frozen=True)
class ModeRun:
    """One mode's run: its steps, its report, and how it failed where it did."""

    records: list[StepRecord]
    report: RunReport | None
    exit_code: int
    failure: Failure | None = None

    @property
    def failed(self) -> bool:
        return self.exit_code != 0

    @property
    def ran_functions(self) -> bool | None:
        """Whether any tf.function traced: one of the user's (the report's `functions`) or TensorFlow's or
        Keras' own (which the report leaves out), during a step. None when the run left no report."""
        if self.report is None:
            return None
        return bool(self.report.functions) or any(record.traced for record in self.records)


@dataclass(frozen=True)
class Comparison:
    runs: dict[str, list[StepRecord]]  # "eager", "graph" and maybe "graph+xla", each's steps
    first_divergent_step: int | None
    max_abs_diff: float | None  # None when no step was compared
    steps_compared: int
    divergent_value: str | None = None  # the value that left eager's first, e.g. "gen_loss"
    failures: dict[str, Failure] = field(default_factory=dict)  # for each mode that failed
    same_code: bool = False  # no tf.function ran: both modes ran exactly the same code
    # what the graph run traced that can make the modes differ; None where its traces were not looked at
    suspects: tuple[Suspect, ...] | None = ()
    seed: int | None = None  # the seed both runs had
    parting: Parting | None = None  # --bisect: where the model's layers part at the first divergent step

    @property
    def step_counts(self) -> dict[str, int]:
        return {name: len(records) for name, records in self.runs.items()}

    @property
    def match(self) -> bool:
        return (self.first_divergent_step is None and self.steps_compared > 0 and not self.failures
                and len(set(self.step_counts.values())) == 1)

    def median_step_s(self, name: str) -> float | None:
        return summarize(self.runs[name]).median_steady_s

    @property
    def speedup(self) -> float | None:
        """Eager's median steady step over graph's; None where there is nothing honest to divide."""
        if self.same_code or self.failures:
            return None
        eager, graph = self.median_step_s("eager"), self.median_step_s("graph")
        return eager / graph if eager and graph else None

    @property
    def likely_cause(self) -> str | None:
        """One verdict, from the step that differs and what the graph run traced. A failed run says only that
        (its step count follows from it); runs of different lengths say so next. Python side effects in a
        tf.function run at trace time in graph mode, during the first step, as in eager mode: they show from
        step 2. Random ops without a seed of their own draw other numbers in the two modes from their first
        draw. With neither traced, a layer that --bisect finds computing differently, or a later step that
        differs under one seed, is a real difference between the modes; a first step that differs without
        such a layer means another start: weights or batches."""
        if self.failures:
            return "mode_failed"
        if len(set(self.step_counts.values())) > 1:
            return "step_count_mismatch"
        if self.match or self.first_divergent_step is None:
            return None
        effects = [s for s in self.suspects or () if s.kind in SIDE_EFFECTS and s.kind not in RANDOMNESS]
        randomness = [s for s in self.suspects or () if s.kind in RANDOMNESS]
        if self.first_divergent_step > 1 and effects:
            return "python_side_effect"
        if randomness:
            return "unseeded_randomness"
        parted = self.parting is not None and (self.parting.layer or self.parting.gradient_of) is not None
        return "different_start" if self.first_divergent_step == 1 and not parted else "mode_difference"

    @property
    def cause_suspects(self) -> list[Suspect]:
        """The suspect lines that fit the likely cause: side effects, or random draws."""
        cause = self.likely_cause
        if cause == "python_side_effect":
            return [s for s in self.suspects or () if s.kind in SIDE_EFFECTS and s.kind not in RANDOMNESS]
        if cause == "unseeded_randomness":
            return [s for s in self.suspects or () if s.kind in RANDOMNESS]
        return []

    def as_json(self) -> dict[str, Any]:
        return {
            "match": self.match,
            "first_divergent_step": self.first_divergent_step,
            "divergent_value": self.divergent_value,
            "likely_cause": self.likely_cause,
            "max_abs_diff": self.max_abs_diff,
            "steps_compared": self.steps_compared,
            "steps": self.step_counts,
            "failed": {name: failure.as_json() for name, failure in self.failures.items()},
            "suspects": [suspect.as_json() for suspect in self.cause_suspects],
            "traces_examined": self.suspects is not None,
            "bisect": None if self.parting is None else self.parting.as_json(),
            "seed": self.seed,
            "same_code": self.same_code,
            "speedup": self.speedup,
            "median_step_s": {name: self.median_step_s(name) for name in self.runs},
        }


POLL_S = 0.2  # how often a run's metrics file is looked at for the status line


class LineCount:
    """The whole lines of a file that grows (a run's metrics file: one line a step), counted as it grows:
    each look reads only what was added since the last."""

    def __init__(self, path: Path) -> None:
        self.path, self.read_to, self.lines = path, 0, 0

    def count(self) -> int:
        try:
            with self.path.open("rb") as file:
                file.seek(self.read_to)
                added = file.read()
        except OSError:  # not written yet
            return self.lines
        self.read_to += len(added)
        self.lines += added.count(b"\n")
        return self.lines


def run_mode(options: CompareOptions, *, mode: str, xla: bool, folder: Path,
             steps_so_far: Callable[[int], None] | None = None, name: str | None = None,
             precision: Any = "float32", env: dict[str, str] | None = None, explain: bool = True) -> ModeRun:
    """One fresh eagerrun process in `mode`; its steps and report, read back from its files.
    `steps_so_far` hears the count of steps in its metrics file as they come (every POLL_S). `precision`,
    `env` and `explain`: the matrix's runs (a dtype policy, TensorFlow's XLA flags, no trace evidence)."""
    name = name or f"{mode}{'-xla' if xla else ''}"
    metrics, report_path = folder / f"{name}.jsonl", folder / f"{name}.json"
    run = options.run_config(mode, xla=xla, metrics_out=metrics, run_report=report_path,  # type: ignore[arg-type]
                             precision=precision, explain=explain)
    command = [sys.executable, "-m", "eagerrun", *run.run_argv()]
    finished = run_watched(command, LineCount(metrics), steps_so_far, env=env)
    records = [StepRecord.from_json(json.loads(line))
               for line in (metrics.read_text().splitlines() if metrics.exists() else []) if line]
    if options.steps is not None:
        records = records[: options.steps]
    report = RunReport.read(report_path)
    failure = None
    if finished.returncode != 0:
        if report is not None and report.error:
            failure = Failure(finished.returncode, report.error, report.error_at)
        else:  # it ended before writing its report: its last line says why
            failure = Failure(finished.returncode, (finished.stderr.strip().splitlines() or ["(no output)"])[-1])
    return ModeRun(records=records, report=report, exit_code=finished.returncode, failure=failure)


def run_watched(command: list[str], steps: LineCount, steps_so_far: Callable[[int], None] | None, *,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`subprocess.run(command, capture_output=True, text=True)`, telling `steps_so_far` the step count
    while it runs. Its output is read all along (`communicate` resumes where a timeout left it), so a
    chatty script never blocks on a full pipe; whatever ends the wait (Ctrl-C) ends the process too."""
    if steps_so_far is None:
        return subprocess.run(command, capture_output=True, text=True, env=env)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as process:
        try:
            while True:
                try:
                    stdout, stderr = process.communicate(timeout=POLL_S)
                    break
                except subprocess.TimeoutExpired:
                    steps_so_far(steps.count())
        except BaseException:
            process.kill()
            raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


RUNS = {"eager": ("eager", False), "graph": ("graph", False), "graph+xla": ("graph", True)}


def compare(options: CompareOptions) -> Comparison:
    """Run each mode in turn (a status line on a terminal says which, and its steps so far), compare, and
    where the runs diverge, bisect the model at the first divergent step."""
    names = ["eager", "graph", *(["graph+xla"] if options.xla else [])]
    runs: dict[str, ModeRun] = {}
    with tempfile.TemporaryDirectory(prefix="eagerrun-compare-") as tmp, report.compare_status(names) as show:
        for name in names:
            mode, xla = RUNS[name]
            show(name, None)
            runs[name] = run_mode(options, mode=mode, xla=xla, folder=Path(tmp),
                                  steps_so_far=functools.partial(show, name))
        failures = {name: run.failure for name, run in runs.items() if run.failure is not None}
        if len(failures) == len(runs):
            raise EagerrunError("every run failed: " + "; ".join(
                f"{name} exit {why.exit_code}: {why.error}{f' ({why.at})' if why.at else ''}"
                for name, why in failures.items()), exit_code=EXIT_FAILURE)
        result = compare_values({name: run.records for name, run in runs.items()}, rtol=options.rtol,
                                atol=options.atol)
        same_code = runs["graph"].ran_functions is False
        parting = None
        if options.bisect and result.first_divergent_step is not None and not failures and not same_code:
            show("bisect", None)
            parting = bisect_run(options, step=result.first_divergent_step, folder=Path(tmp))
    graph_report = runs["graph"].report
    traced = graph_report.suspects if graph_report is not None else None
    suspects = None if traced is None else tuple(Suspect.from_json(suspect) for suspect in traced)
    return Comparison(runs=result.runs, first_divergent_step=result.first_divergent_step,
                      max_abs_diff=result.max_abs_diff, steps_compared=result.steps_compared,
                      divergent_value=result.divergent_value, failures=failures, same_code=same_code,
                      suspects=suspects, seed=options.seed, parting=parting)


def bisect_run(options: CompareOptions, *, step: int, folder: Path) -> Parting | None:
    """A graph run that stops at `step` and compares the model's layers there (diagnostics/bisect.py);
    None where it could not say (it failed, or never reached the step)."""
    report_path = folder / "bisect.json"
    run = options.run_config("graph", xla=False, metrics_out=folder / "bisect.jsonl", run_report=report_path,
                             bisect_step=step)
    subprocess.run([sys.executable, "-m", "eagerrun", *run.run_argv()], capture_output=True, text=True)
    report = RunReport.read(report_path)
    return None if report is None or report.parting is None else Parting.from_json(report.parting)


def compare_values(runs: dict[str, list[StepRecord]], *, rtol: float, atol: float) -> Comparison:
    """The first step where any value of any run leaves eager's by more than atol + rtol·|eager|, over the
    steps all runs have. A value one run recorded and another did not is a divergence; a value no run could
    record is not compared."""
    reference = runs["eager"]
    count = min(len(records) for records in runs.values())
    first_divergent, divergent_value, max_diff = None, None, 0.0
    for index in range(count):
        names = list(dict.fromkeys(name for records in runs.values() for name in records[index].values))
        for name in names:
            expected = reference[index].values.get(name)
            for records in runs.values():
                diff = value_difference(expected, records[index].values.get(name))
                if diff is None:
                    continue
                if math.isfinite(diff):
                    max_diff = max(max_diff, diff)
                if diff > atol + rtol * abs(expected or 0.0) and first_divergent is None:
                    first_divergent, divergent_value = reference[index].step, name
    return Comparison(runs=runs, first_divergent_step=first_divergent, max_abs_diff=max_diff if count else None,
                      steps_compared=count, divergent_value=divergent_value)


def value_difference(expected: float | None, actual: float | None) -> float | None:
    """|actual - expected|; None when neither was recorded (nothing to compare); inf when only one was, or
    when one is non-finite and the other is not; 0 for the same non-finite value."""
    if expected is None and actual is None:
        return None
    if expected is None or actual is None:
        return math.inf
    if math.isfinite(expected) and math.isfinite(actual):
        return abs(actual - expected)
    same = (math.isnan(expected) and math.isnan(actual)) or expected == actual
    return 0.0 if same else math.inf
