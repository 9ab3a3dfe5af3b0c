"""The command line: parse, validate with Click's own types, build a frozen config, call one function.

Importing this module must not import TensorFlow: `eagerrun --help` answers in a fraction of a second.
"""

from __future__ import annotations

import atexit
import difflib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from eagerrun import __version__, interrupts
from eagerrun.cluster import distribute
from eagerrun.config import POLICIES, STRATEGIES, ModeSource
from eagerrun.errors import EXIT_SIGINT, EagerrunError
from eagerrun.paths import OutputPath, ScriptPath

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
# Everything after SCRIPT (or -m MODULE) belongs to the script, even `--help` and look-alikes of our options.
SCRIPT_CONTEXT = {**CONTEXT, "allow_interspersed_args": False}


class EagerrunGroup(click.Group):
    """A group whose default command is `run`, and whose errors are one line each.

    `eagerrun --eager train.py` means `eagerrun run --eager train.py`: anything that is not a subcommand
    (or the group's own --help/--version) is handed to `run`.
    """

    default_command = "run"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help", "-V", "--version"):
            self.refuse_likely_typo(ctx, args[0])
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)

    def refuse_likely_typo(self, ctx: click.Context, word: str) -> None:
        """`eagerrun chek`: a word that is neither a file nor a command, but close to a command, is a typo
        of that command, not a script that went missing."""
        if word.startswith("-") or "." in word or os.sep in word or os.path.lexists(word):
            return
        close = difflib.get_close_matches(word, list(self.commands), n=1)
        if close:
            raise click.UsageError(f"no command or file named {word!r}: did you mean `{close[0]}`?", ctx=ctx)

    def main(self, args: Any = None, prog_name: str | None = None, **extra: Any) -> Any:  # type: ignore[override]
        """Turn every error into one line and a documented exit code (README: Exit codes)."""
        from eagerrun import report

        extra.pop("standalone_mode", None)
        try:
            code = super().main(args, prog_name or "eagerrun", standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:  # bare `eagerrun`: the help, as Click shows it
            exc.show()
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            report.error(exc.format_message())
            sys.exit(exc.exit_code)
        except click.Abort:
            sys.exit(EXIT_SIGINT)
        except EagerrunError as exc:
            report.error(exc.message)
            sys.exit(exc.exit_code)
        sys.exit(code if isinstance(code, int) else 0)


def mode_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--eager / --graph / --mode, shared by every command that applies a mode."""
    options = [
        click.option("--eager", is_flag=True, help="Run tf.function bodies and tf.data functions op by op."),
        click.option("--graph", is_flag=True, help="Run tf.function bodies as traced graphs (the default)."),
        click.option(
            "--mode",
            "mode_option",
            type=click.Choice(["eager", "graph"]),
            envvar="EAGERRUN_MODE",
            show_envvar=True,
            help="The mode by name. Precedence: flag, then EAGERRUN_MODE, then graph.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def resolve_mode_from_context(ctx: click.Context, *, eager: bool, graph: bool, mode_option: str | None) -> Any:
    from eagerrun.config import resolve_mode

    source = ctx.get_parameter_source("mode_option")
    option_source: ModeSource = {  # type: ignore[assignment]
        click.core.ParameterSource.COMMANDLINE: "flag",
        click.core.ParameterSource.ENVIRONMENT: "env",
    }.get(source, "default")  # type: ignore[arg-type]
    return resolve_mode(eager=eager, graph=graph, mode_option=mode_option, option_source=option_source)


SCRIPT_PATH = ScriptPath()


def target_param(ctx: click.Context) -> click.Parameter:
    return next(param for param in ctx.command.params if param.name == "target")


@click.group(cls=EagerrunGroup, context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="eagerrun")
def cli() -> None:
    """Run a TensorFlow script eagerly (debuggable) or as graphs (fast), chosen by a flag.

    \b
    Examples:
      eagerrun --eager train.py --lr 0.1
          python train.py --lr 0.1, every tf.function run op by op
      eagerrun --graph -m mypkg.train a b
          python -m mypkg.train a b, tf.function bodies as graphs
      eagerrun --train --epochs 3 --metrics-out m.jsonl spec.py
          train spec.py's build() with eagerrun's own loop
      eagerrun check --eager
          prove which mode is in force

    `run` is the default command: eagerrun [RUN OPTIONS] SCRIPT [ARGS]... Its options (--train, --epochs,
    --seed, --metrics-out, --run-report, --tensorboard, --checkpoint-dir, ...) come before SCRIPT; all of
    them, with what each does:

    \b
      eagerrun run --help
    """


def run_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Everything `run` takes besides the mode; `compare` reuses the trainer and seed options."""
    positive = click.IntRange(min=1)
    options = [
        click.option("-m", "--module", "as_module", is_flag=True,
                     help="SCRIPT is a module name, run as `python -m MODULE` does."),
        click.option("--train", is_flag=True,
                     help="Import SCRIPT and drive its build() spec with eagerrun's own training loop."),
        click.option("--epochs", type=positive, metavar="N", help="[--train] Epochs over the dataset (default: 1)."),
        click.option("--steps", type=positive, metavar="N", help="[--train] Stop after N steps in all."),
        click.option("--seed", type=click.IntRange(min=0), metavar="N",
                     help="keras.utils.set_random_seed(N) before the script builds anything."),
        click.option("--xla", is_flag=True, help="[--train] jit-compile the step with XLA (graph mode)."),
        click.option("--steps-per-execution", type=positive, metavar="K", default=1, show_default=True,
                     help="[--train] Run K steps inside one tf.function call (graph mode)."),
        click.option("--on-nan", type=click.Choice(["stop", "warn", "debug"]), default="stop", show_default=True,
                     help="[--train] On a non-finite loss: stop (exit 3), warn and go on, or debug: check "
                     "numerics from the start and name the op that made it (as --check-numerics)."),
        click.option("--strategy", type=click.Choice(STRATEGIES), default="default",
                     show_default=True, help="[--train] tf.distribute strategy: one device, MirroredStrategy over "
                     "this machine's GPUs, or MultiWorkerMirroredStrategy configured by TF_CONFIG (or SLURM)."),
        click.option("--cpu-replicas", type=positive, metavar="N",
                     help="[--train] With --strategy mirrored: split the CPU into N logical devices."),
        click.option("--precision", type=click.Choice(POLICIES),
                     default="float32", show_default=True,
                     help="[--train] Keras' dtype policy, set before build(); mixed_float16 adds loss scaling."),
        click.option("--validate-every", type=positive, metavar="N",
                     help="[--train] Also evaluate build()'s validation data every N steps (always at each epoch's "
                     "end): val_loss and val_<metric> on that step."),
        click.option("--checkpoint-dir", type=OutputPath(folder=True), metavar="DIR",
                     help="[--train] Save checkpoints under DIR and resume from the latest one there."),
        click.option("--checkpoint-every", type=positive, metavar="N",
                     help="[--train] Save a checkpoint every N steps (always at the end and on interrupt)."),
        click.option("--metrics-out", type=OutputPath(folder=False), metavar="PATH",
                     help="Write every step as it finishes: JSON lines, or CSV when PATH ends in .csv."),
        click.option("--tensorboard", type=OutputPath(folder=True), metavar="DIR",
                     help="Write loss and step time as tf.summary scalars under DIR."),
        click.option("--log-every", type=positive, metavar="N",
                     help="Show every Nth step in the table (chosen automatically otherwise)."),
        click.option("--check-numerics", is_flag=True,
                     help="Stop (exit 3) at the first op that makes an Inf or NaN, forward or backward, and name "
                     "it: op, layer, your source line, step, bad data or bad math."),
        click.option("--max-retraces", type=click.IntRange(min=0), metavar="N",
                     help="Stop (exit 4) with the retrace report when a tf.function traces more than N+1 times."),
        click.option("--no-autolog", is_flag=True,
                     help="Do not hook Keras fit or plain custom loops; only eagerrun.log_step() records."),
        click.option("--no-breakdown", is_flag=True,
                     help="Do not time where each step goes (input, tracing, the step's functions, Python "
                     "between); on by default."),
        click.option("--script-decides", is_flag=True,
                     help="Let the script's own tf.config.run_functions_eagerly() calls win over the flag."),
        click.option("--run-report", type=OutputPath(folder=False), metavar="PATH",
                     help="Write how the run went as one JSON object: exit code, error, steps, phases and "
                     "every tf.function with its trace count."),
        click.option("-q", "--quiet", is_flag=True,
                     help="Print nothing of eagerrun's own but warnings and errors."),
        click.option("-v", "--verbose", is_flag=True,
                     help="Also show TensorFlow's own start-up log lines (hidden by default)."),
        click.option("--pdb", is_flag=True,
                     help="When the script raises, open Python's post-mortem debugger in its innermost frame "
                     "(needs a terminal)."),
        click.option("--profile", type=StepRange(), metavar="START:STOP",
                     help="Write a TensorBoard profile of steps START to STOP, a step marker for each, and show "
                     "its top ops."),
        click.option("--profile-dir", type=OutputPath(folder=True), metavar="DIR",
                     help="Where --profile writes (default: eagerrun-profile)."),
        # compare's graph run: the run report also names the random ops traced and the side effects that ran
        click.option("--explain-traces", is_flag=True, hidden=True),
        # compare --bisect's run: at step N, compare the model's layers eager against graph, then end
        click.option("--bisect-step", type=positive, hidden=True),
        click.option("--bisect-tolerance", type=(float, float), default=(1e-4, 1e-6), hidden=True),
        # compare --matrix's mixed-precision run of a plain script: Keras' policy before the import
        click.option("--dtype-policy", type=click.Choice(POLICIES), hidden=True),
    ]
    for option in reversed(options):
        command = option(command)
    return command


class StepRange(click.ParamType):
    """`START:STOP`, 1 <= START <= STOP: the steps `--profile` captures (`10:15`; `7` is 7:7)."""

    name = "START:STOP"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        start, _, stop = str(value).partition(":")
        try:
            first, last = int(start), int(stop or start)
        except ValueError:
            self.fail(f"{value!r} is not START:STOP, two step numbers such as 10:15", param, ctx)
        if not 1 <= first <= last:
            self.fail(f"{value!r}: steps count from 1 and START comes before STOP, such as 10:15", param, ctx)
        return first, last


def own_options_among(ctx: click.Context, args: tuple[str, ...]) -> tuple[str, ...]:
    """The arguments after SCRIPT that are also this command's own long options (`--seed`, `--eager=1`):
    they went to the script, which is right, and a likely reason when the script then fails."""
    ours = {name for param in ctx.command.params if isinstance(param, click.Option)
            for name in (*param.opts, *param.secondary_opts) if name.startswith("--")} - {"--help"}
    return tuple(dict.fromkeys(arg.partition("=")[0] for arg in args if arg.partition("=")[0] in ours))


def build_run_config(ctx: click.Context, *, target: str, args: tuple[str, ...], **options: Any) -> Any:
    """The RunConfig the parsed options make, as given: `config.validate` settles how they combine."""
    from eagerrun.config import OutputOptions, RunConfig, StrategyOptions, TrainOptions

    train = TrainOptions(epochs=options["epochs"], steps=options["steps"], xla=options["xla"],
                         steps_per_execution=options["steps_per_execution"], on_nan=options["on_nan"],
                         checkpoint_dir=options["checkpoint_dir"], checkpoint_every=options["checkpoint_every"],
                         strategy=StrategyOptions(options["strategy"], options["cpu_replicas"]),
                         validate_every=options["validate_every"], precision=options["precision"])
    output = OutputOptions(metrics_out=options["metrics_out"], tensorboard=options["tensorboard"],
                           log_every=options["log_every"], quiet=options["quiet"], verbose=options["verbose"],
                           run_report=options["run_report"], pdb=options["pdb"], profile=options["profile"],
                           profile_dir=options["profile_dir"] or (Path("eagerrun-profile").resolve()
                                                                  if options["profile"] else None))
    return RunConfig(mode=resolve_mode_from_context(ctx, eager=options["eager"], graph=options["graph"],
                                                    mode_option=options["mode_option"]),
                     target=target_of(ctx, target, args, as_module=options["as_module"]), output=output,
                     train=train if options["train"] else None, seed=options["seed"],
                     autolog=not options["no_autolog"], breakdown=not options["no_breakdown"],
                     max_retraces=options["max_retraces"],
                     check_numerics=options["check_numerics"], script_decides=options["script_decides"],
                     explain_traces=options["explain_traces"], bisect_step=options["bisect_step"],
                     dtype_policy=options["dtype_policy"],
                     bisect_tolerance=options["bisect_tolerance"], options_after_script=own_options_among(ctx, args),
                     given=given_on_command_line(ctx))


def target_of(ctx: click.Context, target: str, args: tuple[str, ...], *, as_module: bool) -> Any:
    """SCRIPT (an existing Python source file, resolved once, here) or -m MODULE (one that exists)."""
    from eagerrun.config import Target
    from eagerrun.loader import check_module_exists

    if as_module:
        check_module_exists(target)
        return Target(module=target, args=args)
    return Target(script=SCRIPT_PATH.convert(target, target_param(ctx), ctx), args=args)


def given_on_command_line(ctx: click.Context) -> frozenset[str]:
    return frozenset(name for name in ctx.params
                     if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE)


@cli.command(context_settings=SCRIPT_CONTEXT)
@mode_options
@run_options
@click.argument("target", metavar="SCRIPT")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run(ctx: click.Context, **options: Any) -> int:
    """Run SCRIPT (or -m MODULE) with ARGS, as python would, in the chosen mode, and show its steps.

    eagerrun's options come before SCRIPT; everything after it is passed to the script untouched.
    With --train, SCRIPT's build() (or module-level model, optimizer, loss, dataset) is trained by
    eagerrun's own loop instead.
    """
    from eagerrun import session
    from eagerrun.config import validate

    return session.run(validate(build_run_config(ctx, **options), chief=distribute.is_chief))


@cli.command(context_settings=SCRIPT_CONTEXT)
@click.option("-m", "--module", "as_module", is_flag=True, help="SCRIPT is a module name, as with python -m.")
@click.option("--train", is_flag=True, help="Compare eagerrun's own trainer on SCRIPT's build() spec.")
@click.option("--steps", type=click.IntRange(min=1), metavar="N", help="Compare the first N steps.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
              help="The seed both runs get (keras.utils.set_random_seed).")
@click.option("--rtol", type=click.FloatRange(min=0), default=1e-4, show_default=True,
              help="Relative tolerance on each step's loss.")
@click.option("--atol", type=click.FloatRange(min=0), default=1e-6, show_default=True,
              help="Absolute tolerance on each step's loss.")
@click.option("--xla", is_flag=True, help="[--train] Add graph+XLA as a third run.")
@click.option("--matrix", is_flag=True,
              help="Eager, graph, graph+XLA and mixed precision side by side: step times, first step, agreement "
              "with graph, retraces.")
@click.option("--bisect/--no-bisect", default=True, show_default=True,
              help="Where the runs diverge, run the script once more up to that step and name the first layer "
              "whose output (or gradient) differs between eager and graph on that step's weights and batch.")
@click.option("--log-every", type=click.IntRange(min=1), metavar="N", help="Show every Nth step.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
@click.argument("target", metavar="SCRIPT")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def compare(ctx: click.Context, *, as_module: bool, train: bool, steps: int | None, seed: int, rtol: float,
            atol: float, xla: bool, matrix: bool, bisect: bool, log_every: int | None, as_json: bool, target: str,
            args: tuple[str, ...]) -> int:
    """Run SCRIPT eagerly and as graphs, each in a fresh process with one seed, and compare every step.

    Exits 0 when the losses agree within --rtol/--atol, 1 when they diverge.
    """
    from eagerrun import report
    from eagerrun.config import CompareOptions, validate_compare
    from eagerrun.diagnostics.compare import compare as run_comparison

    options = validate_compare(CompareOptions(
        target=target_of(ctx, target, args, as_module=as_module), train=train, steps=steps, seed=seed, rtol=rtol,
        atol=atol, xla=xla, bisect=bisect, matrix=matrix, options_after_script=own_options_among(ctx, args)))
    if options.matrix:
        from eagerrun.diagnostics.matrix import run_matrix

        table = run_matrix(options)
        report.show(report.matrix(table, as_json=as_json), console=report.stdout)
        return 0 if table.all_agree else 1
    result = run_comparison(options)
    report.show(report.comparison(result, log_every=log_every, as_json=as_json), console=report.stdout)
    return 0 if result.match else 1


@cli.command(context_settings={**SCRIPT_CONTEXT, "ignore_unknown_options": True})
@click.option("--workers", type=click.IntRange(min=1), required=True, metavar="N",
              help="How many local worker processes to start.")
@click.option("--max-restarts", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
              help="When a worker fails, stop all and start all again from the latest checkpoint, up to N times "
              "(needs --checkpoint-dir among the run options).")
@click.argument("run_args", nargs=-1, type=click.UNPROCESSED, metavar="[RUN OPTIONS] SCRIPT [ARGS]...")
@click.pass_context
def launch(ctx: click.Context, *, workers: int, max_restarts: int, run_args: tuple[str, ...]) -> int:
    """Train SCRIPT as N local workers of one MultiWorkerMirroredStrategy run, on loopback ports.

    Each worker runs `eagerrun run --strategy multiworker [RUN OPTIONS] SCRIPT [ARGS]` with its own
    TF_CONFIG, as each machine of a cluster would. The chief's output streams through; when any worker
    fails, the others are stopped and the launch exits with that worker's error and exit code, or, with
    --max-restarts, every worker is started again and resumes from the latest checkpoint.
    """
    from eagerrun.cluster.launch import launch as launch_workers
    from eagerrun.config import validate_launch

    config = validate_launch(workers_config(ctx, run_args), max_restarts=max_restarts)
    return launch_workers(workers, config, max_restarts=max_restarts)


def workers_config(ctx: click.Context, run_args: tuple[str, ...]) -> Any:
    """The workers' RunConfig, parsed here, once, so that a mistake is one error and not N."""
    assert ctx.parent is not None
    with run.make_context("eagerrun launch", ["--strategy", "multiworker", *run_args], parent=ctx.parent) as run_ctx:
        return build_run_config(run_ctx, **run_ctx.params)


@cli.command(context_settings=CONTEXT)
@mode_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.pass_context
def check(ctx: click.Context, *, eager: bool, graph: bool, mode_option: str | None, as_json: bool) -> int:
    """Prove which mode is in force by running a probe tf.function and a tf.data map.

    Exits 1 when the probe disagrees with the requested mode.
    """
    from eagerrun import session

    mode = resolve_mode_from_context(ctx, eager=eager, graph=graph, mode_option=mode_option)
    return session.check(mode, as_json=as_json)


@cli.command(context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the text block.")
def env(*, as_json: bool) -> int:
    """Print what a bug report needs: versions, platform, CPUs, RAM, GPUs, the mode and the TF_*,
    EAGERRUN_*, XLA_FLAGS and CUDA_VISIBLE_DEVICES variables set. Switches no mode and runs nothing.
    """
    from eagerrun import report
    from eagerrun.diagnostics.environment import gather_environment

    report.show(report.environment(gather_environment(), as_json=as_json), console=report.stdout)
    return 0


def main() -> None:
    interrupts.exit_on_signals()  # first of all: a signal while TensorFlow loads is 130/143 too
    try:
        cli.main(prog_name="eagerrun")
    except SystemExit as exc:
        if "tensorflow" in sys.modules and distribute.in_cluster():  # perhaps a multi-worker worker
            exit_without_teardown(exc.code)
        raise


def exit_without_teardown(code: object) -> NoReturn:
    """Exit as Python does (atexit functions run, output flushed), minus its final garbage collection.

    In a multi-worker run that collection destroys TensorFlow's distributed dataset iterators, whose
    destructors wait on tf.data threads: measured 12 s after a normal 500-step run, and 5 to 406 s once a
    peer worker is gone. By then eagerrun has shown everything and closed its files and checkpoints.
    """
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)  # what Python does with sys.exit("message")
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)
