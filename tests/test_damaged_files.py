"""Damaged checkpoints and a full disk, as a user meets them: a truncated .data file (a full disk,
a killed copy, an interrupted Drive sync), a missing one, a truncated config. Resume falls back
to the newest intact checkpoint; generate.py and --resume_from say in one line what is wrong."""

import os
import shutil

import pytest
import tensorflow as tf
from conftest import tiny_config, write_corpus

from samplernn import checkpoints, cli
from samplernn.commands import generate_main, train_main

LENGTHS = (700, 820, 900, 1010, 760, 880)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two runs of id 'default': the first trains epochs 1-2, the second resumes it for epoch 3."""
    root = tmp_path_factory.mktemp("runs")
    write_corpus(str(root / "corpus"), LENGTHS)
    tiny_config().save(str(root / "tiny.config.json"))
    for epochs in (2, 3):
        assert cli.run(train_main, train_argv(root, root / "logdir", "--num_epochs", epochs)) == 0
    return root


def train_argv(root, logdir, *extra):
    argv = ["--data_dir", root / "corpus", "--config_file", root / "tiny.config.json", "--logdir_root", logdir]
    argv += ["--batch_size", 2, "--val_frac", 0.34, "--generate", "False", "--verbose", "False", *extra]
    return [str(a) for a in argv]


@pytest.fixture
def logdir(runs, tmp_path):
    """A copy of the runs' logdir for one test to damage."""
    shutil.copytree(runs / "logdir", tmp_path / "logdir")
    return tmp_path / "logdir"


def ckpts(logdir):
    """[(run 1) ckpt-1, ckpt-2, (run 2) ckpt-3]"""
    return [p for d in checkpoints.run_dirs(str(logdir), "default") for p in checkpoints.checkpoints_in(d)]


def truncate(path, fraction=0.5):
    with open(path, "r+b") as f:
        f.truncate(int(os.path.getsize(path) * fraction))


def data_file(ckpt):
    return ckpt + ".data-00000-of-00001"


def resume(runs, logdir, capsys, *extra):
    status = cli.run(train_main, train_argv(runs, logdir, "--num_epochs", 4, *extra))
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err


def one_error_line(status, err, *named):
    assert status == cli.EXIT_USER_ERROR
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for name in named:
        assert name in err, (name, err)
    return err


def test_resume_passes_over_a_truncated_checkpoint_and_keeps_it(runs, logdir, capsys):
    _, ckpt2, ckpt3 = ckpts(logdir)
    truncate(data_file(ckpt3))
    size = os.path.getsize(data_file(ckpt3))
    status, out, _ = resume(runs, logdir, capsys)
    assert status == 0
    (warning,) = [line for line in out if line.startswith("Warning:")]
    assert ckpt3 in warning and "cut short" in warning
    assert f"Resuming from {ckpt2} (epoch 2)" in out
    assert os.path.getsize(data_file(ckpt3)) == size  # left as it was, for the user to look at


@pytest.mark.parametrize("damage", ["missing data", "unreadable index"])
def test_resume_passes_over_a_checkpoint_missing_a_part(runs, logdir, capsys, damage):
    _, ckpt2, ckpt3 = ckpts(logdir)
    if damage == "missing data":
        os.remove(data_file(ckpt3))
    else:
        truncate(ckpt3 + ".index", 0.3)
    status, out, _ = resume(runs, logdir, capsys)
    assert status == 0
    assert any(line.startswith("Warning:") and ckpt3 in line and "damaged" in line for line in out)
    assert f"Resuming from {ckpt2} (epoch 2)" in out


def test_resume_passes_over_a_run_whose_config_is_truncated(runs, logdir, capsys):
    _, ckpt2, ckpt3 = ckpts(logdir)
    config_file = os.path.join(os.path.dirname(ckpt3), checkpoints.CONFIG_NAME)
    truncate(config_file)
    status, out, _ = resume(runs, logdir, capsys)
    assert status == 0
    assert any(line.startswith("Warning:") and config_file in line for line in out)
    assert f"Resuming from {ckpt2} (epoch 2)" in out


def test_resume_with_every_checkpoint_damaged_is_one_line(runs, logdir, capsys):
    for ckpt in ckpts(logdir):
        truncate(data_file(ckpt))
    status, _, err = resume(runs, logdir, capsys)
    one_error_line(status, err, "every checkpoint", "--resume False")


def test_resume_from_a_damaged_checkpoint_is_one_line(runs, logdir, capsys):
    ckpt3 = ckpts(logdir)[-1]
    truncate(data_file(ckpt3))
    status, _, err = resume(runs, logdir, capsys, "--resume_from", ckpt3)
    one_error_line(status, err, "--resume_from", ckpt3, "damaged")


def generate(capsys, ckpt, tmp_path):
    argv = ["--checkpoint_path", ckpt, "--output_path", str(tmp_path / "out" / "g.wav"), "--dur", "0.02"]
    status = cli.run(generate_main, argv)
    return status, capsys.readouterr().err


@pytest.mark.parametrize(
    "damage,message",
    [
        (lambda c: truncate(data_file(c)), "cut short"),
        (lambda c: os.remove(data_file(c)), ".data file is missing"),
        (lambda c: truncate(c + ".index", 0.3), "damaged"),
        (lambda c: truncate(os.path.join(os.path.dirname(c), checkpoints.CONFIG_NAME)), "not valid JSON"),
    ],
    ids=["truncated-data", "missing-data", "truncated-index", "truncated-config"],
)
def test_generate_from_a_damaged_checkpoint_is_one_line(logdir, tmp_path, capsys, damage, message):
    ckpt3 = ckpts(logdir)[-1]
    damage(ckpt3)
    status, err = generate(capsys, ckpt3, tmp_path)
    one_error_line(status, err, message)
    assert os.path.dirname(ckpt3) in err
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")


def test_a_full_disk_while_saving_is_one_line_and_loses_nothing(runs, logdir, capsys, monkeypatch):
    real_write = tf.train.Checkpoint.write

    def disk_fills(self, prefix, *args, **kwargs):
        real_write(self, prefix, *args, **kwargs)
        truncate(prefix + ".data-00000-of-00001")
        raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")

    monkeypatch.setattr(tf.train.Checkpoint, "write", disk_fills)
    status, _, err = resume(runs, logdir, capsys)
    one_error_line(status, err, "cannot save checkpoint", "No space left on device", "earlier checkpoints are intact")
    newest = checkpoints.run_dirs(str(logdir), "default")[-1]
    assert not [name for name in os.listdir(newest) if name.startswith((".saving", "model.ckpt"))]
    monkeypatch.undo()
    # The earlier checkpoints resume as before.
    status, out, _ = resume(runs, logdir, capsys)
    assert status == 0 and f"Resuming from {ckpts(logdir)[2]} (epoch 3)" in out
