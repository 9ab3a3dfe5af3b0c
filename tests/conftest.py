"""Shared helpers: run the installed `eagerrun` entry point in a subprocess, the only honest way to test
anything that switches TensorFlow's process-global mode; or, for graph-mode runs, in this process through
Click's runner (graph is TensorFlow's default, so nothing process-global changes, and each run saves a
TensorFlow import of about five seconds)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_scripts"


def eagerrun_command() -> list[str]:
    """The console script installed beside this Python, else `python -m eagerrun`."""
    script = Path(sys.executable).parent / "eagerrun"
    if script.exists():
        return [str(script)]
    found = shutil.which("eagerrun")
    return [found] if found else [sys.executable, "-m", "eagerrun"]


def run_eagerrun(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
                 timeout: float = 180, fresh: bool = False) -> subprocess.CompletedProcess[str]:
    """`eagerrun ARGS` in a new process, answered as `subprocess.run(..., capture_output=True, text=True)`.

    The process is forked from one that has imported TensorFlow (tests/preloaded.py says what that can and
    cannot show); `fresh` starts `eagerrun` from scratch, for what happens while TensorFlow loads."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("EAGERRUN_")}
    environment.update(env or {})
    command = [*eagerrun_command(), *args]
    if fresh:
        return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout)
    return run_eagerrun_process(command, cwd=cwd or Path.cwd(), env=environment, timeout=timeout)


def run_eagerrun_process(command: list[str], *, cwd: Path, env: dict[str, str],
                         timeout: float) -> subprocess.CompletedProcess[str]:
    """`subprocess.run(command, capture_output=True, text=True)` for a whole `eagerrun ...` command line and
    environment, forked as `run_eagerrun` forks (started fresh where the environment asks for it)."""
    if starts_fresh(env):
        return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return run_forked(command, cwd=cwd, env=env, timeout=timeout)


def starts_fresh(env: dict[str, str]) -> bool:
    """Whether a run in `env` must start from scratch: EAGERRUN_TESTS_FRESH=1 here, or `env` sets a variable
    TensorFlow or Keras read at import otherwise than the preloaded process had it."""
    from tests.preloaded import IMPORT_TIME_VARIABLES, PRELOAD_ENVIRONMENT

    return os.environ.get("EAGERRUN_TESTS_FRESH") == "1" or any(
        name.startswith(IMPORT_TIME_VARIABLES) and PRELOAD_ENVIRONMENT.get(name) != value
        for name, value in env.items())


_fork_context: Any = None


def forkserver() -> Any:
    """This process' forkserver, started once with TensorFlow and Keras imported."""
    global _fork_context
    if _fork_context is None:
        import multiprocessing
        import multiprocessing.forkserver

        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["tests.preloaded"])
        from tests.preloaded import PRELOAD_ENVIRONMENT

        added = {"EAGERRUN_TESTS_PRELOAD": "1",  # read by tests.preloaded in the server alone
                 **{name: value for name, value in PRELOAD_ENVIRONMENT.items() if name not in os.environ}}
        os.environ.update(added)
        try:
            multiprocessing.forkserver.ensure_running()
        finally:
            for name in added:
                del os.environ[name]
        _fork_context = context
    return _fork_context


def fresh_sys_path() -> list[str]:
    """sys.path of a newly started `eagerrun` console script: its folder, then the interpreter's own."""
    global _fresh_sys_path
    if _fresh_sys_path is None:
        found = subprocess.run([sys.executable, "-I", "-c", "import sys, json; print(json.dumps(sys.path[1:]))"],
                               capture_output=True, text=True, check=True)
        _fresh_sys_path = [str(Path(eagerrun_command()[0]).parent), *json.loads(found.stdout)]
    return _fresh_sys_path


_fresh_sys_path: list[str] | None = None


def run_forked(command: list[str], *, cwd: Path, env: dict[str, str],
               timeout: float) -> subprocess.CompletedProcess[str]:
    run = ForkedRun(command, cwd=cwd, env=env)
    try:
        stdout, stderr = run.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        run.kill()
        raise
    return subprocess.CompletedProcess(command, run.returncode, stdout, stderr)


