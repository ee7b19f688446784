"""Training end to end, in process: train.main and training.train on a tiny model and corpus."""

import contextlib
import datetime
import importlib.util
import io
import json
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import Terminal, discard, tiny_config, write_corpus

from samplernn import checkpoints, data, progress, training
from samplernn import recipe as recipes
from samplernn.config import ModelConfig
from samplernn.devices import Devices, configure
from samplernn.errors import UserError
from samplernn.model import build_model
from samplernn.settings import TrainSettings
from samplernn.training import learning_rate_at, train

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "train.py"
CONFIG = tiny_config()
# Six files of unequal lengths, 520-700 samples: with batch 2 and val_frac 0.34, two
# training batches of about 20 steps and one validation batch.
LENGTHS = (520, 600, 640, 700, 560, 660)
UNIFORM = math.log(256)  # the loss of a model that knows nothing
TINY_MODEL = build_model(CONFIG)

STEP_RE = re.compile(
    r"^Epoch: (\d+)/(\d+), Step: (\d+)/(\d+), Loss: (\d+\.\d{3}), Accuracy: (\d+\.\d{3}), \((\d+\.\d{4}) sec/step\)"
)
EPOCH_RE = re.compile(
    r"^Epoch: (\d+)/(\d+), Loss: (\d+\.\d{3}), Accuracy: (\d+\.\d{3}), Val Loss: (\d+\.\d{3}), "
    r"Val Accuracy: (\d+\.\d{3}) \((\d+) steps in (\d+ min )?(\d+\.\d{3}) sec\)"
)
RUN_DIR_RE = re.compile(r"^\d\d\.\d\d\.\d{4}_\d\d\.\d\d\.\d\d(-\d+)?$")


def load_script():
    spec = importlib.util.spec_from_file_location("train_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    write_corpus(str(folder), LENGTHS)
    return str(folder)


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("logdir"))


def settings(corpus, logdir, run_id, **changes):
    values = dict(
        data_dir=corpus,
        id=run_id,
        logdir_root=logdir,
        num_epochs=2,
        batch_size=2,
        val_frac=0.34,
        learning_rate=0.01,
        early_stopping_patience=None,
        max_checkpoints=None,
        generate=False,
    )
    values.update(changes)
    return TrainSettings(**values)


def run(corpus, logdir, run_id, config=CONFIG, on_epoch_end=None, **changes):
    """training.train with a fixed seed; returns (result, logged lines, weights after each checkpoint)."""
    keras.utils.set_random_seed(0)
    lines, weights = [], {}

    def snapshot(path, epoch, model):
        weights[epoch] = [w.numpy() for w in model.weights]

    result = train(
        settings(corpus, logdir, run_id, **changes),
        config,
        log=lines.append,
        after_checkpoint=snapshot,
        on_epoch_end=on_epoch_end,
    )
    return result, lines, weights


def files_in(run_dir):
    return sorted(os.listdir(run_dir))


def ckpt_epochs(run_dir):
    return [checkpoints.epoch_of(p) for p in checkpoints.checkpoints_in(run_dir)]


def assert_same_weights(got, want):
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


# --- one run through train.main, as a user starts it


@pytest.fixture(scope="module")
def cli_run(corpus, logdir, tmp_path_factory):
    config_file = str(tmp_path_factory.mktemp("cfg") / "tiny.config.json")
    CONFIG.save(config_file)
    argv = [
        "--id",
        "cli",
        "--data_dir",
        corpus,
        "--logdir_root",
        logdir,
        "--config_file",
        config_file,
        "--num_epochs",
        "3",
        "--batch_size",
        "2",
        "--val_frac",
        "0.34",
        "--learning_rate",
        "0.01",
        "--max_checkpoints",
        "None",
        "--early_stopping_patience",
        "None",
        "--checkpoint_policy",
        "Always",
        "--device",
        "All",
        "--generate",
        "False",
        "--verbose",
        "True",
    ]
    keras.utils.set_random_seed(0)
    out = io.StringIO()
    started = datetime.datetime.now().replace(microsecond=0)
    with contextlib.redirect_stdout(out):
        status = load_script().main(argv)
    assert status == 0
    runs = checkpoints.run_dirs(logdir, "cli")
    assert len(runs) == 1
    return dict(lines=out.getvalue().splitlines(), run_dir=runs[0], started=started, logdir=logdir)


