"""`eagerrun launch` owns its workers: none outlives the launcher, however it ends; Ctrl-C reaches the launcher
alone, which sends each worker one signal and waits for it to stop at a step's end; a taken port makes it
start every worker again on new ports; and a worker whose peer died stops within TensorFlow's heartbeat
timeout, with its table, its metrics and one line (exit 75)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from eagerrun import launch
from tests.conftest import ROOT, eagerrun_command, run_in_process

SPEC = str(ROOT / "tests" / "specs" / "logs_signals_and_steps.py")
LOST_PEER_BOUND_S = 15.0  # README: TensorFlow's 10 s heartbeat timeout, and the exit after it


def start_eagerrun(tmp_path: Path, name: str, *args: str, env: dict[str, str] | None = None,
                   new_session: bool = False) -> subprocess.Popen[bytes]:
    """The real entry point in the background, its output in tmp_path/<name>.out, its workers' logs in tmp_path."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("EAGERRUN_", "TF_CONFIG"))}
    environment.update({"STEP_LOG_DIR": str(tmp_path), **(env or {})})
    with open(tmp_path / f"{name}.out", "wb") as out:
        return subprocess.Popen([*eagerrun_command(), *args], env=environment, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=new_session)


def output(tmp_path: Path, name: str) -> str:
    return (tmp_path / f"{name}.out").read_text(errors="replace")


def events(tmp_path: Path, worker: int) -> list[str]:
    """What worker `worker` logged: 'step N begins', 'signal SIGINT', 'step N ends'."""
    path = tmp_path / f"worker-{worker}.log"
    return path.read_text().splitlines() if path.exists() else []


def steps_begun(tmp_path: Path, worker: int) -> int:
    return sum(event.endswith("begins") for event in events(tmp_path, worker))


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for init, which this container may never run)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def kill_left_over(pids: list[int]) -> None:
    for pid in pids:
        if running(pid):
            os.kill(pid, signal.SIGKILL)


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_reserved_ports_are_refused_to_a_plain_bind_and_given_to_a_server_that_reuses_addresses():
    """The launcher's reservation: TIME_WAIT keeps each port from other programs, not from gRPC."""
    ports = launch.reserve_loopback_ports(3)
    assert len(set(ports)) == 3
    with socket.socket() as plain, pytest.raises(OSError, match="Address already in use"):
        plain.bind(("127.0.0.1", ports[0]))
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", ports[0]))


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the process tree from Linux's /proc")
def test_no_worker_outlives_its_launcher_killed_with_sigkill(tmp_path):
    """The kernel sends each orphaned worker one SIGTERM (PR_SET_PDEATHSIG): all gone well within 15 s."""
    launcher = start_eagerrun(tmp_path, "launch", "launch", "--workers", "2", "--eager", "--train", "--steps",
                              "100000", SPEC)
    workers: list[int] = []
    try:
        assert wait_until(lambda: min(steps_begun(tmp_path, 0), steps_begun(tmp_path, 1)) >= 2, 120), \
            output(tmp_path, "launch")
        workers = children(launcher.pid)
        assert len(workers) == 2
        launcher.kill()
        launcher.wait()
        assert wait_until(lambda: not any(running(pid) for pid in workers), 15)
    finally:
        kill_left_over([launcher.pid, *workers])
    for worker in (0, 1):
        assert events(tmp_path, worker).count("signal SIGTERM") == 1


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the process tree from Linux's /proc")
def test_ctrl_c_reaches_the_launcher_alone_which_stops_each_worker_once_at_a_steps_end(tmp_path):
    """SIGINT to the launcher's process group, as a terminal sends it: exit 130, one SIGINT per worker."""
    metrics = tmp_path / "chief.jsonl"
    launcher = start_eagerrun(tmp_path, "launch", "launch", "--workers", "2", "--eager", "--train", "--steps",
                              "100000", "--metrics-out", str(metrics), SPEC, env={"STEP_SLEEP_S": "0.5"},
                              new_session=True)
    workers: list[int] = []
    try:
        assert wait_until(lambda: min(steps_begun(tmp_path, 0), steps_begun(tmp_path, 1)) >= 2, 120), \
            output(tmp_path, "launch")
        workers = children(launcher.pid)
        begun = steps_begun(tmp_path, 0)
        assert wait_until(lambda: steps_begun(tmp_path, 0) > begun, 10)  # every worker now sleeps in this step
        os.killpg(launcher.pid, signal.SIGINT)
        assert launcher.wait(timeout=60) == 130, output(tmp_path, "launch")
    finally:
        kill_left_over([launcher.pid, *workers])
    last = begun + 1
    for worker in (0, 1):
        assert events(tmp_path, worker)[-3:] == [f"step {last} begins", "signal SIGINT", f"step {last} ends"]
        assert "signal SIGTERM" not in events(tmp_path, worker)
    assert [r["step"] for r in records(metrics)] == list(range(1, last + 1))
    assert "sent each worker one SIGINT and waited for it to stop: worker 0 exit 130, worker 1 exit 130" in \
        output(tmp_path, "launch")


