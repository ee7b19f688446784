"""Audio files in and out: finding wav files, loading them as mono float32 at one sample rate,
and writing wav files atomically."""

import math
import os

import librosa
import natsort
import numpy as np
import soundfile as sf

from samplernn.errors import UserError
from samplernn.files import atomic_write


def find_wav_files(data_dir):
    """Every .wav file below `data_dir`, in natural order."""
    found = []
    for root, _, names in os.walk(data_dir):
        found.extend(os.path.join(root, n) for n in names if n.lower().endswith(".wav"))
    return natsort.natsorted(found)


def resampled_length(frames, file_rate, sample_rate):
    """Samples a file of `frames` at `file_rate` has once loaded at `sample_rate`."""
    if file_rate == sample_rate:
        return frames
    return int(math.ceil(frames * sample_rate / file_rate))


def probe_length(path, sample_rate):
    """Length in samples at `sample_rate`, read from the header only; raises ValueError if unreadable."""
    if os.path.islink(path) and not os.path.exists(path):
        # libsndfile reports only "System error." for a link whose target is gone.
        raise ValueError(f"a broken link to {os.readlink(path)!r}, which does not exist")
    try:
        info = sf.info(path)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise ValueError(f"not a readable audio file ({err})") from None
    return resampled_length(info.frames, info.samplerate, sample_rate)


def load_audio(path, sample_rate):
    """Mono float32 samples at `sample_rate`: channels are averaged, other rates resampled.

    The length is exactly `probe_length(path, sample_rate)`, which the pipeline relies on.
    """
    data, file_rate = sf.read(path, dtype="float32", always_2d=True)
    audio = data.mean(axis=1)
    if file_rate != sample_rate:
        audio = librosa.resample(audio, orig_sr=file_rate, target_sr=sample_rate)
        audio = librosa.util.fix_length(audio, size=resampled_length(len(data), file_rate, sample_rate))
    return np.ascontiguousarray(audio, dtype=np.float32)


def load_seed_audio(path, sample_rate):
    """Load a user-named file, turning any failure into one clear line."""
    if not os.path.isfile(path):
        raise UserError(f"audio file {path!r} does not exist")
    try:
        return load_audio(path, sample_rate)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as err:
        raise UserError(f"audio file {path!r} cannot be read: {err}") from None


def rms_db(samples):
    """The RMS of `samples` in dB re full scale, -200 for digital silence."""
    power = float(np.mean(np.square(samples, dtype=np.float64))) if len(samples) else 0.0
    return 10.0 * math.log10(max(power, 1e-20))


def heard_level_db(samples):
    """The level a listener hears, in dB re full scale: the RMS about the mean, since a constant
    offset is inaudible (a model stuck one level off silence writes one)."""
    samples = np.asarray(samples, dtype=np.float64)
    return rms_db(samples - samples.mean() if len(samples) else samples)


def silent_tail_start(samples, sample_rate, threshold_db, min_seconds=1.0):
    """The earliest time in seconds, on a 0.1 s grid, from which `samples` stay below
    `threshold_db` (heard_level_db of the rest) to their end, when that rest lasts at least
    `min_seconds` and a quarter of the clip: a clip that fell silent part of the way through.
    None when no such rest exists; 0.0 when the whole clip is below the threshold."""
    x = np.asarray(samples, dtype=np.float64)
    shortest = max(round(min_seconds * sample_rate), math.ceil(len(x) / 4))
    if len(x) < shortest or not len(x):
        return None
    # Sums of every suffix from cumulative sums, so the grid costs one pass over the clip.
    sums = np.concatenate(([0.0], np.cumsum(x)))
    squares = np.concatenate(([0.0], np.cumsum(x * x)))
    starts = np.arange(0, len(x) - shortest + 1, max(1, sample_rate // 10))
    counts = len(x) - starts
    means = (sums[-1] - sums[starts]) / counts
    powers = np.maximum((squares[-1] - squares[starts]) / counts - means**2, 1e-20)
    quiet = np.flatnonzero(10.0 * np.log10(powers) < threshold_db)
    return float(starts[quiet[0]] / sample_rate) if len(quiet) else None


def write_wav(path, audio, sample_rate):
    """Write 16-bit PCM atomically, so a crash never leaves a half-written wav under the final name."""
    with atomic_write(path) as f:
        sf.write(f, np.clip(audio, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
