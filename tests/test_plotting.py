"""Spectrogram PNGs beside generated audio (generate.py and in-training), and what a training
run logs to TensorBoard: scalars, the generated clips as audio, their spectrograms as images,
and the model config as text."""

import contextlib
import io
import os

import matplotlib.image
import numpy as np
import pytest
import tensorflow as tf
from conftest import periodic, tiny_config, write_corpus, write_wav

from samplernn import checkpoints, cli, commands, plotting
from samplernn.model import build_model

WIDTH, HEIGHT = (round(inches * plotting.DPI) for inches in plotting.FIGSIZE)


def assert_picture(path):
    """A PNG that decodes to an image of the documented size."""
    assert path.endswith(".png") and os.path.isfile(path), path
    image = matplotlib.image.imread(path)
    assert image.shape[:2] == (HEIGHT, WIDTH), (path, image.shape)
    assert image.std() > 0.0  # not a blank canvas


def files(folder, ext):
    return sorted(n for n in os.listdir(folder) if n.endswith(ext))


@pytest.mark.parametrize("length", [16000, 300, 0])
def test_spectrogram_png_sits_beside_the_wav_under_its_name(tmp_path, length):
    wav = write_wav(str(tmp_path / "clip.wav"), periodic(length))
    assert plotting.save_spectrogram(wav) == str(tmp_path / "clip.png")
    assert_picture(str(tmp_path / "clip.png"))
    assert sorted(os.listdir(tmp_path)) == ["clip.png", "clip.wav"]  # no temporary file left behind
    image = plotting.spectrogram_image(wav)
    assert image.shape == (HEIGHT, WIDTH, 3) and image.dtype == np.uint8


def test_the_spectrogram_puts_a_tone_in_its_bin_and_silence_at_the_floor():
    rate = 16000
    t = np.arange(rate) / rate
    tone = (0.5 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
    freqs, times, db = plotting.spectrogram_db(tone, rate)
    assert freqs.shape == (plotting.N_FFT // 2 + 1,) and db.shape == (len(freqs), len(times))
    assert abs(freqs[np.argmax(db.mean(axis=1))] - 1000.0) <= rate / plotting.N_FFT
    assert db.max() == 0.0 and db.min() == -plotting.TOP_DB
    assert times[1] - times[0] == plotting.HOP_LENGTH / rate
    _, _, quiet = plotting.spectrogram_db(np.zeros(300, np.float32), rate)
    assert np.all(quiet == -plotting.TOP_DB)


def test_png_path_replaces_the_extension():
    assert plotting.png_path("out/x_e=3_t=0.9.wav") == "out/x_e=3_t=0.9.png"
    assert plotting.png_path("x.WAV") == "x.png"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    run_dir = str(tmp_path_factory.mktemp("run"))
    config = tiny_config()
    checkpoints.save_config(run_dir, config)
    return checkpoints.RunCheckpoint(build_model(config)).save(run_dir, 2)


@pytest.mark.parametrize("plot", ["True", "False"])
def test_generate_draws_a_png_beside_each_file_unless_told_not_to(tmp_path, checkpoint, plot):
    out = tmp_path / "gen"
    argv = ["--output_path", str(out / "o.wav"), "--checkpoint_path", checkpoint, "--dur", "0.02"]
    argv += ["--num_seqs", "2", "--random_seed", "1", "--plot", plot]
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.run(commands.generate_main, argv) == 0
    wavs = files(out, ".wav")
    assert wavs == ["o_e=2_t=0.95_0.wav", "o_e=2_t=0.95_1.wav"]
    if plot == "True":
        assert files(out, ".png") == [w.replace(".wav", ".png") for w in wavs]
        for name in files(out, ".png"):
            assert_picture(str(out / name))
    else:
        assert files(out, ".png") == []


def test_plot_takes_only_true_or_false(tmp_path, capsys):
    argv = ["--output_path", str(tmp_path / "o.wav"), "--checkpoint_path", "x", "--plot", "maybe"]
    with pytest.raises(SystemExit):
        commands.generate_main(argv)
    assert "--plot: expected True or False, got 'maybe'" in capsys.readouterr().err


def summaries_by_plugin(run_dir):
    """{plugin name: {tag: [steps]}} from a run's TensorBoard event file."""
    (events,) = [n for n in os.listdir(run_dir) if n.startswith("events.out.tfevents.")]
    found = {}
    for event in tf.compat.v1.train.summary_iterator(os.path.join(run_dir, events)):
        for value in event.summary.value:
            plugin = value.metadata.plugin_data.plugin_name
            found.setdefault(plugin, {}).setdefault(value.tag, []).append(event.step)
            if plugin == "images":  # the tensor holds width, height, then the encoded PNG
                width, height = tf.make_ndarray(value.tensor)[:2]
                assert (int(width), int(height)) == (WIDTH, HEIGHT)
            if plugin == "text":
                assert '"seq_len": 32' in tf.make_ndarray(value.tensor).item().decode()
    return found


@pytest.mark.parametrize("plot", ["True", "False"])
def test_training_plots_its_clips_and_logs_them_to_tensorboard(tmp_path, plot):
    corpus = str(tmp_path / "corpus")
    write_corpus(corpus, (520, 600, 640, 700))
    config_file = str(tmp_path / "tiny.config.json")
    tiny_config().save(config_file)
    logdir, output = str(tmp_path / "logdir"), str(tmp_path / "generated")
    argv = ["--id", "tb", "--data_dir", corpus, "--config_file", config_file, "--logdir_root", logdir]
    argv += ["--output_dir", output, "--num_epochs", "2", "--batch_size", "2", "--val_frac", "0.5"]
    argv += ["--max_generate_per_epoch", "2", "--output_file_dur", "0.02", "--early_stopping_patience", "None"]
    argv += ["--plot", plot]
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.run(commands.train_main, argv) == 0

    wavs = files(os.path.join(output, "tb"), ".wav")
    assert wavs == [f"tb_e={e}_t=0.95_{i}.wav" for e in (1, 2) for i in (0, 1)]
    pngs = files(os.path.join(output, "tb"), ".png")
    if plot == "True":
        assert pngs == [w.replace(".wav", ".png") for w in wavs]
        for name in pngs:
            assert_picture(os.path.join(output, "tb", name))
    else:
        assert pngs == []

    (run_dir,) = checkpoints.run_dirs(logdir, "tb")
    found = summaries_by_plugin(run_dir)
    for tag in ("epoch/loss", "epoch/nll_bits", "epoch/val_nll_bits", "epoch/learning_rate"):
        assert found["scalars"][tag] == [1, 2], tag
    assert found["audio"] == {"generated/audio_0": [1, 2], "generated/audio_1": [1, 2]}
    # The TensorBoard pictures are drawn whether or not PNG files are written.
    assert found["images"] == {"generated/spectrogram_0": [1, 2], "generated/spectrogram_1": [1, 2]}
    assert found["text"] == {"config": [0]}
