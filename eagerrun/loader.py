"""Running the user's file or module as `python` would, and importing a trainer script.

Everything here keeps to Python's own rules (via `runpy`): the script runs as `__main__`, `sys.argv` is
`[SCRIPT, *ARGS]`, `sys.path[0]` is the script's folder (the current directory for `-m`), and all of it is
put back afterwards. Exceptions come back with eagerrun's and runpy's frames cut off, so the user reads a
traceback of their own code.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import runpy
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, TracebackType

from eagerrun.config import Target
from eagerrun.errors import EXIT_FAILURE, EXIT_USAGE, EagerrunError

_EAGERRUN_DIR = os.path.dirname(os.path.abspath(__file__))


@dataclass(frozen=True)
class ScriptOutcome:
    """How the user's code ended: the exit code Python would give, and the exception if it raised."""

    exit_code: int
    error: BaseException | None = None
    exit_message: str | None = None  # sys.exit("text") prints its text, as Python does


class UserCodeError(Exception):
    """The user's code raised while eagerrun imported or called it; `error` carries the trimmed exception."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


@contextlib.contextmanager
def python_like_environment(argv: list[str], path0: str) -> Iterator[None]:
    """Give the user's code the `sys.argv` and `sys.path[0]` Python would, and restore both afterwards."""
    saved_argv, saved_path = sys.argv[:], sys.path[:]
    sys.argv = argv
    if sys.path:
        sys.path[0] = path0
    else:
        sys.path.insert(0, path0)
    try:
        yield
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path


def check_module_exists(name: str) -> None:
    """Fail fast, before TensorFlow is imported, when `-m NAME`'s top-level package cannot be found.

    Only the top level is looked up: finding `pkg.sub` would import `pkg`, running user code before the
    mode is set. A missing submodule is caught when runpy looks for it.
    """
    top = name.partition(".")[0]
    with python_like_environment(sys.argv[:], os.getcwd()):
        found = importlib.util.find_spec(top) is not None if top else False
    if not found:
        raise EagerrunError(f"No module named {name!r}", exit_code=EXIT_USAGE)


def run_target(target: Target) -> ScriptOutcome:
    """Run the script or module as `__main__` and report how it ended; KeyboardInterrupt propagates."""
    try:
        if target.module is not None:
            with python_like_environment([target.module, *target.args], os.getcwd()):
                runpy.run_module(target.module, run_name="__main__", alter_sys=True)
        else:
            assert target.script is not None
            folder = os.path.dirname(os.path.realpath(target.script))
            with python_like_environment([str(target.script), *target.args], folder):
                runpy.run_path(str(target.script), run_name="__main__")
    except SystemExit as exc:
        return outcome_of_exit(exc)
    except (KeyboardInterrupt, EagerrunError):
        raise  # a stop eagerrun asked for (a signal, --max-retraces), not the script's error
    except Exception as exc:
        return ScriptOutcome(exit_code=EXIT_FAILURE, error=user_facing(exc, target))
    return ScriptOutcome(exit_code=0)


def import_target(target: Target) -> ModuleType:
    """Import a trainer script as a module (its `__main__` block does not run), in Python's environment.

    The module is registered in `sys.modules` so that pickling and dataclasses defined in it work.
    Exceptions raised by the script's own code come back as UserCodeError, eagerrun's frames cut off.
    """
    try:
        if target.module is not None:
            with python_like_environment([target.module, *target.args], os.getcwd()):
                return importlib.import_module(target.module)
        assert target.script is not None
        path = Path(target.script).resolve()
        name = path.stem if path.stem.isidentifier() else "eagerrun_train_script"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise EagerrunError(f"cannot import {target.script}: not a Python file", exit_code=EXIT_USAGE)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        with python_like_environment([str(target.script), *target.args], str(path.parent)):
            spec.loader.exec_module(module)
        return module
    except (EagerrunError, SystemExit, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise UserCodeError(user_facing(exc, target)) from None


def outcome_of_exit(exc: SystemExit) -> ScriptOutcome:
    """Python's rules for `sys.exit(code)`: None is 0, an int is itself, anything else is printed and 1."""
    code = exc.code
    if code is None:
        return ScriptOutcome(exit_code=0)
    if isinstance(code, int):
        return ScriptOutcome(exit_code=code)
    return ScriptOutcome(exit_code=EXIT_FAILURE, exit_message=str(code))


def user_facing(exc: BaseException, target: Target) -> BaseException:
    """Cut the frames of eagerrun, runpy and importlib off the front of the traceback.

    An exception raised before any of the user's code ran (the file is binary, a module's submodule is
    missing) has no frames left; it becomes a one-line EagerrunError, except a SyntaxError, which Python
    itself reports with file, line and caret.
    """
    tb = without_eagerrun_frames(exc.__traceback__)
    if tb is None and not isinstance(exc, SyntaxError):
        message = str(exc) or type(exc).__name__
        raise EagerrunError(f"cannot run {target.display}: {message}", exit_code=EXIT_USAGE) from None
    return exc.with_traceback(tb)


def without_eagerrun_frames(tb: TracebackType | None) -> TracebackType | None:
    """The traceback chain with every eagerrun, runpy and importlib frame left out, wherever it sits
    (eagerrun's hooks wrap fit and the optimizer, so its frames can sit between the user's)."""
    kept = []
    while tb is not None:
        if is_user_frame(tb):
            kept.append(tb)
        tb = tb.tb_next
    rebuilt = None
    for frame_tb in reversed(kept):
        rebuilt = TracebackType(rebuilt, frame_tb.tb_frame, frame_tb.tb_lasti, frame_tb.tb_lineno)
    return rebuilt


def is_user_frame(tb: TracebackType) -> bool:
    filename = tb.tb_frame.f_code.co_filename
    if filename.startswith("<frozen "):
        return False
    if os.path.abspath(filename).startswith(os.path.join(_EAGERRUN_DIR, "")):
        return False
    return os.path.basename(filename) != "runpy.py"
