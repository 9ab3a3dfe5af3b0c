"""Keras example "Semi-supervised image classification using contrastive pretraining with SimCLR" (András
Béres; Keras 3 conversion by Sitam Meur): a `ContrastiveModel` whose
`train_step` runs two GradientTapes with two optimizers (the contrastive encoder + projection head update,
then a linear probe on the frozen encoder) and reports four metrics, then a supervised finetuning `fit` of
the pretrained encoder: two fit calls, each with `validation_data`.

Origin: keras-team/keras-io examples/vision/semisupervised_simclr.py at commit
eb7332c0775b134e6c8f1fb3357116a96fa8b85b (keras-io is over the fetch size limit; read through the file
index).

As published: the `RandomColorAffine` layer (brightness and jitter from `keras.random.uniform` with its own
SeedGenerator), `get_augmenter` (Rescaling, RandomFlip, RandomTranslation, RandomZoom, RandomColorAffine),
the encoder (four strided Conv2D + Flatten + Dense), the finetuning Sequential model and its compile/fit
call, and `ContrastiveModel` as written: `compile(contrastive_optimizer,
probe_optimizer)` making the probe loss and the c_loss / c_acc / p_loss / p_acc metrics, the NT-Xent
`contrastive_loss`, `train_step` on zipped (unlabeled, labeled) batches with its two tapes and returning
`{m.name: m.result() for m in self.metrics}`, `test_step` returning the probe metrics.

Adapted: STL-10 (tensorflow_datasets) replaced by synthetic 32x32x3 uint8-valued images (numpy, seeded):
24 unlabeled and 12 labeled training images (batches of 8 + 4, 3 steps an epoch) and 8 test images;
width 8 (not 128); 2 epochs of pretraining and 1 of finetuning (the original: 20 each); the supervised
baseline fit that comes first in the original is left out (a plain fit like the finetuning one, and the
slowest part here); the datasets are not shuffled; no plots, no rlimit change; `verbose=0`; and the
ORACLE probe: a
callback that prints, after each training batch, the logs Keras hands to callbacks (what eagerrun records
for fit) as `ORACLE <name> <value> ...`.
"""

import math
import os
import sys

os.environ["KERAS_BACKEND"] = "tensorflow"

import keras
import numpy as np
import tensorflow as tf
from keras import layers
from keras import ops

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)


