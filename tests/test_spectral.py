import numpy as np

from samplernn.spectral import level_and_shape, log_spectral_distance, long_term_spectrum, noisy_seconds

RATE = 16000


def test_noisy_seconds_counts_only_the_loud_noise():
    rng = np.random.default_rng(0)
    t = np.arange(RATE) / RATE
    tone = 0.3 * np.sin(2 * np.pi * 220 * t)
    noise = rng.uniform(-0.3, 0.3, RATE)
    hiss = noise * 0.001  # -70 dB: near-silence, not noise a listener hears
    # noise over a constant offset is still noise: the offset is inaudible and does not hide it
    clip = np.concatenate([tone, noise, hiss, noise + 0.5, tone[: RATE // 2]])
    assert noisy_seconds(clip, RATE) == 2
    assert noisy_seconds(tone[: RATE // 2], RATE) == 0  # no whole second


def test_level_and_shape_split_the_distance():
    rng = np.random.default_rng(1)
    t = np.arange(RATE) / RATE
    sound = 0.3 * np.sin(2 * np.pi * 220 * t) + rng.normal(0, 0.01, RATE)
    corpus = long_term_spectrum(sound)
    level, shape = level_and_shape(long_term_spectrum(0.1 * sound), corpus)
    assert abs(level + 20) < 0.01 and shape < 0.01  # the same sound 20 dB down: a level, no shape
    brown = np.cumsum(rng.normal(0, 0.01, RATE))
    corpus = long_term_spectrum(brown - brown.mean())
    noise = long_term_spectrum(rng.normal(0, np.std(brown), RATE))
    level, shape = level_and_shape(noise, corpus)
    assert shape > 5  # white noise against a corpus falling 6 dB an octave: the wrong sound
    assert np.isclose(np.hypot(level, shape), log_spectral_distance(noise, corpus))
