"""tf.distribute for the trainer: which strategy, which devices, which cluster (train/runner.py runs the step).

TensorFlow's rules, which this module keeps so a spec does not have to:
- the strategy exists before any op runs (MultiWorkerMirroredStrategy and logical CPU devices both
  configure the runtime, which is fixed once it starts), so it is created right after the mode is set;
- the script's model and optimizer are created inside `strategy.scope()`, and the optimizer is built
  there too: a Keras 3 optimizer first built inside `strategy.run` fails at the first step;
- the dataset yields global batches, split across replicas by `experimental_distribute_dataset`; each
  replica's loss is its sum over the *global* batch size, and the optimizer sums gradients across
  replicas, so the update (and the reported loss) is the global batch's mean, as on one device.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from eagerrun import _tf_compat as private
from eagerrun.config import StrategyOptions
from eagerrun.errors import EXIT_PEER_LOST, EXIT_PORT_TAKEN, EXIT_USAGE, EagerrunError


def cluster_spec(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """The cluster and this process's task in it, as TF_CONFIG's dict: TF_CONFIG itself, parsed and checked,
    or, where it is absent and this is a SLURM job step, the cluster TensorFlow's SlurmClusterResolver
    makes of SLURM's variables. A multi-worker run without either would wait for nobody, forever."""
    if environ.get("TF_CONFIG"):
        return tf_config_spec(environ["TF_CONFIG"])
    if in_slurm_job(environ):
        return slurm_cluster_spec()
    raise EagerrunError("--strategy multiworker needs TF_CONFIG or a SLURM job step (see README: Several machines, "
                        "Clusters), or use `eagerrun launch --workers N` to start local workers", exit_code=EXIT_USAGE)


def tf_config_spec(raw: str) -> dict[str, Any]:
    try:
        config = json.loads(raw)
        cluster, task = config["cluster"], config["task"]
        members = cluster[task["type"]]
        int(task["index"])
    except (ValueError, KeyError, TypeError) as exc:
        raise EagerrunError(f"TF_CONFIG is not a cluster with this task in it ({type(exc).__name__}: {exc}): "
                            'expected {"cluster": {"worker": [...]}, "task": {"type": "worker", "index": 0}}',
                            exit_code=EXIT_USAGE) from None
    if not 0 <= int(task["index"]) < len(members):
        raise EagerrunError(f"TF_CONFIG: task index {task['index']} is not among the {len(members)} "
                            f"{task['type']}s of the cluster", exit_code=EXIT_USAGE)
    return config


