"""The frozen options of one run, built once by the CLI and read by everything after it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eagerrun.loader import Target
from eagerrun.modes import ModeChoice
from eagerrun.trainer import TrainOptions


@dataclass(frozen=True)
class OutputOptions:
    """Where steps go besides the table: a metrics file, TensorBoard; and how much the table shows."""

    metrics_out: Path | None = None
    tensorboard: Path | None = None
    log_every: int | None = None
    quiet: bool = False
    verbose: bool = False  # show TensorFlow's own start-up log lines
    run_report: Path | None = None  # one JSON object on how the run went (compare reads it)
    pdb: bool = False  # post-mortem debugger on the script's exception; the chief's alone, like the table


@dataclass(frozen=True)
class RunConfig:
    """One `eagerrun run`: the mode, what to run, and how eagerrun itself behaves around it.

    `train` set means eagerrun's own loop drives the script's spec (`--train`); otherwise the script runs
    as `__main__` and its steps are found by log_step and, with `autolog`, fit and plain-loop hooks.
    """

    mode: ModeChoice
    target: Target
    output: OutputOptions = OutputOptions()
    train: TrainOptions | None = None
    seed: int | None = None
    autolog: bool = True
    script_decides: bool = False
    max_retraces: int | None = None  # stop (exit 4) when a tf.function retraces more often
    check_numerics: bool = False  # stop (exit 3) at the first op that makes an Inf or NaN, and name it
    options_after_script: tuple[str, ...] = ()  # eagerrun's own options among the script's ARGS: named if it fails
