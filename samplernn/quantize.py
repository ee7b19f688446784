"""Quantizers between float audio in [-1, 1] and integer levels, as graph-mode TensorFlow ops.

Both map silence to the middle level `q_levels // 2`, which the pipeline also uses for padding.
"""

import tensorflow as tf

from samplernn.config import MU_LAW_LEVELS


def mu_law_encode(audio, q_levels=MU_LAW_LEVELS):
    """Float audio (any shape) -> int32 levels in [0, q_levels)."""
    mu = tf.cast(q_levels - 1, tf.float32)
    x = tf.clip_by_value(tf.cast(audio, tf.float32), -1.0, 1.0)
    companded = tf.sign(x) * tf.math.log1p(mu * tf.abs(x)) / tf.math.log1p(mu)
    return tf.cast(tf.floor((companded + 1.0) / 2.0 * mu + 0.5), tf.int32)


def mu_law_decode(levels, q_levels=MU_LAW_LEVELS):
    """Int levels -> float32 audio in [-1, 1]."""
    mu = tf.cast(q_levels - 1, tf.float32)
    companded = 2.0 * tf.cast(levels, tf.float32) / mu - 1.0
    return tf.sign(companded) * (tf.pow(1.0 + mu, tf.abs(companded)) - 1.0) / mu


def linear_encode(audio, q_levels):
    """Float audio (any shape) -> int32 levels in [0, q_levels), uniformly spaced."""
    top = tf.cast(q_levels - 1, tf.float32)
    x = tf.clip_by_value(tf.cast(audio, tf.float32), -1.0, 1.0)
    return tf.cast(tf.floor((x + 1.0) / 2.0 * top + 0.5), tf.int32)


def linear_decode(levels, q_levels):
    """Int levels -> float32 audio in [-1, 1]."""
    return 2.0 * tf.cast(levels, tf.float32) / tf.cast(q_levels - 1, tf.float32) - 1.0


def encode(audio, q_type, q_levels):
    """Quantize with the scheme a config names."""
    if q_type == "mu-law":
        return mu_law_encode(audio, q_levels)
    return linear_encode(audio, q_levels)


def decode(levels, q_type, q_levels):
    """Invert `encode` up to the quantization step."""
    if q_type == "mu-law":
        return mu_law_decode(levels, q_levels)
    return linear_decode(levels, q_levels)


def silence_level(q_levels):
    """The level both schemes give to a zero sample."""
    return q_levels // 2
