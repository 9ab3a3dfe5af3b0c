"""Every option of a run in one place, and the one function that settles how they combine.

Click checks each value alone (its types, ranges and paths, in cli.py). What the values mean together is
decided here, once, by `validate`: a combination that cannot work is refused with the line that says how
to fix it (exit 2, before TensorFlow loads or any file is touched), and one that eagerrun adjusts is
adjusted, with a warning to show. This module imports no engine module and no TensorFlow, so the rules are
plain data to test; `RunConfig.run_argv` turns a config back into the `eagerrun run` command line that
compare and launch start.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from eagerrun.errors import EXIT_USAGE, EagerrunError

Mode = Literal["eager", "graph"]
ModeSource = Literal["flag", "env", "default"]
MODES: tuple[Mode, ...] = ("eager", "graph")
DEFAULT_MODE: Mode = "graph"  # TensorFlow's own default: tf.function bodies run as graphs
MODE_ENV_VAR = "EAGERRUN_MODE"

StrategyName = Literal["default", "mirrored", "multiworker"]
STRATEGIES: tuple[StrategyName, ...] = ("default", "mirrored", "multiworker")
Precision = Literal["float32", "mixed_bfloat16", "mixed_float16"]
POLICIES: tuple[Precision, ...] = ("float32", "mixed_bfloat16", "mixed_float16")
OnNan = Literal["stop", "warn", "debug"]

# The run options only eagerrun's own loop reads (RunConfig.train's fields): given without --train, refused.
TRAIN_ONLY = ("epochs", "steps", "xla", "on_nan", "steps_per_execution", "checkpoint_dir", "checkpoint_every",
              "strategy", "cpu_replicas", "validate_every", "precision")


@dataclass(frozen=True)
class ModeChoice:
    """The mode in force and where it came from (a flag, EAGERRUN_MODE, or the default)."""

    mode: Mode
    source: ModeSource

    @property
    def eager(self) -> bool:
        return self.mode == "eager"


def resolve_mode(*, eager: bool, graph: bool, mode_option: str | None, option_source: ModeSource) -> ModeChoice:
    """Settle the mode from `--eager`, `--graph` and `--mode` (itself fed by EAGERRUN_MODE or its default).

    Flags beat the environment, which beats the default. Two flags that disagree are a usage error rather
    than a silent last-one-wins, because the user plainly meant one of them.
    """
    asked: set[str] = set()
    if eager:
        asked.add("eager")
    if graph:
        asked.add("graph")
    if mode_option is not None and option_source == "flag":
        asked.add(mode_option)
    if len(asked) > 1:
        raise EagerrunError("choose one mode: --eager and --graph (or --mode) disagree", exit_code=EXIT_USAGE)
    if asked:
        return ModeChoice(mode=asked.pop(), source="flag")  # type: ignore[arg-type]
    if mode_option is not None:
        return ModeChoice(mode=mode_option, source=option_source)  # type: ignore[arg-type]
    return ModeChoice(mode=DEFAULT_MODE, source="default")


@dataclass(frozen=True)
class Target:
    """What to run: a script path or a module name, and the arguments that belong to it."""

    script: Path | None = None
    module: str | None = None
    args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.script is None) == (self.module is None):
            raise ValueError("a Target is a script or a module, exactly one")

    @property
    def display(self) -> str:
        return f"-m {self.module}" if self.module else str(self.script)

    def argv(self) -> list[str]:
        """As it is written after eagerrun's options: `SCRIPT ARGS...` or `-m MODULE ARGS...`."""
        return [*(["-m", self.module] if self.module else [str(self.script)]), *self.args]


@dataclass(frozen=True)
class StrategyOptions:
    """`--strategy` and `--cpu-replicas`."""

    name: StrategyName = "default"
    cpu_replicas: int | None = None


