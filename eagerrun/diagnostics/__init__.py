"""What eagerrun finds out about a run besides its steps: `compare` (compare.py, side_effects.py), the
op that made a NaN (numerics.py), retraces (tracing.py), the post-mortem debugger (postmortem.py) and
`eagerrun env` (environment.py). Never imported by the step sources or the trainer, except tracing's
counter, which the hooks feed."""
