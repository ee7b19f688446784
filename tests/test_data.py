import math
import os

import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf
from conftest import RATE, discard, periodic, tiny_config, write_wav

from samplernn import data, quantize
from samplernn.audio import load_audio, probe_length
from samplernn.data import AudioFile, epoch_batches, make_dataset, scan_corpus, split_corpus, steps_in
from samplernn.errors import UserError

MIN = 32  # the tiny config's seq_len: files shorter than one subsequence are skipped


def fake_files(n):
    return [AudioFile(f"/corpus/f{i}.wav", 1000 + i) for i in range(n)]


def basenames(files):
    return [os.path.basename(f.path) for f in files]


# --- scan_corpus


def test_scan_finds_wavs_recursively_in_natural_order(tmp_path):
    for rel in ["b/x10.wav", "b/x2.wav", "a.wav", "b/c/deep.WAV", "x1.wav", "notes.txt", "b/song.mp3", "b/x2.wav.bak"]:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if rel.lower().endswith(".wav"):
            write_wav(path, periodic(100))
        else:
            path.write_text("not audio")

    files = scan_corpus(str(tmp_path), RATE, MIN, log=discard)

    rel = [os.path.relpath(f.path, tmp_path) for f in files]
    assert rel == ["a.wav", "b/c/deep.WAV", "b/x2.wav", "b/x10.wav", "x1.wav"]
    assert all(f.length == 100 for f in files)


def test_scan_records_lengths_at_the_training_rate(tmp_path):
    write_wav(tmp_path / "native.wav", periodic(1000))
    write_wav(tmp_path / "other.wav", periodic(2205), rate=22050)
    files = scan_corpus(str(tmp_path), RATE, MIN, log=discard)
    assert [(os.path.basename(f.path), f.length) for f in files] == [("native.wav", 1000), ("other.wav", 1600)]


def test_scan_skips_corrupt_wavs_with_a_warning_naming_them(tmp_path):
    good = write_wav(tmp_path / "good.wav", periodic(500))
    text = tmp_path / "text.wav"
    text.write_text("this is not audio\n" * 20)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    messages = []

    files = scan_corpus(str(tmp_path), RATE, MIN, log=messages.append)

    assert [f.path for f in files] == [good]
    assert len(messages) == 2
    assert all(m.startswith("Warning: skipping") for m in messages)
    assert any(str(text) in m for m in messages) and any(str(empty) in m for m in messages)
    assert all("\n" not in m for m in messages)


def test_scan_names_a_broken_link_as_one(tmp_path):
    good = write_wav(tmp_path / "good.wav", periodic(500))
    link, target = str(tmp_path / "gone.wav"), str(tmp_path / "moved_away.wav")
    os.symlink(target, link)
    messages = []

    files = scan_corpus(str(tmp_path), RATE, MIN, log=messages.append)

    assert [f.path for f in files] == [good]
    assert messages == [f"Warning: skipping {link!r}: a broken link to {target!r}, which does not exist"]


def test_scan_skips_files_shorter_than_one_subsequence_naming_them(tmp_path):
    long_enough = write_wav(tmp_path / "exact.wav", periodic(MIN))
    short = write_wav(tmp_path / "short.wav", periodic(MIN - 1))
    silent_empty = write_wav(tmp_path / "zero.wav", np.zeros(0))
    messages = []

    files = scan_corpus(str(tmp_path), RATE, MIN, log=messages.append)

    assert [f.path for f in files] == [long_enough]
    assert len(messages) == 2
    assert str(short) in messages[0] and f"{MIN - 1} samples" in messages[0] and f"({MIN})" in messages[0]
    assert str(silent_empty) in messages[1]


def test_scan_of_a_missing_dir_is_a_user_error(tmp_path):
    missing = str(tmp_path / "nope")
    with pytest.raises(UserError, match="--data_dir .* is not a directory") as caught:
        scan_corpus(missing, RATE, MIN, log=discard)
    assert missing in str(caught.value)


def test_scan_of_a_file_instead_of_a_dir_is_a_user_error(tmp_path):
    path = write_wav(tmp_path / "one.wav", periodic(100))
    with pytest.raises(UserError, match="is not a directory"):
        scan_corpus(path, RATE, MIN, log=discard)


@pytest.mark.parametrize("contents", [[], ["readme.txt", "sub/song.flac"]])
def test_scan_of_a_dir_without_wavs_is_a_user_error(tmp_path, contents):
    for rel in contents:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    with pytest.raises(UserError, match="contains no .wav files") as caught:
        scan_corpus(str(tmp_path), RATE, MIN, log=discard)
    assert str(tmp_path) in str(caught.value)


def test_scan_with_nothing_usable_is_a_user_error_after_the_warnings(tmp_path):
    (tmp_path / "bad.wav").write_text("garbage")
    write_wav(tmp_path / "short.wav", periodic(5))
    messages = []
    with pytest.raises(UserError, match="no usable .wav files"):
        scan_corpus(str(tmp_path), RATE, MIN, log=messages.append)
    assert len(messages) == 2


# --- loading: resampling and mixing down