def test_training_loss_falls_on_a_periodic_signal(cli_run):
    epochs = [EPOCH_RE.match(line) for line in cli_run["lines"] if EPOCH_RE.match(line)]
    losses = [float(m.group(3)) for m in epochs]
    val_losses = [float(m.group(5)) for m in epochs]
    assert len(losses) == 3
    # Stated factor: by epoch 3 the training loss is below a quarter of epoch 1's and below a
    # tenth of a uniform guess (ln 256 = 5.55 nats); validation, on other files, follows.
    assert losses[2] < 0.25 * losses[0]
    assert losses[2] < UNIFORM / 10
    assert val_losses[2] < UNIFORM / 4
    assert float(epochs[2].group(4)) > 90.0  # accuracy in percent


def test_step_lines_match_the_reference_wording_and_count(cli_run, corpus):
    steps = [STEP_RE.match(line) for line in cli_run["lines"] if line.startswith("Epoch:") and "Step:" in line]
    assert steps and all(steps)
    files = data.scan_corpus(corpus, 16000, CONFIG.seq_len, log=discard)
    train_files, _ = data.split_corpus(files, 0.34, 2, log=discard)
    for epoch in (1, 2, 3):
        mine = [m for m in steps if int(m.group(1)) == epoch]
        expected = data.steps_in(data.epoch_batches(train_files, 2, epoch), CONFIG.seq_len)
        assert [int(m.group(3)) for m in mine] == list(range(1, expected + 1))
        assert {int(m.group(4)) for m in mine} == {expected}
        assert {int(m.group(2)) for m in mine} == {3}
    # After the reference's wording comes the loss as NLL in bits per sample (the paper's unit).
    for match in steps:
        rest = match.string[match.end() :]
        nll = re.fullmatch(r", NLL: (\d+\.\d{3}) bits/sample", rest)
        assert nll, rest
        assert float(nll.group(1)) == pytest.approx(float(match.group(5)) / math.log(2), abs=0.0015)


def test_epoch_lines_match_the_reference_wording(cli_run):
    lines = [line for line in cli_run["lines"] if line.startswith("Epoch:") and "Step:" not in line]
    assert len(lines) == 3
    for epoch, line in enumerate(lines, 1):
        match = EPOCH_RE.match(line)
        assert match, line
        assert match.group(1) == str(epoch) and match.group(2) == "3"
        # "(N steps in ...)" counts that epoch's step lines.
        step_count = sum(1 for s in cli_run["lines"] if s.startswith(f"Epoch: {epoch}/3, Step:"))
        assert int(match.group(7)) == step_count
        assert "NLL:" in line and "Val NLL:" in line


def test_the_run_says_it_starts_from_scratch_and_where_it_saves(cli_run):
    lines = cli_run["lines"]
    assert sum("starting from scratch" in line for line in lines) == 1
    assert any(line.startswith("Training on CPU (float32)") for line in lines)
    saved = [line for line in lines if line.startswith("Saved checkpoint ")]
    assert saved == [f"Saved checkpoint {checkpoints.checkpoint_path(cli_run['run_dir'], e)}" for e in (1, 2, 3)]


def test_checkpoint_files_and_config_are_in_a_timestamped_run_dir(cli_run):
    run_dir = cli_run["run_dir"]
    assert os.path.dirname(run_dir) == os.path.join(cli_run["logdir"], "cli")
    name = os.path.basename(run_dir)
    assert RUN_DIR_RE.match(name)
    stamp = datetime.datetime.strptime(name[:19], "%d.%m.%Y_%H.%M.%S")
    assert cli_run["started"] <= stamp <= cli_run["started"] + datetime.timedelta(minutes=2)
    names = files_in(run_dir)
    for epoch in (1, 2, 3):  # --max_checkpoints None keeps every one
        assert f"model.ckpt-{epoch}.index" in names
        assert f"model.ckpt-{epoch}.data-00000-of-00001" in names
    assert ModelConfig.load(os.path.join(run_dir, "model.config.json")) == CONFIG
    # Nothing half-written is left behind.
    assert not [n for n in names if n.startswith(".saving") or n.endswith(".tmp")]


def test_tensorboard_event_files_hold_step_and_epoch_scalars(cli_run):
    events = [n for n in files_in(cli_run["run_dir"]) if n.startswith("events.out.tfevents.")]
    assert len(events) == 1
    tags = {}
    for event in tf.compat.v1.train.summary_iterator(os.path.join(cli_run["run_dir"], events[0])):
        for value in event.summary.value:
            tags.setdefault(value.tag, []).append(event.step)
    assert tags["epoch/loss"] == [1, 2, 3]
    assert tags["epoch/val_loss"] == [1, 2, 3]
    assert tags["epoch/learning_rate"] == [1, 2, 3]
    assert len(tags["step/loss"]) == sum(1 for line in cli_run["lines"] if STEP_RE.match(line))


