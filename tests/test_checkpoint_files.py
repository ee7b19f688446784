"""What a user keeps: the checkpoint files train.py writes, read back in a fresh process the way
generate.py reads them, and checkpoints of the earlier layout that users already have."""

import glob
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf
from conftest import load_in_a_fresh_process, periodic, run_script, tiny_config, write_corpus, write_wav

from samplernn import checkpoints, cli, generation
from samplernn.commands import generate_main, train_main
from samplernn.config import ModelConfig
from samplernn.model import build_model

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "legacy_layout"
LENGTHS = (700, 820, 900, 1010, 760, 880, 950, 1100)
BATCH, VAL_FRAC = 2, 0.25


def train_and_remember(tmp_path, monkeypatch, capsys, config, *extra):
    """train.py's main on a small corpus; returns the run's result lines, the last checkpoint and
    every trainable weight as training held it in memory when that checkpoint was saved."""
    corpus = str(tmp_path / "corpus")
    write_corpus(corpus, LENGTHS)
    config_file = str(tmp_path / "model.json")
    config.save(config_file)
    memory = {}

    def remember(path, epoch, model):
        memory.clear()
        memory.update({v.path: v.numpy() for v in model.trainable_variables})
        memory["__path__"] = path

    monkeypatch.setattr(generation, "in_training_generator", lambda *_: remember)
    argv = ["--data_dir", corpus, "--config_file", config_file, "--batch_size", BATCH, "--val_frac", VAL_FRAC]
    argv += ["--num_epochs", 2, "--logdir_root", tmp_path / "logdir", "--id", "files", *extra]
    assert cli.run(train_main, [str(a) for a in argv]) == 0
    return corpus, memory.pop("__path__"), memory, capsys.readouterr().out.splitlines()


def printed_val_loss(lines, epoch):
    (line,) = [x for x in lines if x.startswith(f"Epoch: {epoch}/") and "Val Loss" in x]
    return float(line.split("Val Loss: ")[1].split(",")[0])


def model_keys(path):
    return [name for name, _ in tf.train.list_variables(path) if name.startswith("model/")]


@pytest.mark.parametrize(
    "changes,precision",
    [
        ({}, "float32"),
        (dict(rnn_type="lstm", num_rnn_layers=2, skip_conn=True, learn_h0=True, weight_norm=True), "mixed_bfloat16"),
        (dict(frame_sizes=(4,)), "float32"),
        (dict(frame_sizes=(2, 4, 16), rnn_type="lstm", skip_conn=True), "float32"),
    ],
    ids=["gru", "lstm-skip-h0-wn-mixed", "two-tiers", "four-tiers"],
)
def test_a_fresh_process_restores_what_training_held(tmp_path, monkeypatch, capsys, changes, precision):
    config = tiny_config(**changes)
    extra = ["--mixed_precision", "True"] if precision != "float32" else []
    corpus, path, memory, lines = train_and_remember(tmp_path, monkeypatch, capsys, config, *extra)

    # Every weight has its own entry under model/, whatever the architecture.
    assert len(model_keys(path)) == len(memory) == len(build_model(config).trainable_variables)

    val_loss, restored = load_in_a_fresh_process(path, corpus, tmp_path, BATCH, VAL_FRAC, precision)
    assert sorted(restored) == sorted(memory)  # by name and count: a missing weight fails here
    for name, value in memory.items():
        np.testing.assert_array_equal(restored[name], value, err_msg=name)
    # The restored model is the trained one: the same validation loss as epoch 2 printed.
    assert val_loss == pytest.approx(printed_val_loss(lines, 2), abs=5e-4)


@pytest.mark.parametrize("frame_sizes", [(4,), (2, 4, 16)], ids=["two-tiers", "four-tiers"])
def test_other_depths_resume_and_generate_from_their_files(tmp_path, frame_sizes):
    corpus = str(tmp_path / "corpus")
    write_corpus(corpus, (300, 340, 380, 420))
    config_file = str(tmp_path / "model.json")
    tiny_config(frame_sizes=frame_sizes).save(config_file)
    argv = ["--data_dir", corpus, "--config_file", config_file, "--batch_size", BATCH, "--val_frac", VAL_FRAC]
    argv += ["--logdir_root", tmp_path / "logdir", "--output_dir", tmp_path / "out", "--id", "depth"]
    argv += ["--max_generate_per_epoch", 1, "--output_file_dur", 0.05, "--plot", "False"]
    for epochs in (1, 2):  # the second run resumes the first
        assert cli.run(train_main, [str(a) for a in argv + ["--num_epochs", epochs]]) == 0
    first, resumed = checkpoints.run_dirs(str(tmp_path / "logdir"), "depth")
    assert [checkpoints.epoch_of(p) for p in checkpoints.checkpoints_in(first)] == [1]
    assert [checkpoints.epoch_of(p) for p in checkpoints.checkpoints_in(resumed)] == [2]
    assert sorted(os.listdir(tmp_path / "out" / "depth")) == ["depth_e=1_t=0.95.wav", "depth_e=2_t=0.95.wav"]
    seed = write_wav(str(tmp_path / "seed.wav"), periodic(400))
    out = str(tmp_path / "gen.wav")
    ckpt = checkpoints.checkpoint_path(resumed, 2)
    run_script("generate.py", "--checkpoint_path", ckpt, "--output_path", out, "--dur", 0.05, "--seed", seed)
    samples, rate = sf.read(out.replace(".wav", "_e=2_t=0.95.wav"))
    assert rate == 16000 and len(samples) == 800 and np.abs(samples).max() > 0