def start_eagerrun(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
                   fresh: bool = False) -> Any:
    """`eagerrun ARGS` in the background, with this process' environment and `env`: a `subprocess.Popen`
    with its output in pipes when `fresh`, else a forked run answering the same calls."""
    environment = {**os.environ, **(env or {})}
    command = [*eagerrun_command(), *args]
    if fresh or starts_fresh(environment):
        return subprocess.Popen(command, env=environment, cwd=cwd, text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    return ForkedRun(command, cwd=cwd or Path.cwd(), env=environment)


class ForkedRun:
    """One `eagerrun` run forked from the preloaded process (tests/preloaded.py), answered as the part of
    `subprocess.Popen` the tests use: pid, poll, send_signal, kill, wait, communicate, returncode."""

    def __init__(self, command: list[str], *, cwd: Path, env: dict[str, str]) -> None:
        from tests.preloaded import run_cli

        self.args = command
        self._folder = tempfile.TemporaryDirectory(prefix="eagerrun-run-")
        self._out, self._err = Path(self._folder.name, "stdout"), Path(self._folder.name, "stderr")
        self._out.touch()
        self._err.touch()
        launcher = eagerrun_command()
        argv = [launcher[0] if len(launcher) == 1 else str(ROOT / "eagerrun" / "__main__.py"),
                *command[len(launcher):]]
        self._child = forkserver().Process(target=run_cli, args=(argv, str(cwd), env, str(self._out),
                                                                  str(self._err), fresh_sys_path()))
        self._child.start()
        self.pid = self._child.pid

    @property
    def returncode(self) -> int | None:
        return self._child.exitcode

    def poll(self) -> int | None:
        return self._child.exitcode

    def send_signal(self, signum: int) -> None:
        if self._child.exitcode is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self._child.kill()

    def wait(self, timeout: float | None = None) -> int:
        self._child.join(timeout)
        if self._child.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0, self._out.read_text(), self._err.read_text())
        return self._child.exitcode

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """Wait for the end, then (stdout, stderr); the files stay readable until the next call."""
        self.wait(timeout)
        return self._out.read_text(errors="replace"), self._err.read_text(errors="replace")


def run_in_process(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`eagerrun --graph ...` through Click's runner, answered like `run_eagerrun`. Only for graph-mode runs
    of code that never switches the mode itself: `guard_graph_mode` fails any test that leaves it eager."""
    from eagerrun.cli import cli

    environment = {k: None for k in os.environ if k.startswith("EAGERRUN_")}
    result = CliRunner().invoke(cli, list(args), env={**environment, **(env or {})})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # eagerrun let an exception escape: show it whole
    return subprocess.CompletedProcess(["eagerrun", *args], result.exit_code, result.stdout, result.stderr)


def runner_for(mode: str):
    """Eager runs in a subprocess (eager mode cannot be undone in a process), graph runs in this one."""
    return run_eagerrun if mode == "eager" else run_in_process


@pytest.fixture(autouse=True)
def guard_graph_mode():
    """A test that ran eagerrun in this process must leave TensorFlow as it found it: graph mode."""
    yield
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        assert not tf.config.functions_run_eagerly(), "this test left the pytest process in eager mode"


def run_python(code: str, *, cwd: Path | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run a Python snippet in a fresh interpreter (for checks that must see a clean process)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def write_script(tmp_path: Path):
    """Write a dedented Python file under tmp_path and return its path."""

    def write(name: str, source: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
        return path

    return write


# Modules whose tests wait longest (several processes, signals, heartbeats): started first, so that the
# workers are not left waiting on one of them at the end while the others are idle.
SLOW_FIRST = ("test_launch", "test_distribute", "test_reliability", "test_compare", "test_corpus", "test_readme",
              "test_real_scripts", "test_loss_forms")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        module = item.path.stem
        return SLOW_FIRST.index(module) if module in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)  # stable: within a module, tests keep their order
