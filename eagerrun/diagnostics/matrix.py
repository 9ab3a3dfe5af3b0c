"""`eagerrun compare --matrix`: what each switch buys on the script: eager, graph, graph with XLA and mixed
precision side by side, each a fresh process with one seed, as `compare` runs its modes.

XLA: with `--train`, eagerrun's own `--xla` (the step jit-compiled); for a plain script, TensorFlow's
auto-clustering for every tf.function of the process (`TF_XLA_FLAGS=--tf_xla_auto_jit=2
--tf_xla_cpu_global_jit` in the run's environment, read as TensorFlow loads; on a CPU the second flag is
what turns it on). Mixed precision: Keras' `mixed_float16` policy set before the script is imported (the
trainer's `--precision`, with loss scaling; for a plain script only layers built after the import get it,
a script that sets its own policy keeps it). Each is compared with the graph run: float32 within
compare's --rtol/--atol, mixed precision within MIXED_RTOL (float16 keeps about three decimal digits).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eagerrun import report
from eagerrun.config import CompareOptions
from eagerrun.diagnostics.compare import Failure, ModeRun, compare_values, run_mode
from eagerrun.records import StepRecord, summarize

XLA_FLAGS = "--tf_xla_auto_jit=2 --tf_xla_cpu_global_jit"
MIXED_RTOL, MIXED_ATOL = 2e-2, 1e-3  # float16's ~3 significant digits, over a few steps of drift


@dataclass(frozen=True)
class Configuration:
    name: str
    mode: str
    xla: bool = False
    precision: str = "float32"


CONFIGURATIONS = (Configuration("eager", "eager"), Configuration("graph", "graph"),
                  Configuration("graph+xla", "graph", xla=True),
                  Configuration("mixed_float16", "graph", precision="mixed_float16"))


@dataclass(frozen=True)
class Row:
    """One configuration's run: its step times, its agreement with the graph run, its retraces."""

    name: str
    steps: int
    median_step_s: float | None
    first_step_s: float | None  # tracing and compiling show here
    speed_vs_eager: float | None  # eager's median step over this one's
    agrees: bool | None  # with the graph run; None where nothing was compared
    divergent_step: int | None
    tolerance: tuple[float, float]
    retraces: int | None
    failure: Failure | None = None

    def as_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["failure"] = None if self.failure is None else self.failure.as_json()
        return data


@dataclass(frozen=True)
class Matrix:
    rows: tuple[Row, ...]

    def as_json(self) -> dict[str, Any]:
        return {"matrix": [row.as_json() for row in self.rows]}

    @property
    def all_agree(self) -> bool:
        return all(row.agrees for row in self.rows)


def run_matrix(options: CompareOptions) -> Matrix:
    """Every configuration in turn (the status line says which), then one row each."""
    runs: dict[str, ModeRun] = {}
    names = [c.name for c in CONFIGURATIONS]
    with tempfile.TemporaryDirectory(prefix="eagerrun-matrix-") as tmp, report.compare_status(names) as show:
        for configuration in CONFIGURATIONS:
            show(configuration.name, None)
            env = None
            if configuration.xla and not options.train:
                env = {**os.environ, "TF_XLA_FLAGS": f"{os.environ.get('TF_XLA_FLAGS', '')} {XLA_FLAGS}".strip()}
            runs[configuration.name] = run_mode(
                options, mode=configuration.mode, xla=configuration.xla and options.train, folder=Path(tmp),
                name=configuration.name.replace("+", "-"), precision=configuration.precision, env=env,
                explain=False, steps_so_far=functools.partial(show, configuration.name))
    eager = runs["eager"].records
    eager_median = summarize(eager).median_steady_s if eager else None
    return Matrix(tuple(row_of(configuration, runs[configuration.name], graph=runs["graph"], options=options,
                               eager_median=eager_median) for configuration in CONFIGURATIONS))


def row_of(configuration: Configuration, run: ModeRun, *, graph: ModeRun, options: CompareOptions,
           eager_median: float | None) -> Row:
    records: list[StepRecord] = run.records
    stats = summarize(records) if records else None
    median = stats.median_steady_s if stats else None
    tolerance = (MIXED_RTOL, MIXED_ATOL) if configuration.precision != "float32" else (options.rtol, options.atol)
    agrees, divergent = None, None
    if records and graph.records and not run.failed and not graph.failed:
        # the values both record: mixed precision adds its loss scale, which graph has no value for
        shared = {name for r in graph.records for name in r.values} & {name for r in records for name in r.values}
        mine = [dataclasses.replace(r, values={k: v for k, v in r.values.items() if k in shared}) for r in records]
        theirs = [dataclasses.replace(r, values={k: v for k, v in r.values.items() if k in shared})
                  for r in graph.records]
        compared = compare_values({"eager": theirs, "graph": mine}, rtol=tolerance[0], atol=tolerance[1])
        agrees = compared.first_divergent_step is None and len(records) == len(graph.records)
        divergent = compared.first_divergent_step
    functions = run.report.functions if run.report is not None else None
    retraces = None if functions is None else sum(len(f.get("retraces") or ()) + (f.get("recreated") or 0)
                                                  for f in functions)
    return Row(name=configuration.name, steps=len(records), median_step_s=median,
               first_step_s=records[0].time_s if records else None,
               speed_vs_eager=eager_median / median if eager_median and median else None, agrees=agrees,
               divergent_step=divergent, tolerance=tolerance, retraces=retraces, failure=run.failure)
