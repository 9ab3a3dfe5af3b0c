"""The corpus: TensorFlow's own tutorials and guides, shrunk to synthetic data, each printing the values it
computed itself (ORACLE lines), run under python and eagerrun by `python -m tests.corpus` (see oracle.py)."""
