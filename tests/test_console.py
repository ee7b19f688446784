"""Console commands: `pip install .` makes one per top-level script, running the same main with
the same arguments, and every command and script answers --help and --version."""

import concurrent.futures
import contextlib
import importlib
import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import fresh_venv

import samplernn
from samplernn import cli, commands

tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).resolve().parent.parent
# console command: (top-level script, the main both run)
COMMANDS = {
    "samplernn-train": ("train.py", commands.train_main),
    "samplernn-generate": ("generate.py", commands.generate_main),
    "samplernn-chunk": ("chunk_audio.py", commands.chunk_main),
    "samplernn-keras-tuner": ("keras_tuner.py", commands.keras_tuner_main),
    "samplernn-ray-tune": ("ray_tune.py", commands.ray_tune_main),
}
# After which TF_ONEDNN_ASSUME_FROZEN_WEIGHTS is still set: generate sets it, and chunking runs
# no TensorFlow. Training and tuning clear it: they would go on computing with the first weights.
FROZEN_WEIGHTS_COMMANDS = {"samplernn-generate", "samplernn-chunk"}
OPTION_RE = re.compile(r"(?<![\w-])--[a-z][a-z0-9_]*")


def load_script(name):
    spec = importlib.util.spec_from_file_location(f"script_{name[:-3]}", ROOT / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def answer(main, flag):
    """What `main([flag])` prints before argparse exits."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_info:
        main([flag])
    assert exit_info.value.code == 0
    return out.getvalue()


def test_every_script_has_a_console_command_running_its_main(monkeypatch):
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert set(scripts) == set(COMMANDS)
    ran = []
    monkeypatch.setattr(commands.cli, "run", lambda main: ran.append(main) or 0)
    for command, target in scripts.items():
        module, function = target.split(":")
        # Carried over from a user's environment; only generating may keep it (see below).
        monkeypatch.setenv(cli.FROZEN_WEIGHTS_VARIABLE, "1")
        with pytest.raises(SystemExit) as exit_info:
            getattr(importlib.import_module(module), function)()
        script, main = COMMANDS[command]
        # Through cli.run, which turns user errors into one line, to the script's own main.
        assert exit_info.value.code == 0 and ran.pop() is main is load_script(script).main, command
        # Run as a program, the script does what its console command does.
        assert getattr(load_script(script), function) is getattr(commands, function), command
        frozen = os.environ.get(cli.FROZEN_WEIGHTS_VARIABLE)
        assert frozen == ("1" if command in FROZEN_WEIGHTS_COMMANDS else None), command
    assert {p.name for p in ROOT.glob("*.py")} == {script for script, _ in COMMANDS.values()}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_scripts_answer_version_and_help(command):
    script, main = COMMANDS[command]
    assert answer(load_script(script).main, "--version").split()[-1] == samplernn.__version__
    assert "--help" in answer(main, "--help")


# What a command loads only once it runs: none of it may slow down --help and --version.
HEAVY_MODULES = {"tensorflow", "keras", "keras_tuner", "ray", "librosa", "pydub", "matplotlib"}


def imported_modules(argv):
    """Top-level modules `python -X importtime <argv>` imported, after checking it exited 0."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout
    return {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}


@pytest.mark.parametrize("flag", ["--help", "--version"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_and_version_do_not_import_tensorflow(command, flag):
    script, _ = COMMANDS[command]
    entry = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"][command]
    module, function = entry.split(":")
    console = f"import {module}; {module}.{function}()"
    for argv in ([script, flag], ["-c", console, flag]):
        assert not imported_modules(argv) & HEAVY_MODULES, argv


# absl's log line format, which TensorFlow's C++ code writes: `E0000 00:00:1700000000.1 123 file.cc:52] ...`.
TF_LOG_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] ", re.MULTILINE)


def run_as_user(argv, **env_changes):
    """A script run as a user starts it, with no TensorFlow log settings of the test session's."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", cli.TF_LOGS_VARIABLE)}
    env.update(env_changes)
    return subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_tensorflows_own_log_lines_show_only_when_asked(tmp_path):
    # Both load TensorFlow before failing; generate.py also lists the devices (cuInit).
    missing_data = ["train.py", "--data_dir", str(tmp_path / "no-such-dir")]
    missing_checkpoint = ["generate.py", "--output_path", str(tmp_path / "o.wav")]
    missing_checkpoint += ["--checkpoint_path", str(tmp_path / "run" / "model.ckpt-1")]
    for argv in (missing_data, missing_checkpoint):
        quiet = run_as_user(argv)
        assert quiet.returncode == 2
        assert quiet.stderr.startswith(f"{argv[0]}: error: ") and quiet.stderr.count("\n") == 1, quiet.stderr
    asked = run_as_user(missing_checkpoint, SAMPLERNN_TF_LOGS="1")
    assert asked.returncode == 2 and asked.stderr.endswith(quiet.stderr)
    if shutil.which("nvidia-smi") is None:
        # Without CUDA, TensorFlow always says it found none.
        assert TF_LOG_LINE.search(asked.stderr), asked.stderr


def test_a_python_error_after_the_quiet_import_still_shows():
    code = "from samplernn import cli; cli.import_tensorflow_quietly(); import tensorflow as tf; "
    code += "tf.reshape(tf.zeros(3), (2,))"
    done = run_as_user(["-c", code])
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "InvalidArgumentError" in done.stderr
    assert not TF_LOG_LINE.search(done.stderr), done.stderr


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """A fresh virtual environment with the project's wheel installed into it."""
    venv = tmp_path_factory.mktemp("console") / "venv"
    pip = os.path.join(fresh_venv(venv), "pip")
    subprocess.run([pip, "install", "--quiet", "--no-deps", wheel], check=True, capture_output=True)
    return venv


@pytest.mark.slow
def test_installed_commands_answer_help_and_version(installed):
    bin_dir = installed / "bin"
    where = subprocess.run(
        [
            bin_dir / "python",
            "-c",
            "import importlib.metadata as m, samplernn; print(samplernn.__file__, m.version('samplernn'))",
        ],
        cwd=installed,  # not the checkout, whose samplernn/ would be imported instead
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert where[0].startswith(str(installed)), f"samplernn imported from {where[0]}, not the new environment"
    assert where[1] == samplernn.__version__

    # A user error is one line and exit code 2, as with the scripts.
    missing = subprocess.run(
        [bin_dir / "samplernn-chunk", "--input_file", "missing.wav", "--output_dir", "chunks"],
        cwd=installed,
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2
    assert missing.stderr == "samplernn-chunk: error: input_file missing.wav does not exist\n"

    runs = [(command, flag) for command in sorted(COMMANDS) for flag in ("--version", "--help")]
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        done = pool.map(
            lambda run: subprocess.run(
                [bin_dir / run[0], run[1]], cwd=installed, capture_output=True, text=True, timeout=300
            ),
            runs,
        )
        results = dict(zip(runs, done))
    for (command, flag), result in results.items():
        assert result.returncode == 0, (command, flag, result.stderr[-2000:])
        if flag == "--version":
            assert result.stdout.strip() == f"{command} {samplernn.__version__}"
        else:
            assert result.stdout.startswith(f"usage: {command} ")
            # The same options as the top-level script's.
            script, _ = COMMANDS[command]
            script_help = answer(load_script(script).main, "--help")
            assert set(OPTION_RE.findall(result.stdout)) == set(OPTION_RE.findall(script_help)), command
