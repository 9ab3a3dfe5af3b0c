"""`eagerrun launch --workers N`: one multi-worker run as N local processes, that never hangs.

Each worker is `eagerrun run --strategy multiworker ...` with its own TF_CONFIG naming every worker on a
loopback port, exactly what each machine of a real cluster would run. The chief's output streams through;
the others' goes to a log that is shown when one of them fails. A worker that fails leaves the rest
blocked in collective ops forever, so the first failure stops every other worker and ends the launch
with the failed worker's error and exit code.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from eagerrun.errors import EXIT_FAILURE, EXIT_SIGINT, EXIT_SIGTERM, EagerrunError

POLL_S = 0.1
STOP_GRACE_S = 5.0  # a worker asked to stop may be blocked in a collective op: then it is killed
DONE_GRACE_S = 60.0  # once one worker finished, how long the others may take before they count as hung
TF_LOG_PREFIXES = ("W0000", "I0000", "E0000", "WARNING: All log messages before absl")


def free_loopback_ports(count: int) -> list[int]:
    """Ports the OS has free on 127.0.0.1 now, held together so that they differ."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def tf_config(ports: list[int], index: int) -> str:
    """The TF_CONFIG of worker `index`: the whole cluster, and which member this process is."""
    return json.dumps({"cluster": {"worker": [f"localhost:{port}" for port in ports]},
                       "task": {"type": "worker", "index": index}})


@dataclass
class Worker:
    index: int
    process: subprocess.Popen[bytes]
    log: Path | None  # None for the chief, whose output goes straight to ours

    def error_lines(self, limit: int = 25) -> list[str]:
        """The end of the worker's own output, without TensorFlow's C++ start-up chatter."""
        if self.log is None or not self.log.exists():
            return []
        lines = self.log.read_text(errors="replace").splitlines()
        return [line for line in lines if line.strip() and not line.startswith(TF_LOG_PREFIXES)][-limit:]


class Stopped(Exception):
    """SIGTERM reached the launcher: stop every worker, exit 143."""


def launch(workers: int, run_args: list[str]) -> int:
    """Start the workers, wait for all of them, return 0 or raise the first failure as an EagerrunError."""
    ports = free_loopback_ports(workers)
    command = [sys.executable, "-m", "eagerrun", "run", "--strategy", "multiworker", *run_args]
    previous = signal.signal(signal.SIGTERM, raise_stopped)
    with tempfile.TemporaryDirectory(prefix="eagerrun-launch-") as logs, ExitStack() as files:
        started = [start_worker(command, ports, index, Path(logs), files) for index in range(workers)]
        try:
            return supervise(started)
        except KeyboardInterrupt:
            return EXIT_SIGINT
        except Stopped:
            return EXIT_SIGTERM
        finally:
            stop_all(started)  # however the launch ends, no worker outlives it
            signal.signal(signal.SIGTERM, previous)


def raise_stopped(signum: int, frame: object) -> None:
    raise Stopped()


def start_worker(command: list[str], ports: list[int], index: int, logs: Path, files: ExitStack) -> Worker:
    env = {**os.environ, "TF_CONFIG": tf_config(ports, index)}
    if index == 0:
        return Worker(index, subprocess.Popen(command, env=env), log=None)
    log = logs / f"worker-{index}.log"
    out: IO[bytes] = files.enter_context(open(log, "wb"))
    return Worker(index, subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT), log=log)


def supervise(workers: list[Worker]) -> int:
    """Poll until every worker has exited 0; the first one that fails (or hangs after the others
    finished) stops the rest and is raised."""
    first_done: float | None = None
    while True:
        codes = [worker.process.poll() for worker in workers]
        for worker, code in zip(workers, codes):
            if code not in (None, 0):
                stop_all(workers)
                raise worker_failure(worker, code, len(workers))
        if all(code == 0 for code in codes):
            return 0
        if first_done is None and any(code == 0 for code in codes):
            first_done = time.monotonic()
        if first_done is not None and time.monotonic() - first_done > DONE_GRACE_S:
            stop_all(workers)
            hung = [str(w.index) for w, code in zip(workers, codes) if code is None]
            raise EagerrunError(f"worker(s) {', '.join(hung)} still running {DONE_GRACE_S:.0f} s after the "
                                "others finished: stopped them", exit_code=EXIT_FAILURE)
        time.sleep(POLL_S)


def worker_failure(worker: Worker, code: int, count: int) -> EagerrunError:
    """The failed worker's own last lines (the chief's are already on screen), then one line to end on."""
    from eagerrun import report

    lines = worker.error_lines()
    for line in lines:
        report.worker_line(worker.index, line)
    reason = lines[-1].removeprefix("eagerrun: error: ") if lines else ""
    how = f"was killed by signal {-code}" if code < 0 else f"failed (exit {code})"
    message = f"worker {worker.index} of {count} {how}{': ' + reason if reason else ''}; stopped the other workers"
    return EagerrunError(message, exit_code=code if code > 0 else EXIT_FAILURE)


def stop_all(workers: list[Worker]) -> None:
    """SIGTERM to every live worker (each stops at the end of its step), SIGKILL after a grace period."""
    live = [w.process for w in workers if w.process.poll() is None]
    for process in live:
        process.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for process in live:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
