"""The training corpus and its tf.data pipeline.

A batch is `batch_size` whole files. Each batch is cut into consecutive subsequences of
`seq_len` target samples, each carrying the big frame of samples before it, so the RNN state
can run on from one subsequence to the next (truncated BPTT); the first subsequence of every
batch is flagged so the model resets its state there. Files in a batch may differ in length:
shorter ones are padded with silence and a mask keeps the padding out of the loss.
"""

import dataclasses
import math
import os

import numpy as np
import tensorflow as tf

from samplernn import quantize
from samplernn.audio import find_wav_files, load_audio, probe_length
from samplernn.errors import UserError

# Fixed so that every run, and every resumed run, splits and shuffles a corpus the same way.
SHUFFLE_SEED = 20170201


@dataclasses.dataclass(frozen=True)
class AudioFile:
    path: str
    length: int  # samples at the training sample rate


def scan_corpus(data_dir, sample_rate, min_length, log=print):
    """The usable wav files below `data_dir`; unreadable and too-short files are skipped with a warning."""
    if not os.path.isdir(data_dir):
        raise UserError(f"--data_dir {data_dir!r} is not a directory")
    paths = find_wav_files(data_dir)
    if not paths:
        raise UserError(f"--data_dir {data_dir!r} contains no .wav files")
    files = []
    for path in paths:
        try:
            length = probe_length(path, sample_rate)
        except ValueError as err:
            log(f"Warning: skipping {path!r}: {err}")
            continue
        if length < min_length:
            log(f"Warning: skipping {path!r}: {length} samples is shorter than one subsequence ({min_length})")
            continue
        files.append(AudioFile(path, length))
    if not files:
        raise UserError(f"--data_dir {data_dir!r} has no usable .wav files (see the warnings above)")
    return files


def split_corpus(files, val_frac, batch_size, log=print):
    """Shuffle reproducibly and set aside whole batches for validation: `val_frac` of the files,
    rounded to the nearest multiple of `batch_size`. Returns (train, val)."""
    if batch_size > len(files):
        raise UserError(f"--batch_size {batch_size} is larger than the corpus ({len(files)} usable files)")
    order = np.random.default_rng(SHUFFLE_SEED).permutation(len(files))
    shuffled = [files[i] for i in order]
    val_batches = math.floor(val_frac * len(files) / batch_size + 0.5)
    # Training needs at least one batch; validation gives way.
    val_batches = min(val_batches, (len(files) - batch_size) // batch_size)
    if val_frac > 0 and val_batches == 0:
        log(
            f"Warning: {len(files)} files are too few for a validation batch of {batch_size}; "
            "validating on nothing and monitoring the training loss instead"
        )
    n_val = val_batches * batch_size
    return shuffled[n_val:], shuffled[:n_val]


def epoch_batches(files, batch_size, epoch=None):
    """Group files into whole batches (the remainder is dropped), shuffled per epoch if `epoch` is given."""
    if epoch is not None:
        order = np.random.default_rng([SHUFFLE_SEED, epoch]).permutation(len(files))
        files = [files[i] for i in order]
    count = len(files) // batch_size
    return [files[i * batch_size : (i + 1) * batch_size] for i in range(count)]


def level_counts(files, config, sample_rate, max_files=64):
    """How often each quantization level occurs in up to `max_files` of `files`, evenly spaced."""
    stride = max(1, len(files) // max_files)
    counts = np.zeros(config.q_levels, np.int64)
    for f in files[::stride][:max_files]:
        levels = quantize.encode(tf.constant(load_audio(f.path, sample_rate)), config.q_type, config.q_levels)
        counts += np.bincount(levels.numpy(), minlength=config.q_levels)
    return counts


def subsequences_in(batch, seq_len):
    return math.ceil(max(f.length for f in batch) / seq_len)


def steps_in(batches, seq_len):
    """Training steps (subsequences) the batches make, known before any audio is read."""
    return sum(subsequences_in(b, seq_len) for b in batches)


def make_dataset(batches, config, sample_rate):
    """Dataset of (seq (batch, G + T) int32, mask (batch, T) float32, reset () bool) per step."""
    batch_size = len(batches[0])
    seq_len, big = config.seq_len, config.big_frame_size
    silence = quantize.silence_level(config.q_levels)
    paths = [f.path for batch in batches for f in batch]

    def load(path):
        audio = tf.numpy_function(lambda p: load_audio(p.decode(), sample_rate), [path], tf.float32)
        audio.set_shape([None])
        return quantize.encode(audio, config.q_type, config.q_levels)

    def to_subsequences(levels):
        # levels: (batch, longest) with -1 past each file's end.
        steps = (tf.shape(levels)[1] + seq_len - 1) // seq_len
        pad_end = steps * seq_len - tf.shape(levels)[1]
        # The first subsequence's context is silence, as if each file were preceded by it.
        levels = tf.pad(levels, [[0, 0], [big, pad_end]], constant_values=-1)
        levels = tf.concat([tf.fill([batch_size, big], silence), levels[:, big:]], axis=1)
        mask = tf.cast(levels[:, big:] >= 0, tf.float32)
        levels = tf.where(levels >= 0, levels, silence)
        seqs = tf.signal.frame(levels, big + seq_len, seq_len, axis=1)  # (batch, steps, G + T)
        masks = tf.reshape(mask, (batch_size, steps, seq_len))
        resets = tf.range(steps) == 0
        return tf.data.Dataset.from_tensor_slices(
            (tf.transpose(seqs, (1, 0, 2)), tf.transpose(masks, (1, 0, 2)), resets)
        )

    ds = tf.data.Dataset.from_tensor_slices(paths)
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.padded_batch(batch_size, padded_shapes=[None], padding_values=-1)
    ds = ds.flat_map(to_subsequences)
    return ds.prefetch(tf.data.AUTOTUNE)
