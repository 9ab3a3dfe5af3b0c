"""Every private TensorFlow and Keras name eagerrun uses, imported here and nowhere else.

The hooks and the graph-value reads need names TensorFlow and Keras do not export: the `tf.function`
classes and their trace entry point, `FuncGraph`, the replica threads of `MirroredStrategy`, tf.data's
debug-mode flag, the stack filters of TensorFlow's error messages, Keras' optimizer base class. A new
TensorFlow or Keras can move or rename any of them, so they are listed in one table, each imported the
first time it is asked for (importing this module imports neither library), and `missing()` says which
the installed versions lack, attributes eagerrun patches or reads included: tests/test_tf_compat.py
asserts none is, and `eagerrun env` names them. Written against TensorFlow 2.21 and Keras 3.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any, Literal

PrivateName = Literal[
    "ops", "EagerTensor", "FuncGraph", "tracing_compilation", "TracingOptions", "tf_decorator", "tf_stack",
    "executing_eagerly", "functions_run_eagerly", "Function", "ConcreteFunction", "distribute_lib",
    "MirroredReplicaThread", "expand_tasks_per_node", "debug_mode", "BaseOptimizer", "autograph_api",
    "OwnedIterator", "EagerTensorBase", "xplane_pb2", "profiler_plugin",
]

# name: (module, attribute of it, or None for the module itself)
PRIVATE: dict[str, tuple[str, str | None]] = {
    "ops": ("tensorflow.python.framework.ops", None),
    "EagerTensor": ("tensorflow.python.framework.ops", "EagerTensor"),
    "FuncGraph": ("tensorflow.python.framework.func_graph", "FuncGraph"),
    "tracing_compilation": ("tensorflow.python.eager.polymorphic_function.tracing_compilation", None),
    "TracingOptions": ("tensorflow.python.eager.polymorphic_function.tracing_compilation", "TracingOptions"),
    "tf_decorator": ("tensorflow.python.util.tf_decorator", None),
    "tf_stack": ("tensorflow.python.util.tf_stack", None),
    "executing_eagerly": ("tensorflow.python.eager.context", "executing_eagerly"),
    "functions_run_eagerly": ("tensorflow.python.eager.polymorphic_function.eager_function_run",
                              "functions_run_eagerly"),
    "Function": ("tensorflow.python.eager.polymorphic_function.polymorphic_function", "Function"),
    "ConcreteFunction": ("tensorflow.python.eager.polymorphic_function.concrete_function", "ConcreteFunction"),
    "distribute_lib": ("tensorflow.python.distribute.distribute_lib", None),
    "MirroredReplicaThread": ("tensorflow.python.distribute.mirrored_run", "_MirroredReplicaThread"),
    "expand_tasks_per_node": ("tensorflow.python.distribute.cluster_resolver.slurm_cluster_resolver",
                              "expand_tasks_per_node"),
    "debug_mode": ("tensorflow.python.data.ops.debug_mode", None),
    "BaseOptimizer": ("keras.src.optimizers.base_optimizer", "BaseOptimizer"),
    "autograph_api": ("tensorflow.python.autograph.impl.api", None),
    "OwnedIterator": ("tensorflow.python.data.ops.iterator_ops", "OwnedIterator"),
    "EagerTensorBase": ("tensorflow.python.framework.ops", "_EagerTensorBase"),
    "xplane_pb2": ("tensorflow.tsl.profiler.protobuf.xplane_pb2", None),
    "profiler_plugin": ("tensorflow.python.profiler.internal._pywrap_profiler_plugin", None),
}

# The private attributes of those that eagerrun patches or reads.
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "tracing_compilation": ("_create_concrete_function",),
    "TracingOptions": ("function_captures", "attributes", "python_function", "name"),
    "ConcreteFunction": ("_call_flat",),
    "Function": ("__call__", "get_concrete_function"),
    "distribute_lib": ("StrategyBase",),
    "debug_mode": ("DEBUG_MODE",),
    "tf_stack": ("StackTraceFilter",),
    "tf_decorator": ("make_decorator",),
    "ops": ("get_default_graph",),
    "BaseOptimizer": ("apply",),
    "autograph_api": ("_convert_actual",),
    "OwnedIterator": ("__next__", "__init__"),
    "EagerTensorBase": ("numpy", "__float__", "__int__", "__bool__", "__index__"),
    "xplane_pb2": ("XSpace",),
    "profiler_plugin": ("xspace_to_tools_data",),
    "MirroredReplicaThread": ("__init__",),
}


@functools.cache
def get(name: PrivateName) -> Any:
    """The object `name` stands for; ImportError where the installed TensorFlow or Keras has none."""
    module, attribute = PRIVATE[name]
    loaded = importlib.import_module(module)
    if attribute is None:
        return loaded
    try:
        return getattr(loaded, attribute)
    except AttributeError:
        raise ImportError(f"{module} has no {attribute}") from None


def missing() -> list[str]:
    """What the installed TensorFlow and Keras lack of the table, as `module.attribute`; [] when all is there."""
    absent = []
    for name, (module, attribute) in PRIVATE.items():
        try:
            found = get(name)
        except ImportError:
            absent.append(f"{module}.{attribute}" if attribute else module)
            continue
        absent += [f"{module}.{attribute or ''}{'.' if attribute else ''}{needed}"
                   for needed in ATTRIBUTES.get(name, ()) if not hasattr(found, needed)]
    return absent