def dominant_frequency(audio, rate):
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return np.argmax(spectrum) * rate / len(audio)


def test_a_22050_hz_stereo_file_loads_as_mono_16_khz_at_the_same_pitch(tmp_path):
    frames = 22050 // 2 + 7
    t = np.arange(frames) / 22050
    left = 0.6 * np.sin(2 * np.pi * 440.0 * t)
    right = 0.2 * np.sin(2 * np.pi * 440.0 * t)
    path = write_wav(tmp_path / "stereo.wav", np.stack([left, right], axis=1), rate=22050)

    audio = load_audio(path, RATE)

    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) == probe_length(path, RATE) == math.ceil(frames * RATE / 22050)
    # Played at 16 kHz, the tone is still 440 Hz: the file was resampled, not relabelled.
    assert dominant_frequency(audio, RATE) == pytest.approx(440.0, abs=3.0)
    # The channels are averaged: amplitude (0.6 + 0.2) / 2.
    assert np.max(np.abs(audio[100:-100])) == pytest.approx(0.4, abs=0.02)


@pytest.mark.parametrize(("rate", "frames"), [(8000, 1001), (44100, 4411), (48000, 333), (16000, 1234)])
def test_loaded_length_is_what_probe_length_predicts(tmp_path, rate, frames):
    path = write_wav(tmp_path / "x.wav", periodic(frames), rate=rate)
    assert len(load_audio(path, RATE)) == probe_length(path, RATE)


def test_a_16_khz_mono_file_loads_unchanged(tmp_path):
    samples = periodic(777)
    path = write_wav(tmp_path / "x.wav", samples)
    np.testing.assert_array_equal(load_audio(path, RATE), sf.read(path, dtype="float32")[0])


# --- split_corpus and epoch_batches


def test_split_is_reproducible_and_partitions_the_files():
    files = fake_files(40)
    train1, val1 = split_corpus(files, 0.1, 4, log=discard)
    train2, val2 = split_corpus(list(files), 0.1, 4, log=discard)
    assert (train1, val1) == (train2, val2)
    assert sorted(basenames(train1 + val1)) == sorted(basenames(files))
    assert not set(basenames(train1)) & set(basenames(val1))
    # Shuffled: the validation files are not simply the first or last ones.
    assert val1 != files[:4] and val1 != files[-4:]


@pytest.mark.parametrize(
    ("n", "val_frac", "batch_size", "n_val"),
    [
        (40, 0.1, 4, 4),  # 4 files = exactly one batch
        (40, 0.25, 4, 12),  # 2.5 batches round to 3
        (40, 0.2, 4, 8),
        (20, 0.1, 4, 4),  # half a batch rounds up to one
        (100, 0.1, 64, 0),  # 10 files are 0.16 batches: none
        (40, 0.0, 4, 0),
        (8, 0.9, 4, 4),  # training keeps at least one batch
        (4, 0.5, 4, 0),
    ],
)
def test_validation_is_rounded_to_whole_batches(n, val_frac, batch_size, n_val):
    train, val = split_corpus(fake_files(n), val_frac, batch_size, log=discard)
    assert len(val) == n_val
    assert len(train) == n - n_val
    assert len(train) >= batch_size


def test_a_validation_fraction_too_small_for_a_batch_warns():
    messages = []
    split_corpus(fake_files(10), 0.1, 4, log=messages.append)
    assert len(messages) == 1 and "validation" in messages[0]
    messages.clear()
    split_corpus(fake_files(10), 0.0, 4, log=messages.append)
    assert messages == []


@pytest.mark.parametrize(("n", "batch_size"), [(3, 4), (1, 64)])
def test_batch_size_larger_than_the_corpus_is_a_user_error(n, batch_size):
    with pytest.raises(UserError, match=f"--batch_size {batch_size} is larger than the corpus \\({n} usable"):
        split_corpus(fake_files(n), 0.1, batch_size, log=discard)


def test_batch_size_equal_to_the_corpus_is_fine():
    train, val = split_corpus(fake_files(4), 0.1, 4, log=discard)
    assert len(train) == 4 and val == []


def test_epoch_batches_shuffle_reproducibly_per_epoch_and_differently_across_epochs():
    files = fake_files(20)
    e1 = epoch_batches(files, 4, epoch=1)
    assert e1 == epoch_batches(list(files), 4, epoch=1)
    e2 = epoch_batches(files, 4, epoch=2)
    assert e1 != e2
    assert len({tuple(basenames(sum(epoch_batches(files, 4, epoch=e), []))) for e in range(1, 6)}) == 5
    for batches in (e1, e2):
        assert [len(b) for b in batches] == [4] * 5
        assert sorted(basenames(sum(batches, []))) == sorted(basenames(files))


def test_epoch_batches_drop_the_remainder_and_keep_order_without_an_epoch():
    files = fake_files(10)
    batches = epoch_batches(files, 4)
    assert batches == [files[0:4], files[4:8]]
    assert [len(b) for b in epoch_batches(files, 3, epoch=7)] == [3, 3, 3]