def in_cluster(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether a multi-worker run here would find its cluster: TF_CONFIG, or a SLURM job; read without
    TensorFlow."""
    return bool(environ.get("TF_CONFIG")) or in_slurm_job(environ)


def in_slurm_job(environ: Mapping[str, str] = os.environ) -> bool:
    return "SLURM_PROCID" in environ or "SLURM_JOB_ID" in environ


# What SlurmClusterResolver reads (TensorFlow 2.21; it expands the node list itself, without `scontrol`).
SLURM_STEP_VARIABLES = ("SLURM_PROCID", "SLURM_STEP_NUM_TASKS", "SLURM_STEP_NODELIST", "SLURM_STEP_TASKS_PER_NODE")
SLURM_PORT_VARIABLE = "EAGERRUN_SLURM_PORT"
SLURM_DEFAULT_PORT = 8888  # SlurmClusterResolver's own port_base


def slurm_task(environ: Mapping[str, str] = os.environ) -> tuple[int, int, int]:
    """(this task's rank, the step's task count, the first port), checked without TensorFlow, so that a
    job script's mistake is one line before the import. The resolver names the tasks worker 0..N-1 by rank."""
    missing = [name for name in SLURM_STEP_VARIABLES if name not in environ]
    if missing:
        raise EagerrunError(f"--strategy multiworker in a SLURM job needs {', '.join(missing)}, which srun sets for "
                            "each task of a job step: start the workers with `srun eagerrun ...` (README: Clusters)",
                            exit_code=EXIT_USAGE)
    try:
        rank, tasks = int(environ["SLURM_PROCID"]), int(environ["SLURM_STEP_NUM_TASKS"])
        port = int(environ.get(SLURM_PORT_VARIABLE, SLURM_DEFAULT_PORT))
    except ValueError as exc:
        raise EagerrunError(f"SLURM_PROCID, SLURM_STEP_NUM_TASKS and {SLURM_PORT_VARIABLE} must be whole numbers "
                            f"({exc})", exit_code=EXIT_USAGE) from None
    if not 0 <= rank < tasks:
        raise EagerrunError(f"SLURM_PROCID {rank} is not among the {tasks} tasks of SLURM_STEP_NUM_TASKS",
                            exit_code=EXIT_USAGE)
    if not 0 < port < 65536 - tasks:
        raise EagerrunError(f"{SLURM_PORT_VARIABLE} {port}: not a port that leaves room for {tasks} tasks",
                            exit_code=EXIT_USAGE)
    return rank, tasks, port


def slurm_cluster_spec() -> dict[str, Any]:
    """This SLURM job step as TF_CONFIG's dict, from TensorFlow's SlurmClusterResolver (which reads the
    process environment): one worker per task, worker i the task of SLURM_PROCID i, each node's tasks on
    consecutive ports from EAGERRUN_SLURM_PORT (default 8888).

    The resolver is told one notional GPU per task and not to set CUDA_VISIBLE_DEVICES: left to count GPUs
    itself it runs `nvidia-smi` (missing on a CPU node: FileNotFoundError), and with fewer GPUs than tasks on
    a node it divides by zero or leaves tasks out of the cluster. GPUs are SLURM's to hand out
    (`srun --gpus-per-task`), as it does for any job; each task uses the GPUs it sees.
    """
    import tensorflow as tf
    expand_tasks_per_node = private.get("expand_tasks_per_node")

    rank, _, port = slurm_task()
    most_on_a_node = max(expand_tasks_per_node(os.environ["SLURM_STEP_TASKS_PER_NODE"]))
    try:
        resolver = tf.distribute.cluster_resolver.SlurmClusterResolver(
            port_base=port, gpus_per_node=most_on_a_node, gpus_per_task=1, auto_set_gpu=False)
        cluster = resolver.cluster_spec().as_dict()
    except (RuntimeError, ValueError) as exc:  # the resolver's words for a node list or task count it cannot read
        raise EagerrunError(f"SLURM: {exc}".splitlines()[0], exit_code=EXIT_USAGE) from None
    return {"cluster": cluster, "task": {"type": "worker", "index": rank}}


def own_task(environ: Mapping[str, str] = os.environ) -> tuple[str, int, bool]:
    """(task type, index, whether the cluster names a chief), without TensorFlow."""
    if not environ.get("TF_CONFIG") and in_slurm_job(environ):
        return "worker", slurm_task(environ)[0], False
    config = cluster_spec(environ)
    return config["task"]["type"], int(config["task"]["index"]), "chief" in config["cluster"]


def is_chief(options: StrategyOptions, environ: Mapping[str, str] = os.environ) -> bool:
    """The one process that prints and writes: always, but for multi-worker runs, TF_CONFIG's chief
    (or worker 0 when the cluster names no chief, as under SLURM), as MultiWorkerMirroredStrategy itself
    decides."""
    if options.name != "multiworker":
        return True
    task_type, index, has_chief = own_task(environ)
    if has_chief:
        return task_type == "chief"
    return task_type == "worker" and index == 0


def worker_label(environ: Mapping[str, str] = os.environ) -> str:
    task_type, index, _ = own_task(environ)
    return f"{task_type} {index}"


def own_address(environ: Mapping[str, str] = os.environ) -> str:
    """This task's 'host:port' in the cluster."""
    config = cluster_spec(environ)
    return str(config["cluster"][config["task"]["type"]][int(config["task"]["index"])])


# A task in TensorFlow's messages: '/job:worker/replica:0/task:1' or '/job:worker/task:1'.
_TASK_NAME = re.compile(r"/job:(\w+)/(?:replica:\d+/)?task:(\d+)")
_LOST_PEER_REASONS = {"stopped sending heartbeats": "its heartbeats stopped",
                      "Connection reset by peer": "connection reset", "Connection refused": "connection refused",
                      "Socket closed": "socket closed"}


def lost_peer(error: BaseException, *, steps_done: int, environ: Mapping[str, str] = os.environ,
              ) -> EagerrunError | None:
    """The one-line error for TensorFlow's word that a peer worker is gone, or None for any other error.

    A multi-worker collective op fails when a peer dies: with UnavailableError at once where a connection to
    it is reset, or within the coordination service's heartbeat timeout (10 s by default) otherwise. The lost
    worker is the task the message names other than this one; where it names none, the only other worker.
    """
    import tensorflow as tf

    if not in_cluster(environ) or not isinstance(error, tf.errors.OpError):
        return None
    text = str(error)
    if not isinstance(error, tf.errors.UnavailableError) and "Collective ops is aborted" not in text:
        return None
    try:
        config = cluster_spec(environ)
    except EagerrunError:  # not a multi-worker run after all (a mirrored one inside a SLURM job, say)
        return None
    me = (config["task"]["type"], int(config["task"]["index"]))
    # Where the message says who: the unhealthy tasks listed after the phrase, or the connection's remote end.
    evidence = [text.partition("stopped sending heartbeats")[2], " ".join(re.findall(r"remote target (\S+)", text)),
                text]
    named = next((tasks for part in evidence
                  if (tasks := sorted({(job, int(index)) for job, index in _TASK_NAME.findall(part)} - {me}))), [])
    others = [(job, index) for job, members in config["cluster"].items() for index in range(len(members))
              if (job, index) != me]
    lost = named or (others if len(others) == 1 else [])
    who = (", ".join(f"{job} {index} of {len(config['cluster'][job])}" for job, index in lost)
           if lost else "a peer worker")
    reason = next((short for phrase, short in _LOST_PEER_REASONS.items() if phrase in text), type(error).__name__)
    when = f"after step {steps_done}" if steps_done else "before its first step"
    return EagerrunError(f"{who} stopped answering ({reason}); this worker stopped {when}",
                         exit_code=EXIT_PEER_LOST)


def create_strategy(options: StrategyOptions) -> Any:
    """The strategy, created before any op runs; None for the default (one device, no strategy at all)."""
    import tensorflow as tf

    if options.name == "default":
        return None
    if options.name == "multiworker":
        try:
            return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=cluster_resolver())
        except tf.errors.UnknownError as exc:  # all TensorFlow says when its gRPC server cannot bind
            if "Could not start gRPC server" not in str(exc):
                raise
            source, fix = (("TF_CONFIG", "give it a free port") if os.environ.get("TF_CONFIG") else
                           ("SLURM", f"set {SLURM_PORT_VARIABLE} to the first of free ports, one per task on a node"))
            raise EagerrunError(f"{source}: {worker_label()} cannot listen on its address {own_address()}: the port "
                                f"is taken (or not allowed); {fix}", exit_code=EXIT_PORT_TAKEN) from None
    if options.cpu_replicas is not None:
        return tf.distribute.MirroredStrategy(split_cpu(options.cpu_replicas))
    gpus = tf.config.list_logical_devices("GPU")
    if not gpus:
        import logging

        logging.getLogger("eagerrun").warning(
            "--strategy mirrored: no GPU is visible, so it mirrors over the CPU alone (1 replica); "
            "--cpu-replicas N splits the CPU into N")
    return tf.distribute.MirroredStrategy()


