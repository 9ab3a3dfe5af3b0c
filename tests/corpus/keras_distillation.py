"""Keras example "Knowledge Distillation" (Kenneth Borup; Keras 3 conversion by Md Awsafur Rahman): a teacher
trained with plain `fit`, a `Distiller` model trained with `fit` through an overridden `compute_loss`, and
the same student trained from scratch with plain `fit`: three fit calls, three phases.

Origin: keras-io examples/vision/knowledge_distillation.py as converted to Keras 3 in keras-team/keras
examples/keras_io/tensorflow/vision/knowledge_distillation.py at commit
634cb58dc786dc36d0f28b408c425a82678e9d2f (the version with `compute_loss`; keras-io's own stored snapshot,
commit 501fb4cbe62e5b5c434393f512a452ef833640a1, still has the older `train_step` form, and keras-io is
over the fetch size limit, so both were read through the file index).

As published: `Distiller(keras.Model)` with its own `compile(optimizer, metrics, student_loss_fn,
distillation_loss_fn, alpha, temperature)`, `compute_loss(x, y, y_pred, sample_weight, allow_empty)` that
runs the teacher, adds alpha * student loss and (1 - alpha) * T^2-scaled KL divergence of the softened
outputs, and `call` returning the student's output; the teacher and student as Sequential convnets
(Conv2D, LeakyReLU, MaxPooling2D, Conv2D, Flatten, Dense(10)) and `student_scratch =
keras.models.clone_model(student)`; Adam, SparseCategoricalCrossentropy(from_logits=True),
SparseCategoricalAccuracy, KLDivergence, alpha=0.1, temperature=10; each fit followed by `evaluate`.

Adapted: MNIST replaced by 48 training and 16 test synthetic 8x8x1 images with labels from 10 classes
(numpy, seeded); 16 and 32 teacher filters, 4 and 8 student filters; fit with batch_size=16 (3 batches an
epoch): the teacher for 2 epochs, the distiller for 2, the scratch student for 1 (the original: 5, 3, 3);
`verbose=0` everywhere; and the ORACLE probe: a callback that prints, after each training batch, the logs
Keras hands to callbacks (what eagerrun records for fit) as `ORACLE <name> <value> ...`.
"""

import os
import sys

os.environ["KERAS_BACKEND"] = "tensorflow"

import keras
import numpy as np
from keras import layers
from keras import ops

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)


class Oracle(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        print("ORACLE " + " ".join(f"{k} {float(v)!r}" for k, v in (logs or {}).items()), file=sys.stdout, flush=True)


class Distiller(keras.Model):
    def __init__(self, student, teacher):
        super().__init__()
        self.teacher = teacher
        self.student = student

    def compile(
        self,
        optimizer,
        metrics,
        student_loss_fn,
        distillation_loss_fn,
        alpha=0.1,
        temperature=3,
    ):
        super().compile(optimizer=optimizer, metrics=metrics)
        self.student_loss_fn = student_loss_fn
        self.distillation_loss_fn = distillation_loss_fn
        self.alpha = alpha
        self.temperature = temperature

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, allow_empty=False):
        teacher_pred = self.teacher(x, training=False)
        student_loss = self.student_loss_fn(y, y_pred)

        distillation_loss = self.distillation_loss_fn(
            ops.softmax(teacher_pred / self.temperature, axis=1),
            ops.softmax(y_pred / self.temperature, axis=1),
        ) * (self.temperature**2)

        loss = self.alpha * student_loss + (1 - self.alpha) * distillation_loss
        return loss

    def call(self, x):
        return self.student(x)


teacher = keras.Sequential(
    [
        keras.Input(shape=(8, 8, 1)),
        layers.Conv2D(16, (3, 3), strides=(2, 2), padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.MaxPooling2D(pool_size=(2, 2), strides=(1, 1), padding="same"),
        layers.Conv2D(32, (3, 3), strides=(2, 2), padding="same"),
        layers.Flatten(),
        layers.Dense(10),
    ],
    name="teacher",
)

student = keras.Sequential(
    [
        keras.Input(shape=(8, 8, 1)),
        layers.Conv2D(4, (3, 3), strides=(2, 2), padding="same"),
        layers.LeakyReLU(negative_slope=0.2),
        layers.MaxPooling2D(pool_size=(2, 2), strides=(1, 1), padding="same"),
        layers.Conv2D(8, (3, 3), strides=(2, 2), padding="same"),
        layers.Flatten(),
        layers.Dense(10),
    ],
    name="student",
)

student_scratch = keras.models.clone_model(student)

batch_size = 16
x_train = rng.random((48, 8, 8, 1)).astype("float32")
y_train = rng.integers(0, 10, size=(48,))
x_test = rng.random((16, 8, 8, 1)).astype("float32")
y_test = rng.integers(0, 10, size=(16,))

teacher.compile(
    optimizer=keras.optimizers.Adam(),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=[keras.metrics.SparseCategoricalAccuracy()],
)
teacher.fit(x_train, y_train, epochs=2, batch_size=batch_size, verbose=0, callbacks=[Oracle()])
teacher.evaluate(x_test, y_test, verbose=0)

distiller = Distiller(student=student, teacher=teacher)
distiller.compile(
    optimizer=keras.optimizers.Adam(),
    metrics=[keras.metrics.SparseCategoricalAccuracy()],
    student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    distillation_loss_fn=keras.losses.KLDivergence(),
    alpha=0.1,
    temperature=10,
)
distiller.fit(x_train, y_train, epochs=2, batch_size=batch_size, verbose=0, callbacks=[Oracle()])
distiller.evaluate(x_test, y_test, verbose=0)

student_scratch.compile(
    optimizer=keras.optimizers.Adam(),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=[keras.metrics.SparseCategoricalAccuracy()],
)
student_scratch.fit(x_train, y_train, epochs=1, batch_size=batch_size, verbose=0, callbacks=[Oracle()])
student_scratch.evaluate(x_test, y_test, verbose=0)
