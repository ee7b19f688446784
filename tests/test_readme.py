"""The README's commands as written, run from a fresh login shell with the environment activated
the way the README says, on tiny settings: only flag values change, and a tiny config is added."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import periodic, tiny_config, write_wav

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
TINY_VALUES = {
    "--chunk_length": "250",
    "--overlap": "50",
    "--num_epochs": "1",
    "--batch_size": "2",
    "--checkpoint_every": "1",
    "--output_file_dur": "0.05",
    "--num_seqs": "2",
    "--dur": "0.05",
}


def shell_blocks(heading):
    """The ```shell blocks of a README section, continuation lines joined."""
    section = README.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]
    return [block.replace("\\\n", " ") for block in re.findall(r"```shell\n(.*?)```", section, re.S)]


def readme_command(heading):
    """The section's first shell block, which holds one command."""
    (line,) = shell_blocks(heading)[0].strip().splitlines()
    return shlex.split(line)


def tiny(argv, **values):
    """argv with the values of the named flags replaced."""
    argv = list(argv)
    for i, word in enumerate(argv[:-1]):
        if word in values:
            argv[i + 1] = values[word]
    return argv


def activation():
    # The README's `source .venv/bin/activate`, for the environment running these tests.
    (line,) = shell_blocks("## Quick start")[1].strip().splitlines()
    assert line == "source .venv/bin/activate"
    return f"source {shlex.quote(os.path.join(sys.prefix, 'bin', 'activate'))}"


def run_in_fresh_shell(argv, cwd):
    """argv in `bash -lc` with nothing of this process's environment but HOME and the activation."""
    env = {"HOME": os.environ.get("HOME", "/root"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    env["XDG_CACHE_HOME"] = os.environ["XDG_CACHE_HOME"]  # the session's (conftest), not the user's
    script = f"{activation()} && {shlex.join(argv)}"
    done = subprocess.run(["bash", "-lc", script], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{shlex.join(argv)} failed:\n{done.stderr}"
    return done.stdout


def test_readme_activates_the_environment_before_its_first_bare_python():
    first_python = README.index("\npython ")
    assert README.index("source .venv/bin/activate") < first_python


@pytest.mark.slow
def test_the_preparing_training_and_generating_commands_run_as_written(tmp_path):
    for script in ("chunk_audio.py", "train.py", "generate.py"):
        shutil.copy(ROOT / script, tmp_path)  # the commands run from the repository's root
    write_wav(tmp_path / "path" / "to" / "input.wav", periodic(3 * 16000))
    write_wav(tmp_path / "path" / "to" / "seed.wav", periodic(2000))
    tiny_config().save(str(tmp_path / "tiny.config.json"))

    chunk = readme_command("## Preparing data")
    assert chunk[:2] == ["python", "chunk_audio.py"]
    run_in_fresh_shell(tiny(chunk, **TINY_VALUES), tmp_path)
    assert sorted(os.listdir(tmp_path / "chunks"))[:2] == ["chunk_0.wav", "chunk_1.wav"]

    train = readme_command("## Training")
    assert train[:2] == ["python", "train.py"]
    out = run_in_fresh_shell([*tiny(train, **TINY_VALUES), "--config_file", "tiny.config.json"], tmp_path)
    (checkpoint,) = re.findall(r"Saved checkpoint (\S+)", out)

    generate = readme_command("## Generating audio")
    assert generate[:2] == ["python", "generate.py"]
    run_in_fresh_shell(tiny(generate, **TINY_VALUES, **{"--checkpoint_path": checkpoint}), tmp_path)
    written = sorted(p.name for p in (tmp_path / "path" / "to").glob("out_*"))
    assert written == ["out_e=1_t=0.95_0.png", "out_e=1_t=0.95_0.wav", "out_e=1_t=0.95_1.png", "out_e=1_t=0.95_1.wav"]
