"""train.py's command line: each bad input is one clear line on stderr and exit code 2."""

import importlib.util
import os
from pathlib import Path

import pytest
from conftest import periodic, tiny_config, write_corpus, write_wav

from samplernn import arguments, cli, configs

SCRIPT = Path(__file__).resolve().parent.parent / "train.py"


def load_script():
    spec = importlib.util.spec_from_file_location("train_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script():
    return load_script()


@pytest.fixture
def config_file(tmp_path):
    path = str(tmp_path / "tiny.config.json")
    tiny_config().save(path)
    return path


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    write_corpus(str(folder))
    return str(folder)


def run_cli(script, capsys, data_dir, config_file, *extra, logdir=None):
    argv = ["--data_dir", data_dir, "--config_file", config_file, "--batch_size", "2", "--num_epochs", "1"]
    argv += ["--logdir_root", logdir or os.path.join(os.path.dirname(config_file), "logdir"), *extra]
    status = cli.run(script.main, argv, prog="train.py")
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_one_error_line(status, err, *named):
    assert status == cli.EXIT_USER_ERROR == 2
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("train.py: error: ")
    assert "Traceback" not in err
    for name in named:
        assert str(name) in err, (name, err)


def test_missing_data_dir(script, capsys, tmp_path, config_file):
    missing = str(tmp_path / "no-such-dir")
    status, _, err = run_cli(script, capsys, missing, config_file)
    assert_one_error_line(status, err, "--data_dir", missing, "is not a directory")


def test_empty_data_dir(script, capsys, tmp_path, config_file):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no audio here")
    status, _, err = run_cli(script, capsys, str(empty), config_file)
    assert_one_error_line(status, err, "--data_dir", str(empty), "no .wav files")


def test_a_dir_of_only_corrupt_wavs(script, capsys, tmp_path, config_file):
    folder = tmp_path / "corrupt"
    folder.mkdir()
    (folder / "a.wav").write_text("not audio\n" * 100)
    (folder / "b.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    status, out, err = run_cli(script, capsys, str(folder), config_file)
    assert_one_error_line(status, err, "--data_dir", str(folder), "no usable .wav files")
    # Each skipped file was named in a warning first.
    assert str(folder / "a.wav") in out and str(folder / "b.wav") in out


def test_all_files_too_short(script, capsys, tmp_path, config_file):
    folder = tmp_path / "short"
    for i in range(3):
        write_wav(folder / f"s{i}.wav", periodic(20))  # seq_len is 32
    status, out, err = run_cli(script, capsys, str(folder), config_file)
    assert_one_error_line(status, err, "--data_dir", "no usable .wav files")
    for i in range(3):
        assert str(folder / f"s{i}.wav") in out
    assert out.count("shorter than one subsequence") == 3


def test_batch_size_larger_than_the_corpus(script, capsys, config_file, corpus):
    status, _, err = run_cli(script, capsys, corpus, config_file, "--batch_size", "64")
    assert_one_error_line(status, err, "--batch_size 64", "4 usable files")


def test_missing_config_file(script, capsys, tmp_path, corpus):
    missing = str(tmp_path / "absent.config.json")
    status, _, err = run_cli(script, capsys, corpus, missing)
    assert_one_error_line(status, err, missing, "does not exist")


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ('{"seq_len": 32, "frame_sizes": [4, 16],}', "not valid JSON"),
        ('{"seq_len": 32, "frame_size": [4, 16]}', "unknown key 'frame_size'"),
        ('{"seq_len": 30, "frame_sizes": [4, 16]}', "'seq_len'"),
        ('{"seq_len": 32, "frame_sizes": [4, 16], "dim": "16"}', "'dim'"),
        ('{"seq_len": 32, "frame_sizes": [4, 16], "skip_conn": "yes"}', "'skip_conn'"),
        ('{"seq_len": 32, "frame_sizes": [4, 16], "rnn_type": "transformer"}', "'rnn_type'"),
    ],
)
def test_bad_config_files(script, capsys, tmp_path, corpus, content, named):
    path = tmp_path / "bad.config.json"
    path.write_text(content)
    status, _, err = run_cli(script, capsys, corpus, str(path))
    assert_one_error_line(status, err, str(path), named)


def test_resume_from_naming_no_checkpoint(script, capsys, tmp_path, config_file, corpus):
    missing = str(tmp_path / "logdir" / "x" / "model.ckpt-3")
    status, _, err = run_cli(script, capsys, corpus, config_file, "--resume_from", missing)
    assert_one_error_line(status, err, "--resume_from", missing)


