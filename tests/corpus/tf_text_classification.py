"""TensorFlow's "Basic text classification" tutorial, on synthetic reviews.

Origin: tensorflow/docs site/en/tutorials/keras/text_classification.ipynb, commit
7c3650212740204359d4ceae481abc79345541be. Kept as published: `text_dataset_from_directory` (training and
validation subsets, seed 42, and the test folder), removing the `unsup` folder, `custom_standardization`,
`TextVectorization` adapted on the text-only training set and applied inside `Dataset.map(vectorize_text)`,
`cache().prefetch(AUTOTUNE)`, the Embedding / Dropout / GlobalAveragePooling1D / Dense model, `compile`
with BinaryCrossentropy, 'adam' and BinaryAccuracy, `fit` with `validation_data`, `evaluate`, and the
export model (TextVectorization + model + sigmoid) evaluated on raw strings and used to predict.

Adapted: the IMDB download replaced by synthetic reviews written into a temporary folder laid out as
aclImdb is (train/pos, train/neg, train/unsup, test/pos, test/neg; 24 reviews per class, 8 per test class,
words drawn from a 40-word vocabulary with numpy default_rng(0), "good" words more often in pos, some
with `<br />` and punctuation); max_features 10000 -> 50, sequence_length 250 -> 12, batch_size 32 -> 16,
embedding_dim 16 -> 4, 2 epochs instead of 10; `fit` and `evaluate` quiet (`verbose=0`: Keras' progress bar
prints timings) and the test loss, accuracy and export metrics computed but not printed (floats an eager
run may round differently); no plots. The ORACLE probe is a Keras callback: `on_train_batch_end` prints
Keras' logs as `ORACLE loss <v> binary_accuracy <v>`, except after an epoch's last batch, whose line waits
for `on_epoch_end` to add the epoch's `val_loss` and `val_binary_accuracy` (which eagerrun records on
that step).
"""

import os
import re
import shutil
import string
import tempfile

import keras
import numpy as np
import tensorflow as tf

from tensorflow.keras import layers
from tensorflow.keras import losses

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)

print(tf.__version__)

GOOD = ["great", "good", "wonderful", "loved", "fun", "best", "brilliant", "moving"]
BAD = ["bad", "boring", "awful", "worst", "dull", "hated", "poor", "mess"]
NEUTRAL = ["the", "movie", "film", "was", "a", "and", "plot", "actors", "story", "it", "this", "i", "of",
           "scene", "ending", "music", "director", "really", "very", "quite", "some", "much", "too", "so"]


def review(words):
  text = " ".join(rng.choice(NEUTRAL + words * 3, size=int(rng.integers(6, 16))))
  return text.capitalize() + rng.choice([".", "!", "...", " <br /><br />Really."])


def write_reviews(folder, count, words):
  os.makedirs(folder)
  for i in range(count):
    with open(os.path.join(folder, f"{i}_{int(rng.integers(1, 11))}.txt"), "w") as f:
      f.write(review(words))


dataset_dir = os.path.join(tempfile.mkdtemp(), 'aclImdb_v1')
for split, count in (("train", 24), ("test", 8)):
  write_reviews(os.path.join(dataset_dir, 'aclImdb', split, 'pos'), count, GOOD)
  write_reviews(os.path.join(dataset_dir, 'aclImdb', split, 'neg'), count, BAD)
write_reviews(os.path.join(dataset_dir, 'aclImdb', 'train', 'unsup'), 4, [])

train_dir = os.path.join(dataset_dir, 'aclImdb', 'train')
test_dir = os.path.join(dataset_dir, 'aclImdb', 'test')

remove_dir = os.path.join(train_dir, 'unsup')
shutil.rmtree(remove_dir)

batch_size = 16
seed = 42

raw_train_ds = tf.keras.utils.text_dataset_from_directory(
    train_dir,
    batch_size=batch_size,
    validation_split=0.2,
    subset='training',
    seed=seed)

for text_batch, label_batch in raw_train_ds.take(1):
  for i in range(3):
    print("Review", text_batch.numpy()[i])
    print("Label", label_batch.numpy()[i])

