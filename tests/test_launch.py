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
from contextlib import ExitStack
from pathlib import Path

import pytest

from eagerrun.cluster import distribute, launch
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


def step_both_are_in(tmp_path: Path) -> int | None:
    """The step both workers have begun and not ended, or None (one may still be a step behind the other)."""
    last = [events(tmp_path, worker)[-1:] for worker in (0, 1)]
    if last[0] == last[1] and last[0] and (match := re.fullmatch(r"step (\d+) begins", last[0][0])):
        return int(match[1])
    return None


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
    """SIGINT to the launcher's process group, as a terminal sends it: exit 130, one SIGINT per worker, and
    every worker stops after the same step."""
    metrics = tmp_path / "chief.jsonl"
    launcher = start_eagerrun(tmp_path, "launch", "launch", "--workers", "2", "--eager", "--train", "--steps",
                              "100000", "--metrics-out", str(metrics), SPEC, env={"STEP_SLEEP_S": "0.5"},
                              new_session=True)
    workers: list[int] = []
    try:
        assert wait_until(lambda: min(steps_begun(tmp_path, 0), steps_begun(tmp_path, 1)) >= 2, 120), \
            output(tmp_path, "launch")
        workers = children(launcher.pid)
        assert wait_until(lambda: step_both_are_in(tmp_path) is not None, 30)  # every worker sleeps in this step
        signalled = step_both_are_in(tmp_path)
        os.killpg(launcher.pid, signal.SIGINT)
        assert launcher.wait(timeout=60) == 130, output(tmp_path, "launch")
    finally:
        kill_left_over([launcher.pid, *workers])
    # each worker asks the others in the next step's all-reduce: all stop after it
    for worker in (0, 1):
        assert events(tmp_path, worker)[-5:] == [f"step {signalled} begins", "signal SIGINT", f"step {signalled} ends",
                                                 f"step {signalled + 1} begins", f"step {signalled + 1} ends"]
        assert "signal SIGTERM" not in events(tmp_path, worker)
    assert [r["step"] for r in records(metrics)] == list(range(1, signalled + 2))
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


FAILS_ONCE = str(ROOT / "tests" / "specs" / "fails_once_on_second_worker.py")
MLP = str(ROOT / "sample_scripts" / "mlp_spec.py")


def assert_same_losses(got: list[dict], expected: list[dict]) -> None:
    assert [r["step"] for r in got] == [r["step"] for r in expected]
    for mine, theirs in zip(got, expected):
        assert mine["loss"] == pytest.approx(theirs["loss"], rel=1e-5), mine["step"]


def test_max_restarts_starts_every_worker_again_from_the_checkpoint_and_ends_with_every_step_once(tmp_path):
    """Worker 1 raises once, in step 5 (checkpoint at 3, the chief's metrics at 4): one restart, exit 0, steps
    1-8 once each in the metrics file, with an uninterrupted run's losses, and the restart named at the end."""
    metrics = tmp_path / "chief.jsonl"
    train = ("--train", "--seed", "0", "--steps", "8")
    launcher = start_eagerrun(tmp_path, "launch", "launch", "--workers", "2", "--max-restarts", "1", "--eager",
                              *train, "--checkpoint-dir", str(tmp_path / "checkpoints"), "--checkpoint-every", "3",
                              "--metrics-out", str(metrics), FAILS_ONCE, env={"FAIL_ONCE_DIR": str(tmp_path)})
    try:
        code = launcher.wait(timeout=120)
    finally:
        kill_left_over([launcher.pid])
    said = output(tmp_path, "launch")
    assert code == 0, said
    assert "resumed from step 3" in said
    cause = "worker 1 of 2 failed (exit 1): RuntimeError: worker 1 lost its data shard (once)"
    assert f"warning: restart 1 of 1: {cause}; starting every worker again" in said
    assert said.strip().splitlines()[-1] == f"eagerrun: note: 1 restart of --max-restarts 1; 1. {cause}"
    uninterrupted = tmp_path / "uninterrupted.jsonl"
    assert run_in_process("--graph", *train, "--metrics-out", str(uninterrupted), FAILS_ONCE).returncode == 0
    assert_same_losses(records(metrics), records(uninterrupted))