def test_steps_carry_the_rnn_state_within_a_batch_and_reset_it_between_batches(corpus):
    keras.utils.set_random_seed(0)
    model = build_model(CONFIG)
    rng = np.random.default_rng(0)
    for w in model.weights:  # random h0 and recurrent weights, so the state matters
        w.assign(rng.normal(0.0, 0.3, w.shape).astype(np.float32))
    stepper = training.Stepper(model, training.make_optimizer("adam", 0.01, 0.9), tf.distribute.get_strategy())
    files = data.scan_corpus(corpus, 16000, CONFIG.seq_len, log=discard)
    dataset = data.make_dataset(data.epoch_batches(files, 2), CONFIG, 16000)

    got, states = [], stepper.zero_states(2)
    for batch in stepper.distribute(dataset):
        stats, states = stepper.evaluate(batch, states)
        got.append(float(stats[0]))

    big_frame = CONFIG.big_frame_size
    call = tf.function(lambda seq, big, frame: model((seq, big, frame)))
    want, fresh, resets, state = [], [], [], None
    for seq, mask, reset in dataset:
        resets.append(bool(reset))
        if reset:
            state = model.initial_states(2)
        logits, *state = call(seq, *state)
        want.append(float(training.masked_stats(logits, seq[:, big_frame:], mask)[0]))
        logits, _, _ = call(seq, *model.initial_states(2))
        fresh.append(float(training.masked_stats(logits, seq[:, big_frame:], mask)[0]))
    assert resets.count(True) == 3
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # The premise: restarting every subsequence from the initial state would give other losses.
    carried = [i for i, r in enumerate(resets) if not r]
    assert max(abs(want[i] - fresh[i]) for i in carried) > 1e-3


def test_validation_runs_with_dropout_off(corpus):
    keras.utils.set_random_seed(0)
    model = build_model(CONFIG.replace(rnn_dropout=0.5))
    stepper = training.Stepper(model, training.make_optimizer("adam", 0.01, 0.9), tf.distribute.get_strategy())
    files = data.scan_corpus(corpus, 16000, CONFIG.seq_len, log=discard)
    batch = next(iter(data.make_dataset(data.epoch_batches(files, 2), CONFIG, 16000)))
    states = stepper.zero_states(2)
    first, _ = stepper.evaluate(batch, states)
    second, _ = stepper.evaluate(batch, states)
    assert [float(x) for x in first] == [float(x) for x in second]
    # The premise: with dropout on, two passes differ.
    logits = [model((batch[0], *states), training=True)[0].numpy() for _ in range(2)]
    assert np.abs(logits[0] - logits[1]).max() > 1e-4


# --- resuming


@pytest.fixture(scope="module")
def resumed(corpus, logdir):
    """Run A trains epochs 1-2; run B (num_epochs 3) resumes from it. Records what B restored."""
    optimizers = []
    real_make = training.make_optimizer

    def capture_optimizer(*args, **kwargs):
        optimizers.append(real_make(*args, **kwargs))
        return optimizers[-1]

    first_state = {}

    def remember_optimizer(path, epoch, model):
        first_state[epoch] = [v.numpy() for v in optimizers[-1].variables]

    restored = {}
    real_restore = checkpoints.RunCheckpoint.restore

    def capture_restore(checkpoint, path, what="checkpoint", log=print):
        real_restore(checkpoint, path, what, log)
        restored["path"] = path
        restored["weights"] = [w.numpy() for w in checkpoint.model.weights]
        restored["optimizer"] = [v.numpy() for v in checkpoint.optimizer.variables]
        restored["epoch"] = int(checkpoint.others["epoch"].numpy())

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(training, "make_optimizer", capture_optimizer)
        mp.setenv(recipes.ENV, '{"decay_to": 0.1}')  # a rate that falls over the run, for the resume to keep
        keras.utils.set_random_seed(0)
        lines_a = []
        weights_a = {}

        def after_a(path, epoch, model):
            weights_a[epoch] = [w.numpy() for w in model.weights]
            remember_optimizer(path, epoch, model)

        result_a = train(
            settings(corpus, logdir, "resume", num_epochs=2), CONFIG, log=lines_a.append, after_checkpoint=after_a
        )
        mp.setattr(checkpoints.RunCheckpoint, "restore", capture_restore)
        result_b, lines_b, _ = run(corpus, logdir, "resume", num_epochs=3)
    return dict(
        a=result_a,
        b=result_b,
        lines_a=lines_a,
        lines_b=lines_b,
        weights_a=weights_a,
        optimizer_a=first_state,
        restored=restored,
    )


