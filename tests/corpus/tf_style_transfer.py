"""TensorFlow's "Neural style transfer" tutorial: Adam over an image `tf.Variable`, on synthetic images.

Origin: tensorflow/docs site/en/tutorials/generative/style_transfer.ipynb, commit
7c3650212740204359d4ceae481abc79345541be. Kept as published: `load_img` (convert to float, scale the long
side to `max_dim`), the VGG19 feature extractor (`vgg_layers`, its layer names, `vgg.trainable = False`),
`gram_matrix`, `StyleContentModel` with `preprocess_input`, the style and content targets and the
statistics printed for them, `image = tf.Variable(content_image)`, `clip_0_1`, Adam(0.02, beta_1=0.99,
epsilon=1e-1), `style_content_loss`, the `@tf.function() train_step(image)` (a tape, `tape.gradient(loss,
image)`, `opt.apply_gradients([(grad, image)])`, `image.assign(clip_0_1(image))`, no return value) called
three times and then over epochs x steps_per_epoch, then the total-variation section: `high_pass_x_y`,
`total_variation_loss`, the second `train_step` adding `total_variation_weight *
tf.image.total_variation(image)`, a new optimizer and image variable, and the same loop again (a second
phase: another training function and another optimizer).

Adapted: the two downloaded photos replaced by a synthetic 24x32 content image and a 32x32 style image
(uint8, numpy default_rng(0)), so `load_img` takes an array instead of a path and max_dim is 32 instead of
512; VGG19 built with `weights=None` (Keras' seeded random initialization: no ImageNet download), so the
classification section with `include_top=True` and `decode_predictions` and the TF-Hub stylization model
are left out; 2 epochs of 3 steps instead of 10 of 100; the progress dot printed on a line of its own (an
ORACLE line must start its line), no `display` calls, and the total time printed without its value;
`tensor_to_image` and the Sobel and delta figures left out (no PIL or matplotlib); `ORACLE loss <loss>`
printed by tf.print in each train_step (the second one's loss has shape (1,), from
`tf.image.total_variation` of a batch of one: the probe prints its one element).
"""

import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)

content_array = rng.integers(0, 256, size=(24, 32, 3)).astype("uint8")
style_array = rng.integers(0, 256, size=(32, 32, 3)).astype("uint8")


def load_img(img):
  max_dim = 32
  img = tf.image.convert_image_dtype(img, tf.float32)

  shape = tf.cast(tf.shape(img)[:-1], tf.float32)
  long_dim = max(shape)
  scale = max_dim / long_dim

  new_shape = tf.cast(shape * scale, tf.int32)

  img = tf.image.resize(img, new_shape)
  img = img[tf.newaxis, :]
  return img


content_image = load_img(content_array)
style_image = load_img(style_array)

vgg = tf.keras.applications.VGG19(include_top=False, weights=None)

print()
for layer in vgg.layers:
  print(layer.name)

content_layers = ['block5_conv2']

style_layers = ['block1_conv1',
                'block2_conv1',
                'block3_conv1',
                'block4_conv1',
                'block5_conv1']

num_content_layers = len(content_layers)
num_style_layers = len(style_layers)


def vgg_layers(layer_names):
  """ Creates a VGG model that returns a list of intermediate output values."""
  # Load our model. Load pretrained VGG, trained on ImageNet data
  vgg = tf.keras.applications.VGG19(include_top=False, weights=None)
  vgg.trainable = False

  outputs = [vgg.get_layer(name).output for name in layer_names]

  model = tf.keras.Model([vgg.input], outputs)
  return model


style_extractor = vgg_layers(style_layers)
style_outputs = style_extractor(style_image*255)

#Look at the statistics of each layer's output
for name, output in zip(style_layers, style_outputs):
  print(name)
  print("  shape: ", output.numpy().shape)
  print("  min: ", output.numpy().min())
  print("  max: ", output.numpy().max())
  print("  mean: ", output.numpy().mean())
  print()


def gram_matrix(input_tensor):
  result = tf.linalg.einsum('bijc,bijd->bcd', input_tensor, input_tensor)
  input_shape = tf.shape(input_tensor)
  num_locations = tf.cast(input_shape[1]*input_shape[2], tf.float32)
  return result/(num_locations)


