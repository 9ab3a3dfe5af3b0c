"""eagerrun's own training loop (`--train`): the script's spec (spec.py), the compiled step (step.py), the
runner that calls it K steps at a time (runner.py), the controller around it (trainer.py) with its
checkpoints (checkpoints.py) and precision (precision.py). Imports the records and the cluster's strategy
helpers, never the autolog hooks or the report."""
