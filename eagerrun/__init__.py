"""eagerrun: run a TensorFlow training script eagerly or as graphs, and see every step's loss and time."""

__version__ = "0.1.0"
