"""Listening in numbers: how much of a clip's energy sits at a tone's harmonics, how noise-like
it is, and how far its long-term spectrum is from a corpus's. The tests, the demo and the
quality benchmark judge generated audio with these."""

import librosa
import numpy as np

from samplernn.audio import heard_level_db

N_FFT = 2048
# Floor of the log spectra, 100 dB below the power per bin of full-scale (unit-RMS) white noise,
# which is the sum of the squared Hann window: keeps digitally silent bands from dominating.
POWER_FLOOR = 1e-10 * float(np.sum(librosa.filters.get_window("hann", N_FFT) ** 2))


def harmonic_energy_fraction(samples, sample_rate, f0, bandwidth=10.0):
    """Fraction of the energy (DC removed) within `bandwidth` Hz of any multiple of `f0`.

    White noise scores about 2 * bandwidth / f0; a steady tone at f0 scores near 1.
    """
    x = np.asarray(samples, np.float64)
    x = x - x.mean()
    power = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1.0 / sample_rate)
    total = power[freqs > 0].sum()
    if total <= 0:
        return 0.0
    offset = np.abs(freqs - f0 * np.round(freqs / f0))
    return float(power[(offset <= bandwidth) & (freqs >= f0 - bandwidth)].sum() / total)


def median_flatness(samples):
    """Median over frames of the spectral flatness: near 1 for white noise, near 0 for tones."""
    x = np.asarray(samples, np.float32)
    return float(np.median(librosa.feature.spectral_flatness(y=x, n_fft=N_FFT)))


# A second of a clip counts as noise when its median flatness is above this and it is louder
# than NOISE_LEVEL_DB: white noise measures about 0.56, the real corpora 0.002 to 0.017, and a
# quieter hiss is near-silence, which `heard_level_db` already counts.
NOISE_FLATNESS = 0.3
NOISE_LEVEL_DB = -40.0


def noisy_seconds(samples, sample_rate):
    """How many of a clip's whole seconds are loud broadband noise: the state a free-running
    model can fall into and stay in for seconds, which a median over the clip hides."""
    x = np.asarray(samples, np.float64)
    seconds = (x[start : start + sample_rate] for start in range(0, len(x) - sample_rate + 1, sample_rate))
    return sum(heard_level_db(s) > NOISE_LEVEL_DB and median_flatness(s - s.mean()) > NOISE_FLATNESS for s in seconds)


def long_term_spectrum(samples):
    """The mean power spectrum over all frames of one clip or of a corpus's clips: (N_FFT // 2 + 1,)."""
    clips = [samples] if np.ndim(samples[0]) == 0 else samples
    frames = [np.abs(librosa.stft(np.asarray(c, np.float32), n_fft=N_FFT)) ** 2 for c in clips]
    return np.concatenate(frames, axis=1).mean(axis=1)


def _db_difference(spectrum, reference):
    a, b = (np.maximum(s, POWER_FLOOR) for s in (spectrum, reference))
    return 10 * np.log10(a) - 10 * np.log10(b)


def log_spectral_distance(spectrum, reference):
    """RMS difference in dB between two long-term spectra, level included: a clip far quieter
    than the corpus is far from it. (Normalized to equal total power, the spectra of drum
    clips stuck in near-silence, 49 dB below their corpus, came out nearer the corpus than
    clips of drum hits; see bench/README.md.)"""
    return float(np.sqrt(np.mean(_db_difference(spectrum, reference) ** 2)))


def level_and_shape(spectrum, reference):
    """The log-spectral distance split in two, (level dB, shape dB), with
    level ** 2 + shape ** 2 == log_spectral_distance ** 2: the mean dB difference over the bins
    (negative: quieter than the reference), and the RMS of what is left once that one gain is
    taken out. Which of the two parts a distance is tells a clip at the wrong level from one of
    the wrong sound."""
    difference = _db_difference(spectrum, reference)
    return float(np.mean(difference)), float(np.std(difference))