def free_consecutive_ports(count: int) -> int:
    """The first of `count` consecutive ports free on 127.0.0.1 (SLURM's tasks on one node take port_base + i)."""
    while True:
        with ExitStack() as stack:
            sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
            sockets[0].bind(("127.0.0.1", 0))
            first = sockets[0].getsockname()[1]
            try:
                for offset, other in enumerate(sockets[1:], 1):
                    other.bind(("127.0.0.1", first + offset))
            except OSError:
                continue
            return first


def slurm_step(rank: int, *, tasks: int, port: int) -> dict[str, str]:
    """What srun sets for task `rank` of a job step on this one node."""
    return {"SLURM_JOB_ID": "42", "SLURM_PROCID": str(rank), "SLURM_STEP_NUM_TASKS": str(tasks),
            "SLURM_STEP_NODELIST": "localhost", "SLURM_STEP_TASKS_PER_NODE": str(tasks),
            "EAGERRUN_SLURM_PORT": str(port)}


def test_slurm_variables_give_the_cluster_and_task_tf_config_would(monkeypatch):
    """SlurmClusterResolver's layout, made into TF_CONFIG's dict: tasks by rank, each node's on ports from the base."""
    monkeypatch.delenv("TF_CONFIG", raising=False)
    for name, value in {"SLURM_JOB_ID": "42", "SLURM_PROCID": "1", "SLURM_STEP_NUM_TASKS": "3",
                        "SLURM_STEP_NODELIST": "node[07-08]", "SLURM_STEP_TASKS_PER_NODE": "2,1",
                        "EAGERRUN_SLURM_PORT": "20000"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert distribute.cluster_spec() == {"cluster": {"worker": ["node07:20000", "node07:20001", "node08:20000"]},
                                         "task": {"type": "worker", "index": 1}}
    assert not distribute.is_chief(distribute.StrategyOptions("multiworker"))
    assert distribute.worker_label() == "worker 1"
    assert "CUDA_VISIBLE_DEVICES" not in os.environ  # GPUs are SLURM's to hand out


def test_a_slurm_job_without_srun_is_a_one_line_usage_error(monkeypatch):
    """In the batch script itself (no job step): which variables are missing, and srun."""
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    for name in distribute.SLURM_STEP_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    done = run_in_process("--train", "--strategy", "multiworker", MLP)
    assert done.returncode == 2
    assert done.stderr == ("eagerrun: error: --strategy multiworker in a SLURM job needs SLURM_PROCID, "
                           "SLURM_STEP_NUM_TASKS, SLURM_STEP_NODELIST, SLURM_STEP_TASKS_PER_NODE, which srun sets for "
                           "each task of a job step: start the workers with `srun eagerrun ...` (README: Clusters)\n")


def test_two_slurm_tasks_train_together_with_the_default_strategys_losses(tmp_path):
    """Two `srun` tasks on this node, no TF_CONFIG: the cluster comes from SLURM's variables."""
    port = free_consecutive_ports(2)
    metrics = tmp_path / "chief.jsonl"
    train = ("--graph", "--train", "--seed", "0", "--steps", "4", "--metrics-out", str(metrics))
    tasks = [start_eagerrun(tmp_path, f"task-{rank}", *train, "--strategy", "multiworker", MLP,
                            env=slurm_step(rank, tasks=2, port=port)) for rank in (0, 1)]
    try:
        codes = [task.wait(timeout=120) for task in tasks]
    finally:
        kill_left_over([task.pid for task in tasks])
    assert codes == [0, 0], output(tmp_path, "task-0") + output(tmp_path, "task-1")
    assert "strategy multi-worker mirrored over 2 replicas" in output(tmp_path, "task-0")
    chief = records(metrics)
    default = tmp_path / "default.jsonl"
    assert run_in_process(*train[:-1], str(default), MLP).returncode == 0
    assert_same_losses(chief, records(default))
    assert {r["replicas"] for r in chief} == {2}


def test_max_restarts_without_a_checkpoint_dir_is_a_one_line_usage_error():
    done = run_in_process("launch", "--workers", "2", "--max-restarts", "1", "--train", MLP)
    assert done.returncode == 2
    assert done.stderr == ("eagerrun: error: --max-restarts starts the workers again from their latest checkpoint: "
                           "add --checkpoint-dir DIR\n")


@pytest.mark.parametrize("code, restarted", [(1, True), (75, True), (-9, True), (2, False), (3, False), (4, False),
                                             (130, False), (143, False), (-15, False)])
def test_failures_that_a_restart_could_mend_are_restarted_and_stops_and_verdicts_are_not(code, restarted):
    """A crash, a lost peer, a kill: restarted; bad input, a non-finite loss, too many retraces, a stop: not."""
    assert launch.WorkerFailed("worker 1 of 2 failed", code=code).restartable == restarted


def test_sigterm_to_one_worker_stops_every_worker_at_one_step_and_the_rerun_resumes_exactly(tmp_path):
    """What a cloud does to one machine: SIGTERM to worker 1 alone. The workers agree on a step (it travels in
    the step's all-reduce), the chief saves a checkpoint there, both exit 143; run again, they resume from it
    and end with an uninterrupted run's losses, every step once."""
    ports = launch.reserve_loopback_ports(2)
    metrics, checkpoints = tmp_path / "chief.jsonl", tmp_path / "checkpoints"
    train = ("--eager", "--train", "--seed", "0", "--steps", "24", "--strategy", "multiworker")
    run_args = (*train, "--checkpoint-dir", str(checkpoints), "--metrics-out", str(metrics), SPEC)
    workers = [start_eagerrun(tmp_path, f"worker-{index}", *run_args,
                              env={"TF_CONFIG": launch.tf_config(ports, index), "STEP_SLEEP_S": "0.2"})
               for index in (0, 1)]
    try:
        assert wait_until(lambda: len(records(metrics)) >= 4, 120), output(tmp_path, "worker-0")
        workers[1].send_signal(signal.SIGTERM)
        codes = [worker.wait(timeout=60) for worker in workers]
    finally:
        kill_left_over([worker.pid for worker in workers])
    assert codes == [143, 143], [output(tmp_path, f"worker-{index}") for index in (0, 1)]
    assert "signal SIGTERM" in events(tmp_path, 1) and "signal SIGTERM" not in events(tmp_path, 0)
    stopped_at = len(records(metrics))
    assert stopped_at < 24
    assert f'model_checkpoint_path: "ckpt-{stopped_at}"' in (checkpoints / "checkpoint").read_text()
    assert [steps_begun(tmp_path, index) for index in (0, 1)] == [stopped_at, stopped_at]

    ports = launch.reserve_loopback_ports(2)
    workers = [start_eagerrun(tmp_path, f"again-{index}", *run_args, env={"TF_CONFIG": launch.tf_config(ports, index)})
               for index in (0, 1)]
    try:
        codes = [worker.wait(timeout=120) for worker in workers]
    finally:
        kill_left_over([worker.pid for worker in workers])
    assert codes == [0, 0], output(tmp_path, "again-0")
    assert f"resumed from step {stopped_at}" in output(tmp_path, "again-0")
    uninterrupted = tmp_path / "uninterrupted.jsonl"
    assert run_in_process("--graph", "--train", "--seed", "0", "--steps", "24", "--metrics-out", str(uninterrupted),
                          SPEC).returncode == 0
    assert_same_losses(records(metrics), records(uninterrupted))
