"""A tutorial-style script that switches eager execution itself from its own --debug flag.

Under eagerrun the command line wins: `eagerrun --graph debug_flag.py --debug` keeps graph mode and warns,
naming the line below; `eagerrun --graph --script-decides debug_flag.py --debug` lets the script switch.
"""

import argparse

import tensorflow as tf

parser = argparse.ArgumentParser()
parser.add_argument("--debug", action="store_true", help="run tf.function bodies eagerly")
args = parser.parse_args()

tf.config.run_functions_eagerly(args.debug)


@tf.function
def square(x):
    print("square body runs eagerly:", tf.executing_eagerly())
    return x * x


print("result:", int(square(tf.constant(3))))