def test_steps_in_counts_subsequences_of_the_longest_file_per_batch():
    batch = [AudioFile("a", 100), AudioFile("b", 65)]
    assert data.subsequences_in(batch, 32) == 4
    assert steps_in([batch, [AudioFile("c", 64), AudioFile("d", 10)]], 32) == 4 + 2


# --- make_dataset


def expected_levels(path, config):
    audio = load_audio(path, RATE)
    return quantize.encode(audio, config.q_type, config.q_levels).numpy()


def collect(dataset):
    return [(s.numpy(), m.numpy(), bool(r.numpy())) for s, m, r in dataset]


@pytest.fixture
def unequal_corpus(tmp_path):
    """Six files of unequal lengths, one at another rate, as two batches of three."""
    lengths = [100, 161, 64, 97, 33, 130]
    paths = [write_wav(tmp_path / f"f{i}.wav", periodic(n, phase=i / 5)) for i, n in enumerate(lengths)]
    paths.append(write_wav(tmp_path / "f6.wav", periodic(200), rate=22050))  # 146 samples at 16 kHz
    files = scan_corpus(str(tmp_path), RATE, MIN, log=discard)
    assert len(files) == 7
    return files


@pytest.mark.parametrize("q", [("mu-law", 256), ("linear", 1024)])
def test_subsequences_are_contiguous_overlap_by_the_big_frame_and_mask_the_padding(unequal_corpus, q):
    config = tiny_config(q_type=q[0], q_levels=q[1])
    seq_len, big = config.seq_len, config.big_frame_size
    silence = quantize.silence_level(config.q_levels)
    batches = [unequal_corpus[0:3], unequal_corpus[3:6], unequal_corpus[4:7]]

    steps = collect(make_dataset(batches, config, RATE))

    assert len(steps) == steps_in(batches, seq_len)
    position = 0
    for batch in batches:
        count = data.subsequences_in(batch, seq_len)
        chunk = steps[position : position + count]
        position += count
        # The state is reset at the first subsequence of every batch and only there.
        assert [reset for _, _, reset in chunk] == [True] + [False] * (count - 1)
        for row, audio_file in enumerate(batch):
            levels = expected_levels(audio_file.path, config)
            assert len(levels) == audio_file.length
            # What the file should look like: silent context before it, silent padding after.
            padded = np.full(big + count * seq_len, silence, np.int32)
            padded[big : big + len(levels)] = levels
            for k, (seq, mask, _) in enumerate(chunk):
                np.testing.assert_array_equal(seq[row], padded[k * seq_len : k * seq_len + big + seq_len])
                want_mask = (np.arange(k * seq_len, (k + 1) * seq_len) < len(levels)).astype(np.float32)
                np.testing.assert_array_equal(mask[row], want_mask)
                if k > 0:
                    # Consecutive subsequences overlap by exactly the big frame.
                    np.testing.assert_array_equal(chunk[k - 1][0][row][-big:], seq[row][:big])
            # The masks count exactly the file's true samples.
            assert sum(mask[row].sum() for _, mask, _ in chunk) == audio_file.length
    assert position == len(steps)


def test_dataset_shapes_and_types(wav_dir, config):
    files = scan_corpus(wav_dir, RATE, config.seq_len, log=discard)
    batches = epoch_batches(files, 2, epoch=1)
    dataset = make_dataset(batches, config, RATE)

    seq_spec, mask_spec, reset_spec = dataset.element_spec
    assert (seq_spec.dtype, mask_spec.dtype, reset_spec.dtype) == (tf.int32, tf.float32, tf.bool)
    assert reset_spec.shape == ()
    count = 0
    for seq, mask, reset in dataset:
        count += 1
        assert seq.shape == (2, config.big_frame_size + config.seq_len)
        assert mask.shape == (2, config.seq_len)
        assert reset.shape == ()
        assert seq.numpy().min() >= 0 and seq.numpy().max() < config.q_levels
    assert count == steps_in(batches, config.seq_len)


def test_the_first_subsequence_has_silent_context(wav_dir, config):
    files = scan_corpus(wav_dir, RATE, config.seq_len, log=discard)
    seq, _, reset = next(iter(make_dataset(epoch_batches(files, 4), config, RATE)))
    assert bool(reset)
    assert (seq.numpy()[:, : config.big_frame_size] == quantize.silence_level(256)).all()
    assert (seq.numpy()[:, config.big_frame_size :] != quantize.silence_level(256)).any()


def test_dataset_order_follows_the_batches(unequal_corpus):
    config = tiny_config()
    forward = [unequal_corpus[0:2], unequal_corpus[2:4]]
    backward = [unequal_corpus[2:4], unequal_corpus[0:2]]
    first = collect(make_dataset(forward, config, RATE))
    second = collect(make_dataset(backward, config, RATE))
    n0 = data.subsequences_in(forward[0], config.seq_len)
    n1 = data.subsequences_in(forward[1], config.seq_len)
    for (a, _, _), (b, _, _) in zip(first[:n0], second[n1:]):
        np.testing.assert_array_equal(a, b)
    # Running the same batches twice gives the same data (deterministic parallel map).
    again = collect(make_dataset(forward, config, RATE))
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(first, again))
