"""`eagerrun launch --workers N`: one multi-worker run as N local processes, owned by the launcher.

Each worker is `eagerrun run --strategy multiworker ...` with its own TF_CONFIG naming every worker on a
loopback port, exactly what each machine of a real cluster would run. The chief's output streams through;
the others' goes to a log that is shown when one of them fails.

What the launcher guarantees, and how:
- no worker outlives it, whatever ends it (SIGKILL included): each worker asks the kernel for SIGTERM when
  its parent dies (`prctl(PR_SET_PDEATHSIG)`, Linux), and so stops at the end of its step;
- a signal is one event: every worker runs in a session of its own, so Ctrl-C at the terminal reaches the
  launcher alone, which sends each worker exactly one SIGINT (SIGTERM: one SIGTERM) and waits for them to
  stop at a step's end, then exits 130 (143); a second signal kills them at once;
- the first worker that fails stops the others (a worker left waiting in a collective op for a dead peer
  would wait for TensorFlow's heartbeat timeout), and the launch ends with that worker's error and code;
- ports are reserved, not just probed: each is left in TIME_WAIT, which keeps the kernel from handing it to
  anyone else while the workers import TensorFlow, and still lets their gRPC servers (SO_REUSEADDR) bind
  it; a worker that finds its port taken anyway (exit 69) makes the launcher start all again on new ports;
- with --max-restarts N, a failure that a new start could mend (`WorkerFailed.restartable`) stops every
  worker and starts all again on new ports, up to N times, as torchrun does; they resume from the chief's
  checkpoint, and the chief's metrics file, cut back to that checkpoint, ends with every step once.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

from eagerrun.config import RunConfig
from eagerrun.errors import (
    EXIT_FAILURE,
    EXIT_NONFINITE_LOSS,
    EXIT_PEER_LOST,
    EXIT_PORT_TAKEN,
    EXIT_RETRACES,
    EXIT_SIGINT,
    EXIT_SIGTERM,
    EXIT_USAGE,
    EagerrunError,
)
from eagerrun.interrupts import EXIT_CODES

POLL_S = 0.1
# A worker told to stop after another failed finishes its step; one waiting on the dead peer in a
# collective op stops by itself within TensorFlow's 10 s heartbeat timeout (exit 75). Then it is killed.
STOP_GRACE_S = 15.0
DONE_GRACE_S = 60.0  # once one worker finished, how long the others may take before they count as hung
PORT_ATTEMPTS = 3  # starts of the whole group on fresh ports, when a worker finds its port taken
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
TF_LOG_PREFIXES = ("W0000", "I0000", "E0000", "WARNING: All log messages before absl")

log = logging.getLogger("eagerrun")


def reserve_loopback_ports(count: int) -> list[int]:
    """`count` different ports, free on 127.0.0.1 and kept from everyone else for about a minute.

    Each port is bound (SO_REUSEADDR), connected to and closed from the listening side first, so it stays
    in TIME_WAIT for 60 s (Linux): the kernel hands it to no other `bind(port 0)` or outgoing connection,
    and a plain `bind` of it fails, while a server that sets SO_REUSEADDR, as gRPC does, binds it at once.
    """
    with ExitStack() as stack:
        listeners = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for listener in listeners:  # all bound before any is released, so that they differ
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
        for listener in listeners:
            with socket.create_connection(listener.getsockname()):
                accepted, _ = listener.accept()
                accepted.close()  # the listening side closes first: its end is the one left in TIME_WAIT
        return [listener.getsockname()[1] for listener in listeners]


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
        """The end of the worker's own output, without TensorFlow's C++ log lines."""
        if self.log is None or not self.log.exists():
            return []
        lines = self.log.read_text(errors="replace").splitlines()
        return [line for line in lines if line.strip() and not line.startswith(TF_LOG_PREFIXES)][-limit:]


class PortTaken(Exception):
    """A worker could not listen on its port: someone took it after all. Start every worker again."""


class KilledAtOnce(Exception):
    """A second signal reached the launcher while the workers were stopping: they were killed."""


class WorkerGroup:
    """The running workers and the signal being forwarded to them: one signal per worker per event.

    Its `forward` is the launcher's handler for SIGINT and SIGTERM. The first signal goes to every worker
    once, including one started a moment after it arrived; a second one kills them all at once.
    """

    def __init__(self) -> None:
        self.workers: list[Worker] = []
        self.signum: int | None = None

    def add(self, worker: Worker) -> None:
        self.workers.append(worker)
        if self.signum is not None:  # the signal came while this worker was being started
            worker.process.send_signal(self.signum)

    def forward(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            for worker in self.workers:
                worker.process.kill()
            raise KilledAtOnce()
        self.signum = signum
        for worker in self.workers:
            worker.process.send_signal(signum)

    def codes(self) -> list[int | None]:
        return [worker.process.poll() for worker in self.workers]

    def stop(self, *, kill: bool = False) -> None:
        """However a start ends, no worker outlives it. Workers not yet signalled get SIGTERM (SIGKILL with
        `kill`, for workers that have not begun training); any still running STOP_GRACE_S later, SIGKILL."""
        live = [w.process for w in self.workers if w.process.poll() is None]
        if self.signum is None:
            for process in live:
                process.kill() if kill else process.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for process in live:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def launch(workers: int, config: RunConfig, *, max_restarts: int = 0) -> int:
    """Start the workers, wait for all of them; return 0, or 130/143 after a signal, or raise the first
    failure as an EagerrunError. With `max_restarts`, a failure (`WorkerFailed.restartable`) first stops
    every worker and starts them all again, up to that many times; they resume from their checkpoint."""
    from eagerrun import report, switches

    report.install_log_handler(quiet=False, switches=switches.kept())
    command = [sys.executable, "-m", "eagerrun", *config.run_argv()]  # each worker's `eagerrun run`
    group = WorkerGroup()
    restarts: list[WorkerFailed] = []
    previous = {signum: signal.signal(signum, group.forward) for signum in EXIT_CODES}
    try:
        with tempfile.TemporaryDirectory(prefix="eagerrun-launch-") as logs:
            while True:
                try:
                    code = start_on_free_ports(group, command, workers, Path(logs),
                                               can_restart=len(restarts) < max_restarts)
                except WorkerFailed as failed:
                    if not failed.restartable or len(restarts) == max_restarts or group.signum is not None:
                        note_restarts(restarts, max_restarts)
                        raise
                    restarts.append(failed)
                    log.warning("restart %d of %d: %s; starting every worker again on new ports, from the latest "
                                "checkpoint", len(restarts), max_restarts, failed.cause)
                    continue
                note_restarts(restarts, max_restarts)
                return code
    except KilledAtOnce:
        assert group.signum is not None
        return EXIT_CODES[signal.Signals(group.signum)]
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def start_on_free_ports(group: WorkerGroup, command: list[str], count: int, logs: Path, *,
                        can_restart: bool = False) -> int:
    """One start of the group, started again on new ports when a worker found its port taken."""
    starts = 1
    while True:
        try:
            return run_workers(group, command, count, logs, can_restart=can_restart)
        except PortTaken as taken:
            if starts == PORT_ATTEMPTS:
                raise EagerrunError(f"{taken}, {PORT_ATTEMPTS} times in a row: is another program "
                                    "taking ports as fast as they are freed?", exit_code=EXIT_PORT_TAKEN) from None
            log.warning("%s: starting every worker again on new ports", taken)
            starts += 1


def note_restarts(restarts: list[WorkerFailed], max_restarts: int) -> None:
    """How many restarts the launch used and why, as its last note (before the error, where it failed);
    nothing where none was needed."""
    if max_restarts and restarts:
        causes = "".join(f"; {number}. {failed.cause}" for number, failed in enumerate(restarts, 1))
        log.info("%d restart%s of --max-restarts %d%s", len(restarts), "" if len(restarts) == 1 else "s",
                 max_restarts, causes)


def run_workers(group: WorkerGroup, command: list[str], count: int, logs: Path, *, can_restart: bool = False) -> int:
    """One start of the whole group on freshly reserved ports; the workers start inside the `try`, so a
    failure to start worker k stops workers 0..k-1.

    A failure that a restart will follow kills the others at once: without their peer they cannot end a
    step or save a checkpoint (both take every worker), and would only wait out TensorFlow's heartbeat
    timeout (10 s) before the new start."""
    ports = reserve_loopback_ports(count)
    group.workers = []
    with ExitStack() as files:
        kill = False
        try:
            for index in range(count):
                if group.signum is not None:
                    break  # a signal came while starting: the ones started got it, start no more
                group.add(start_worker(command, ports, index, logs, files))
            return supervise(group, count)
        except PortTaken:
            kill = True  # nobody trained yet after a port was taken: nothing to save
            raise
        except WorkerFailed as failed:
            kill = can_restart and failed.restartable
            raise
        finally:
            group.stop(kill=kill)


def start_worker(command: list[str], ports: list[int], index: int, logs: Path, files: ExitStack) -> Worker:
    env = {**os.environ, "TF_CONFIG": tf_config(ports, index)}
    orphaned = sigterm_when_orphaned()
    if index == 0:
        process = subprocess.Popen(command, env=env, start_new_session=True, preexec_fn=orphaned)
        return Worker(index, process, log=None)
    log_path = logs / f"worker-{index}.log"
    out: IO[bytes] = files.enter_context(open(log_path, "wb"))  # noqa: SIM115 - closed by the ExitStack
    process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                               preexec_fn=orphaned)
    return Worker(index, process, log=log_path)


def sigterm_when_orphaned() -> Callable[[], None] | None:
    """What a worker runs between fork and exec so that it gets SIGTERM when this process dies.

    The usual race fix: if this process died before the request took effect, the worker is already
    orphaned and nobody would signal it, so it ends there. libc is loaded here, before the fork.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    launcher = os.getpid()

    def ask_for_sigterm_when_orphaned() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != launcher:
            os._exit(EXIT_SIGTERM)

    return ask_for_sigterm_when_orphaned