@dataclass(frozen=True)
class TrainOptions:
    """What eagerrun's own loop (`--train`) reads."""

    epochs: int | None = None
    steps: int | None = None
    xla: bool = False
    steps_per_execution: int = 1
    on_nan: OnNan = "stop"  # debug: stop, with check numerics on from the start
    checkpoint_dir: Path | None = None
    checkpoint_every: int | None = None
    strategy: StrategyOptions = field(default_factory=StrategyOptions)
    validate_every: int | None = None  # besides each epoch's end
    precision: Precision = "float32"


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
    profile: tuple[int, int] | None = None  # --profile START:STOP, the steps a TensorBoard profile holds
    profile_dir: Path | None = None  # where it goes


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
    breakdown: bool = True  # each step's time in parts (input, tracing, the step's functions, Python between)
    explain_traces: bool = False  # the run report names the random ops traced and the side effects that ran
    dtype_policy: str | None = None  # compare --matrix's mixed run of a plain script: Keras' policy before import
    bisect_step: int | None = None  # compare --bisect: the run ends at that step, its layers compared
    bisect_tolerance: tuple[float, float] = (1e-4, 1e-6)  # (rtol, atol) of that comparison
    options_after_script: tuple[str, ...] = ()  # eagerrun's own options among the script's ARGS: named if it fails
    given: frozenset[str] = frozenset()  # the options the command line set, rather than left at their defaults

    def run_argv(self) -> list[str]:
        """`run [OPTIONS] SCRIPT [ARGS]...`: the command line that parses back into this config (what compare
        and launch start). A mode from EAGERRUN_MODE is left to the environment the process inherits."""
        argv = ["run"]
        if self.mode.source == "flag":
            argv += ["--mode", self.mode.mode]
        if self.train is not None:
            argv += ["--train", *train_argv(self.train)]
        argv += output_argv(self.output)
        argv += option("--seed", self.seed) + option("--max-retraces", self.max_retraces)
        argv += flag("--no-autolog", not self.autolog) + flag("--no-breakdown", not self.breakdown)
        argv += flag("--script-decides", self.script_decides)
        argv += flag("--check-numerics", self.check_numerics) + flag("--explain-traces", self.explain_traces)
        argv += option("--dtype-policy", self.dtype_policy)
        if self.bisect_step is not None:
            argv += ["--bisect-step", str(self.bisect_step), "--bisect-tolerance", *map(str, self.bisect_tolerance)]
        return argv + self.target.argv()


def train_argv(train: TrainOptions) -> list[str]:
    return [*option("--epochs", train.epochs), *option("--steps", train.steps), *flag("--xla", train.xla),
            *option("--steps-per-execution", train.steps_per_execution if train.steps_per_execution != 1 else None),
            *option("--on-nan", train.on_nan if train.on_nan != "stop" else None),
            *option("--checkpoint-dir", train.checkpoint_dir), *option("--checkpoint-every", train.checkpoint_every),
            *option("--strategy", train.strategy.name if train.strategy.name != "default" else None),
            *option("--cpu-replicas", train.strategy.cpu_replicas), *option("--validate-every", train.validate_every),
            *option("--precision", train.precision if train.precision != "float32" else None)]


def output_argv(output: OutputOptions) -> list[str]:
    return [*option("--metrics-out", output.metrics_out), *option("--tensorboard", output.tensorboard),
            *option("--log-every", output.log_every), *flag("--quiet", output.quiet),
            *flag("--verbose", output.verbose), *option("--run-report", output.run_report), *flag("--pdb", output.pdb),
            *option("--profile", None if output.profile is None else "%d:%d" % output.profile),
            *option("--profile-dir", output.profile_dir)]


def option(name: str, value: object) -> list[str]:
    return [] if value is None else [name, str(value)]


def flag(name: str, on: bool) -> list[str]:
    return [name] if on else []


@dataclass(frozen=True)
class CompareOptions:
    target: Target
    train: bool = False
    steps: int | None = None
    seed: int = 0
    rtol: float = 1e-4  # float32 graphs fuse and reorder ops (grappler): agreement is close, not bitwise
    atol: float = 1e-6
    xla: bool = False
    bisect: bool = True  # where the runs diverge, a third run names the first layer that parts
    matrix: bool = False  # eager, graph, graph+XLA, mixed precision side by side
    options_after_script: tuple[str, ...] = ()

    def run_config(self, mode: Mode, *, xla: bool, metrics_out: Path, run_report: Path,
                   bisect_step: int | None = None, precision: Precision = "float32",
                   explain: bool = True) -> RunConfig:
        """The quiet `eagerrun run` of one mode, its steps in `metrics_out` and how it went in `run_report`;
        with `bisect_step`, the graph run that compares the model's layers at that step and ends there."""
        return RunConfig(mode=ModeChoice(mode, "flag"), target=self.target, seed=self.seed,
                         explain_traces=explain and mode == "graph" and bisect_step is None, bisect_step=bisect_step,
                         bisect_tolerance=(self.rtol, self.atol),
                         output=OutputOptions(metrics_out=metrics_out, run_report=run_report, quiet=True),
                         train=TrainOptions(steps=self.steps, xla=xla, precision=precision) if self.train else None,
                         dtype_policy=None if self.train or precision == "float32" else precision)


@dataclass(frozen=True)
class Settled:
    """A validated config, and the warnings on what validation changed (shown once logging is set up)."""

    config: RunConfig
    warnings: tuple[str, ...] = ()


