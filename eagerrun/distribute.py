"""tf.distribute for the trainer: which strategy, which devices, and the step run on every replica.

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
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from eagerrun.errors import EXIT_PEER_LOST, EXIT_PORT_TAKEN, EXIT_USAGE, EagerrunError

StrategyName = Literal["default", "mirrored", "multiworker"]


@dataclass(frozen=True)
class StrategyOptions:
    """`--strategy` and `--cpu-replicas`, checked against each other before TensorFlow loads."""

    name: StrategyName = "default"
    cpu_replicas: int | None = None

    def check(self) -> None:
        if self.cpu_replicas is not None and self.name != "mirrored":
            raise EagerrunError("--cpu-replicas splits the CPU for --strategy mirrored: add --strategy mirrored",
                                exit_code=EXIT_USAGE)
        if self.name == "multiworker":
            cluster_spec()


def cluster_spec(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """TF_CONFIG, parsed and checked: a multi-worker run without it would wait for nobody, forever."""
    raw = environ.get("TF_CONFIG")
    if not raw:
        raise EagerrunError("--strategy multiworker needs TF_CONFIG (see README: Several machines), or use "
                            "`eagerrun launch --workers N` to start local workers", exit_code=EXIT_USAGE)
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


def is_chief(options: StrategyOptions, environ: Mapping[str, str] = os.environ) -> bool:
    """The one process that prints and writes: always, but for multi-worker runs, TF_CONFIG's chief
    (or worker 0 when the cluster names no chief), as MultiWorkerMirroredStrategy itself decides."""
    if options.name != "multiworker":
        return True
    config = cluster_spec(environ)
    task_type, index = config["task"]["type"], int(config["task"]["index"])
    if "chief" in config["cluster"]:
        return task_type == "chief"
    return task_type == "worker" and index == 0


def worker_label(environ: Mapping[str, str] = os.environ) -> str:
    config = json.loads(environ["TF_CONFIG"])
    return f"{config['task']['type']} {config['task']['index']}"


def own_address(environ: Mapping[str, str] = os.environ) -> str:
    """This task's 'host:port' in TF_CONFIG's cluster."""
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

    if "TF_CONFIG" not in environ or not isinstance(error, tf.errors.OpError):
        return None
    text = str(error)
    if not isinstance(error, tf.errors.UnavailableError) and "Collective ops is aborted" not in text:
        return None
    config = cluster_spec(environ)
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
            return tf.distribute.MultiWorkerMirroredStrategy()
        except tf.errors.UnknownError as exc:  # all TensorFlow says when its gRPC server cannot bind
            if "Could not start gRPC server" not in str(exc):
                raise
            raise EagerrunError(f"TF_CONFIG: {worker_label()} cannot listen on its address {own_address()}: the "
                                "port is taken (or not allowed); give it a free port",
                                exit_code=EXIT_PORT_TAKEN) from None
    if options.cpu_replicas is not None:
        return tf.distribute.MirroredStrategy(split_cpu(options.cpu_replicas))
    gpus = tf.config.list_logical_devices("GPU")
    if not gpus:
        import logging

        logging.getLogger("eagerrun").warning(
            "--strategy mirrored: no GPU is visible, so it mirrors over the CPU alone (1 replica); "
            "--cpu-replicas N splits the CPU into N")
    return tf.distribute.MirroredStrategy()


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
    """`strategy.scope()`, or nothing at all for the default strategy."""
    if strategy is None:
        yield
        return
    with strategy.scope():
        yield


def build_under_scope(strategy: Any, spec: Any) -> None:
    """Build the model and then its optimizer inside the scope, before the first step.

    The optimizer's slots must be mirrored variables created here: left to the first `apply_gradients`
    inside `strategy.run`, a Keras 3 optimizer fails. A model without an Input is built from the
    dataset's element spec first, or it would have no variables to build the optimizer for.
    """
    model, optimizer = spec.model, spec.optimizer
    if model is None or optimizer is None:
        return
    with strategy.scope():
        if not model.built:
            model.build(spec.dataset.element_spec[0].shape)
        if not optimizer.built:
            optimizer.build(model.trainable_variables)


def describe(strategy: Any) -> str:
    """'mirrored over 2 replicas (CPU:0, CPU:1 here)' for the run summary."""
    import tensorflow as tf

    devices = ", ".join(short_device(d) for d in strategy.extended.worker_devices)
    kind = "multi-worker mirrored" if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) else "mirrored"
    return f"{kind} over {strategy.num_replicas_in_sync} replicas ({devices} here)"


def short_device(name: str) -> str:
    """'/job:localhost/replica:0/task:0/device:CPU:1' -> 'CPU:1'."""
    return name.rsplit("device:", 1)[-1]


def replicated_step(strategy: Any, step: Callable[[Any], Any], *, xla: bool) -> Callable[[Any], tuple[Any, Any]]:
    """The step run on every replica through `strategy.run`: (named values, global batch size).

    Each replica's step returns its share of the global mean (its examples' losses summed over the global
    batch size), so the replicas' losses add up to the mean; their batch sizes add up to the global batch.
    Each named value (`steps.named_values`) is summed on its own: a multi-worker strategy cannot reduce a
    dict at once. With --xla only the replica's step is jit-compiled, as TensorFlow's guides do it.
    """
    import tensorflow as tf

    from eagerrun.steps import with_batch_size

    replica_step = with_batch_size(step)
    if xla:
        replica_step = tf.function(replica_step, jit_compile=True)

    def distributed_step(batch: Any) -> tuple[Any, Any]:
        values, sizes = strategy.run(replica_step, args=(batch,))
        return ({name: strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None) for name, value in values.items()},
                strategy.reduce(tf.distribute.ReduceOp.SUM, sizes, axis=None))

    return distributed_step
