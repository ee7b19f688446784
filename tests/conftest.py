"""Shared fixtures: a tiny model config and small wav corpora of a periodic signal."""

import glob
import io
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# generate.py's compilation cache (settings.default_compilation_cache) goes to a folder of this
# session, here and in the processes the tests start, never to the user's ~/.cache.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="samplernn_tests_cache_")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import soundfile as sf  # noqa: E402

from samplernn.config import ModelConfig  # noqa: E402

RATE = 16000
# Period of the test signal in samples: a whole number, so the signal is exactly periodic.
PERIOD = 32
# Lengths of the corpus files: unequal, none a multiple of the tiny seq_len, all < 0.1 s.
LENGTHS = (1024, 1100, 1250, 1370)


def tiny_config(**changes):
    """A three-tier model small enough that a training step takes milliseconds, with the
    sample MLP default.config.json gives (no ReLU after its first layer)."""
    base = dict(seq_len=32, frame_sizes=(4, 16), dim=16, num_rnn_layers=1, emb_size=8, mlp_input_relu=False)
    base.update(changes)
    return ModelConfig(**base)


def periodic(length, phase=0.0, period=PERIOD, amplitude=0.5):
    """A sawtooth-plus-sine wave: periodic, non-trivial, and comfortably inside [-1, 1]."""
    t = np.arange(length) / period + phase
    return amplitude * (0.6 * np.sin(2 * np.pi * t) + 0.4 * (2 * (t % 1.0) - 1))


def write_wav(path, samples, rate=RATE):
    os.makedirs(os.path.dirname(os.fspath(path)), exist_ok=True)
    sf.write(os.fspath(path), samples, rate, subtype="PCM_16")
    return str(path)


def write_corpus(folder, lengths=LENGTHS):
    """One wav file per length, named so that natural order is the order of `lengths`. The files
    start at different points of the period, shifted by whole samples, so that every file holds
    the same sample values and a model that learned one generalizes to the others."""
    return [
        write_wav(os.path.join(folder, f"tone_{i}.wav"), periodic(n, phase=5 * i / PERIOD))
        for i, n in enumerate(lengths)
    ]


@pytest.fixture
def config():
    return tiny_config()


@pytest.fixture
def wav_dir(tmp_path):
    """A folder of a few short 16 kHz mono wav files of a periodic signal."""
    folder = tmp_path / "wavs"
    write_corpus(str(folder))
    return str(folder)


def discard(_line):
    """A `log` for tests that do not look at the messages."""


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def harmonic_tone(f0, length, phase=0.0, noise=0.01, seed=0):
    """Four harmonics of `f0` at amplitudes 1/k, peaking at 0.5, over a faint noise floor. The
    floor matters: a model trained on a perfectly clean tone is so sure of every sample that
    one unlikely draw at temperature 1 leaves it somewhere it has never been."""
    t = np.arange(length) / RATE
    x = sum(np.sin(2 * np.pi * k * f0 * t + k * phase) / k for k in range(1, 5))
    return 0.5 * x / np.abs(x).max() + noise * np.random.default_rng(seed).normal(size=length)


def run_script(name, *args, check=True):
    """Run one of the top-level scripts in a fresh Python process, as a user would."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, name), *map(str, args)], capture_output=True, text=True, env=env, cwd=ROOT
    )
    if check and done.returncode != 0:
        raise AssertionError(f"{name} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return done


def run_python(code, *args):
    """Run `code` in a fresh Python process (argv[1:] = args); returns its stdout."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env, cwd=ROOT
    )
    if done.returncode != 0:
        raise AssertionError(f"python -c exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return done.stdout


# Loads a checkpoint in a fresh process, as generate.py does (float32), or at the precision it was
# trained in; prints its validation loss on the run's own split and saves every weight by path.
LOAD_IN_A_FRESH_PROCESS = """
import json, sys
import numpy as np
import tensorflow as tf
from samplernn import checkpoints, data, generation, training
from samplernn.model import build_model

path, data_dir, batch_size, val_frac, precision, out = sys.argv[1:]
batch_size = int(batch_size)
if precision == "float32":
    model = generation.load_generator_model(path)
else:
    model = build_model(checkpoints.config_beside(path), precision)
    checkpoints.RunCheckpoint(model).restore(path)
files = data.scan_corpus(data_dir, 16000, model.config.seq_len, log=lambda _: None)
_, val_files = data.split_corpus(files, float(val_frac), batch_size, log=lambda _: None)
stepper = training.Stepper(model, None, tf.distribute.get_strategy())
val = stepper.validate(data.epoch_batches(val_files, batch_size), batch_size, 16000)
np.savez(out, **{v.path: v.numpy() for v in model.trainable_variables})
print(json.dumps({"val_loss": val.loss}))
"""


def load_in_a_fresh_process(path, data_dir, tmp_path, batch, val_frac, precision="float32"):
    """A checkpoint loaded in a fresh process: its validation loss on the run's split of
    `data_dir`, and every trainable weight by Keras path."""
    out = str(tmp_path / "restored.npz")
    printed = run_python(LOAD_IN_A_FRESH_PROCESS, path, data_dir, batch, val_frac, precision, out)
    with np.load(out) as weights:
        return json.loads(printed.strip().splitlines()[-1])["val_loss"], dict(weights)


class Terminal(io.StringIO):
    """Captured output that says it is a terminal, as a user's stdout is."""

    def isatty(self):
        return True


@pytest.fixture(scope="session")
def wheel(tmp_path_factory):
    """The project built as a wheel, as `pip install .` builds it (in an isolated build env), from
    a copy of what the build reads, so that the build leaves nothing in the checkout."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("wheel")
    shutil.copytree(os.path.join(root, "samplernn"), src / "samplernn", ignore=shutil.ignore_patterns("__pycache__"))
    for path in ["pyproject.toml", "README.md", *glob.glob(os.path.join(root, "requirements*.txt"))]:
        shutil.copy(os.path.join(root, path), src)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(src)], check=True)
    (path,) = out.glob("samplernn-*.whl")
    return str(path)


def fresh_venv(path):
    """A new virtual environment without samplernn, returning its bin folder.

    Installing TensorFlow and the rest afresh would take minutes and gigabytes per run, so the
    environment sees the dependencies installed here through a .pth file. Their site-packages is
    only appended to sys.path: its own .pth files, among them the editable install of this
    checkout, are not read, so `import samplernn` finds nothing until the wheel is installed.
    test_packaging.py checks that every library samplernn imports is one the wheel declares.
    """
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    (site,) = glob.glob(os.path.join(str(path), "lib", "python*", "site-packages"))
    with open(os.path.join(site, "dependencies.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    bin_dir = os.path.join(str(path), "bin")
    find = "import importlib.util, sys; sys.exit(importlib.util.find_spec('samplernn') is not None)"
    leak = subprocess.run([os.path.join(bin_dir, "python"), "-c", find], cwd=str(path)).returncode
    assert leak == 0, "this environment's samplernn is visible from the fresh one"
    return bin_dir
