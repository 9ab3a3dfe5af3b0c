"""TensorFlow's "Playing CartPole with the Actor-Critic method" tutorial, on a small CartPole of its own.

Origin: tensorflow/docs site/en/tutorials/reinforcement_learning/actor_critic.ipynb, commit
7c3650212740204359d4ceae481abc79345541be. Kept as published: the `ActorCritic` model, `env_step` wrapped as
`@tf.numpy_function(Tout=[tf.float32, tf.int32, tf.int32])`, `run_episode` (TensorArrays, `for t in
tf.range(max_steps)`, `tf.random.categorical`, `break` when done), `get_expected_return`, the Huber-loss
`compute_loss`, Adam(0.01), and the `@tf.function train_step(initial_state, model, optimizer, gamma,
max_steps_per_episode)` that runs the whole episode under one tape and returns `episode_reward` (not the
loss), called once per episode from a Python loop that converts it with `int(...)`.

Adapted: gym's CartPole-v1 replaced by `CartPole`, the classic cart-pole equations (gym's constants and
termination: |x| > 2.4, |theta| > 12 degrees) in numpy, whose `reset()` draws the start state from numpy
default_rng(0) and returns `(state, info)` as gym does (no gym, no rendering); 16 hidden units instead of
128; 6 episodes of at most 30 steps instead of 10000 of 500; `tqdm.trange` replaced by `range` (no
`set_postfix`); the final line prints the episode without the running reward (which depends on the
actions drawn, so differs between modes); `ORACLE loss <loss>` printed by tf.print inside train_step.
"""

import collections
import statistics
import sys
from typing import Any, List, Sequence, Tuple

import keras
import numpy as np
import tensorflow as tf
from tensorflow.keras import layers

keras.utils.set_random_seed(0)


class CartPole:
  """gym's CartPole-v1 dynamics (Euler integration), deterministic given its numpy generator."""

  gravity, masscart, masspole, length, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
  theta_threshold_radians, x_threshold = 12 * 2 * np.pi / 360, 2.4

  def __init__(self):
    self.rng = np.random.default_rng(0)
    self.state = None

  def reset(self):
    self.state = self.rng.uniform(low=-0.05, high=0.05, size=(4,))
    return self.state.astype(np.float32), {}

  def step(self, action):
    x, x_dot, theta, theta_dot = self.state
    force = self.force_mag if action == 1 else -self.force_mag
    total_mass = self.masspole + self.masscart
    polemass_length = self.masspole * self.length
    costheta, sintheta = np.cos(theta), np.sin(theta)
    temp = (force + polemass_length * theta_dot**2 * sintheta) / total_mass
    thetaacc = (self.gravity * sintheta - costheta * temp) / (
        self.length * (4.0 / 3.0 - self.masspole * costheta**2 / total_mass))
    xacc = temp - polemass_length * thetaacc * costheta / total_mass
    x, x_dot = x + self.tau * x_dot, x_dot + self.tau * xacc
    theta, theta_dot = theta + self.tau * theta_dot, theta_dot + self.tau * thetaacc
    self.state = np.array([x, x_dot, theta, theta_dot])
    terminated = bool(abs(x) > self.x_threshold or abs(theta) > self.theta_threshold_radians)
    return self.state.astype(np.float32), 1.0, terminated, False, {}


# Create the environment
env = CartPole()

# Set seed for experiment reproducibility
seed = 42
tf.random.set_seed(seed)
np.random.seed(seed)

# Small epsilon value for stabilizing division operations
eps = np.finfo(np.float32).eps.item()


