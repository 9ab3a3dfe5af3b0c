"""`eagerrun` runs for the tests, each in a new process forked from one that has imported TensorFlow and Keras.

Importing TensorFlow costs about 3.5 s of CPU in every process, and most end-to-end tests start one: on a
two-core machine that was most of the suite's time. Python's `multiprocessing` forkserver imports this module
once (TensorFlow and Keras, nothing of eagerrun, no op run and no context made: `import tensorflow` starts
no thread), then forks a child for each run. The child is a new process that runs the real entry point,
`eagerrun.cli.main`, with its own arguments, working directory, environment, file descriptors 1 and 2 (so
TensorFlow's C++ output, `tf.print` included, is captured like a subprocess's) and exit code; it imports
eagerrun itself, and applies its mode before the script is imported, as `eagerrun` does.

What such a child cannot show is what happens while TensorFlow loads: its start-up log lines, eagerrun's
"loading TensorFlow…" status, a signal during the import, variables TensorFlow reads at import
(`TF_CPP_*`, `TF_ENABLE_ONEDNN_OPTS`, `KERAS_BACKEND`). Tests of those start `eagerrun` from scratch
(`run_eagerrun(..., fresh=True)`), and a run whose environment sets such a variable is started fresh by
itself. `EAGERRUN_TESTS_FRESH=1` starts every run from scratch, to check that both ways agree.
"""

from __future__ import annotations

import atexit
import os
import sys
import traceback

# Read at import by TensorFlow or Keras: a run that sets one needs a process that imports them after it,
# unless it sets it as the preloaded process had it: TensorFlow's C++ log level at 2, as eagerrun sets it
# before its own import of TensorFlow (unless -v).
IMPORT_TIME_VARIABLES = ("TF_CPP_", "TF_ENABLE_ONEDNN_OPTS", "KERAS_BACKEND", "KERAS_HOME", "TF_USE_LEGACY_KERAS")
PRELOAD_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "2"}


def preload() -> None:
    """What the forkserver imports once; its log lines go nowhere (the children's own fd 2 is a file)."""
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


if __name__ != "__main__" and os.environ.get("EAGERRUN_TESTS_PRELOAD") == "1":  # the forkserver, and only it
    preload()


def run_cli(argv: list[str], cwd: str, env: dict[str, str], stdout_path: str, stderr_path: str,
            sys_path: list[str]) -> None:
    """The child: become `eagerrun ARGV` started in `cwd` with `env`, and end as that process would."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    for fd, path in ((1, stdout_path), (2, stderr_path)):
        opened = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(opened, fd)
        os.close(opened)
    sys.stdout = os.fdopen(1, "w", closefd=False)  # block-buffered, as Python makes a pipe's
    sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)  # line-buffered, as Python makes stderr
    sys.stdin = open(os.devnull)  # noqa: SIM115 - the process' stdin, as multiprocessing gives its children
    sys.argv = list(argv)
    sys.path[:] = sys_path
    code = 0
    try:
        from eagerrun.cli import main

        main()
    except SystemExit as exc:
        code = exit_status(exc.code)
    except BaseException:  # noqa: BLE001 - what Python does with an uncaught exception
        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


def exit_status(code: object) -> int:
    """Python's rule for `sys.exit(code)`."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
