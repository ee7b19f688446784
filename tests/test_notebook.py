"""notebooks/samplernn.ipynb run top to bottom with papermill, as a Colab user would run it, on
the CPU with tiny parameters injected after its `parameters` cell: its Colab and Drive steps
skip themselves, and every clip it generates is shown with its spectrogram. It runs once with the
checkout's package, and once in a fresh environment that installs the wheel, as Colab does."""

import json
import os
import signal
import sys
import threading
from pathlib import Path

import nbformat
import papermill
import psutil
import pytest
from conftest import fresh_venv

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "samplernn.ipynb"

TINY = dict(
    TOOLKIT="",
    DEMO_SECONDS=2.0,
    CHUNK_LENGTH_MS=250,
    CONFIG_OVERRIDES=dict(seq_len=256, frame_sizes=[4, 16], dim=16, num_rnn_layers=1, emb_size=8),
    NUM_EPOCHS=1,
    BATCH_SIZE=2,
    VAL_FRAC=0.25,
    CHECKPOINT_EVERY=1,
    EARLY_STOPPING_PATIENCE=None,
    OUTPUT_FILE_DUR=0.05,
    GENERATE_DUR=0.05,
    NUM_SEQS=2,
    TEMPERATURES=[0.9, 1.1],
    SHOW_TENSORBOARD=False,  # a TensorBoard server is no use to a test
)


def test_parameters_cell_comes_first_and_holds_every_size():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert all("parameters" not in c.metadata.get("tags", []) for c in code[1:])
    for name in TINY:
        assert f"\n{name} = " in "\n" + code[0].source, f"{name} is not set in the parameters cell"
    assert all(not c.get("outputs") for c in code), "the notebook is stored without outputs"


def execute(tmp_path, kernel_name="python3", **parameters):
    """Run the notebook with `cwd` outside the checkout; return its outputs and printed text."""
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(out),
        parameters=dict(TINY, WORK_DIR=str(tmp_path / "work"), **parameters),
        cwd=str(tmp_path),
        kernel_name=kernel_name,
        progress_bar=False,
    )
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    return outputs, "".join(o.get("text", "") for o in outputs if o.output_type == "stream")


def shown(outputs):
    """Listening: "audio" for each audio player, "image" for each spectrogram, in order."""
    return [
        "audio" if "<audio" in o.data.get("text/html", "") else "image"
        for o in outputs
        if o.output_type == "display_data" and ("image/png" in o.data or "<audio" in o.data.get("text/html", ""))
    ]


@pytest.mark.slow
def test_notebook_runs_top_to_bottom_and_shows_each_clip(tmp_path):
    outputs, text = execute(tmp_path)
    work = tmp_path / "work"
    assert "Saved checkpoint" in text and "--resume True" in text

    # Outside Colab, results stay in WORK_DIR; the run's config is the tiny one.
    config = json.loads((work / "notebook.config.json").read_text())
    assert config["dim"] == 16 and config["frame_sizes"] == [4, 16]
    final = sorted(os.listdir(work / "generated" / "final"))
    assert final == ["notebook_e=1_t=0.9_0.png", "notebook_e=1_t=0.9_0.wav", "notebook_e=1_t=1.1_1.png",
                     "notebook_e=1_t=1.1_1.wav"]  # fmt: skip
    assert sorted(os.listdir(work / "generated" / "notebook")) == ["notebook_e=1_t=0.95.png", "notebook_e=1_t=0.95.wav"]
    assert shown(outputs) == ["audio", "image", "audio", "image"]


def kernel_spec(folder, python):
    """A Jupyter kernel named "fresh" running `python`; JUPYTER_PATH=folder makes it known."""
    spec = folder / "kernels" / "fresh"
    spec.mkdir(parents=True)
    argv = [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps(dict(argv=argv, display_name="fresh", language="python")))
    return str(folder)


def interrupt_the_kernel_once(clip, stop):
    """Interrupt the notebook's kernel, as its stop button does, once `clip` exists: training has then
    saved its first checkpoint and written the clip generated from it."""
    while not stop.wait(0.2):
        if clip.exists():
            kernels = [p for p in psutil.Process().children(recursive=True) if "ipykernel_launcher" in p.cmdline()]
            for kernel in kernels:
                kernel.send_signal(signal.SIGINT)
            return


@pytest.mark.slow
def test_notebook_installs_the_wheel_and_an_interrupted_training_still_generates(wheel, tmp_path, monkeypatch):
    bin_dir = fresh_venv(tmp_path / "venv")
    monkeypatch.setenv("JUPYTER_PATH", kernel_spec(tmp_path / "jupyter", os.path.join(bin_dir, "python")))
    clip = tmp_path / "work" / "generated" / "notebook" / "notebook_e=1_t=0.95.png"
    stop = threading.Event()
    watcher = threading.Thread(target=interrupt_the_kernel_once, args=(clip, stop))
    watcher.start()
    try:
        # Far more epochs than run: the interrupt ends training, as a Colab user would.
        outputs, text = execute(tmp_path, kernel_name="fresh", TOOLKIT=wheel, NUM_EPOCHS=1000)
    finally:
        stop.set()
        watcher.join()
    assert "Training interrupted; the cells below use its newest checkpoint." in text
    site = Path(bin_dir).parent / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    assert (site / "samplernn" / "configs" / "default.config.json").is_file()  # installed from the wheel

    final = sorted((tmp_path / "work" / "generated" / "final").glob("*.wav"))
    assert len(final) == 2 and all("_e=1000_" not in p.name for p in final)
    assert shown(outputs) == ["audio", "image", "audio", "image"]


@pytest.mark.slow
def test_without_a_toolkit_the_notebook_stops_with_one_sentence_saying_what_to_set(tmp_path, monkeypatch):
    bin_dir = fresh_venv(tmp_path / "venv")  # nothing installed, and no checkout around the notebook's cwd
    monkeypatch.setenv("JUPYTER_PATH", kernel_spec(tmp_path / "jupyter", os.path.join(bin_dir, "python")))
    with pytest.raises(papermill.PapermillExecutionError) as stopped:
        execute(tmp_path, kernel_name="fresh")
    assert stopped.value.ename == "Stop"
    assert stopped.value.evalue.startswith("set TOOLKIT in the parameters cell to the toolkit's git URL")
    assert stopped.value.evalue.count(".") == 1  # one sentence