def test_resume_restores_the_last_checkpoint_exactly(resumed):
    ckpt2 = checkpoints.checkpoint_path(resumed["a"].run_dir, 2)
    restored = resumed["restored"]
    assert restored["path"] == ckpt2
    assert restored["epoch"] == 2
    assert_same_weights(restored["weights"], resumed["weights_a"][2])
    # The optimizer state (step counter, Adam moments) comes back too; a fresh one is all zeros.
    assert_same_weights(restored["optimizer"], resumed["optimizer_a"][2])
    assert sum(int(np.count_nonzero(v)) for v in restored["optimizer"]) > 100
    assert f"Resuming from {ckpt2} (epoch 2)" in resumed["lines_b"]


def test_resume_continues_at_the_next_epoch_only(resumed):
    a, b = resumed["a"], resumed["b"]
    assert [h["epoch"] for h in a.history] == [1, 2]
    assert [h["epoch"] for h in b.history] == [3]
    assert b.last_epoch == 3
    assert b.run_dir != a.run_dir
    assert b.checkpoints == [checkpoints.checkpoint_path(b.run_dir, 3)]
    assert ckpt_epochs(b.run_dir) == [3]
    assert ckpt_epochs(a.run_dir) == [1, 2]  # the earlier run is left alone
    assert [line.split(",")[0] for line in resumed["lines_b"] if "Step: 1/" in line] == ["Epoch: 3/3"]
    # Epoch 3 starts from a trained model, not from a uniform guess.
    assert b.history[0]["loss"] < a.history[0]["loss"]


def test_the_learning_rate_falls_over_num_epochs_and_a_resumed_run_goes_on_falling(resumed):
    # With the recipe's decay_to of 0.1 the rate falls along a half cosine from the first step
    # to a tenth at the last step of --num_epochs; the history gives each epoch's last rate.
    # The fixture's rate is 0.01.
    a, b = resumed["a"], resumed["b"]
    first, second = (h["learning_rate"] for h in a.history)
    assert 0.0055 <= first < 0.006  # half way through 2 epochs: 0.1 + 0.9 * (1 + cos(pi / 2)) / 2
    assert 0.001 <= second < 0.0012
    # Resumed at epoch 3 of 3, the rate is that of the last step of 3 epochs, not a fresh start.
    assert 0.001 <= b.history[0]["learning_rate"] < 0.0012


def test_resume_with_a_different_config_is_a_user_error(resumed, corpus, logdir):
    other = CONFIG.replace(dim=24, rnn_type="lstm")
    with pytest.raises(UserError, match="different model config") as caught:
        train(settings(corpus, logdir, "resume", num_epochs=5), other, log=discard)
    assert "dim" in str(caught.value) and "rnn_type" in str(caught.value)
    assert "--resume False" in str(caught.value)


def test_resume_from_a_nonexistent_checkpoint_is_a_user_error(corpus, logdir):
    missing = os.path.join(logdir, "nope", "model.ckpt-7")
    with pytest.raises(UserError, match="--resume_from .* names no checkpoint") as caught:
        train(settings(corpus, logdir, "missing", resume_from=missing), CONFIG, log=discard)
    assert missing in str(caught.value)
    assert not os.path.exists(os.path.join(logdir, "missing"))  # failed before creating a run


# --- checkpoint policy, max_checkpoints, early stopping, learning-rate schedule


@pytest.fixture(scope="module")
def frozen(corpus, logdir):
    """A learning rate so small that no weight changes: the validation loss never improves."""
    return run(
        corpus,
        logdir,
        "frozen",
        num_epochs=6,
        learning_rate=1e-30,
        checkpoint_policy="Best",
        early_stopping_patience=2,
    )


def test_best_policy_saves_only_on_improvement(frozen):
    result, lines, _ = frozen
    losses = {h["val_loss"] for h in result.history}
    assert len(losses) == 1  # the premise: epoch 1 improved on nothing (inf), later epochs did not
    assert [checkpoints.epoch_of(p) for p in result.checkpoints] == [1]
    assert ckpt_epochs(result.run_dir) == [1]
    assert sum(line.startswith("Saved checkpoint") for line in lines) == 1


def test_early_stopping_after_patience_epochs_without_improvement(frozen):
    result, lines, _ = frozen
    assert [h["epoch"] for h in result.history] == [1, 2, 3]
    assert result.stopped_early
    assert lines[-1] == "Early stopping: no improvement for 2 epochs"