def supervise(group: WorkerGroup, count: int) -> int:
    """Poll until every worker has exited 0; the first one that fails (or hangs after the others
    finished) is raised. After a signal, wait for every worker to stop and return its exit code."""
    first_done: float | None = None
    while True:
        codes = group.codes()
        if group.signum is not None:
            if all(code is not None for code in codes):
                return stopped_by_signal(group, codes)
        elif failed := [(w, code) for w, code in zip(group.workers, codes) if code not in (None, 0)]:
            worker, code = first_cause(failed)
            if code == EXIT_PORT_TAKEN:
                raise PortTaken(f"worker {worker.index} of {count} found its port taken")
            raise worker_failure(worker, code, count)
        elif len(codes) == count and all(code == 0 for code in codes):
            return 0
        elif first_done is None and any(code == 0 for code in codes):
            first_done = time.monotonic()
        elif first_done is not None and time.monotonic() - first_done > DONE_GRACE_S:
            hung = [str(w.index) for w, code in zip(group.workers, codes) if code is None]
            raise EagerrunError(f"worker(s) {', '.join(hung)} still running {DONE_GRACE_S:.0f} s after the "
                                "others finished: stopped them", exit_code=EXIT_FAILURE)
        time.sleep(POLL_S)


def first_cause(failed: list[tuple[Worker, int]]) -> tuple[Worker, int]:
    """Of workers that failed by the same poll, one that did not merely lose a peer (exit 75)."""
    return next((item for item in failed if item[1] != EXIT_PEER_LOST), failed[0])


