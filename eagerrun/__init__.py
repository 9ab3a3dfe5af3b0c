"""eagerrun: run a TensorFlow training script eagerly or as graphs, and see every step's loss and time.

A script may use two names from here; neither imports TensorFlow, and both work under plain `python` too:
`log_step(loss, **metrics)` records one step of the script's own loop (a no-op without eagerrun), and
`TrainSpec` is what a `--train` script's `build()` may return.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eagerrun.autolog.collector import log_step
    from eagerrun.train.spec import TrainSpec

__version__ = "0.1.0"
__all__ = ["TrainSpec", "__version__", "log_step"]


def __getattr__(name: str) -> Any:
    """`log_step` and `TrainSpec` load when first used, so that importing one of eagerrun's modules (the
    CLI's, the config's) does not load the recording machinery."""
    if name == "log_step":
        from eagerrun.autolog.collector import log_step

        return log_step
    if name == "TrainSpec":
        from eagerrun.train.spec import TrainSpec

        return TrainSpec
    raise AttributeError(f"module 'eagerrun' has no attribute {name!r}")
