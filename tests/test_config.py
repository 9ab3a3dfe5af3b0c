"""config.py: every rule on how options combine, in `validate`, and the command line a config turns back into.

No TensorFlow here: the rules are plain data, and the round trip goes through Click's own parser."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from eagerrun.cli import build_run_config, cli, run
from eagerrun.config import (
    CompareOptions,
    ModeChoice,
    OutputOptions,
    RunConfig,
    StrategyOptions,
    Target,
    TrainOptions,
    validate,
    validate_compare,
    validate_launch,
)
from eagerrun.errors import EXIT_USAGE, EagerrunError
from tests.conftest import run_python


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "train.py"
    path.write_text("print('hi')\n")
    return path


def parsed(*args: str) -> RunConfig:
    """`eagerrun run ARGS` as the CLI builds it, before validation."""
    with cli.make_context("eagerrun", ["run"], resilient_parsing=True) as group:
        with run.make_context("run", list(args), parent=group) as ctx:
            return build_run_config(ctx, **ctx.params)


def comparable(config: RunConfig) -> RunConfig:
    """What the command line means, less how it was written (which options were typed)."""
    return replace(config, given=frozenset(), options_after_script=())


@pytest.mark.parametrize("args", [
    ["--eager"],
    ["--graph", "--seed", "3", "--metrics-out", "m.jsonl", "--run-report", "r.json", "--quiet", "--no-autolog"],
    ["--graph", "--train", "--epochs", "2", "--steps", "9", "--xla", "--steps-per-execution", "3", "--on-nan", "warn",
     "--checkpoint-dir", "ck", "--checkpoint-every", "4", "--validate-every", "2", "--precision", "mixed_bfloat16",
     "--tensorboard", "tb", "--log-every", "5", "--verbose"],
    ["--train", "--strategy", "mirrored", "--cpu-replicas", "2", "--check-numerics", "--max-retraces", "0"],
    ["--eager", "--script-decides", "--pdb", "--max-retraces", "2"],
], ids=["mode", "outputs", "trainer", "strategy", "debugging"])
def test_run_argv_parses_back_into_the_same_config(args: list[str], script: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """compare and launch start `eagerrun run` from a config: what they start means what the user asked."""
    monkeypatch.chdir(tmp_path)
    config = parsed(*args, str(script), *([] if "--train" in args else ["--lr", "0.1", "x"]))
    argv = config.run_argv()
    assert argv[0] == "run"
    assert comparable(parsed(*argv[1:])) == comparable(config)


def test_run_argv_of_a_module_keeps_its_arguments_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    config = parsed("--graph", "-m", "mypkg", "--graph", "a")
    assert config.run_argv()[-4:] == ["-m", "mypkg", "--graph", "a"]
    assert comparable(parsed(*config.run_argv()[1:])) == comparable(config)


def test_a_mode_from_the_environment_is_left_to_the_environment(script: Path) -> None:
    """The worker or child inherits EAGERRUN_MODE, so its closing line still says where the mode came from."""
    config = RunConfig(mode=ModeChoice("eager", "env"), target=Target(script=script))
    assert "--mode" not in config.run_argv() and "--eager" not in config.run_argv()


def run_config(script: Path, **fields: object) -> RunConfig:
    return RunConfig(**{"mode": ModeChoice("graph", "flag"), "target": Target(script=script), **fields})  # type: ignore[arg-type]


REFUSED = [
    (dict(given=frozenset({"epochs"})), "--epochs drives eagerrun's own training loop: add --train"),
    (dict(given=frozenset({"steps_per_execution", "xla"})), "--xla drives eagerrun's own training loop"),
    (dict(train=TrainOptions(strategy=StrategyOptions("default", 2))),
     "--cpu-replicas splits the CPU for --strategy mirrored: add --strategy mirrored"),
    (dict(mode=ModeChoice("eager", "flag"), train=TrainOptions(xla=True)), "--xla compiles the step, which eager"),
    (dict(train=TrainOptions(xla=True, strategy=StrategyOptions("mirrored", 2))), "--xla with --cpu-replicas"),
    (dict(mode=ModeChoice("eager", "flag"), train=TrainOptions(steps_per_execution=2)),
     "--steps-per-execution runs several steps in one graph call: it needs --graph"),
]


@pytest.mark.parametrize("fields, message", REFUSED, ids=[
    "train-option-without-train", "first-train-option-named", "cpu-replicas-without-mirrored", "eager-xla",
    "xla-cpu-replicas", "eager-steps-per-execution"])
def test_a_combination_that_cannot_work_is_refused_with_its_fix(script: Path, fields: dict, message: str) -> None:
    with pytest.raises(EagerrunError) as refused:
        validate(run_config(script, **fields))
    assert message in refused.value.message
    assert refused.value.exit_code == EXIT_USAGE


def test_script_arguments_with_train_are_refused_with_where_they_belong(script: Path) -> None:
    with pytest.raises(EagerrunError, match=r"put `--seed 3` before SCRIPT"):
        validate(run_config(script, train=TrainOptions(), target=Target(script=script, args=("--seed", "3")),
                            options_after_script=("--seed",)))
    with pytest.raises(EagerrunError, match=r"its build\(\) reads none\): drop `a b`"):
        validate(run_config(script, train=TrainOptions(), target=Target(script=script, args=("a", "b"))))


def test_an_output_over_the_script_or_another_output_is_refused(script: Path, tmp_path: Path) -> None:
    with pytest.raises(EagerrunError, match="SCRIPT and --metrics-out are one file"):
        validate(run_config(script, output=OutputOptions(metrics_out=script)))
    same = tmp_path / "out.json"
    with pytest.raises(EagerrunError, match="--metrics-out and --run-report are one file"):
        validate(run_config(script, output=OutputOptions(metrics_out=same, run_report=same)))


def test_on_nan_debug_is_check_numerics_and_check_numerics_drops_xla_with_a_warning(script: Path) -> None:
    settled = validate(run_config(script, train=TrainOptions(on_nan="debug", xla=True)))
    assert settled.config.check_numerics is True
    assert settled.config.train is not None and settled.config.train.xla is False
    assert settled.warnings == ("--check-numerics does not work under XLA (a compiled cluster has no per-op "
                                "checks): running without --xla",)
    assert validate(run_config(script, train=TrainOptions())).warnings == ()


def test_a_process_that_is_not_the_chief_runs_quiet_and_writes_nothing(script: Path) -> None:
    asked: list[StrategyOptions] = []

    def not_chief(strategy: StrategyOptions) -> bool:
        asked.append(strategy)
        return False

    multiworker = TrainOptions(strategy=StrategyOptions("multiworker"))
    settled = validate(run_config(script, train=multiworker, output=OutputOptions(metrics_out=script.with_suffix(
        ".jsonl"))), chief=not_chief)
    assert settled.config.output == OutputOptions(quiet=True)
    assert asked == [StrategyOptions("multiworker")]


def test_compare_and_launch_rules(script: Path) -> None:
    with pytest.raises(EagerrunError, match="--xla compiles eagerrun's own step: add --train"):
        validate_compare(CompareOptions(target=Target(script=script), xla=True))
    with pytest.raises(EagerrunError, match="launch starts workers of eagerrun's own trainer: add --train"):
        validate_launch(run_config(script), max_restarts=0)
    with pytest.raises(EagerrunError, match="launch runs --strategy multiworker: drop --strategy mirrored"):
        validate_launch(run_config(script, train=TrainOptions(strategy=StrategyOptions("mirrored"))), max_restarts=0)
    with pytest.raises(EagerrunError, match="--max-restarts starts the workers again"):
        validate_launch(run_config(script, train=TrainOptions(strategy=StrategyOptions("multiworker"))),
                        max_restarts=2)


def test_compare_starts_each_mode_quiet_with_its_seed_files_and_the_steps_to_compare(script: Path,
                                                                                    tmp_path: Path) -> None:
    options = CompareOptions(target=Target(script=script), train=True, steps=4, seed=7)
    argv = options.run_config("eager", xla=False, metrics_out=tmp_path / "m.jsonl",
                              run_report=tmp_path / "r.json").run_argv()
    assert argv == ["run", "--mode", "eager", "--train", "--steps", "4", "--metrics-out", str(tmp_path / "m.jsonl"),
                    "--quiet", "--run-report", str(tmp_path / "r.json"), "--seed", "7", str(script)]


def test_config_imports_neither_tensorflow_nor_the_engine() -> None:
    """The settled options sit under the engine, not above it: importing them loads only errors.py (and the
    package, whose two public names load when first used)."""
    result = run_python("""
        import json, sys
        import eagerrun.config
        print(json.dumps(sorted(name for name in sys.modules if name.startswith(("eagerrun", "tensorflow", "keras")))))
    """)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["eagerrun", "eagerrun.config", "eagerrun.errors"]
