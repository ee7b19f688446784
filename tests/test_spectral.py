import numpy as np

from samplernn.spectral import noisy_seconds

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
