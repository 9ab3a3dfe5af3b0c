"""The benchmark's model and data, shared by every configuration so they differ only in what drives them.

The sample's MLP (sample_scripts/mlp_spec.py: 16 -> 64 -> 64 -> 1) on 4096 fixed examples in batches of 64,
repeated forever: every configuration runs exactly the number of steps it is asked for, none ragged. It is
also a trainer spec: `eagerrun --graph --train benchmarks/bench_model.py --steps 500`.
"""

import sys
from pathlib import Path

import keras
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sample_scripts"))
from mlp_spec import make_data, make_model  # noqa: E402

BATCH = 64


def build():
    return {
        "model": make_model(),
        "optimizer": keras.optimizers.Adam(1e-3),
        "loss": "mse",
        # drop_remainder: every batch is 64 anyway; it also says so in the element_spec, which eagerrun
        # traces its step for (an open batch dimension would cost eagerrun 4%, see README: Benchmark)
        "dataset": tf.data.Dataset.from_tensor_slices(make_data(4096)).batch(BATCH, drop_remainder=True).repeat(),
    }