def test_a_worker_whose_peer_died_stops_in_bounded_time_with_its_table_metrics_and_one_line(tmp_path):
    """Worker 1 killed outright: the chief stops within TensorFlow's heartbeat timeout, exit 75, no traceback."""
    ports = launch.reserve_loopback_ports(2)
    metrics = tmp_path / "chief.jsonl"
    workers = [start_eagerrun(tmp_path, f"worker-{index}", "--graph", "--train", "--strategy", "multiworker",
                              "--steps", "100000", "--metrics-out", str(metrics), SPEC,
                              env={"TF_CONFIG": launch.tf_config(ports, index)}) for index in (0, 1)]
    try:
        assert wait_until(lambda: len(records(metrics)) >= 5, 120), output(tmp_path, "worker-0")
        workers[1].kill()
        killed = time.monotonic()
        code = workers[0].wait(timeout=60)
        took = time.monotonic() - killed
    finally:
        kill_left_over([worker.pid for worker in workers])
    chief = output(tmp_path, "worker-0")
    assert code == 75, chief
    assert took < LOST_PEER_BOUND_S
    assert "Traceback" not in chief
    done = re.fullmatch(r"eagerrun: error: worker 1 of 2 stopped answering \((its heartbeats stopped|connection "
                        r"reset|connection refused|socket closed)\); this worker stopped after step (\d+)",
                        chief.strip().splitlines()[-1])
    assert done, chief
    steps = int(done[2])
    assert f"{steps} steps, graph mode, 2 replicas" in chief  # the table of the steps done
    assert [r["step"] for r in records(metrics)] == list(range(1, steps + 1))


def test_a_taken_port_makes_the_launcher_start_every_worker_again_on_new_ports(tmp_path, monkeypatch):
    """Another program takes the chief's port after the reservation: exit 69 there, a second start, exit 0."""
    reservations: list[list[int]] = []
    reserve = launch.reserve_loopback_ports
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()

        def first_one_taken(count: int) -> list[int]:
            ports = reserve(count)
            reservations.append([taken.getsockname()[1], *ports[1:]] if not reservations else ports)
            return reservations[-1]

        monkeypatch.setattr(launch, "reserve_loopback_ports", first_one_taken)
        metrics = tmp_path / "chief.jsonl"
        done = run_in_process("launch", "--workers", "2", "--graph", "--train", "--steps", "3", "--metrics-out",
                              str(metrics), SPEC)
    assert done.returncode == 0, done.stderr
    assert len(reservations) == 2
    assert "worker 0 of 2 found its port taken: starting every worker again on new ports" in done.stderr
    assert [r["step"] for r in records(metrics)] == [1, 2, 3]
