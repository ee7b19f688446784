"""Listening, in numbers, to what a user gets: train.py on a steady harmonic tone (and on two), then
generate.py in a fresh process on the checkpoint it saved. Most of the generated audio's
energy must sit at the tone's harmonics, as tensorflow-wavenet's model test asks of its chord.
White noise puts about 2 * 10 Hz / f0 (10% at 200 Hz) there."""

import glob
import os

import numpy as np
import pytest
import soundfile as sf
from conftest import RATE, harmonic_tone, run_script, write_wav

from samplernn import checkpoints
from samplernn.config import ModelConfig
from samplernn.spectral import harmonic_energy_fraction

pytestmark = pytest.mark.slow

# Small enough to train in well under a minute on 2 cores, big enough to hold a tone's phase.
CONFIG = ModelConfig(seq_len=64, frame_sizes=(4, 16), dim=32, num_rnn_layers=1, emb_size=8, mlp_input_relu=False)
TONE_HZ = 200.0
# The two-pitch model's tones: apart by more than any harmonic's band, none a harmonic of the other.
PITCHES = (500.0, 800.0)
HARMONIC = 0.7  # "most of the energy", with room for the corpus's own noise floor
# The temperature of the tests that judge one unseeded clip. The tone model's clips spread
# around its pitch more at temperature 1: of 80 clips of 10 trainings, 6 scored below HARMONIC
# at 1 (one of them on CI's machine), none below 0.75 at this one (before the windows below).
SINGLE_CLIP_TEMPERATURE = 0.8
# The one-tone model's epochs. Training's corrupted history windows (samplernn/corruption.py)
# cost a model this small and this briefly trained some of its purity: after 3 epochs (with
# history_quiet 0.1) its clips at 0.8 put a median 0.79 of their energy at the harmonics (4 of
# 40 clips of 8 trainings below HARMONIC, two on CI's machine) against 0.92 with the windows
# off; after 5 epochs with today's windows, 0.88 (none of 40 clips of 8 trainings below 0.75).
TONE_EPOCHS = 5
# A seeded run draws this many clips per seed, of which this many must keep the seed's pitch. A
# tiny model trained from fresh random weights lets a few clips in a hundred slip to the other
# tone, some models more (bench/seed_continuation.py): two clips asked to hold both failed on
# CI's machine, and 7 of 8 failed 2 runs in 5 here. A model that does not hear its seed keeps
# about half, and 12 or more of 16 then in 4% of runs.
SEEDED_CLIPS, KEPT = 16, 12


def train_on(tmp_path, pitches, files_per_pitch, seconds, epochs, generate, config=CONFIG):
    corpus = tmp_path / "corpus"
    for f0 in pitches:
        for i in range(files_per_pitch):
            write_wav(str(corpus / f"{f0:g}_{i}.wav"), harmonic_tone(f0, int(seconds * RATE), phase=0.7 * i, seed=i))
    config.save(str(tmp_path / "tone.config.json"))
    run_script(
        "train.py",
        *("--id", "tone", "--data_dir", corpus, "--config_file", tmp_path / "tone.config.json"),
        *("--logdir_root", tmp_path / "logdir", "--output_dir", tmp_path / "generated"),
        *("--num_epochs", epochs, "--batch_size", 4, "--early_stopping_patience", "None", "--verbose", "False"),
        *("--generate", generate, "--output_file_dur", 1, "--temperature", SINGLE_CLIP_TEMPERATURE),
        *("--plot", "False"),
    )
    (run_dir,) = checkpoints.run_dirs(str(tmp_path / "logdir"), "tone")
    return checkpoints.checkpoints_in(run_dir)[-1]


def generate(tmp_path, checkpoint, name, *args, printed=None):
    """The clips generate.py writes; what it prints is appended to `printed`."""
    out = tmp_path / "out" / f"{name}.wav"
    done = run_script("generate.py", "--checkpoint_path", checkpoint, "--output_path", out, "--plot", "False", *args)
    if printed is not None:
        printed.append(done.stdout)
    return [sf.read(path)[0] for path in sorted(glob.glob(str(out)[:-4] + "_*.wav"))]