print("Label 0 corresponds to", raw_train_ds.class_names[0])
print("Label 1 corresponds to", raw_train_ds.class_names[1])

raw_val_ds = tf.keras.utils.text_dataset_from_directory(
    train_dir,
    batch_size=batch_size,
    validation_split=0.2,
    subset='validation',
    seed=seed)

raw_test_ds = tf.keras.utils.text_dataset_from_directory(
    test_dir,
    batch_size=batch_size)


def custom_standardization(input_data):
  lowercase = tf.strings.lower(input_data)
  stripped_html = tf.strings.regex_replace(lowercase, '<br />', ' ')
  return tf.strings.regex_replace(stripped_html,
                                  '[%s]' % re.escape(string.punctuation),
                                  '')


max_features = 50
sequence_length = 12

vectorize_layer = layers.TextVectorization(
    standardize=custom_standardization,
    max_tokens=max_features,
    output_mode='int',
    output_sequence_length=sequence_length)

# Make a text-only dataset (without labels), then call adapt
train_text = raw_train_ds.map(lambda x, y: x)
vectorize_layer.adapt(train_text)


def vectorize_text(text, label):
  text = tf.expand_dims(text, -1)
  return vectorize_layer(text), label


# retrieve a batch (of 32 reviews and labels) from the dataset
text_batch, label_batch = next(iter(raw_train_ds))
first_review, first_label = text_batch[0], label_batch[0]
print("Review", first_review)
print("Label", raw_train_ds.class_names[first_label])
print("Vectorized review", vectorize_text(first_review, first_label))

print("  13 ---> ",vectorize_layer.get_vocabulary()[13])
print("  31 ---> ",vectorize_layer.get_vocabulary()[31])
print('Vocabulary size: {}'.format(len(vectorize_layer.get_vocabulary())))

train_ds = raw_train_ds.map(vectorize_text)
val_ds = raw_val_ds.map(vectorize_text)
test_ds = raw_test_ds.map(vectorize_text)

AUTOTUNE = tf.data.AUTOTUNE

train_ds = train_ds.cache().prefetch(buffer_size=AUTOTUNE)
val_ds = val_ds.cache().prefetch(buffer_size=AUTOTUNE)
test_ds = test_ds.cache().prefetch(buffer_size=AUTOTUNE)

embedding_dim = 4

model = tf.keras.Sequential([
  layers.Embedding(max_features, embedding_dim),
  layers.Dropout(0.2),
  layers.GlobalAveragePooling1D(),
  layers.Dropout(0.2),
  layers.Dense(1, activation='sigmoid')])

model.summary()

model.compile(loss=losses.BinaryCrossentropy(),
              optimizer='adam',
              metrics=[tf.metrics.BinaryAccuracy(threshold=0.5)])


class Oracle(tf.keras.callbacks.Callback):
  """ORACLE lines: Keras' logs after each batch; an epoch's last batch gets its epoch's val_* values too."""

  def on_train_batch_end(self, batch, logs=None):
    line = "ORACLE " + " ".join(f"{k} {float(v)!r}" for k, v in logs.items())
    if batch + 1 < self.params["steps"]:
      print(line)
    else:
      self.pending = line

  def on_epoch_end(self, epoch, logs=None):
    print(self.pending + "".join(f" {k} {float(v)!r}" for k, v in logs.items() if k.startswith("val_")))


epochs = 2
history = model.fit(
    train_ds,
    validation_data=val_ds,
    epochs=epochs,
    verbose=0,
    callbacks=[Oracle()])

loss, accuracy = model.evaluate(test_ds, verbose=0)

history_dict = history.history
print(sorted(history_dict.keys()))

export_model = tf.keras.Sequential([
  vectorize_layer,
  model,
  layers.Activation('sigmoid')
])

export_model.compile(
    loss=losses.BinaryCrossentropy(from_logits=False), optimizer="adam", metrics=['accuracy']
)

# Test it with `raw_test_ds`, which yields raw strings
metrics = export_model.evaluate(raw_test_ds, return_dict=True, verbose=0)

examples = tf.constant([
  "The movie was great!",
  "The movie was okay.",
  "The movie was terrible..."
])

export_model.predict(examples, verbose=0)
