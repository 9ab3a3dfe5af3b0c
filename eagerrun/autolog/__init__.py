"""Step sources of a script eagerrun runs as `__main__`: the hooks on TensorFlow and Keras (hooks.py), the
collector that turns their events into steps (collector.py), the steps it is making (steps.py), where a
call's losses are and how they are named (plans.py), the callback it adds to Keras' fit (fit.py), a step's
moments and numbers (values.py), and how a graph-mode value is read from the call that made it
(graph_values.py). Imports the records, never the trainer, the cluster or the report."""
