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


def write_wav(path, audio, sample_rate):
    """Write 16-bit PCM atomically, so a crash never leaves a half-written wav under the final name."""
    with atomic_write(path) as f:
        sf.write(f, np.clip(audio, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
