"""eagerrun: run a TensorFlow training script eagerly or as graphs, and see every step's loss and time.

A script may use two names from here; neither imports TensorFlow, and both work under plain `python` too:
`log_step(loss, **metrics)` records one step of the script's own loop (a no-op without eagerrun), and
`TrainSpec` is what a `--train` script's `build()` may return.
"""

from eagerrun.autolog import log_step
from eagerrun.spec import TrainSpec

__version__ = "0.1.0"
__all__ = ["TrainSpec", "__version__", "log_step"]
