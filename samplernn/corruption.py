"""Training inputs with a window of their history corrupted the two ways a free-running model
goes wrong, so that the model learns to find its way back to the recording.

Teacher-forced, a model only ever sees real audio as its past. Generating, it sees its own
samples, and a small model drifts into one of two states no recording holds: loud broadband
noise, which it then keeps predicting, or a quiet murmur below the corpus's level. A row given
either state as part of its input, with the recording's samples after it as targets, teaches
the model to come back from it. The targets inside the window are left out of the loss: there
the input no longer leads to them.
"""

import tensorflow as tf

from samplernn import quantize


def corrupt_history(seq, mask, recipe, config, seed, first_row=0, total_rows=None):
    """(inputs, mask) for a training step.

    seq (batch, G + T) int levels, mask (batch, T) float over the targets seq[:, G:]; `seed` a
    shape-[2] integer tensor for the stateless draws. Each row is, independently, given a
    window of `recipe.history_window` samples (at most T / 2, within its targets' inputs) of
    noise at the row's own level spread (`recipe.history_noise` of the rows), or of the
    recording made quieter by a gain drawn log-uniformly from [`recipe.history_quiet_gain`, 1)
    (`recipe.history_quiet` of them); the rest are left as they are. The targets inside a
    window get mask 0.

    The draws are made for `total_rows` rows (the whole batch when it is split over replicas)
    and rows first_row ... first_row + batch of them used, so that a batch split over devices
    is corrupted as it would be on one.
    """
    g = config.big_frame_size
    # At most half a subsequence, so that every row keeps targets after its window.
    length = min(recipe.history_window, config.seq_len // 2)
    batch, n = tf.shape(seq)[0], tf.shape(seq)[1]
    total = batch if total_rows is None else total_rows
    pick_seed, start_seed, noise_seed, gain_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 4))

    def ours(draws):
        return draws[first_row : first_row + batch]

    pick = ours(tf.random.stateless_uniform([total], pick_seed))
    noisy = pick < recipe.history_noise
    quiet = (pick >= recipe.history_noise) & (pick < recipe.history_noise + recipe.history_quiet)
    start = ours(tf.random.stateless_uniform([total], start_seed, minval=g, maxval=n - length + 1, dtype=tf.int32))
    pos = tf.range(n)[None, :]
    inside = (pos >= start[:, None]) & (pos < start[:, None] + length)

    # Noise about the row's mean level with its spread: as loud as the row, so a silent row
    # gets a silent window and a loud one the loud noise that generation falls into.
    x = tf.cast(seq, tf.float32)
    mean = tf.reduce_mean(x, axis=1, keepdims=True)
    spread = tf.math.reduce_std(x, axis=1, keepdims=True)
    draws = mean + spread * ours(tf.random.stateless_normal([total, n], noise_seed))
    noise = tf.cast(tf.clip_by_value(tf.round(draws), 0.0, config.q_levels - 1.0), seq.dtype)

    log_gain = tf.random.stateless_uniform(
        [total, 1], gain_seed, minval=tf.math.log(recipe.history_quiet_gain), maxval=0.0
    )
    audio = quantize.decode(seq, config.q_type, config.q_levels) * tf.exp(ours(log_gain))
    softer = tf.cast(quantize.encode(audio, config.q_type, config.q_levels), seq.dtype)

    inputs = tf.where(inside & noisy[:, None], noise, seq)
    inputs = tf.where(inside & quiet[:, None], softer, inputs)
    changed = inside & (noisy | quiet)[:, None]
    return inputs, mask * (1.0 - tf.cast(changed[:, g:], mask.dtype))
