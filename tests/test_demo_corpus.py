import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from samplernn.demo_corpus import PENTATONIC_STEPS, ROOT_HZ, synthesize_demo_corpus
from samplernn.errors import UserError


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = synthesize_demo_corpus(tmp_path_factory.mktemp("demo") / "nested" / "demo.wav", seconds=20.0)
    return path, *sf.read(path, dtype="int16")


def test_writes_a_str_path_with_parent_dirs_and_no_leftovers(corpus):
    path, _, _ = corpus
    assert isinstance(path, str)
    assert os.listdir(os.path.dirname(path)) == ["demo.wav"]


def test_default_is_three_minutes_of_mono_16_bit_at_16_khz(tmp_path):
    info = sf.info(synthesize_demo_corpus(tmp_path / "demo.wav"))
    assert (info.frames, info.samplerate, info.channels, info.subtype) == (
        180 * 16000,
        16000,
        1,
        "PCM_16",
    )


@pytest.mark.parametrize(
    ("seconds", "rate", "frames"),
    [(2.5, 22050, 55125), (1.0, 8000, 8000), (0.3, 16000, 4800)],
)
def test_duration_and_rate_are_exact(tmp_path, seconds, rate, frames):
    info = sf.info(synthesize_demo_corpus(tmp_path / "demo.wav", seconds=seconds, sample_rate=rate))
    assert (info.frames, info.samplerate) == (frames, rate)


def test_peak_is_near_minus_3_dbfs_without_clipping(corpus):
    _, samples, _ = corpus
    peak = int(np.abs(samples.astype(np.int32)).max())
    assert peak < 32767
    assert -3.1 < 20 * np.log10(peak / 32768) < -2.9


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    first = Path(synthesize_demo_corpus(tmp_path / "a.wav", seconds=5.0, seed=7)).read_bytes()
    again = Path(synthesize_demo_corpus(tmp_path / "b.wav", seconds=5.0, seed=7)).read_bytes()
    other = Path(synthesize_demo_corpus(tmp_path / "c.wav", seconds=5.0, seed=8)).read_bytes()
    assert first == again
    assert first != other


def test_audio_is_mostly_sounding_and_pitched(corpus):
    _, samples, rate = corpus
    audio = samples / 32768.0
    assert np.sqrt(np.mean(audio**2)) > 10 ** (-30 / 20)

    size = 2048
    frames = audio[: audio.size // size * size].reshape(-1, size)
    frames = frames - frames.mean(axis=1, keepdims=True)
    sounding = frames[np.sum(frames**2, axis=1) > size * 1e-6]
    assert len(sounding) > 0.8 * len(frames)

    # How well each frame matches itself shifted by one period of 80-1000 Hz: near 1 for a
    # plucked string, near 0 for noise.
    periodicity = []
    for frame in sounding:
        autocorrelation = np.correlate(frame, frame, "full")[size - 1 :]
        periodicity.append(autocorrelation[rate // 1000 : rate // 80].max() / autocorrelation[0])
    assert np.median(periodicity) > 0.7


def test_a_clip_shorter_than_one_note_still_sounds(tmp_path):
    samples, _ = sf.read(synthesize_demo_corpus(tmp_path / "demo.wav", seconds=0.3), dtype="int16")
    assert np.abs(samples).max() > 0


def test_too_short_to_hold_a_sample_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="seconds"):
        synthesize_demo_corpus(tmp_path / "demo.wav", seconds=0.0)


def test_every_sounding_frame_is_one_of_the_five_pitches(corpus):
    _, samples, rate = corpus
    audio = samples / 32768.0
    size = 2048
    scale = ROOT_HZ * 2 ** (np.array(PENTATONIC_STEPS) / 12)
    frames = audio[: audio.size // size * size].reshape(-1, size)
    for frame in frames[np.sum(frames**2, axis=1) > size * 1e-4]:
        spectrum = np.abs(np.fft.rfft(frame * np.hanning(size)))
        peak_hz = np.argmax(spectrum) * rate / size
        # Within 3% (a bin, plus the delay line's whole-sample tuning); the notes are 12% apart.
        assert np.min(np.abs(scale / peak_hz - 1.0)) < 0.03, peak_hz
