"""notebooks/samplernn.ipynb run top to bottom with papermill, as a Colab user would run it, on
the CPU with tiny parameters injected after its `parameters` cell: its Colab and Drive steps
skip themselves, and every clip it generates is shown with its spectrogram."""

import json
import os
from pathlib import Path

import nbformat
import papermill
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "samplernn.ipynb"

TINY = dict(
    PROJECT_DIR=str(ROOT),
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


@pytest.mark.slow
def test_notebook_runs_top_to_bottom_and_shows_each_clip(tmp_path):
    work = tmp_path / "work"
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(out),
        parameters=dict(TINY, WORK_DIR=str(work)),
        cwd=str(tmp_path),
        kernel_name="python3",
        progress_bar=False,
    )
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "Saved checkpoint" in text and "--resume True" in text

    # Outside Colab, results stay in WORK_DIR; the run's config is the tiny one.
    config = json.loads((work / "notebook.config.json").read_text())
    assert config["dim"] == 16 and config["frame_sizes"] == [4, 16]
    final = sorted(os.listdir(work / "generated" / "final"))
    assert final == ["notebook_e=1_t=0.9_0.png", "notebook_e=1_t=0.9_0.wav", "notebook_e=1_t=1.1_1.png",
                     "notebook_e=1_t=1.1_1.wav"]  # fmt: skip
    assert sorted(os.listdir(work / "generated" / "notebook")) == ["notebook_e=1_t=0.95.png", "notebook_e=1_t=0.95.wav"]

    # Listening: an audio player, then its spectrogram, for each clip.
    shown = [
        "audio" if "<audio" in o.data.get("text/html", "") else "image"
        for o in outputs
        if o.output_type == "display_data" and ("image/png" in o.data or "<audio" in o.data.get("text/html", ""))
    ]
    assert shown == ["audio", "image", "audio", "image"]
