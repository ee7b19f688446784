"""Shared fixtures: a tiny model config and small wav corpora of a periodic signal."""

import glob
import os
import shutil
import subprocess
import sys
import sysconfig

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

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
    """A three-tier model small enough that a training step takes milliseconds."""
    base = dict(seq_len=32, frame_sizes=(4, 16), dim=16, num_rnn_layers=1, emb_size=8)
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
