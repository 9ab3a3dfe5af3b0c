"""Prints the mode this script really runs in: is a tf.function body, and a Dataset.map function, eager?

    eagerrun --eager sample_scripts/print_mode.py     -> function body eager: True
    eagerrun --graph sample_scripts/print_mode.py     -> function body eager: False
"""

import json
import sys

import tensorflow as tf


@tf.function  # decorated at import time: the mode must already be set when this line runs
def body_is_eager():
    return tf.executing_eagerly()  # a Python bool, evaluated when the body executes (or is traced)


def map_is_eager(_):
    seen.append(tf.executing_eagerly())
    return _


seen = []
list(tf.data.Dataset.range(2).map(map_is_eager))

facts = {
    "argv": sys.argv,
    "function_body_eager": bool(body_is_eager()),
    "data_function_eager": seen[-1],
    "top_level_eager": tf.executing_eagerly(),
}
if "--json" in sys.argv[1:]:
    print(json.dumps(facts))
else:
    for key, value in facts.items():
        print(f"{key}: {value}")