# --- the earlier layout


@pytest.fixture
def legacy_run(tmp_path):
    """A copy of the fixture, so nothing a test does can touch the committed files."""
    shutil.copytree(FIXTURE, tmp_path / "legacy")
    return tmp_path / "legacy"


def test_the_fixture_is_of_the_earlier_layout(legacy_run):
    keys = model_keys(str(legacy_run / "run" / "model.ckpt-2"))
    config = ModelConfig.load(str(legacy_run / "run" / checkpoints.CONFIG_NAME))
    assert len(keys) < len(build_model(config).trainable_variables)


def test_a_checkpoint_of_the_earlier_layout_restores_exactly(legacy_run, tmp_path):
    expected = json.loads((legacy_run / "expected.json").read_text())
    val_loss, restored = load_in_a_fresh_process(
        str(legacy_run / "run" / "model.ckpt-2"),
        str(legacy_run / "corpus"),
        tmp_path,
        expected["batch_size"],
        expected["val_frac"],
    )
    with np.load(legacy_run / "weights.npz") as trained:
        trained = {name: trained[name] for name in trained.files if name != "__order__"}
    assert sorted(restored) == sorted(trained)
    for name, value in trained.items():
        np.testing.assert_array_equal(restored[name], value, err_msg=name)
    assert val_loss == pytest.approx(expected["val_loss"], rel=1e-5)


def test_generate_reads_the_earlier_layout_and_says_so(legacy_run, tmp_path, capsys):
    ckpt = str(legacy_run / "run" / "model.ckpt-2")
    out = str(tmp_path / "gen" / "old.wav")
    argv = ["--output_path", out, "--checkpoint_path", ckpt, "--dur", "0.02", "--plot", "False"]
    assert cli.run(generate_main, argv) == 0
    printed = capsys.readouterr().out.splitlines()
    assert [line for line in printed if "earlier layout" in line] == [
        f"Read {ckpt}, a checkpoint of the earlier layout (weights kept under optimizer/)"
    ]
    assert os.path.isfile(str(tmp_path / "gen" / "old_e=2_t=0.95.wav"))


def test_resume_from_the_earlier_layout_continues_with_its_weights(legacy_run, tmp_path, monkeypatch):
    restored = {}
    real_restore = checkpoints.RunCheckpoint.restore

    def capture(checkpoint, path, what="checkpoint", log=print):
        real_restore(checkpoint, path, what, log)
        restored.update({v.path: v.numpy() for v in checkpoint.model.trainable_variables})
        restored["iterations"] = int(checkpoint.optimizer.iterations.numpy())

    monkeypatch.setattr(checkpoints.RunCheckpoint, "restore", capture)
    ckpt = str(legacy_run / "run" / "model.ckpt-2")
    config_file = str(legacy_run / "run" / checkpoints.CONFIG_NAME)
    argv = ["--data_dir", str(legacy_run / "corpus"), "--config_file", config_file, "--resume_from", ckpt]
    argv += ["--batch_size", "2", "--val_frac", "0.25", "--num_epochs", "3", "--generate", "False"]
    argv += ["--logdir_root", str(tmp_path / "logdir"), "--verbose", "False"]
    assert cli.run(train_main, argv) == 0
    with np.load(legacy_run / "weights.npz") as trained:
        for name in trained.files:
            if name != "__order__":
                np.testing.assert_array_equal(restored[name], trained[name], err_msg=name)
    assert restored["iterations"] > 0  # Adam's state came back with the weights
    # Training went on at epoch 3 and saved in the new layout.
    (run_dir,) = checkpoints.run_dirs(str(tmp_path / "logdir"), "default")
    (new_ckpt,) = checkpoints.checkpoints_in(run_dir)
    assert checkpoints.epoch_of(new_ckpt) == 3
    assert len(model_keys(new_ckpt)) == len(restored) - 1


# --- the other ways users reach a checkpoint


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """train.py, in its own process, for 2 epochs: the corpus, the logdir and what it printed."""
    tmp_path = tmp_path_factory.mktemp("trained")
    corpus = str(tmp_path / "corpus")
    write_corpus(corpus, LENGTHS)
    tiny_config().save(str(tmp_path / "tiny.config.json"))
    done = run_script("train.py", *common_train_args(tmp_path, corpus), "--num_epochs", 2)
    return tmp_path, corpus, done.stdout.splitlines()