def cluster_resolver() -> Any:
    """None where TF_CONFIG is set (the strategy reads it itself), else the SLURM cluster, resolved once
    into the dict every other function here reads. The strategy counts this machine's GPUs itself, as it
    does for TF_CONFIG: a resolver's `num_accelerators` would be taken as the truth."""
    import tensorflow as tf

    if os.environ.get("TF_CONFIG"):
        return None
    config = cluster_spec()
    gpus = len(tf.config.list_physical_devices("GPU"))
    return tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec(config["cluster"]), task_type=config["task"]["type"],
        task_id=config["task"]["index"], num_accelerators={"GPU": gpus} if gpus else None, rpc_layer="grpc")


def split_cpu(replicas: int) -> list[str]:
    """N logical CPU devices, so that a machine without GPUs runs (and tests) a mirrored strategy."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
    except RuntimeError as exc:
        raise EagerrunError(f"--cpu-replicas: TensorFlow's devices were already set up ({exc})",
                            exit_code=EXIT_USAGE) from None
    return [device.name for device in tf.config.list_logical_devices("CPU")]


@contextmanager
def scope(strategy: Any) -> Iterator[None]:
    """`strategy.scope()`, or nothing at all for the default strategy.

    Under a multi-worker strategy, variables created in the scope get their first values broadcast from
    worker 0, so a peer lost while the script builds (or eagerrun builds its optimizer) fails there: that is
    `lost_peer`'s one-line error too, not the script's traceback through TensorFlow's collective op.
    """
    if strategy is None:
        yield
        return
    from eagerrun.loader import UserCodeError

    with strategy.scope():
        try:
            yield
        except Exception as exc:
            lost = lost_peer(exc.error if isinstance(exc, UserCodeError) else exc, steps_done=0)
            if lost is None:
                raise
            raise lost from None


# TensorFlow's words, five times over, for each strategy.run called outside a tf.function (mirrored_run.py).
# (MultiWorkerMirroredStrategy's class is CollectiveAllReduceStrategy.)
_EAGER_OVERHEAD = re.compile(r"Using \w+ eagerly has significant overhead")


@contextmanager
def eager_overhead_said_once() -> Iterator[None]:
    """Under --eager, every step's `strategy.run` is called outside a tf.function, and TensorFlow logs
    "Using MirroredStrategy eagerly has significant overhead currently..." for the first five. For the run,
    a filter on the `tensorflow` logger drops that message and says it once in eagerrun's words, as a note;
    it is removed after the run."""
    import logging

    said = False

    def say_once(record: logging.LogRecord) -> bool:
        nonlocal said
        if not _EAGER_OVERHEAD.match(record.getMessage()):
            return True
        if not said:
            said = True
            logging.getLogger("eagerrun").info(
                "--eager runs each step of the strategy op by op on every replica, outside any tf.function "
                "(TensorFlow: \"significant overhead\"): far slower than --graph, so these step times say "
                "little about a graph run's")
        return False

    logger = logging.getLogger("tensorflow")
    logger.addFilter(say_once)
    try:
        yield
    finally:
        logger.removeFilter(say_once)


def build_under_scope(strategy: Any, spec: Any) -> None:
    """Build the model and then its optimizer inside the scope, before the first step.

    The optimizer's slots must be mirrored variables created here: left to the first `apply_gradients`
    inside `strategy.run`, a Keras 3 optimizer fails. A model without an Input is built from the
    dataset's element spec first, or it would have no variables to build the optimizer for.
    """
    model, optimizer = spec.model, spec.optimizer
    if model is None or optimizer is None:
        return
    with scope(strategy):
        if not model.built:
            model.build(spec.dataset.element_spec[0].shape)
        if not optimizer.built:
            optimizer.build(model.trainable_variables)


def describe(strategy: Any) -> str:
    """'mirrored over 2 replicas (CPU:0, CPU:1 here)' for the run summary."""
    import tensorflow as tf

    devices = ", ".join(short_device(d) for d in strategy.extended.worker_devices)
    kind = "multi-worker mirrored" if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) else "mirrored"
    replicas = strategy.num_replicas_in_sync
    return f"{kind} over {replicas} replica{'' if replicas == 1 else 's'} ({devices} here)"


def short_device(name: str) -> str:
    """'/job:localhost/replica:0/task:0/device:CPU:1' -> 'CPU:1'."""
    return name.rsplit("device:", 1)[-1]
