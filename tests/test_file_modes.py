"""Every file the toolkit writes gets the permissions the umask gives any file the user writes:
chunks, the run's model config, clips and their spectrograms (in training and from generate.py),
the demo corpus and a tuner's records."""

import contextlib
import io
import os
import stat

import pytest
from conftest import periodic, tiny_config, write_wav

from samplernn import checkpoints, commands, tuning
from samplernn.demo_corpus import synthesize_demo_corpus


@pytest.fixture(params=[0o022, 0o027], ids=["umask022", "umask027"])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def modes(folder):
    """{name: permission bits} of every file below `folder`, temporary leftovers included."""
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            found[os.path.relpath(path, folder)] = stat.S_IMODE(os.stat(path).st_mode)
    return found


def quietly(main, argv):
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(argv) == 0


def test_chunks_config_clips_and_pngs_respect_the_umask(tmp_path, umask):
    expected = 0o666 & ~umask
    # A recording written by the test itself, outside the folders checked below.
    recording = write_wav(str(tmp_path / "in" / "song.wav"), periodic(16000 // 2))
    config_file = str(tmp_path / "in" / "tiny.config.json")
    tiny_config().save(config_file)
    out = tmp_path / "out"
    chunks = str(out / "chunks")
    quietly(commands.chunk_main, ["--input_file", recording, "--output_dir", chunks, "--chunk_length", "60"])
    argv = ["--data_dir", chunks, "--config_file", config_file, "--logdir_root", str(out / "logdir")]
    argv += ["--output_dir", str(out / "generated"), "--num_epochs", "1", "--batch_size", "4", "--val_frac", "0"]
    argv += ["--output_file_dur", "0.01"]
    quietly(commands.train_main, argv)
    (checkpoint,) = checkpoints.checkpoints_in(checkpoints.run_dirs(str(out / "logdir"), "default")[0])
    argv = ["--output_path", str(out / "final" / "o.wav"), "--checkpoint_path", checkpoint, "--dur", "0.01"]
    quietly(commands.generate_main, argv)

    written = modes(out)
    ours = {name: mode for name, mode in written.items() if "model.ckpt" not in name and "tfevents" not in name}
    kinds = {os.path.basename(name).rsplit(".", 1)[-1] for name in ours}
    assert {"chunks/chunk_0.wav", "final/o_e=1_t=0.95.wav", "final/o_e=1_t=0.95.png"} <= ours.keys()
    assert kinds == {"wav", "png", "json"}, sorted(ours)
    assert any(name.endswith("/model.config.json") for name in ours)
    assert any(name.startswith("generated/") and name.endswith(".png") for name in ours)
    assert {name: oct(mode) for name, mode in ours.items()} == {name: oct(expected) for name in ours}


def test_the_demo_corpus_and_a_tuners_records_respect_the_umask(tmp_path, umask):
    synthesize_demo_corpus(tmp_path / "demo" / "demo.wav", seconds=0.1)
    tuning.prepare_results(str(tmp_path / "results"), {"space": [1, 2]}, resume=True)
    assert modes(tmp_path) == {"demo/demo.wav": 0o666 & ~umask, "results/search.json": 0o666 & ~umask}
