"""Keras example "Timeseries forecasting for weather prediction" (Prabhanshu Attri, Yashika Sharma, Kristi
Takach, Falak Shah): an LSTM regressor trained with `fit` on `timeseries_dataset_from_array` windows, with
`validation_data`, an `EarlyStopping` callback on val_loss and a `ModelCheckpoint` (save_best_only,
weights only).

Origin: keras-io examples/timeseries/timeseries_weather_forecasting.py, in its Keras 3 form as in
keras-team/keras examples/keras_io/timeseries/timeseries_weather_forecasting.py at commit
057463bf53ff3a40707b9eb4b589a2a6db8fa38e (keras-io is over the fetch size limit; read through the file
index).

As published: `normalize` (train-split mean and std), the selected 7 features, the train/validation split
at `split_fraction = 0.715`, labels taken `past + future` rows ahead from feature 1 (temperature), both
datasets from `keras.preprocessing.timeseries_dataset_from_array(x, y, sequence_length=past // step,
sampling_rate=step, batch_size)`, the model Input -> LSTM -> Dense(1) compiled with Adam(learning_rate)
and "mse", EarlyStopping(monitor="val_loss", min_delta=0, patience) and ModelCheckpoint(monitor="val_loss",
save_weights_only=True, save_best_only=True), and `fit(dataset_train, epochs, validation_data=dataset_val,
callbacks=[es_callback, modelckpt_callback])`.

Adapted: the Jena climate CSV (downloaded, read with pandas) replaced by 200 rows of 14 synthetic
features (numpy, seeded: slow sines plus noise), the same 7 columns selected; past=24, future=4, step=2
(the original: 720, 72, 6), so windows of 12 steps; batch_size=64 (2 training batches and 1 validation
batch an epoch); LSTM(4) (not 32); epochs=10 with patience=2 (the original: 10 and 5), so that early
stopping can end the fit; the checkpoint goes to a temporary folder, and its `verbose=1` is 0; no plots,
no prediction section; fit's `verbose=0`; and the ORACLE probe: a callback that prints, after each training
batch, the logs Keras hands to callbacks (what eagerrun records for fit) as `ORACLE <name> <value> ...`.
"""

import os
import sys
import tempfile

os.environ["KERAS_BACKEND"] = "tensorflow"

import keras
import numpy as np

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)


class Oracle(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        print("ORACLE " + " ".join(f"{k} {float(v)!r}" for k, v in (logs or {}).items()), file=sys.stdout, flush=True)


rows = 200
t = np.arange(rows)[:, None]
df = (np.sin(t / rng.uniform(5, 40, size=(1, 14)) + rng.uniform(0, 6, size=(1, 14)))
      + 0.1 * rng.normal(size=(rows, 14))).astype("float32")

split_fraction = 0.715
train_split = int(split_fraction * int(df.shape[0]))
step = 2

past = 24
future = 4
learning_rate = 0.001
batch_size = 64
epochs = 10


def normalize(data, train_split):
    data_mean = data[:train_split].mean(axis=0)
    data_std = data[:train_split].std(axis=0)
    return (data - data_mean) / data_std


features = df[:, [0, 1, 5, 7, 8, 10, 11]]
features = normalize(features, train_split)

train_data = features[0:train_split]
val_data = features[train_split:]

start = past + future
end = start + train_split

x_train = train_data[:, [i for i in range(7)]]
y_train = features[start:end][:, [1]]

sequence_length = int(past / step)

dataset_train = keras.preprocessing.timeseries_dataset_from_array(
    x_train,
    y_train,
    sequence_length=sequence_length,
    sampling_rate=step,
    batch_size=batch_size,
)

x_end = len(val_data) - past - future

label_start = train_split + past + future

x_val = val_data[:x_end][:, [i for i in range(7)]]
y_val = features[label_start:][:, [1]]

dataset_val = keras.preprocessing.timeseries_dataset_from_array(
    x_val,
    y_val,
    sequence_length=sequence_length,
    sampling_rate=step,
    batch_size=batch_size,
)

inputs, targets = next(iter(dataset_train))

inputs = keras.layers.Input(shape=(inputs.shape[1], inputs.shape[2]))
lstm_out = keras.layers.LSTM(4)(inputs)
outputs = keras.layers.Dense(1)(lstm_out)

model = keras.Model(inputs=inputs, outputs=outputs)
model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")

path_checkpoint = os.path.join(tempfile.mkdtemp(), "model_checkpoint.weights.h5")
es_callback = keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=0, patience=2)

modelckpt_callback = keras.callbacks.ModelCheckpoint(
    monitor="val_loss",
    filepath=path_checkpoint,
    verbose=0,
    save_weights_only=True,
    save_best_only=True,
)

history = model.fit(
    dataset_train,
    epochs=epochs,
    validation_data=dataset_val,
    callbacks=[es_callback, modelckpt_callback, Oracle()],
    verbose=0,
)