class ActorCritic(tf.keras.Model):
  """Combined actor-critic network."""

  def __init__(
      self,
      num_actions: int,
      num_hidden_units: int):
    """Initialize."""
    super().__init__()

    self.common = layers.Dense(num_hidden_units, activation="relu")
    self.actor = layers.Dense(num_actions)
    self.critic = layers.Dense(1)

  def call(self, inputs: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
    x = self.common(inputs)
    return self.actor(x), self.critic(x)


num_actions = 2
num_hidden_units = 16

model = ActorCritic(num_actions, num_hidden_units)


# Wrap Gym's `env.step` call as an operation in a TensorFlow function.
# This would allow it to be included in a callable TensorFlow graph.

@tf.numpy_function(Tout=[tf.float32, tf.int32, tf.int32])
def env_step(action: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Returns state, reward and done flag given an action."""

  state, reward, done, truncated, info = env.step(action)
  return (state.astype(np.float32),
          np.array(reward, np.int32),
          np.array(done, np.int32))


def run_episode(
    initial_state: tf.Tensor,
    model: tf.keras.Model,
    max_steps: int) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """Runs a single episode to collect training data."""

  action_probs = tf.TensorArray(dtype=tf.float32, size=0, dynamic_size=True)
  values = tf.TensorArray(dtype=tf.float32, size=0, dynamic_size=True)
  rewards = tf.TensorArray(dtype=tf.int32, size=0, dynamic_size=True)

  initial_state_shape = initial_state.shape
  state = initial_state

  for t in tf.range(max_steps):
    # Convert state into a batched tensor (batch size = 1)
    state = tf.expand_dims(state, 0)

    # Run the model and to get action probabilities and critic value
    action_logits_t, value = model(state)

    # Sample next action from the action probability distribution
    action = tf.random.categorical(action_logits_t, 1)[0, 0]
    action_probs_t = tf.nn.softmax(action_logits_t)

    # Store critic values
    values = values.write(t, tf.squeeze(value))

    # Store log probability of the action chosen
    action_probs = action_probs.write(t, action_probs_t[0, action])

    # Apply action to the environment to get next state and reward
    state, reward, done = env_step(action)
    state.set_shape(initial_state_shape)

    # Store reward
    rewards = rewards.write(t, reward)

    if tf.cast(done, tf.bool):
      break

  action_probs = action_probs.stack()
  values = values.stack()
  rewards = rewards.stack()

  return action_probs, values, rewards


def get_expected_return(
    rewards: tf.Tensor,
    gamma: float,
    standardize: bool = True) -> tf.Tensor:
  """Compute expected returns per timestep."""

  n = tf.shape(rewards)[0]
  returns = tf.TensorArray(dtype=tf.float32, size=n)

  # Start from the end of `rewards` and accumulate reward sums
  # into the `returns` array
  rewards = tf.cast(rewards[::-1], dtype=tf.float32)
  discounted_sum = tf.constant(0.0)
  discounted_sum_shape = discounted_sum.shape
  for i in tf.range(n):
    reward = rewards[i]
    discounted_sum = reward + gamma * discounted_sum
    discounted_sum.set_shape(discounted_sum_shape)
    returns = returns.write(i, discounted_sum)
  returns = returns.stack()[::-1]

  if standardize:
    returns = ((returns - tf.math.reduce_mean(returns)) /
               (tf.math.reduce_std(returns) + eps))

  return returns


huber_loss = tf.keras.losses.Huber(reduction=tf.keras.losses.Reduction.SUM)


def compute_loss(
    action_probs: tf.Tensor,
    values: tf.Tensor,
    returns: tf.Tensor) -> tf.Tensor:
  """Computes the combined Actor-Critic loss."""

  advantage = returns - values

  action_log_probs = tf.math.log(action_probs)
  actor_loss = -tf.math.reduce_sum(action_log_probs * advantage)

  critic_loss = huber_loss(values, returns)

  return actor_loss + critic_loss


optimizer = tf.keras.optimizers.Adam(learning_rate=0.01)


@tf.function
def train_step(
    initial_state: tf.Tensor,
    model: tf.keras.Model,
    optimizer: tf.keras.optimizers.Optimizer,
    gamma: float,
    max_steps_per_episode: int) -> tf.Tensor:
  """Runs a model training step."""

  with tf.GradientTape() as tape:

    # Run the model for one episode to collect training data
    action_probs, values, rewards = run_episode(
        initial_state, model, max_steps_per_episode)

    # Calculate the expected returns
    returns = get_expected_return(rewards, gamma)

    # Convert training data to appropriate TF tensor shapes
    action_probs, values, returns = [
        tf.expand_dims(x, 1) for x in [action_probs, values, returns]]

    # Calculate the loss values to update our network
    loss = compute_loss(action_probs, values, returns)

  # Compute the gradients from the loss
  grads = tape.gradient(loss, model.trainable_variables)

  # Apply the gradients to the model's parameters
  optimizer.apply_gradients(zip(grads, model.trainable_variables))

  episode_reward = tf.math.reduce_sum(rewards)
  tf.print("ORACLE", "loss", loss, output_stream=sys.stdout)

  return episode_reward


min_episodes_criterion = 100
max_episodes = 6
max_steps_per_episode = 30

# `CartPole-v1` is considered solved if average reward is >= 475 over 500
# consecutive trials
reward_threshold = 475
running_reward = 0

# The discount factor for future rewards
gamma = 0.99

# Keep the last episodes reward
episodes_reward: collections.deque = collections.deque(maxlen=min_episodes_criterion)

t = range(max_episodes)
for i in t:
    initial_state, info = env.reset()
    initial_state = tf.constant(initial_state, dtype=tf.float32)
    episode_reward = int(train_step(
        initial_state, model, optimizer, gamma, max_steps_per_episode))

    episodes_reward.append(episode_reward)
    running_reward = statistics.mean(episodes_reward)

    # Show the average episode reward every 10 episodes
    if i % 10 == 0:
      pass # print(f'Episode {i}: average reward: {avg_reward}')

    if running_reward > reward_threshold and i >= min_episodes_criterion:
        break

print(f'\nStopped at episode {i}')