class StyleContentModel(tf.keras.models.Model):
  def __init__(self, style_layers, content_layers):
    super(StyleContentModel, self).__init__()
    self.vgg = vgg_layers(style_layers + content_layers)
    self.style_layers = style_layers
    self.content_layers = content_layers
    self.num_style_layers = len(style_layers)
    self.vgg.trainable = False

  def call(self, inputs):
    "Expects float input in [0,1]"
    inputs = inputs*255.0
    preprocessed_input = tf.keras.applications.vgg19.preprocess_input(inputs)
    outputs = self.vgg(preprocessed_input)
    style_outputs, content_outputs = (outputs[:self.num_style_layers],
                                      outputs[self.num_style_layers:])

    style_outputs = [gram_matrix(style_output)
                     for style_output in style_outputs]

    content_dict = {content_name: value
                    for content_name, value
                    in zip(self.content_layers, content_outputs)}

    style_dict = {style_name: value
                  for style_name, value
                  in zip(self.style_layers, style_outputs)}

    return {'content': content_dict, 'style': style_dict}


extractor = StyleContentModel(style_layers, content_layers)

results = extractor(tf.constant(content_image))

print('Styles:')
for name, output in sorted(results['style'].items()):
  print("  ", name)
  print("    shape: ", output.numpy().shape)
  print("    min: ", output.numpy().min())
  print("    max: ", output.numpy().max())
  print("    mean: ", output.numpy().mean())
  print()

print("Contents:")
for name, output in sorted(results['content'].items()):
  print("  ", name)
  print("    shape: ", output.numpy().shape)
  print("    min: ", output.numpy().min())
  print("    max: ", output.numpy().max())
  print("    mean: ", output.numpy().mean())

style_targets = extractor(style_image)['style']
content_targets = extractor(content_image)['content']

image = tf.Variable(content_image)


def clip_0_1(image):
  return tf.clip_by_value(image, clip_value_min=0.0, clip_value_max=1.0)


opt = tf.keras.optimizers.Adam(learning_rate=0.02, beta_1=0.99, epsilon=1e-1)

style_weight=1e-2
content_weight=1e4


def style_content_loss(outputs):
    style_outputs = outputs['style']
    content_outputs = outputs['content']
    style_loss = tf.add_n([tf.reduce_mean((style_outputs[name]-style_targets[name])**2)
                           for name in style_outputs.keys()])
    style_loss *= style_weight / num_style_layers

    content_loss = tf.add_n([tf.reduce_mean((content_outputs[name]-content_targets[name])**2)
                             for name in content_outputs.keys()])
    content_loss *= content_weight / num_content_layers
    loss = style_loss + content_loss
    return loss


@tf.function()
def train_step(image):
  with tf.GradientTape() as tape:
    outputs = extractor(image)
    loss = style_content_loss(outputs)

  grad = tape.gradient(loss, image)
  opt.apply_gradients([(grad, image)])
  image.assign(clip_0_1(image))
  tf.print("ORACLE", "loss", loss, output_stream=sys.stdout)


train_step(image)
train_step(image)
train_step(image)

import time
start = time.time()

epochs = 2
steps_per_epoch = 3

step = 0
for n in range(epochs):
  for m in range(steps_per_epoch):
    step += 1
    train_step(image)
    print(".", flush=True)
  print("Train step: {}".format(step))

end = time.time()
print("Total time")


def high_pass_x_y(image):
  x_var = image[:, :, 1:, :] - image[:, :, :-1, :]
  y_var = image[:, 1:, :, :] - image[:, :-1, :, :]

  return x_var, y_var


def total_variation_loss(image):
  x_deltas, y_deltas = high_pass_x_y(image)
  return tf.reduce_sum(tf.abs(x_deltas)) + tf.reduce_sum(tf.abs(y_deltas))

total_variation_loss(image).numpy()

tf.image.total_variation(image).numpy()

total_variation_weight=30


@tf.function()
def train_step(image):
  with tf.GradientTape() as tape:
    outputs = extractor(image)
    loss = style_content_loss(outputs)
    loss += total_variation_weight*tf.image.total_variation(image)

  grad = tape.gradient(loss, image)
  opt.apply_gradients([(grad, image)])
  image.assign(clip_0_1(image))
  tf.print("ORACLE", "loss", tf.reshape(loss, []), output_stream=sys.stdout)  # loss has shape (1,)


opt = tf.keras.optimizers.Adam(learning_rate=0.02, beta_1=0.99, epsilon=1e-1)
image = tf.Variable(content_image)

import time
start = time.time()

epochs = 2
steps_per_epoch = 3

step = 0
for n in range(epochs):
  for m in range(steps_per_epoch):
    step += 1
    train_step(image)
    print(".", flush=True)
  print("Train step: {}".format(step))

end = time.time()
print("Total time")
