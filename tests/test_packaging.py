"""What `pip install .` gives a user: the core without the tuners, the configs as package data,
and the commands and the demo working from an environment that has no checkout."""

import ast
import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import fresh_venv, write_corpus
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from samplernn import cli, commands, configs

ROOT = Path(__file__).resolve().parent.parent
TUNER_MODULES = {"keras_tuning.py", "ray_tuning.py"}


def requirements(dist, extras=()):
    """The requirements of an installed distribution that apply, with the given extras, here."""
    for line in importlib.metadata.requires(dist) or []:
        req = Requirement(line)
        if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in ("", *extras)):
            yield req


def closure(dist, extras=()):
    """The names of every distribution pip installs for `dist[extras]`."""
    seen, todo = set(), [(dist, tuple(extras))]
    while todo:
        for req in requirements(*todo.pop()):
            key = (canonicalize_name(req.name), tuple(sorted(req.extras)))
            if key not in seen:
                seen.add(key)
                todo.append(key)
    return {name for name, _ in seen}


def test_the_core_install_leaves_out_the_tuners():
    core = closure("samplernn")
    assert "tensorflow" in core and "librosa" in core
    assert not {"ray", "keras-tuner"} & core
    assert {"ray", "keras-tuner"} <= closure("samplernn", extras=["tune"])


def imported_libraries(path):
    """The top-level names of the non-standard modules a file imports, anywhere in it."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"samplernn"}


def test_every_library_the_package_imports_is_a_declared_requirement():
    # This is what makes the fresh environments below honest: they borrow this one's libraries.
    owners = importlib.metadata.packages_distributions()
    for path in sorted((ROOT / "samplernn").rglob("*.py")):
        extras = ["tune"] if path.name in TUNER_MODULES else []
        declared = {canonicalize_name(req.name) for req in requirements("samplernn", extras)}
        for name in imported_libraries(path):
            dists = {canonicalize_name(d) for d in owners.get(name, [])}
            assert dists & declared, f"{path.name} imports {name} ({', '.join(dists)}), not a requirement"


@pytest.mark.parametrize(
    "main, library", [(commands.keras_tuner_main, "Keras Tuner"), (commands.ray_tune_main, "Ray Tune")]
)
def test_a_tuner_without_the_tune_extra_names_it_in_one_line(main, library, monkeypatch, capsys):
    for module in commands.TUNE_EXTRA_MODULES:
        monkeypatch.setitem(sys.modules, module, None)  # as if not installed: importing it fails
    for module in ("samplernn.keras_tuning", "samplernn.ray_tuning"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    status = cli.run(main, ["--data_dir", "x"], prog="tuner")
    err = capsys.readouterr().err
    assert status != 0
    missing = f"tuner: error: {library} is not installed; it comes with the tune extra: "
    assert err == missing + "pip install 'samplernn[tune]'\n"


@pytest.mark.slow
def test_pip_install_is_enough_to_train_from_the_packaged_config_and_run_the_demo(wheel, tmp_path):
    bin_dir = fresh_venv(tmp_path / "venv")
    pip = subprocess.run([os.path.join(bin_dir, "pip"), "install", wheel], capture_output=True, text=True, check=True)
    # Every requirement is already met, so pip installs the package and nothing else.
    assert "Successfully installed samplernn-" in pip.stdout and pip.stdout.count("Successfully") == 1

    work = tmp_path / "elsewhere"  # no checkout here, nor on sys.path
    write_corpus(str(work / "chunks"), lengths=[1088])  # one file: the default model is big
    env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ["PATH"], PYTHONPATH="")
    train = ["samplernn-train", "--data_dir", "chunks", "--num_epochs", "1", "--batch_size", "1"]
    train += ["--val_frac", "0", "--generate", "False"]
    subprocess.run(train, cwd=work, env=env, check=True)
    (saved,) = (work / "logdir" / "default").glob("*/model.config.json")
    assert json.loads(saved.read_text()) == json.loads(Path(configs.DEFAULT_CONFIG_FILE).read_text())

    demo = ["python", "-m", "samplernn.demo", "--seconds", "4", "--chunk_length", "500", "--num_epochs", "1"]
    demo += ["--output_file_dur", "0.05", "--dur", "0.05"]
    out = subprocess.run(demo, cwd=work, env=env, capture_output=True, text=True, check=True).stdout
    assert f"with {tmp_path / 'venv'}" in out  # the packaged demo.config.json
    assert len(list((work / "generated" / "demo").glob("final_*.wav"))) == 3
