"""A small synthetic training corpus: plucked-string melodies, so a demo needs no downloads."""

import os

import numpy as np
import soundfile as sf

from samplernn.errors import UserError
from samplernn.files import atomic_write

PENTATONIC_STEPS = (0, 2, 4, 7, 9)
ROOT_HZ = 110.0
BEAT_SECONDS = 0.25
NOTE_BEATS = (1, 1, 2, 2, 2, 3, 4)
DYAD_PROBABILITY = 0.2
REST_PROBABILITY = 0.08
STRING_DECAY = 0.996
PEAK_DBFS = -3.0
END_FADE_SECONDS = 0.05


def synthesize_demo_corpus(path, seconds=180.0, sample_rate=16000, seed=0):
    """Write a mono 16-bit wav of Karplus-Strong melodies to `path` and return the path.

    Notes random-walk over a two-octave A major pentatonic scale in eighth-note multiples,
    ring on into the next note, and now and then sound with a second note. The mix peaks
    at -3 dBFS. The same arguments always produce the same bytes.
    """
    total = round(seconds * sample_rate)
    if total < 1:
        raise UserError(f"seconds * sample_rate must give at least one sample, got {seconds} s at {sample_rate} Hz")
    rng = np.random.default_rng(seed)
    pitches = [ROOT_HZ * 2 ** ((12 * octave + step) / 12) for octave in (0, 1) for step in PENTATONIC_STEPS]
    mix = np.zeros(total)
    onset = 0
    degree = int(rng.integers(len(pitches)))
    while onset < total:
        length = round(rng.choice(NOTE_BEATS) * BEAT_SECONDS * sample_rate)
        degree = int(np.clip(degree + rng.integers(-2, 3), 0, len(pitches) - 1))
        # The opening note always sounds, so even the shortest corpus is never silent.
        if onset == 0 or rng.random() >= REST_PROBABILITY:
            voices = [degree]
            if rng.random() < DYAD_PROBABILITY:
                voices.append(degree - 2 if degree >= 2 else degree + 2)
            for voice in voices:
                # Letting each note ring for half its length again overlaps it with the next.
                note = rng.uniform(0.5, 1.0) * _pluck(pitches[voice], length * 3 // 2, sample_rate, rng)
                end = min(onset + note.size, total)
                mix[onset:end] += note[: end - onset]
        onset += length

    fade = min(total, round(END_FADE_SECONDS * sample_rate))
    mix[total - fade :] *= np.linspace(1.0, 0.0, fade)
    mix *= 10 ** (PEAK_DBFS / 20) / np.abs(mix).max()
    samples = np.round(mix * 32767).astype(np.int16)
    path = os.fspath(path)
    with atomic_write(path) as f:
        sf.write(f, samples, sample_rate, format="WAV", subtype="PCM_16")
    return path


def _pluck(freq, num_samples, sample_rate, rng):
    """Karplus-Strong: a noise burst circulating through a delay line with a two-tap lowpass.

    Each pass round the delay line depends only on the previous pass, so one numpy operation
    computes a whole period. The averaging filter adds half a sample of delay, hence the
    shorter line.
    """
    period = max(2, round(sample_rate / freq - 0.5))
    # buf[n + 1] holds output sample n; buf[0] is the zero that precedes the burst.
    buf = np.zeros(1 + period * -(-num_samples // period))
    burst = rng.uniform(-1.0, 1.0, period)
    buf[1 : 1 + period] = burst - burst.mean()
    for start in range(1 + period, buf.size, period):
        buf[start : start + period] = (
            STRING_DECAY * 0.5 * (buf[start - period : start] + buf[start - period - 1 : start - 1])
        )
    return buf[1 : 1 + num_samples]
