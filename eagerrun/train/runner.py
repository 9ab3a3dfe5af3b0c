"""The runner: `train(iterator, n)` runs n training steps and hands back every step's values.

It is Orbit's `StandardTrainer.train(num_steps)` and Keras' `make_train_function`, and the one place that
applies the mode, XLA, steps per execution and the strategy, composed as Keras' TensorFlow trainer does:

    the step (plain Python: batch -> loss or named values)
    -> run on every replica by `strategy.run` (the default strategy when none was chosen: one replica),
       jit-compiled there with --xla, its values summed over the replicas in one all-reduce
    -> n of them in one loop over the iterator
    -> one `tf.function` (graph mode), or that loop in plain Python (eager mode).

The runner never records, checks, checkpoints or stops: the controller (`train/trainer.py`) does all of that
between calls, where the weights, the step counter and the iterator's position agree. K=1 is a loop of
one, so every run takes the same path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eagerrun.train.step import metric_results, named_values

SIZE = "__batch_size__"  # the batch size travels in the step's packed row, after the values
STOP = "__stop__"  # multi-worker: how many replicas' workers were asked to stop (a signal)


@dataclass(frozen=True)
class StepOutputs:
    """What `train(n)` ran: one row per step (fewer than n where the iterator ran out).

    `values[i]` are step i's named numbers (losses, the step's own values, the metrics' running results,
    the loss scale under mixed_float16), read on the host as Python floats; `batch_sizes[i]` is its global
    batch. `stop` says that some worker of a multi-worker run was asked to stop: every worker sees it on the
    same step, because it travelled in the step's own all-reduce.
    """

    values: list[dict[str, float]]
    batch_sizes: list[int]
    stop: bool = False

    def __len__(self) -> int:
        return len(self.values)


class StepRunner:
    """Builds the compiled loop once; `train(iterator, n)` calls it.

    `end_foreseen`: the caller knows where the data ends (its length is known, or it repeats forever) and
    never asks for a step past it, so a single step may skip the end-of-data check.

    `step` is the replica's step, `batch -> loss or {name: value}`, already holding any global averaging it
    needs (`steps.builtin_train_step` does). `metrics` are read after each step in cross-replica context,
    where their variables are summed over the replicas. `after_step` adds named values read after each step
    (the loss scale), also outside the replicas.
    """

    def __init__(self, step: Callable[[Any], Any], *, eager: bool, xla: bool = False, strategy: Any = None,
                 metrics: Sequence[Any] = (), after_step: Callable[[], dict[str, Any]] | None = None,
                 end_foreseen: bool = False) -> None:
        import tensorflow as tf

        self._strategy = strategy if strategy is not None else tf.distribute.get_strategy()
        self._replica_step = tf.function(self._packed(step), jit_compile=True) if xla else self._packed(step)
        self._metrics = tuple(metrics)
        self._after_step = after_step
        self._names: list[str] = []  # the packed row's names, filled when the step first runs (or traces)
        self._outer_names: list[str] = []  # then those of the values read outside the replicas
        self._stop_flag = None
        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            with tf.init_scope():
                self._stop_flag = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="eagerrun_stop")
        self._eager = eager
        self._loop: Any = None if eager else tf.function(self._graph_loop)
        # One step on the iterator, without the loop: 20% faster a step on the benchmark's MLP than a loop of
        # one. Used where the caller never asks past the data's end (its length is known, or infinite), as
        # the end of data inside a graph is an error, not a value.
        self._single: Any = None if eager or not end_foreseen else tf.function(lambda it: self._one_step(next(it)))
        self._step_counts: dict[int, Any] = {}

    def _packed(self, step: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """The replica's step returning one float64 vector: its values, its batch size, its stop flag.

        One vector means one all-reduce per step, whatever the number of values (a multi-worker strategy
        cannot reduce a dict at once), and float64 keeps every float32 loss exact through the sum.
        """
        import tensorflow as tf

        def replica_step(batch: Any) -> Any:
            values = named_values(step(batch))
            size = tf.shape(tf.nest.flatten(batch)[0])[0]
            parts = {**values, SIZE: size}
            if self._stop_flag is not None:
                parts[STOP] = self._stop_flag.read_value()
            self._names[:] = list(parts)
            return tf.stack([tf.cast(value, tf.float64) for value in parts.values()])

        return replica_step

    def _one_step(self, batch: Any) -> Any:
        """The step on every replica, summed; then the values read outside the replicas."""
        import tensorflow as tf

        strategy = self._strategy
        row = strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(self._replica_step, args=(batch,)), axis=None)
        outer = {**metric_results(self._metrics), **(self._after_step() if self._after_step else {})}
        self._outer_names[:] = list(outer)
        if not outer:
            return row
        return tf.concat([row, tf.stack([tf.cast(value, tf.float64) for value in outer.values()])], axis=0)

    def _graph_loop(self, iterator: Any, num_steps: Any) -> Any:
        """Up to `num_steps` steps in one graph, stopping early where the iterator runs out (an epoch's end)."""
        import tensorflow as tf

        rows = tf.TensorArray(tf.float64, size=0, dynamic_size=True)
        for i in tf.range(num_steps):
            optional = iterator.get_next_as_optional()
            if not optional.has_value():
                break
            rows = rows.write(i, self._one_step(optional.get_value()))
        return rows.stack()

    def train(self, iterator: Any, num_steps: int) -> StepOutputs:
        """Run up to `num_steps` steps from `iterator`; fewer where it runs out."""
        import tensorflow as tf

        if self._eager:
            rows = []
            for _ in range(num_steps):
                try:
                    batch = next(iterator)
                except StopIteration:
                    break
                rows.append(self._one_step(batch).numpy())
        elif num_steps == 1 and self._single is not None:
            try:
                rows = self._single(iterator).numpy()[None]
            except tf.errors.OutOfRangeError:  # a dataset shorter than its declared length
                rows = []
        else:
            rows = self._loop(iterator, self._step_count(num_steps)).numpy()
        return self._outputs(rows)

    def _step_count(self, num_steps: int) -> Any:
        """The step count as a tensor (a new count must not retrace), made once per count."""
        count = self._step_counts.get(num_steps)
        if count is None:
            import tensorflow as tf

            count = self._step_counts[num_steps] = tf.constant(num_steps)
        return count

    def _outputs(self, rows: Any) -> StepOutputs:
        names = [*self._names, *self._outer_names] if len(rows) else []
        values, sizes, stop = [], [], False
        for row in rows:
            named = dict(zip(names, row.tolist()))
            sizes.append(int(named.pop(SIZE)))
            stop = named.pop(STOP, 0.0) > 0 or stop
            values.append(named)
        return StepOutputs(values=values, batch_sizes=sizes, stop=stop)

    def ask_peers_to_stop(self) -> None:
        """Multi-worker: the next step's all-reduce tells every worker that this one was asked to stop."""
        if self._stop_flag is not None:
            self._stop_flag.assign(1.0)

    @property
    def agrees_on_stops(self) -> bool:
        """Whether a stop must be agreed with peer workers (multi-worker) rather than taken alone."""
        return self._stop_flag is not None