def validate(config: RunConfig, *, chief: Callable[[StrategyOptions], bool] = lambda strategy: True) -> Settled:
    """Every rule on how a run's options combine: refuse (EagerrunError, exit 2) or adjust (a warning).

    `chief` says whether this process is the one of a multi-worker run that prints and writes (distribute.
    is_chief; true for one process): the others run quiet, with no outputs of their own.
    """
    refuse_train_options_without_train(config.train, config.given)
    if config.train is not None:
        refuse_script_args_with_train(config.target.args, config.options_after_script)
    refuse_one_file_twice(config.target.script, config.output)
    warnings: list[str] = []
    train, check_numerics = config.train, config.check_numerics
    if train is not None:
        check_train(train, eager=config.mode.eager)
        check_numerics = check_numerics or train.on_nan == "debug"
        if check_numerics and train.xla:
            warnings.append("--check-numerics does not work under XLA (a compiled cluster has no per-op checks): "
                            "running without --xla")
            train = replace(train, xla=False)
    output = config.output
    if not chief(train.strategy if train is not None else StrategyOptions()):
        output = OutputOptions(quiet=True)  # the chief alone prints and writes
    return Settled(replace(config, train=train, check_numerics=check_numerics, output=output), tuple(warnings))


def refuse_one_file_twice(script: Path | None, output: OutputOptions) -> None:
    """Two outputs in one file, or an output over the script itself, would lose one of them."""
    seen: dict[Path, str] = {} if script is None else {script.resolve(): "SCRIPT"}
    for flag_name, path in (("--metrics-out", output.metrics_out), ("--run-report", output.run_report)):
        if path is None:
            continue
        if path.resolve() in seen:
            raise EagerrunError(f"{seen[path.resolve()]} and {flag_name} are one file, {path}: it would be written "
                                "over", exit_code=EXIT_USAGE)
        seen[path.resolve()] = flag_name


def refuse_train_options_without_train(train: TrainOptions | None, given: Collection[str]) -> None:
    if train is not None:
        return
    named = [name for name in TRAIN_ONLY if name in given]
    if named:
        raise EagerrunError(f"{as_flag(named[0])} drives eagerrun's own training loop: add --train",
                            exit_code=EXIT_USAGE)


def refuse_script_args_with_train(args: tuple[str, ...], options_after_script: tuple[str, ...]) -> None:
    """--train imports SCRIPT and calls its build(): nothing reads arguments after it, so none may be lost."""
    if not args:
        return
    given = " ".join(args)
    if options_after_script:
        raise EagerrunError(f"with --train, SCRIPT takes no arguments: put `{given}` before SCRIPT",
                            exit_code=EXIT_USAGE)
    raise EagerrunError(f"with --train, SCRIPT takes no arguments (its build() reads none): drop `{given}`",
                        exit_code=EXIT_USAGE)


def check_train(train: TrainOptions, *, eager: bool) -> None:
    """The trainer's options against each other and the mode (habit: impossible combinations fail early)."""
    if train.strategy.cpu_replicas is not None and train.strategy.name != "mirrored":
        raise EagerrunError("--cpu-replicas splits the CPU for --strategy mirrored: add --strategy mirrored",
                            exit_code=EXIT_USAGE)
    if eager and train.xla:
        raise EagerrunError("--xla compiles the step, which eager mode never does: drop --xla or use --graph",
                            exit_code=EXIT_USAGE)
    if train.xla and train.strategy.cpu_replicas is not None:
        raise EagerrunError("--xla with --cpu-replicas: XLA cannot run a replica whose variables live on another "
                            "logical CPU device; drop one of them", exit_code=EXIT_USAGE)
    if eager and train.steps_per_execution > 1:
        raise EagerrunError("--steps-per-execution runs several steps in one graph call: it needs --graph",
                            exit_code=EXIT_USAGE)


def validate_compare(options: CompareOptions) -> CompareOptions:
    if options.xla and not options.train:
        raise EagerrunError("--xla compiles eagerrun's own step: add --train", exit_code=EXIT_USAGE)
    if options.xla and options.matrix:
        raise EagerrunError("--matrix runs graph+XLA already: drop --xla", exit_code=EXIT_USAGE)
    if options.train:
        refuse_script_args_with_train(options.target.args, options.options_after_script)
    return options


def validate_launch(config: RunConfig, *, max_restarts: int) -> RunConfig:
    """The workers' command line, checked once in the launcher, so that a mistake is one error and not N."""
    if config.train is None:
        raise EagerrunError("launch starts workers of eagerrun's own trainer: add --train", exit_code=EXIT_USAGE)
    if config.train.strategy.name != "multiworker":
        raise EagerrunError(f"launch runs --strategy multiworker: drop --strategy {config.train.strategy.name}",
                            exit_code=EXIT_USAGE)
    if max_restarts and config.train.checkpoint_dir is None:
        raise EagerrunError("--max-restarts starts the workers again from their latest checkpoint: add "
                            "--checkpoint-dir DIR", exit_code=EXIT_USAGE)
    return validate(config).config


def as_flag(name: str) -> str:
    return "--" + name.replace("_", "-")
