"""Checkpoints for the trainer: TensorFlow's own `tf.train.CheckpointManager` over the model, the
optimizer, the step and epoch counters and the dataset iterator, so a resumed run continues exactly where
the interrupted one stopped.

The iterator is saved with tf.data's symbolic checkpointing (`with_exact_position`): it records which
elements the trainer consumed, where the default records the pipeline's buffers. Measured with a reshuffling
dataset and a prefetch (tf.data injects one by itself): with the default a resumed run's next epoch came in
another order about half the time, depending on how far the prefetch had read when the checkpoint was
saved; symbolic, never. A pipeline that cannot be saved so (`cache()`, a non-deterministic parallel `map`)
is not saved at all: the resumed run reads the data again up to the checkpoint's step (`Dataset.skip`).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from eagerrun.errors import EXIT_USAGE, EagerrunError

log = logging.getLogger("eagerrun")

ITERATOR_STATE = "iterator/.ATTRIBUTES/ITERATOR_STATE"


def has_checkpoint(directory: Path | None) -> bool:
    """Whether DIR already holds a run to resume; read from the file system, before TensorFlow loads."""
    return directory is not None and (directory / "checkpoint").is_file()


class TrainCheckpoint:
    """Saves every `every` steps, at the end and on interrupt; restores the latest on start.

    In a multi-worker run every worker saves (reading a variable may take every worker's part), but only
    the chief into DIR; the others write into a scratch folder of their own, removed at the end, as
    TensorFlow's multi-worker guide does. Every worker restores from DIR.
    """

    def __init__(self, directory: Path, *, model: Any, optimizer: Any, every: int | None, chief: bool = True,
                 metrics: Any = ()) -> None:
        import tensorflow as tf

        self.directory = directory
        self._scratch = None if chief else Path(tempfile.mkdtemp(prefix="eagerrun-worker-checkpoint-"))
        self.every = every
        self.model, self.optimizer = model, optimizer
        self._step = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._epoch = tf.Variable(1, dtype=tf.int64, trainable=False)
        self._batch = tf.Variable(0, dtype=tf.int64, trainable=False)  # batches done in that epoch
        parts = {"step": self._step, "epoch": self._epoch, "batch": self._batch}
        if model is not None:
            parts["model"] = model
            # Keras 3 keeps each layer's random state (Dropout's seed generator) in model.variables but
            # not in TensorFlow's object graph: without it a resumed run would draw different masks.
            parts["random_state"] = [v for v in model.variables if "seed_generator" in v.path]
        if optimizer is not None:
            parts["optimizer"] = optimizer
        if metrics:  # their running means over the epoch so far, so a resumed epoch's go on from them
            parts["metrics"] = [variable for metric in metrics for variable in metric.variables]
        self.checkpoint = tf.train.Checkpoint(**parts)
        self._iterator_saved = True  # until the dataset turns out not to allow it
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(self._scratch or directory),
                                                  max_to_keep=3 if chief else 1)

    def restore(self, dataset: Any, *, with_iterator: bool = True) -> tuple[int, int, int, Any]:
        """(last step done, epoch, batches done in that epoch, that epoch's iterator) from the latest
        checkpoint, or (0, 1, 0, None).

        With `with_iterator` the iterator comes back where it stopped. Distributed iterators cannot be
        checkpointed: without it the caller skips the batches done instead. A checkpoint of a different
        model is refused, and nothing is ever written over it.
        """
        import tensorflow as tf

        latest = tf.train.latest_checkpoint(str(self.directory))
        if latest is None:
            return 0, 1, 0, None
        if self.optimizer is not None and self.model is not None and not self.optimizer.built:
            self.optimizer.build(self.model.trainable_variables)  # its slots must exist to be matched now
        with_iterator = with_iterator and tf.train.load_checkpoint(latest).has_tensor(ITERATOR_STATE)
        iterator = iter(dataset) if with_iterator else None
        if with_iterator:
            self.checkpoint.iterator = iterator
        status = None
        try:
            status = self.checkpoint.restore(latest)
            status.assert_consumed()
        except (AssertionError, ValueError, tf.errors.OpError) as exc:
            if status is not None:
                status.expect_partial()  # no "unrestored values" warnings about the refused checkpoint
            reason = str(exc).strip().splitlines()[0][:160]
            raise EagerrunError(
                f"--checkpoint-dir {self.directory}: its checkpoint does not belong to this model ({reason}); "
                "it was left untouched: use another --checkpoint-dir", exit_code=EXIT_USAGE) from None
        step, epoch, batch = int(self._step.numpy()), int(self._epoch.numpy()), int(self._batch.numpy())
        log.info("resumed from step %d (epoch %d) of %s", step, epoch, latest)
        return step, epoch, batch, iterator

    def track_iterator(self, iterator: Any) -> None:
        if self._iterator_saved:
            self.checkpoint.iterator = iterator

    def due(self, step: int) -> bool:
        return self.every is not None and step % self.every == 0

    def save(self, *, step: int, epoch: int, batch: int) -> None:
        if step == 0:
            return
        import tensorflow as tf

        self._step.assign(step)
        self._epoch.assign(epoch)
        self._batch.assign(batch)
        try:
            self.manager.save(checkpoint_number=step)
        except tf.errors.UnimplementedError as exc:  # a cache() or a non-deterministic map: no symbolic state
            if not self._iterator_saved or "symbolic checkpoint" not in str(exc):
                raise
            log.info("the dataset's position is not saved (%s): a resumed run reads up to it again",
                     str(exc).strip().splitlines()[0].split("} ")[-1])
            self._iterator_saved = False
            del self.checkpoint.iterator
            self.manager.save(checkpoint_number=step)

    def close(self) -> None:
        """Remove a non-chief worker's scratch checkpoints; the chief's stay in DIR."""
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)


def with_exact_position(dataset: Any) -> Any:
    """The dataset with tf.data's symbolic checkpointing on (see the module's docstring)."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_symbolic_checkpoint = True
    return dataset.with_options(options)
