"""`--precision`: Keras' dtype policy for the trainer, and float16's loss scaling.

The policy is process-wide in Keras, so it is set before the script is imported (a model built at import
time gets it too) and put back when the run ends (switches.py). `mixed_float16` needs loss scaling, or small gradients
underflow to zero in float16: the optimizer is wrapped in Keras' `LossScaleOptimizer`, whose dynamic scale
halves, and the update is skipped, whenever a step's gradients are not finite. Such a step is recorded as
skipped, not as a non-finite loss: it is how loss scaling finds its scale, not a diverging model.
`mixed_bfloat16` has float32's range and needs no scaling. Losses are recorded in float32 (the runner reads
every value as float64).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from eagerrun.config import Precision

LOSS_SCALE = "loss_scale"


def with_loss_scaling(spec: Any, name: Precision) -> Any:
    """The spec with its optimizer wrapped in a `LossScaleOptimizer` under mixed_float16 (unless it already
    is one). Call it inside the strategy's scope: the wrapper's scale is a variable of its own."""
    import keras

    if name != "mixed_float16" or spec.optimizer is None or is_loss_scaled(spec.optimizer):
        return spec
    return replace(spec, optimizer=keras.optimizers.LossScaleOptimizer(spec.optimizer))


def is_loss_scaled(optimizer: Any) -> bool:
    import keras

    return isinstance(optimizer, keras.optimizers.LossScaleOptimizer)


def loss_scale_value(optimizer: Any) -> Callable[[], dict[str, Any]] | None:
    """The runner's `after_step` reading the loss scale after each step, for a loss-scaled optimizer."""
    if optimizer is None or not is_loss_scaled(optimizer):
        return None
    return lambda: {LOSS_SCALE: optimizer.dynamic_scale}


class SkippedSteps:
    """Tells which recorded steps a `LossScaleOptimizer` skipped: the scale halves on those steps alone
    (it doubles after a run of finite ones), so a step whose scale is below the previous step's was skipped."""

    def __init__(self, optimizer: Any) -> None:
        self._previous = None
        if is_loss_scaled(optimizer):  # built: it may come from a checkpoint; else its first scale
            self._previous = float(optimizer.dynamic_scale.numpy()) if optimizer.built else float(
                optimizer.initial_scale)

    def skipped(self, values: dict[str, float]) -> bool:
        scale = values.get(LOSS_SCALE)
        if scale is None or self._previous is None:
            return False
        was, self._previous = self._previous, scale
        return scale < was