class Oracle(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        print("ORACLE " + " ".join(f"{k} {float(v)!r}" for k, v in (logs or {}).items()), file=sys.stdout, flush=True)


unlabeled_dataset_size = 24
labeled_dataset_size = 12
image_size = 32
image_channels = 3

num_epochs = 2
batch_size = 12
width = 8
temperature = 0.1
contrastive_augmentation = {"min_area": 0.25, "brightness": 0.6, "jitter": 0.2}
classification_augmentation = {
    "min_area": 0.75,
    "brightness": 0.3,
    "jitter": 0.1,
}


def prepare_dataset():
    steps_per_epoch = (unlabeled_dataset_size + labeled_dataset_size) // batch_size
    unlabeled_batch_size = unlabeled_dataset_size // steps_per_epoch
    labeled_batch_size = labeled_dataset_size // steps_per_epoch

    def images(n):
        return rng.integers(0, 256, size=(n, image_size, image_size, image_channels)).astype("float32")

    unlabeled_train_dataset = tf.data.Dataset.from_tensor_slices(
        (images(unlabeled_dataset_size), np.full((unlabeled_dataset_size,), -1, "int64"))
    ).batch(unlabeled_batch_size)
    labeled_train_dataset = tf.data.Dataset.from_tensor_slices(
        (images(labeled_dataset_size), rng.integers(0, 10, size=(labeled_dataset_size,)))
    ).batch(labeled_batch_size)
    test_dataset = tf.data.Dataset.from_tensor_slices((images(8), rng.integers(0, 10, size=(8,)))).batch(batch_size)

    train_dataset = tf.data.Dataset.zip((unlabeled_train_dataset, labeled_train_dataset))

    return train_dataset, labeled_train_dataset, test_dataset


train_dataset, labeled_train_dataset, test_dataset = prepare_dataset()


class RandomColorAffine(layers.Layer):
    def __init__(self, brightness=0, jitter=0, **kwargs):
        super().__init__(**kwargs)

        self.seed_generator = keras.random.SeedGenerator(1337)
        self.brightness = brightness
        self.jitter = jitter

    def get_config(self):
        config = super().get_config()
        config.update({"brightness": self.brightness, "jitter": self.jitter})
        return config

    def call(self, images, training=True):
        if training:
            batch_size = ops.shape(images)[0]

            brightness_scales = 1 + keras.random.uniform(
                (batch_size, 1, 1, 1),
                minval=-self.brightness,
                maxval=self.brightness,
                seed=self.seed_generator,
            )
            jitter_matrices = keras.random.uniform(
                (batch_size, 1, 3, 3),
                minval=-self.jitter,
                maxval=self.jitter,
                seed=self.seed_generator,
            )

            color_transforms = (
                ops.tile(ops.expand_dims(ops.eye(3), axis=0), (batch_size, 1, 1, 1)) * brightness_scales
                + jitter_matrices
            )
            images = ops.clip(ops.matmul(images, color_transforms), 0, 1)
        return images


def get_augmenter(min_area, brightness, jitter):
    zoom_factor = 1.0 - math.sqrt(min_area)
    return keras.Sequential(
        [
            layers.Rescaling(1 / 255),
            layers.RandomFlip("horizontal"),
            layers.RandomTranslation(zoom_factor / 2, zoom_factor / 2),
            layers.RandomZoom((-zoom_factor, 0.0), (-zoom_factor, 0.0)),
            RandomColorAffine(brightness, jitter),
        ]
    )


def get_encoder():
    return keras.Sequential(
        [
            layers.Conv2D(width, kernel_size=3, strides=2, activation="relu"),
            layers.Conv2D(width, kernel_size=3, strides=2, activation="relu"),
            layers.Conv2D(width, kernel_size=3, strides=2, activation="relu"),
            layers.Conv2D(width, kernel_size=3, strides=2, activation="relu"),
            layers.Flatten(),
            layers.Dense(width, activation="relu"),
        ],
        name="encoder",
    )


class ContrastiveModel(keras.Model):
    def __init__(self):
        super().__init__()

        self.temperature = temperature
        self.contrastive_augmenter = get_augmenter(**contrastive_augmentation)
        self.classification_augmenter = get_augmenter(**classification_augmentation)
        self.encoder = get_encoder()
        self.projection_head = keras.Sequential(
            [
                keras.Input(shape=(width,)),
                layers.Dense(width, activation="relu"),
                layers.Dense(width),
            ],
            name="projection_head",
        )
        self.linear_probe = keras.Sequential(
            [layers.Input(shape=(width,)), layers.Dense(10)],
            name="linear_probe",
        )

    def compile(self, contrastive_optimizer, probe_optimizer, **kwargs):
        super().compile(**kwargs)

        self.contrastive_optimizer = contrastive_optimizer
        self.probe_optimizer = probe_optimizer

        self.probe_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

        self.contrastive_loss_tracker = keras.metrics.Mean(name="c_loss")
        self.contrastive_accuracy = keras.metrics.SparseCategoricalAccuracy(name="c_acc")
        self.probe_loss_tracker = keras.metrics.Mean(name="p_loss")
        self.probe_accuracy = keras.metrics.SparseCategoricalAccuracy(name="p_acc")

    @property
    def metrics(self):
        return [
            self.contrastive_loss_tracker,
            self.contrastive_accuracy,
            self.probe_loss_tracker,
            self.probe_accuracy,
        ]

    def contrastive_loss(self, projections_1, projections_2):
        projections_1 = ops.normalize(projections_1, axis=1)
        projections_2 = ops.normalize(projections_2, axis=1)
        similarities = ops.matmul(projections_1, ops.transpose(projections_2)) / self.temperature

        batch_size = ops.shape(projections_1)[0]
        contrastive_labels = ops.arange(batch_size)
        self.contrastive_accuracy.update_state(contrastive_labels, similarities)
        self.contrastive_accuracy.update_state(contrastive_labels, ops.transpose(similarities))

        loss_1_2 = keras.losses.sparse_categorical_crossentropy(contrastive_labels, similarities, from_logits=True)
        loss_2_1 = keras.losses.sparse_categorical_crossentropy(
            contrastive_labels, ops.transpose(similarities), from_logits=True
        )
        return (loss_1_2 + loss_2_1) / 2

    def train_step(self, data):
        (unlabeled_images, _), (labeled_images, labels) = data

        images = ops.concatenate((unlabeled_images, labeled_images), axis=0)
        augmented_images_1 = self.contrastive_augmenter(images, training=True)
        augmented_images_2 = self.contrastive_augmenter(images, training=True)
        with tf.GradientTape() as tape:
            features_1 = self.encoder(augmented_images_1, training=True)
            features_2 = self.encoder(augmented_images_2, training=True)
            projections_1 = self.projection_head(features_1, training=True)
            projections_2 = self.projection_head(features_2, training=True)
            contrastive_loss = self.contrastive_loss(projections_1, projections_2)
        gradients = tape.gradient(
            contrastive_loss,
            self.encoder.trainable_weights + self.projection_head.trainable_weights,
        )
        self.contrastive_optimizer.apply_gradients(
            zip(
                gradients,
                self.encoder.trainable_weights + self.projection_head.trainable_weights,
            )
        )
        self.contrastive_loss_tracker.update_state(contrastive_loss)

        preprocessed_images = self.classification_augmenter(labeled_images, training=True)
        with tf.GradientTape() as tape:
            features = self.encoder(preprocessed_images, training=False)
            class_logits = self.linear_probe(features, training=True)
            probe_loss = self.probe_loss(labels, class_logits)
        gradients = tape.gradient(probe_loss, self.linear_probe.trainable_weights)
        self.probe_optimizer.apply_gradients(zip(gradients, self.linear_probe.trainable_weights))
        self.probe_loss_tracker.update_state(probe_loss)
        self.probe_accuracy.update_state(labels, class_logits)

        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        labeled_images, labels = data

        preprocessed_images = self.classification_augmenter(labeled_images, training=False)
        features = self.encoder(preprocessed_images, training=False)
        class_logits = self.linear_probe(features, training=False)
        probe_loss = self.probe_loss(labels, class_logits)
        self.probe_loss_tracker.update_state(probe_loss)
        self.probe_accuracy.update_state(labels, class_logits)

        return {m.name: m.result() for m in self.metrics[2:]}


# Contrastive pretraining
pretraining_model = ContrastiveModel()
pretraining_model.compile(
    contrastive_optimizer=keras.optimizers.Adam(),
    probe_optimizer=keras.optimizers.Adam(),
)
pretraining_history = pretraining_model.fit(
    train_dataset, epochs=num_epochs, validation_data=test_dataset, verbose=0, callbacks=[Oracle()]
)

# Supervised finetuning of the pretrained encoder
finetuning_model = keras.Sequential(
    [
        get_augmenter(**classification_augmentation),
        pretraining_model.encoder,
        layers.Dense(10),
    ],
    name="finetuning_model",
)
finetuning_model.compile(
    optimizer=keras.optimizers.Adam(),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc")],
)
finetuning_history = finetuning_model.fit(
    labeled_train_dataset, epochs=1, validation_data=test_dataset, verbose=0, callbacks=[Oracle()]
)
