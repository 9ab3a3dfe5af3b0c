"""Keras guide "Writing your own callbacks" (Rick Chao, Francois Chollet): four `fit` calls on fresh copies
of one compiled model, each with the guide's own callbacks beside eagerrun's: (1) `CustomCallback`, which
prints the log keys it gets at every hook (train, epoch, batch, test begin/end) during a fit with
`validation_split=0.5`, then also during `evaluate` and `predict`; (2) `LossAndErrorPrintingCallback`,
which prints the running loss after each train and test batch and the epoch's loss and MAE; (3)
`EarlyStoppingAtMinLoss`, which sets `self.model.stop_training = True` at the end of the first epoch whose
loss did not improve and restores the best weights with `set_weights`; (4) `CustomLearningRateScheduler`,
which assigns `self.model.optimizer.learning_rate` at each epoch's start from `LR_SCHEDULE`.

Origin: keras-team/keras-io guides/keras_core/writing_your_own_callbacks.py at commit
855e37d4f5562751e6694cdadf93b2b7a72c935f (the Keras 3 version of the guide; keras-io is over the fetch size
limit, so it was read through the file index).

As published: `get_model()` (Sequential, Dense(1), RMSprop(learning_rate=0.1), "mean_squared_error",
["mean_absolute_error"]), the four callback classes and `lr_schedule` / `LR_SCHEDULE` with their prints,
and the fit / evaluate / predict calls with their callbacks, `verbose=0` and positional x, y.

Adapted: MNIST (the guide keeps 1000 rows of 784 pixels, the digit as a regression target) replaced by 32
training and 16 test synthetic rows of 128 features in [0, 1) with a digit 0-9 as the target (numpy,
seeded); batch_size 16 in the validation-split fit and its evaluate (1 training batch), 32 after it (the
guide: 128, then 64), so that each later epoch is one full batch: fit shuffles arrays, and under `eagerrun
--eager` (tf.data functions run op by op) the shuffle draws another order, which with smaller batches
changes the losses enough to move the early stop; epochs: 1 and 2 as published, then 5 for the
early-stopping fit (30; its loss rises in the 2nd epoch, so the callback stops the fit there) and 4 for the
scheduled one (15; the schedule's first change, at epoch 3, happens); `np.inf` for `np.Inf` (gone in
NumPy 2); and the ORACLE probe: a callback that prints, after each training batch, the logs Keras hands to
callbacks (what eagerrun records for fit) as `ORACLE <name> <value> ...`, listed after the guide's
callbacks.
"""

import os
import sys

os.environ["KERAS_BACKEND"] = "tensorflow"

import keras
import numpy as np

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)


class Oracle(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        print("ORACLE " + " ".join(f"{k} {float(v)!r}" for k, v in (logs or {}).items()), file=sys.stdout, flush=True)


def get_model():
    model = keras.Sequential()
    model.add(keras.layers.Dense(1))
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=0.1),
        loss="mean_squared_error",
        metrics=["mean_absolute_error"],
    )
    return model


x_train = rng.random((32, 128)).astype("float32")
y_train = rng.integers(0, 10, size=(32,))
x_test = rng.random((16, 128)).astype("float32")
y_test = rng.integers(0, 10, size=(16,))