def test_good_input_trains_skipping_corrupt_files_and_ignoring_resume_from_without_resume(
    script, capsys, tmp_path, config_file
):
    corpus = tmp_path / "mixed"
    write_corpus(str(corpus), lengths=(300, 330, 360, 390))
    bad = corpus / "broken.wav"
    bad.write_text("not audio")
    missing = str(tmp_path / "model.ckpt-3")
    status, out, err = run_cli(
        script,
        capsys,
        str(corpus),
        config_file,
        "--resume",
        "False",
        "--resume_from",
        missing,
        "--val_frac",
        "0",
        "--generate",
        "False",
    )
    assert status == 0, err
    assert err == ""
    assert f"Warning: skipping {str(bad)!r}" in out
    assert "4 training and 0 validation files" in out
    assert "Epoch: 1/1, Loss:" in out


def test_num_val_batches_is_accepted_with_a_note_that_it_has_no_effect(script, capsys, config_file, corpus):
    status, out, err = run_cli(script, capsys, corpus, config_file, "--num_val_batches", "3", "--generate", "False")
    assert status == 0, err
    assert out.splitlines()[0] == "Note: --num_val_batches has no effect; --val_frac (0.1) sets the validation set"
    assert out.count("Note:") == 1
    assert "Epoch: 1/1, Loss:" in out


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--resume", "maybe"),
        ("--verbose", "yes please"),
        ("--batch_size", "0"),
        ("--num_epochs", "ten"),
        ("--optimizer", "adagrad"),
        ("--checkpoint_policy", "Sometimes"),
        ("--val_frac", "1.5"),
        ("--learning_rate", "-1"),
        ("--max_checkpoints", "many"),
        ("--device", "gpu"),
        ("--temperature", "0"),
    ],
)
def test_malformed_flags_are_argparse_errors_with_exit_code_2(script, capsys, tmp_path, config_file, flag, value):
    with pytest.raises(SystemExit) as caught:
        cli.run(script.main, ["--data_dir", str(tmp_path), "--config_file", config_file, flag, value])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]  # argparse: the usage, then one error line naming the flag
    assert "error: argument " + flag in last


def test_data_dir_is_required(script, capsys):
    with pytest.raises(SystemExit) as caught:
        script.main([])
    assert caught.value.code == 2
    assert "--data_dir" in capsys.readouterr().err


# --- parsing


def parse(*argv):
    return arguments.train_parser().parse_args(["--data_dir", "d", *argv])


@pytest.mark.parametrize("flag", ["--verbose", "--resume", "--generate", "--mixed_precision"])
def test_boolean_flags_take_true_and_false(flag):
    attr = flag[2:]
    for text, value in [("True", True), ("False", False), ("true", True), ("FALSE", False)]:
        assert getattr(parse(flag, text), attr) is value


def test_defaults_are_the_references():
    settings = arguments.train_settings(parse())
    assert settings.data_dir == "d"
    expected = dict(
        id="default",
        verbose=True,
        logdir_root="./logdir",
        output_dir="./generated",
        device="All",
        num_epochs=100,
        batch_size=64,
        optimizer="adam",
        learning_rate=0.001,
        reduce_learning_rate_after=None,
        momentum=0.9,
        checkpoint_every=1,
        checkpoint_policy="Always",
        max_checkpoints=5,
        resume=True,
        resume_from=None,
        early_stopping_patience=3,
        generate=True,
        max_generate_per_epoch=1,
        sample_rate=16000,
        output_file_dur=3,
        temperature=(0.95,),
        seed=None,
        seed_offset=0,
        val_frac=0.1,
        mixed_precision=False,
    )
    assert {key: getattr(settings, key) for key in expected} == expected
    assert parse().config_file == configs.DEFAULT_CONFIG_FILE


def test_flag_values_are_parsed_as_the_reference_writes_them():
    args = parse(
        "--max_checkpoints",
        "None",
        "--early_stopping_patience",
        "none",
        "--reduce_learning_rate_after",
        "10",
        "--checkpoint_policy",
        "best",
        "--device",
        "1",
        "--temperature",
        "0.8",
        "0.95",
        "1.1",
        "--optimizer",
        "rmsprop",
    )
    settings = arguments.train_settings(args)
    assert settings.max_checkpoints is None and settings.early_stopping_patience is None
    assert settings.reduce_learning_rate_after == 10
    assert settings.checkpoint_policy == "Best"
    assert settings.device == 1
    assert settings.temperature == (0.8, 0.95, 1.1)
    # In-training clips are named by the temperature as typed, as the reference names them.
    typed = arguments.train_settings(parse("--temperature", "1.0", "1")).temperature
    assert [str(t) for t in typed] == ["1.0", "1"]
    assert settings.optimizer == "rmsprop"
    # The reference's table gives `All` as the policy default; it means Always.
    assert parse("--checkpoint_policy", "All").checkpoint_policy == "Always"
    assert parse("--device", "all").device == "All"


def test_ctrl_c_is_one_line_and_exit_code_130(capsys):
    def interrupted(argv):
        raise KeyboardInterrupt

    assert cli.run(interrupted, [], prog="train.py") == cli.EXIT_INTERRUPTED == 130
    assert capsys.readouterr().err == "train.py: interrupted\n"