def common_train_args(tmp_path, corpus):
    return [
        *("--data_dir", corpus, "--config_file", tmp_path / "tiny.config.json", "--logdir_root", tmp_path / "logdir"),
        *("--batch_size", BATCH, "--val_frac", VAL_FRAC, "--generate", "False", "--verbose", "False"),
    ]


def tensors(path):
    reader = tf.train.load_checkpoint(path)
    return {key: reader.get_tensor(key) for key in model_keys(path)}


def test_resume_from_continues_with_the_saved_weights(trained_run):
    tmp_path, corpus, printed = trained_run
    (first_run,) = checkpoints.run_dirs(str(tmp_path / "logdir"), "default")
    ckpt2 = checkpoints.checkpoint_path(first_run, 2)
    # A learning rate too small to move any weight: epoch 3 must validate exactly as epoch 2 did.
    args = common_train_args(tmp_path, corpus) + ["--resume_from", ckpt2, "--num_epochs", 3, "--learning_rate", 1e-30]
    resumed = run_script("train.py", *args).stdout.splitlines()
    assert f"Resuming from {ckpt2} (epoch 2)" in resumed
    assert printed_val_loss(resumed, 3) == printed_val_loss(printed, 2)
    second_run = checkpoints.run_dirs(str(tmp_path / "logdir"), "default")[-1]
    saved, resaved = tensors(ckpt2), tensors(checkpoints.checkpoint_path(second_run, 3))
    assert sorted(saved) == sorted(resaved) and len(saved) == len(build_model(tiny_config()).trainable_variables)
    for key, value in saved.items():  # to the last bit or two, where the average of the weights rounds
        np.testing.assert_allclose(resaved[key], value, rtol=1e-6, atol=0, err_msg=key)


def test_generate_with_the_runs_own_config_file_makes_the_same_audio(trained_run, tmp_path):
    logdir = trained_run[0] / "logdir"
    ckpt = checkpoints.checkpoints_in(checkpoints.run_dirs(str(logdir), "default")[0])[-1]
    own_config = os.path.join(os.path.dirname(ckpt), checkpoints.CONFIG_NAME)
    outputs = []
    for extra in ([], ["--config_file", own_config]):
        out = tmp_path / f"with{len(extra)}" / "g.wav"
        argv = ["--checkpoint_path", ckpt, "--output_path", out, "--dur", 0.05, "--random_seed", 3, "--plot", "False"]
        assert cli.run(generate_main, [str(a) for a in argv + extra]) == 0
        (path,) = glob.glob(str(out.parent / "*.wav"))
        outputs.append(Path(path).read_bytes())
    assert outputs[0] == outputs[1]


# --- the sample rate a run trained at


@pytest.fixture(scope="module")
def run_at_22k(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("22k")
    corpus = tmp_path / "corpus"
    for i, n in enumerate(LENGTHS[:6]):
        write_wav(str(corpus / f"t{i}.wav"), periodic(n), rate=22050)
    tiny_config().save(str(tmp_path / "tiny.config.json"))
    argv = ["--data_dir", corpus, "--config_file", tmp_path / "tiny.config.json", "--logdir_root", tmp_path / "logdir"]
    argv += ["--sample_rate", 22050, "--batch_size", 2, "--num_epochs", 1, "--generate", "False"]
    assert cli.run(train_main, [str(a) for a in argv]) == 0
    return checkpoints.latest_checkpoint(str(tmp_path / "logdir"), "default")


def generate_at(ckpt, out, capsys, *extra):
    argv = ["--checkpoint_path", ckpt, "--output_path", str(out), "--dur", "0.1", "--plot", "False", *extra]
    assert cli.run(generate_main, argv) == 0
    (path,) = glob.glob(str(out)[:-4] + "_*.wav")
    return sf.info(path), capsys.readouterr().out


def test_generate_plays_at_the_rate_the_model_trained_at(run_at_22k, tmp_path, capsys):
    info, out = generate_at(run_at_22k, tmp_path / "a" / "g.wav", capsys)
    assert (info.samplerate, info.frames) == (22050, 2205)
    assert "Warning" not in out


def test_another_sample_rate_is_generated_with_a_warning(run_at_22k, tmp_path, capsys):
    info, out = generate_at(run_at_22k, tmp_path / "b" / "g.wav", capsys, "--sample_rate", "16000")
    assert info.samplerate == 16000
    (warning,) = [line for line in out.splitlines() if line.startswith("Warning:")]
    assert "trained at 22050 Hz" in warning and "--sample_rate 16000" in warning


def test_a_run_that_did_not_record_its_rate_plays_at_16k(legacy_run, tmp_path, capsys):
    assert not (legacy_run / "run" / checkpoints.RUN_INFO_NAME).exists()
    info, _ = generate_at(str(legacy_run / "run" / "model.ckpt-2"), tmp_path / "c" / "g.wav", capsys)
    assert info.samplerate == 16000