def stopped_by_signal(group: WorkerGroup, codes: list[int | None]) -> int:
    assert group.signum is not None
    name = signal.Signals(group.signum).name
    exits = ", ".join(f"worker {w.index} exit {code}" for w, code in zip(group.workers, codes))
    log.info("%s: sent each worker one %s and waited for it to stop: %s", name, name, exits)
    return EXIT_CODES[signal.Signals(group.signum)]


class WorkerFailed(EagerrunError):
    """A worker's failure, which ends the launch or, with --max-restarts, starts every worker again."""

    # The same input fails the same way again (2), or the run's own verdict on the training (3 non-finite loss,
    # 4 retraces); 130 and 143 are a stop that someone asked for, not a failure.
    NOT_RESTARTED = frozenset({EXIT_USAGE, EXIT_NONFINITE_LOSS, EXIT_RETRACES, EXIT_SIGINT, EXIT_SIGTERM,
                               -signal.SIGINT, -signal.SIGTERM})

    def __init__(self, cause: str, *, code: int) -> None:
        super().__init__(f"{cause}; stopped the other workers", exit_code=code if code > 0 else EXIT_FAILURE)
        self.cause = cause
        self.restartable = code not in self.NOT_RESTARTED


def worker_failure(worker: Worker, code: int, count: int) -> WorkerFailed:
    """The failed worker's own last lines (the chief's are already on screen), then one line to end on."""
    from eagerrun import report

    lines = worker.error_lines()
    for line in lines:
        report.show(report.worker_line(worker.index, line))
    reason = lines[-1].removeprefix("eagerrun: error: ") if lines else ""
    how = f"was killed by signal {-code}" if code < 0 else f"failed (exit {code})"
    return WorkerFailed(f"worker {worker.index} of {count} {how}{': ' + reason if reason else ''}", code=code)
