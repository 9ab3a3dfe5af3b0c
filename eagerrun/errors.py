"""The one exception type eagerrun raises for problems it can explain in a line, and the exit codes.

Errors are raised deep, where the problem is found, and turned into a one-line message exactly once, at the
CLI edge. The exit codes are part of the public contract (documented in the README).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1  # the script raised, a probe disagreed, TensorFlow is missing, compare diverged, or an output
#                  (--run-report, the metrics file) could not be written at the end of a run that otherwise succeeded
EXIT_USAGE = 2  # bad command line or bad input, refused before anything runs or is written: a missing file or
#                module, a file that is not Python source (binary, or bytes not in its encoding), an output path
#                that cannot be written (missing folder, a file where a folder should be, not writable), two
#                outputs in one file, arguments after SCRIPT with --train; also a broken train spec, an empty
#                dataset; bare `eagerrun` (its help, as Click answers a group without a command)
EXIT_NONFINITE_LOSS = 3  # --on-nan stop ended the run
EXIT_RETRACES = 4  # a tf.function traced more often than --max-retraces allows
EXIT_PORT_TAKEN = 69  # a multi-worker worker could not listen on its TF_CONFIG port (sysexits: EX_UNAVAILABLE)
EXIT_PEER_LOST = 75  # a multi-worker peer stopped answering mid-run (sysexits: EX_TEMPFAIL, a re-run may work)
EXIT_SIGINT = 130  # 128 + SIGINT, as shells report Ctrl-C
EXIT_SIGTERM = 143  # 128 + SIGTERM, what schedulers send before preempting


class EagerrunError(Exception):
    """A problem eagerrun can name in one line; carries the exit code the process should end with."""

    def __init__(self, message: str, *, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