@pytest.fixture(scope="module")
def tone(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("tone")
    return tmp_path, train_on(tmp_path, [TONE_HZ], files_per_pitch=8, seconds=0.5, epochs=TONE_EPOCHS, generate=True)


def assert_tonal(clip, f0=TONE_HZ):
    assert len(clip) > 0 and np.std(clip) > 0.05, "silent or stuck"
    assert harmonic_energy_fraction(clip, RATE, f0) > HARMONIC


def test_in_training_generation_plays_the_tone(tone):
    tmp_path, _ = tone
    clip, _ = sf.read(tmp_path / "generated" / "tone" / f"tone_e={TONE_EPOCHS}_t={SINGLE_CLIP_TEMPERATURE}.wav")
    assert len(clip) == RATE
    assert_tonal(clip)


def test_generate_py_plays_the_tone_and_again_from_its_compilation_cache(tone):
    tmp_path, checkpoint = tone
    cache, printed = tmp_path / "cache", []
    args = ("--dur", 1, "--temperature", SINGLE_CLIP_TEMPERATURE, "--random_seed", 1, "--compilation_cache", cache)
    (clip,) = generate(tmp_path, checkpoint, "warm", *args, printed=printed)
    assert len(clip) == RATE
    assert_tonal(clip)
    (key,) = os.listdir(cache)  # one folder for this model and --num_seqs
    entries = {name: os.stat(cache / key / name).st_mtime_ns for name in os.listdir(cache / key)}
    # A second run reads what the first compiled, writes nothing, and makes the same audio.
    (again,) = generate(tmp_path, checkpoint, "again", *args, printed=printed)
    np.testing.assert_array_equal(again, clip)
    assert {name: os.stat(cache / key / name).st_mtime_ns for name in os.listdir(cache / key)} == entries
    first, second = (text.splitlines() for text in printed)
    assert f"{len(entries)} entries written to {cache / key})" in first[1]
    assert f"{len(entries)} entries read from {cache / key})" in second[1]
    for lines in (first, second):  # each phase's line, in order
        assert [line.split(":")[0] for line in lines[:3]] == ["Loading", "Compiling", "Generating"]


def test_generate_py_plays_the_tone_in_several_sequences_at_a_low_temperature(tone):
    tmp_path, checkpoint = tone
    clips = generate(tmp_path, checkpoint, "cool", "--dur", 1, "--num_seqs", 3, "--temperature", 0.5)
    assert len(clips) == 3
    for clip in clips:
        assert_tonal(clip)
    assert not np.array_equal(clips[0], clips[1])  # each sequence draws its own samples


@pytest.fixture(scope="module")
def two_pitches(tmp_path_factory):
    """A model of two tones, one per file: which one it plays is the seed's to say. Frames of 16
    and 64 samples hold one to three periods of either pitch."""
    tmp_path = tmp_path_factory.mktemp("two_pitches")
    config = CONFIG.replace(frame_sizes=(16, 64))
    checkpoint = train_on(tmp_path, PITCHES, files_per_pitch=6, seconds=0.5, epochs=6, generate=False, config=config)
    return tmp_path, checkpoint


def heard_after_the_seed(clip, pitch):
    """The first 100 ms after the seed: (its level, its energy's fraction at the seed's
    harmonics, at the other tone's)."""
    (other,) = set(PITCHES) - {pitch}
    first = clip[: RATE // 10]
    return np.std(first), harmonic_energy_fraction(first, RATE, pitch), harmonic_energy_fraction(first, RATE, other)


@pytest.mark.parametrize("pitch", PITCHES)
def test_a_seeded_run_continues_the_seeds_pitch(two_pitches, pitch):
    tmp_path, checkpoint = two_pitches
    seed = write_wav(str(tmp_path / f"seed_{pitch:g}.wav"), harmonic_tone(pitch, RATE // 4, phase=2.1, seed=99))
    args = ("--seed", seed, "--dur", 0.2, "--num_seqs", SEEDED_CLIPS, "--random_seed", 1)  # the default temperature
    clips = generate(tmp_path, checkpoint, f"seeded_{pitch:g}", *args)
    assert len(clips) == SEEDED_CLIPS
    heard = [heard_after_the_seed(clip, pitch) for clip in clips]
    kept = [level > 0.05 and own > HARMONIC and other < 0.1 for level, own, other in heard]
    assert sum(kept) >= KEPT, [tuple(round(float(x), 3) for x in h) for h in heard]


def test_the_measure_tells_noise_from_the_tone():
    noise = np.random.default_rng(0).normal(size=RATE)
    assert harmonic_energy_fraction(noise, RATE, TONE_HZ) < 0.15
    assert harmonic_energy_fraction(harmonic_tone(TONE_HZ, RATE), RATE, TONE_HZ) > 0.95
    assert harmonic_energy_fraction(harmonic_tone(250.0, RATE), RATE, TONE_HZ) < 0.1
