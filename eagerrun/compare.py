"""`eagerrun compare`: the same script, eager and graph, each in a fresh process, step by step.

Each mode needs its own process (the mode is process-global and tf.data debug mode cannot be undone), so
compare runs eagerrun itself twice (three times with XLA) with one seed and a metrics file each, and reads
the files back: what it compares is exactly what `--metrics-out` recorded.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eagerrun.errors import EXIT_FAILURE, EagerrunError
from eagerrun.loader import Target
from eagerrun.records import StepRecord, summarize


@dataclass(frozen=True)
class CompareOptions:
    target: Target
    train: bool = False
    steps: int | None = None
    seed: int = 0
    rtol: float = 1e-4  # float32 graphs fuse and reorder ops (grappler): agreement is close, not bitwise
    atol: float = 1e-6
    xla: bool = False


@dataclass(frozen=True)
class Comparison:
    runs: dict[str, list[StepRecord]]  # "eager", "graph" and maybe "graph+xla", each's steps
    first_divergent_step: int | None
    max_abs_diff: float
    steps_compared: int

    @property
    def match(self) -> bool:
        return self.first_divergent_step is None and self.steps_compared > 0

    def median_step_s(self, name: str) -> float | None:
        return summarize(self.runs[name]).median_steady_s

    @property
    def speedup(self) -> float | None:
        eager, graph = self.median_step_s("eager"), self.median_step_s("graph")
        return eager / graph if eager and graph else None

    @property
    def likely_cause(self) -> str | None:
        """Where the runs part says what to suspect. Python side effects in a tf.function run at trace time
        in graph mode, during the first step, as in eager mode: they show from step 2. A first step that
        already differs means the runs did not start from the same weights or the same batch."""
        if self.match or self.first_divergent_step is None or self.steps_compared == 0:
            return None
        return "unseeded_randomness" if self.first_divergent_step == 1 else "python_side_effect"

    def as_json(self) -> dict[str, Any]:
        return {
            "match": self.match,
            "first_divergent_step": self.first_divergent_step,
            "likely_cause": self.likely_cause,
            "max_abs_diff": self.max_abs_diff,
            "steps_compared": self.steps_compared,
            "speedup": self.speedup,
            "median_step_s": {name: self.median_step_s(name) for name in self.runs},
        }


def run_mode(options: CompareOptions, *, mode: str, xla: bool, folder: Path) -> list[StepRecord]:
    """One fresh eagerrun process in `mode`; its steps, read back from its metrics file."""
    metrics = folder / f"{mode}{'-xla' if xla else ''}.jsonl"
    command = [sys.executable, "-m", "eagerrun", "run", "--mode", mode, "--seed", str(options.seed),
               "--metrics-out", str(metrics), "--quiet"]
    if options.train:
        command.append("--train")
        if options.steps is not None:
            command += ["--steps", str(options.steps)]
        if xla:
            command.append("--xla")
    if options.target.module is not None:
        command += ["-m", options.target.module]
    else:
        command.append(str(options.target.script))
    command += list(options.target.args)
    finished = subprocess.run(command, capture_output=True, text=True)
    if finished.returncode != 0:
        last = (finished.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise EagerrunError(f"the {mode} run failed (exit {finished.returncode}): {last}", exit_code=EXIT_FAILURE)
    records = [record_from_json(json.loads(line)) for line in metrics.read_text().splitlines() if line]
    if options.steps is not None:
        records = records[: options.steps]
    return records


def record_from_json(data: dict[str, Any]) -> StepRecord:
    loss = data.get("loss")
    if loss is None and data.get("finite") is False:
        loss = math.nan
    known = {"step", "epoch", "loss", "time_s", "mode", "traced", "source", "batch_size", "finite"}
    return StepRecord(step=data["step"], epoch=data.get("epoch"), loss=loss, time_s=data["time_s"],
                      mode=data["mode"], traced=data["traced"], source=data["source"],
                      batch_size=data.get("batch_size"),
                      metrics={k: v for k, v in data.items() if k not in known})


def compare(options: CompareOptions) -> Comparison:
    with tempfile.TemporaryDirectory(prefix="eagerrun-compare-") as tmp:
        folder = Path(tmp)
        runs = {"eager": run_mode(options, mode="eager", xla=False, folder=folder),
                "graph": run_mode(options, mode="graph", xla=False, folder=folder)}
        if options.xla:
            runs["graph+xla"] = run_mode(options, mode="graph", xla=True, folder=folder)
    return compare_losses(runs, rtol=options.rtol, atol=options.atol)


def compare_losses(runs: dict[str, list[StepRecord]], *, rtol: float, atol: float) -> Comparison:
    """The first step where any run's loss leaves eager's by more than atol + rtol·|eager|."""
    reference = runs["eager"]
    count = min(len(records) for records in runs.values())
    first_divergent, max_diff = None, 0.0
    for index in range(count):
        expected = reference[index].loss
        for records in runs.values():
            actual = records[index].loss
            if expected is None or actual is None or (math.isnan(expected) and math.isnan(actual)):
                continue
            diff = abs(actual - expected) if math.isfinite(actual) and math.isfinite(expected) else math.inf
            max_diff = max(max_diff, diff)
            if diff > atol + rtol * abs(expected) and first_divergent is None:
                first_divergent = reference[index].step
    if count and any(len(records) != count for records in runs.values()) and first_divergent is None:
        first_divergent = count + 1  # one run recorded more steps than another
    return Comparison(runs=runs, first_divergent_step=first_divergent, max_abs_diff=max_diff,
                      steps_compared=count)