@pytest.fixture(scope="module")
def scheduled(corpus, logdir):
    """Five epochs, a checkpoint every second one, keeping two, decaying the rate after epoch 2."""
    optimizers, rates = [], []
    real_make = training.make_optimizer

    def capture(*args, **kwargs):
        optimizers.append(real_make(*args, **kwargs))
        return optimizers[-1]

    keras.utils.set_random_seed(0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(training, "make_optimizer", capture)
        result = train(
            settings(
                corpus,
                logdir,
                "schedule",
                num_epochs=5,
                val_frac=0.0,
                checkpoint_every=2,
                max_checkpoints=2,
                reduce_learning_rate_after=2,
                learning_rate=0.004,
            ),
            CONFIG,
            log=discard,
            on_epoch_end=lambda metrics: rates.append(float(optimizers[-1].learning_rate.numpy())),
        )
    return result, rates


def test_checkpoint_every_and_max_checkpoints_keep_the_last_n(scheduled):
    result, _ = scheduled
    # Every second epoch, and always the last one; only the newest two stay on disk.
    assert [checkpoints.epoch_of(p) for p in result.checkpoints] == [2, 4, 5]
    assert ckpt_epochs(result.run_dir) == [4, 5]
    names = files_in(result.run_dir)
    assert not [n for n in names if n.startswith("model.ckpt-2")]
    assert "model.ckpt-4.data-00000-of-00001" in names and "model.ckpt-5.index" in names


def test_learning_rate_decays_exponentially_after_the_given_epoch(scheduled):
    result, rates = scheduled
    want = [0.004, 0.004, 0.004 * math.exp(-0.1), 0.004 * math.exp(-0.2), 0.004 * math.exp(-0.3)]
    np.testing.assert_allclose(rates, want, rtol=1e-6)  # what the optimizer really used
    np.testing.assert_allclose([h["learning_rate"] for h in result.history], want, rtol=1e-12)


def test_learning_rate_schedule_function():
    assert learning_rate_at(7, 0.01, None) == 0.01
    assert learning_rate_at(3, 0.01, 3) == 0.01
    assert learning_rate_at(4, 0.01, 3) == pytest.approx(0.01 * math.exp(-0.1))
    assert learning_rate_at(13, 0.01, 3) == pytest.approx(0.01 * math.exp(-1.0))
    assert learning_rate_at(1, 0.01, 0) == pytest.approx(0.01 * math.exp(-0.1))


# --- crash safety


def test_a_crash_during_a_save_keeps_the_previous_checkpoint_resumable(corpus, logdir, monkeypatch):
    real_replace, real_restore = os.replace, checkpoints.RunCheckpoint.restore

    def crash_on_the_second_index(src, dst, *args, **kwargs):
        if os.path.basename(str(src)) == "model.ckpt-2.index":
            raise OSError(28, "No space left on device")
        return real_replace(src, dst, *args, **kwargs)

    saved, restored = {}, {}

    def snapshot(path, epoch, model):
        saved[epoch] = [w.numpy() for w in model.weights]

    def capture_restore(checkpoint, path, what="checkpoint", log=print):
        real_restore(checkpoint, path, what, log)
        restored["weights"] = [w.numpy() for w in checkpoint.model.weights]

    monkeypatch.setattr(os, "replace", crash_on_the_second_index)
    with pytest.raises(UserError, match="cannot save checkpoint .*No space left"):
        train(settings(corpus, logdir, "crash", num_epochs=3), CONFIG, log=discard, after_checkpoint=snapshot)
    monkeypatch.setattr(os, "replace", real_replace)

    (run_dir,) = checkpoints.run_dirs(logdir, "crash")
    names = files_in(run_dir)
    assert "model.ckpt-1.index" in names and "model.ckpt-1.data-00000-of-00001" in names
    assert not [name for name in names if name.startswith(("model.ckpt-2", ".saving"))]
    assert ckpt_epochs(run_dir) == [1]
    ckpt1 = checkpoints.checkpoint_path(run_dir, 1)
    assert checkpoints.latest_checkpoint(logdir, "crash") == ckpt1

    # A new run finds and restores epoch 1 intact (num_epochs 1: nothing left to train).
    monkeypatch.setattr(checkpoints.RunCheckpoint, "restore", capture_restore)
    lines = []
    result = train(settings(corpus, logdir, "crash", num_epochs=1), CONFIG, log=lines.append)
    assert f"Resuming from {ckpt1} (epoch 1)" in lines
    assert result.history == [] and result.last_epoch == 1
    assert_same_weights(restored["weights"], saved[1])


def test_a_crash_inside_the_checkpoint_write_leaves_no_partial_files(tmp_path, monkeypatch):
    run_dir = str(tmp_path)
    value = tf.Variable(1.0)
    ckpt = checkpoints.RunCheckpoint(TINY_MODEL, value=value)
    ckpt.save(run_dir, 1)
    real_write = tf.train.Checkpoint.write

    def write_half_then_fail(self, prefix, *args, **kwargs):
        real_write(self, prefix, *args, **kwargs)
        os.remove(prefix + ".index")
        raise tf.errors.ResourceExhaustedError(None, None, "disk full")

    monkeypatch.setattr(tf.train.Checkpoint, "write", write_half_then_fail)
    value.assign(2.0)
    with pytest.raises(UserError, match="disk full"):
        ckpt.save(run_dir, 2)
    assert checkpoints.checkpoints_in(run_dir) == [checkpoints.checkpoint_path(run_dir, 1)]
    assert not [n for n in os.listdir(run_dir) if n.startswith("model.ckpt-2")]
    monkeypatch.undo()
    ckpt.restore(checkpoints.checkpoint_path(run_dir, 1))
    assert value.numpy() == 1.0


def test_ctrl_c_during_a_save_is_held_until_the_checkpoint_is_complete(tmp_path, monkeypatch):
    run_dir = str(tmp_path)
    ckpt = checkpoints.RunCheckpoint(TINY_MODEL, value=tf.Variable(3.0))
    real_write = tf.train.Checkpoint.write

    def interrupted_write(self, prefix, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        return real_write(self, prefix, *args, **kwargs)

    monkeypatch.setattr(tf.train.Checkpoint, "write", interrupted_write)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save(run_dir, 1)
    assert checkpoints.checkpoints_in(run_dir) == [checkpoints.checkpoint_path(run_dir, 1)]
    assert not [n for n in os.listdir(run_dir) if n.startswith(".saving")]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# --- checkpoint bookkeeping


def test_run_dirs_sort_by_time_and_same_second_runs_get_a_suffix(tmp_path):
    root = str(tmp_path)
    later = checkpoints.new_run_dir(root, "x", now=datetime.datetime(2024, 1, 2, 3, 4, 5))
    earlier = checkpoints.new_run_dir(root, "x", now=datetime.datetime(2023, 12, 31, 23, 59, 59))
    again = checkpoints.new_run_dir(root, "x", now=datetime.datetime(2024, 1, 2, 3, 4, 5))
    os.makedirs(os.path.join(root, "x", "not-a-run"))
    os.makedirs(os.path.join(root, "x", "31.02.2024_00.00.00"))  # shaped like a run, but no date
    Path(root, "x", "01.01.2025_00.00.00").write_text("a file, not a run")
    assert os.path.basename(later) == "02.01.2024_03.04.05"
    assert os.path.basename(again) == "02.01.2024_03.04.05-1"
    assert checkpoints.run_dirs(root, "x") == [earlier, later, again]
    assert checkpoints.run_dirs(root, "other") == []


def test_latest_checkpoint_skips_runs_without_one_and_partial_files(tmp_path):
    root = str(tmp_path)
    old = checkpoints.new_run_dir(root, "x", now=datetime.datetime(2024, 1, 1))
    new = checkpoints.new_run_dir(root, "x", now=datetime.datetime(2024, 1, 2))
    ckpt = checkpoints.RunCheckpoint(TINY_MODEL)
    for epoch in (3, 10):
        ckpt.save(old, epoch)
    # Data without an index is an unfinished checkpoint.
    Path(new, "model.ckpt-11.data-00000-of-00001").write_bytes(b"partial")
    assert checkpoints.latest_checkpoint(root, "x") == checkpoints.checkpoint_path(old, 10)
    assert checkpoints.latest_checkpoint(root, "x", exclude_run=old) is None
    assert checkpoints.latest_checkpoint(root, "nobody") is None


@pytest.mark.parametrize(("keep", "kept"), [(None, [1, 2, 3, 4, 5, 6, 7]), (5, [3, 4, 5, 6, 7]), (1, [7])])
def test_save_keeps_the_newest_n_checkpoints_or_all_with_none(tmp_path, keep, kept):
    value = tf.Variable(0.0)
    ckpt = checkpoints.RunCheckpoint(TINY_MODEL, value=value)
    for epoch in range(1, 8):
        value.assign(float(epoch))
        ckpt.save(str(tmp_path), epoch, keep=keep)
    assert ckpt_epochs(str(tmp_path)) == kept
    assert len([n for n in os.listdir(tmp_path) if ".data-" in n]) == len(kept)
    ckpt.restore(checkpoints.checkpoint_path(str(tmp_path), kept[0]))
    assert value.numpy() == kept[0]


def test_restoring_into_another_architecture_is_a_user_error(tmp_path):
    saved = checkpoints.RunCheckpoint(TINY_MODEL)
    path = saved.save(str(tmp_path), 1)
    other = checkpoints.RunCheckpoint(build_model(CONFIG.replace(dim=24)))
    with pytest.raises(UserError, match="does not match the model config"):
        other.restore(path)
    with pytest.raises(UserError, match="does not exist"):
        saved.restore(str(tmp_path / "model.ckpt-2"))


# --- precision, devices, verbosity


@pytest.fixture(scope="module")
def quiet_bf16(resumed, corpus, logdir, tmp_path_factory):
    """One epoch through train.main with --mixed_precision True and --verbose False. It reuses the
    id of the `resumed` runs with --resume False, so it also shows that their checkpoints are ignored."""
    config_file = str(tmp_path_factory.mktemp("cfg16") / "tiny.config.json")
    CONFIG.save(config_file)
    argv = ["--id", "resume", "--resume", "False", "--data_dir", corpus, "--logdir_root", logdir]
    argv += ["--config_file", config_file, "--num_epochs", "1", "--batch_size", "2", "--val_frac", "0.34"]
    argv += ["--learning_rate", "0.01", "--mixed_precision", "True", "--verbose", "False", "--generate", "False"]

    def no_restore(*args, **kwargs):
        raise AssertionError("--resume False must not restore anything")

    keras.utils.set_random_seed(0)
    out = Terminal()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
        mp.setattr(checkpoints.RunCheckpoint, "restore", no_restore)
        assert load_script().main(argv) == 0
    return out.getvalue()


def test_resume_false_starts_from_scratch(quiet_bf16, resumed, logdir):
    assert "Resuming" not in quiet_bf16 and "starting from scratch" not in quiet_bf16
    assert "Epoch: 1/1, Step: 1/" in quiet_bf16
    run_dir = checkpoints.run_dirs(logdir, "resume")[-1]
    assert run_dir not in (resumed["a"].run_dir, resumed["b"].run_dir)
    assert ckpt_epochs(run_dir) == [1]


def test_mixed_precision_trains_on_the_cpu_in_bfloat16_with_a_finite_loss(quiet_bf16):
    assert "Training on CPU (mixed_bfloat16)" in quiet_bf16
    epoch = [EPOCH_RE.match(line) for line in quiet_bf16.split("\n") if EPOCH_RE.match(line)]
    assert len(epoch) == 1
    loss, val_loss = float(epoch[0].group(3)), float(epoch[0].group(5))
    assert math.isfinite(loss) and math.isfinite(val_loss)
    assert loss < UNIFORM
    assert keras.config.dtype_policy().name == "float32"  # the global policy is left as it was


def test_verbose_false_overwrites_the_step_line_in_place(quiet_bf16):
    lines = quiet_bf16.split("\n")
    step_lines = [line for line in lines if "Step:" in line]
    assert len(step_lines) == 1  # all steps of the epoch on one terminal line
    pieces = step_lines[0].split("\r")
    assert pieces[0] == ""  # each step starts with a carriage return
    assert len(pieces) > 10 and all(STEP_RE.match(p) for p in pieces[1:])
    assert [int(STEP_RE.match(p).group(3)) for p in pieces[1:]] == list(range(1, len(pieces)))
    # The epoch line follows on its own line.
    assert EPOCH_RE.match(lines[lines.index(step_lines[0]) + 1])


def test_verbose_false_prints_whole_lines_every_few_seconds_when_stdout_is_not_a_terminal(
    corpus, logdir, tmp_path, monkeypatch
):
    # A clock that moves 2 s per look: with lines at least 5 s apart, every third step is shown.
    ticks = iter(range(0, 10**6, 2))
    monkeypatch.setattr(progress, "clock", lambda: next(ticks))
    config_file = str(tmp_path / "tiny.config.json")
    CONFIG.save(config_file)
    argv = ["--id", "log", "--data_dir", corpus, "--logdir_root", logdir, "--config_file", config_file]
    argv += ["--num_epochs", "1", "--batch_size", "2", "--val_frac", "0", "--verbose", "False", "--generate", "False"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert load_script().main(argv) == 0
    assert "\r" not in out.getvalue()
    steps = [STEP_RE.match(line) for line in out.getvalue().splitlines() if "Step:" in line]
    assert all(steps) and len(steps) > 3
    assert [int(m.group(3)) for m in steps] == list(range(1, 3 * len(steps), 3))


def test_float16_with_loss_scaling_trains_and_its_checkpoint_resumes_in_float32(corpus, logdir, monkeypatch):
    """The GPU's mixed precision policy, forced on the CPU: loss scaling wraps the optimizer,
    the learning rate reaches it, and the checkpoint (without the wrapper) loads in float32."""
    optimizers, rates = [], []
    real_make, real_configure = training.make_optimizer, training.configure

    def capture(*args, **kwargs):
        optimizers.append(real_make(*args, **kwargs))
        return optimizers[-1]

    monkeypatch.setattr(training, "make_optimizer", capture)
    monkeypatch.setattr(
        training, "configure", lambda *a, **k: Devices(tf.distribute.get_strategy(), "mixed_float16", "CPU")
    )
    result, lines, _ = run(
        corpus,
        logdir,
        "f16",
        num_epochs=2,
        val_frac=0.0,
        reduce_learning_rate_after=1,
        on_epoch_end=lambda m: rates.append(float(optimizers[-1].inner_optimizer.learning_rate.numpy())),
    )
    assert isinstance(optimizers[-1], keras.optimizers.LossScaleOptimizer)
    assert any("(mixed_float16)" in line for line in lines)
    losses = [h["loss"] for h in result.history]
    assert all(math.isfinite(x) for x in losses) and losses[1] < losses[0] < UNIFORM
    np.testing.assert_allclose(rates, [0.01, 0.01 * math.exp(-0.1)], rtol=1e-6)

    monkeypatch.setattr(training, "configure", real_configure)
    result, lines, _ = run(corpus, logdir, "f16", num_epochs=2, val_frac=0.0)
    assert any(line.startswith("Resuming from ") and line.endswith("model.ckpt-2 (epoch 2)") for line in lines)
    assert any("(float32)" in line for line in lines)


def test_device_all_and_a_gpu_index_run_on_the_cpu_without_a_gpu():
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    lines = []
    devices = configure("All", False, log=lines.append)
    assert (devices.description, devices.precision, devices.replicas, lines) == ("CPU", "float32", 1, [])
    devices = configure(3, True, log=lines.append)
    assert (devices.description, devices.precision, devices.loss_scaling) == ("CPU", "mixed_bfloat16", False)
    assert lines == ["No GPU is visible; --device 3 ignored, running on the CPU"]


# --- MirroredStrategy on two logical CPUs, in a fresh process (devices are fixed at TF start-up)

MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import numpy as np
    sys.path.insert(0, sys.argv[3])
    from conftest import tiny_config
    from samplernn import training
    from samplernn.devices import Devices
    from samplernn.settings import TrainSettings

    corpus, logdir = sys.argv[1], sys.argv[2]
    config = tiny_config()
    real_build = training.build_model
    initial, out = {}, {}

    def build_same(*args, **kwargs):
        model = real_build(*args, **kwargs)
        if "weights" in initial:
            model.set_weights(initial["weights"])
        else:
            initial["weights"] = model.get_weights()
        return model

    training.build_model = build_same
    real_configure = training.configure
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    for name in ("mirrored", "single"):
        if name == "mirrored":
            training.configure = lambda *a, **k: Devices(strategy, "float32", "2 CPUs (MirroredStrategy)")
        else:
            training.configure = real_configure
        keras.utils.set_random_seed(0)
        models = []
        settings = TrainSettings(
            data_dir=corpus, id=name, logdir_root=logdir, num_epochs=1, batch_size=2, val_frac=0.34,
            optimizer="sgd", momentum=0.0, learning_rate=0.01, early_stopping_patience=None, generate=False,
        )
        result = training.train(settings, config, log=lambda line: None,
                                 after_checkpoint=lambda path, epoch, model: models.append(model))
        model = models[-1]
        out[name] = dict(loss=result.history[0]["loss"], val_loss=result.history[0]["val_loss"],
                         weights=[w.numpy().tolist() for w in model.weights])
        if name == "mirrored":
            replicas = [[r.numpy() for r in w.value.values] for w in model.weights]
            out["replicas"] = min(len(r) for r in replicas)
            out["replica_spread"] = max(float(np.abs(r[0] - x).max()) for r in replicas for x in r)
            out["moved"] = max(float(np.abs(w.numpy() - w0).max())
                               for w, w0 in zip(model.weights, initial["weights"]))
    print("RESULT " + json.dumps(out))
    """
)


def test_mirrored_strategy_on_two_logical_cpus_trains_and_keeps_replicas_equal(corpus, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT, corpus, str(tmp_path), str(ROOT / "tests")],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=str(ROOT),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.split("RESULT ", 1)[1])
    assert out["replicas"] == 2
    assert out["replica_spread"] == 0.0  # every replica holds the same weights
    assert out["moved"] > 1e-3  # and they trained
    assert math.isfinite(out["mirrored"]["loss"]) and math.isfinite(out["mirrored"]["val_loss"])
    # Half a batch per replica with the gradients summed is the same step as the whole batch on one device.
    assert out["mirrored"]["loss"] == pytest.approx(out["single"]["loss"], rel=1e-4)
    for a, b in zip(out["mirrored"]["weights"], out["single"]["weights"]):
        np.testing.assert_allclose(np.array(a), np.array(b), atol=1e-4)
