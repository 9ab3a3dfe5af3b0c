"""TensorFlow's distributed custom-training tutorial (tutorials/distribute/custom_training) in small:
MirroredStrategy over N logical CPUs (argv[1], default 1), `distributed_train_step` a tf.function calling
`strategy.run(train_step, ...)` and returning `strategy.reduce(SUM, ...)`; with argv[2] == "epoch", the whole
epoch's loop inside one tf.function, as the tutorial's last section. Oracle: the reduced loss the script's
own loop gets back, printed as a JSON line."""

import json
import sys

import numpy as np
import tensorflow as tf

replicas = int(sys.argv[1]) if len(sys.argv) > 1 else 1
whole_epoch = len(sys.argv) > 2 and sys.argv[2] == "epoch"
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
tf.random.set_seed(0)
strategy = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(replicas)])
GLOBAL_BATCH_SIZE = 8
x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
y = x.sum(axis=1, keepdims=True)
dataset = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH_SIZE))
with strategy.scope():
    model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(1)])
    optimizer = tf.keras.optimizers.Adam(0.01)
    optimizer.build(model.trainable_variables)


def train_step(inputs):
    features, labels = inputs
    with tf.GradientTape() as tape:
        per_example_loss = tf.reduce_sum((model(features) - labels) ** 2, axis=1)
        loss = tf.nn.compute_average_loss(per_example_loss, global_batch_size=GLOBAL_BATCH_SIZE)
    gradients = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(gradients, model.trainable_variables))
    return loss


@tf.function
def distributed_train_step(dataset_inputs):
    per_replica_losses = strategy.run(train_step, args=(dataset_inputs,))
    return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica_losses, axis=None)


@tf.function
def distributed_train_epoch(dataset):
    total_loss = 0.0
    num_batches = 0.0
    for batch in dataset:
        per_replica_losses = strategy.run(train_step, args=(batch,))
        total_loss += strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica_losses, axis=None)
        num_batches += 1
    return total_loss / num_batches


for epoch in range(2):
    if whole_epoch:
        print(json.dumps({"loss": float(distributed_train_epoch(dataset))}))
    else:
        for batch in dataset:
            print(json.dumps({"loss": float(distributed_train_step(batch))}))