class CustomCallback(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        keys = list(logs.keys())
        print("Starting training; got log keys: {}".format(keys))

    def on_train_end(self, logs=None):
        keys = list(logs.keys())
        print("Stop training; got log keys: {}".format(keys))

    def on_epoch_begin(self, epoch, logs=None):
        keys = list(logs.keys())
        print("Start epoch {} of training; got log keys: {}".format(epoch, keys))

    def on_epoch_end(self, epoch, logs=None):
        keys = list(logs.keys())
        print("End epoch {} of training; got log keys: {}".format(epoch, keys))

    def on_test_begin(self, logs=None):
        keys = list(logs.keys())
        print("Start testing; got log keys: {}".format(keys))

    def on_test_end(self, logs=None):
        keys = list(logs.keys())
        print("Stop testing; got log keys: {}".format(keys))

    def on_predict_begin(self, logs=None):
        keys = list(logs.keys())
        print("Start predicting; got log keys: {}".format(keys))

    def on_predict_end(self, logs=None):
        keys = list(logs.keys())
        print("Stop predicting; got log keys: {}".format(keys))

    def on_train_batch_begin(self, batch, logs=None):
        keys = list(logs.keys())
        print("...Training: start of batch {}; got log keys: {}".format(batch, keys))

    def on_train_batch_end(self, batch, logs=None):
        keys = list(logs.keys())
        print("...Training: end of batch {}; got log keys: {}".format(batch, keys))

    def on_test_batch_begin(self, batch, logs=None):
        keys = list(logs.keys())
        print("...Evaluating: start of batch {}; got log keys: {}".format(batch, keys))

    def on_test_batch_end(self, batch, logs=None):
        keys = list(logs.keys())
        print("...Evaluating: end of batch {}; got log keys: {}".format(batch, keys))

    def on_predict_batch_begin(self, batch, logs=None):
        keys = list(logs.keys())
        print("...Predicting: start of batch {}; got log keys: {}".format(batch, keys))

    def on_predict_batch_end(self, batch, logs=None):
        keys = list(logs.keys())
        print("...Predicting: end of batch {}; got log keys: {}".format(batch, keys))


model = get_model()
model.fit(
    x_train,
    y_train,
    batch_size=16,
    epochs=1,
    verbose=0,
    validation_split=0.5,
    callbacks=[CustomCallback(), Oracle()],
)

res = model.evaluate(x_test, y_test, batch_size=16, verbose=0, callbacks=[CustomCallback()])

res = model.predict(x_test, batch_size=32, verbose=0, callbacks=[CustomCallback()])


class LossAndErrorPrintingCallback(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        print("Up to batch {}, the average loss is {:7.2f}.".format(batch, logs["loss"]))

    def on_test_batch_end(self, batch, logs=None):
        print("Up to batch {}, the average loss is {:7.2f}.".format(batch, logs["loss"]))

    def on_epoch_end(self, epoch, logs=None):
        print(
            "The average loss for epoch {} is {:7.2f} "
            "and mean absolute error is {:7.2f}.".format(epoch, logs["loss"], logs["mean_absolute_error"])
        )


model = get_model()
model.fit(
    x_train,
    y_train,
    batch_size=32,
    epochs=2,
    verbose=0,
    callbacks=[LossAndErrorPrintingCallback(), Oracle()],
)

res = model.evaluate(
    x_test,
    y_test,
    batch_size=32,
    verbose=0,
    callbacks=[LossAndErrorPrintingCallback()],
)


class EarlyStoppingAtMinLoss(keras.callbacks.Callback):
    """Stop training when the loss is at its min, i.e. the loss stops decreasing."""

    def __init__(self, patience=0):
        super().__init__()
        self.patience = patience
        self.best_weights = None

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = np.inf

    def on_epoch_end(self, epoch, logs=None):
        current = logs.get("loss")
        if np.less(current, self.best):
            self.best = current
            self.wait = 0
            self.best_weights = self.model.get_weights()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                self.model.stop_training = True
                print("Restoring model weights from the end of the best epoch.")
                self.model.set_weights(self.best_weights)

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")


model = get_model()
model.fit(
    x_train,
    y_train,
    batch_size=32,
    epochs=5,
    verbose=0,
    callbacks=[LossAndErrorPrintingCallback(), EarlyStoppingAtMinLoss(), Oracle()],
)


class CustomLearningRateScheduler(keras.callbacks.Callback):
    """Learning rate scheduler which sets the learning rate according to schedule."""

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule

    def on_epoch_begin(self, epoch, logs=None):
        if not hasattr(self.model.optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        lr = self.model.optimizer.learning_rate
        scheduled_lr = self.schedule(epoch, lr)
        self.model.optimizer.learning_rate = scheduled_lr
        print(f"\nEpoch {epoch}: Learning rate is {float(np.array(scheduled_lr))}.")


LR_SCHEDULE = [
    (3, 0.05),
    (6, 0.01),
    (9, 0.005),
    (12, 0.001),
]


def lr_schedule(epoch, lr):
    """Helper function to retrieve the scheduled learning rate based on epoch."""
    if epoch < LR_SCHEDULE[0][0] or epoch > LR_SCHEDULE[-1][0]:
        return lr
    for i in range(len(LR_SCHEDULE)):
        if epoch == LR_SCHEDULE[i][0]:
            return LR_SCHEDULE[i][1]
    return lr


model = get_model()
model.fit(
    x_train,
    y_train,
    batch_size=32,
    epochs=4,
    verbose=0,
    callbacks=[
        LossAndErrorPrintingCallback(),
        CustomLearningRateScheduler(lr_schedule),
        Oracle(),
    ],
)
