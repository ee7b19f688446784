"""A small synthetic training corpus: plucked-string melodies, so a demo needs no downloads."""

import os

import numpy as np
import soundfile as sf

from samplernn.errors import UserError
from samplernn.files import atomic_write

# Few pitches, each a string plucked the same way, one note at a time and no rests: a corpus
# whose pitch and onsets a small model learns within a few minutes of CPU training. (With
# rests, the model learns that silence goes on, and generation, which starts from silence,
# often stays silent.)
PENTATONIC_STEPS = (0, 2, 4, 7, 9)
# E4: periods of 29-48 samples at 16 kHz, about one big frame of the demo's model.
ROOT_HZ = 329.63
# Notes of a quarter to half a second: several onsets in every training subsequence's reach
# of a few seconds, so the small model meets onsets often enough to make its own.
BEAT_SECONDS = 0.125
NOTE_BEATS = (2, 2, 3, 4)
# Each note rings on for this fraction of its length into the next, then is damped.
RING_OVER = 0.25
RELEASE_SECONDS = 0.05
# What each pass round the string keeps: 0.13 dB lost per pass, 45-70 dB per second at these
# pitches, so each note fades audibly within its own length, as a plucked string does.
STRING_DECAY = 0.985
# Where the string is plucked, as a fraction of its length: sets the harmonics' balance.
PLUCK_POSITION = 0.25
PEAK_DBFS = -3.0
END_FADE_SECONDS = 0.05


def synthesize_demo_corpus(path, seconds=180.0, sample_rate=16000, seed=0):
    """Write a mono 16-bit wav of Karplus-Strong melodies to `path` and return the path.

    Notes random-walk over a one-octave E major pentatonic scale in quarter-second to
    half-second lengths, fade as they ring and ring a little into the next note. The mix peaks at -3 dBFS. The
    same arguments always produce the same bytes.
    """
    total = round(seconds * sample_rate)
    if total < 1:
        raise UserError(f"seconds * sample_rate must give at least one sample, got {seconds} s at {sample_rate} Hz")
    rng = np.random.default_rng(seed)
    pitches = [ROOT_HZ * 2 ** (step / 12) for step in PENTATONIC_STEPS]
    mix = np.zeros(total)
    onset = 0
    degree = int(rng.integers(len(pitches)))
    while onset < total:
        length = round(rng.choice(NOTE_BEATS) * BEAT_SECONDS * sample_rate)
        degree = int(np.clip(degree + rng.integers(-2, 3), 0, len(pitches) - 1))
        note = rng.uniform(0.5, 1.0) * _pluck(pitches[degree], round(length * (1 + RING_OVER)), sample_rate)
        # A damped end rather than a cut one, which would click across the spectrum.
        release = min(note.size, round(RELEASE_SECONDS * sample_rate))
        note[note.size - release :] *= np.linspace(1.0, 0.0, release)
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


def _pluck(freq, num_samples, sample_rate):
    """Karplus-Strong: the string's initial shape circulating through a delay line with a
    two-tap lowpass.

    The shape is a triangle peaking at PLUCK_POSITION, the same for every note, so a pitch
    always has the same waveform (a noise burst, the classic choice, makes every note's
    waveform new and is much harder for a small model to learn). Each pass round the delay
    line depends only on the previous pass, so one numpy operation computes a whole period.
    The averaging filter adds half a sample of delay, hence the shorter line.
    """
    period = max(2, round(sample_rate / freq - 0.5))
    # buf[n + 1] holds output sample n; buf[0] is the zero that precedes the first pass.
    buf = np.zeros(1 + period * -(-num_samples // period))
    x = np.arange(period) / period
    shape = np.where(x < PLUCK_POSITION, x / PLUCK_POSITION, (1.0 - x) / (1.0 - PLUCK_POSITION))
    buf[1 : 1 + period] = shape - shape.mean()
    for start in range(1 + period, buf.size, period):
        buf[start : start + period] = (
            STRING_DECAY * 0.5 * (buf[start - period : start] + buf[start - period - 1 : start - 1])
        )
    return buf[1 : 1 + num_samples]
