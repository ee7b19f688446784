"""Training inputs with a window of their history corrupted (samplernn/corruption.py)."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_config

from samplernn import quantize
from samplernn import recipe as recipes
from samplernn.corruption import corrupt_history

CONFIG = tiny_config(seq_len=64)  # G = 16, T = 64
G, T = CONFIG.big_frame_size, CONFIG.seq_len
ROWS = 200


def speech_like(rows=ROWS, seed=0):
    """Levels of a loud sawtooth-and-noise signal, a different phase per row."""
    rng = np.random.default_rng(seed)
    t = np.arange(G + T)[None, :] + rng.integers(0, 50, (rows, 1))
    audio = 0.5 * np.sin(2 * np.pi * t / 23.0) + 0.05 * rng.standard_normal((rows, G + T))
    return quantize.encode(audio, CONFIG.q_type, CONFIG.q_levels)


def corrupt(seq, seed=(1, 2), **changes):
    recipe = recipes.Recipe(**{"history_noise": 0.0, "history_quiet": 0.0, "history_window": 16, **changes})
    mask = tf.ones((seq.shape[0], T))
    inputs, mask = corrupt_history(seq, mask, recipe, CONFIG, tf.constant(seed, tf.int64))
    return np.asarray(seq), inputs.numpy(), mask.numpy()


def test_no_rows_leaves_inputs_and_mask_alone():
    seq, inputs, mask = corrupt(speech_like())
    np.testing.assert_array_equal(inputs, seq)
    assert (mask == 1.0).all()


def test_a_noise_window_replaces_one_window_of_inputs_and_drops_its_targets():
    seq, inputs, mask = corrupt(speech_like(), history_noise=1.0)
    dropped = mask == 0.0
    assert (dropped.sum(axis=1) == 16).all()
    for row in range(ROWS):
        where = np.flatnonzero(dropped[row])
        assert (np.diff(where) == 1).all()  # one contiguous window
        changed = np.flatnonzero(inputs[row] != seq[row])
        # Only inputs inside the window (target positions shifted by G) change; the big
        # frame of context before the targets never does.
        assert set(changed) <= set(where + G)
    assert ((inputs >= 0) & (inputs < CONFIG.q_levels)).all()
    # Broadband: the window's samples jump about, where the sine's move smoothly.
    inside = np.concatenate([inputs[r, np.flatnonzero(dropped[r]) + G] for r in range(ROWS)])
    before = np.concatenate([seq[r, np.flatnonzero(dropped[r]) + G] for r in range(ROWS)])
    assert np.abs(np.diff(inside)).mean() > 3 * np.abs(np.diff(before)).mean()


def test_noise_is_at_the_rows_level():
    silent = np.full((8, G + T), quantize.silence_level(CONFIG.q_levels), np.int32)
    seq, inputs, mask = corrupt(silent, history_noise=1.0)
    np.testing.assert_array_equal(inputs, seq)  # a silent row's noise is silence
    loud = speech_like()
    seq, inputs, mask = corrupt(loud, history_noise=1.0)
    inside = np.concatenate([inputs[r, np.flatnonzero(mask[r] == 0) + G] for r in range(ROWS)])
    assert inside.std() == pytest.approx(seq.std(), rel=0.2)


def test_a_quiet_window_is_the_recording_at_one_lower_gain():
    seq, inputs, mask = corrupt(speech_like(), history_quiet=1.0, history_quiet_gain=0.05)
    audio = quantize.decode(seq, CONFIG.q_type, CONFIG.q_levels).numpy()
    softer = quantize.decode(inputs, CONFIG.q_type, CONFIG.q_levels).numpy()
    gains = []
    for row in range(ROWS):
        idx = np.flatnonzero(mask[row] == 0) + G
        assert len(idx) == 16
        outside = np.setdiff1d(np.arange(G + T), idx)
        np.testing.assert_array_equal(inputs[row, outside], seq[row, outside])
        gain = np.sqrt((softer[row, idx] ** 2).mean() / (audio[row, idx] ** 2).mean())
        gains.append(gain)
        # One gain for the whole window, up to mu-law's quantization step.
        np.testing.assert_allclose(softer[row, idx], gain * audio[row, idx], atol=0.02 + 0.1 * gain)
    gains = np.array(gains)
    assert gains.min() > 0.04 and gains.max() < 1.01
    # Log-uniform in [0.05, 1): about half the gains below sqrt(0.05).
    assert 0.35 < np.mean(gains < np.sqrt(0.05)) < 0.65


def test_the_fractions_split_the_rows():
    seq, inputs, mask = corrupt(speech_like(1000), history_noise=0.25, history_quiet=0.25)
    assert np.mean((mask == 0).any(axis=1)) == pytest.approx(0.5, abs=0.06)


def test_the_draws_follow_the_seed():
    seq = speech_like()
    _, a, _ = corrupt(seq, seed=(1, 2), history_noise=0.5, history_quiet=0.5)
    _, b, _ = corrupt(seq, seed=(1, 2), history_noise=0.5, history_quiet=0.5)
    _, c, _ = corrupt(seq, seed=(1, 3), history_noise=0.5, history_quiet=0.5)
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()


def test_the_window_is_at_most_half_a_subsequence():
    seq, inputs, mask = corrupt(speech_like(), history_noise=1.0, history_window=1000)
    assert ((mask == 0).sum(axis=1) == T // 2).all()


def test_a_batch_split_over_replicas_is_corrupted_as_on_one_device():
    seq = speech_like(8)
    recipe = recipes.Recipe(history_noise=0.5, history_quiet=0.5, history_window=16)
    mask = tf.ones((8, T))
    seed = tf.constant((4, 5), tf.int64)
    whole, whole_mask = corrupt_history(seq, mask, recipe, CONFIG, seed)
    halves = [corrupt_history(seq[i : i + 4], mask[i : i + 4], recipe, CONFIG, seed, i, 8) for i in (0, 4)]
    np.testing.assert_array_equal(np.concatenate([h[0] for h in halves]), whole)
    np.testing.assert_array_equal(np.concatenate([h[1] for h in halves]), whole_mask)
