"""What train() logs to its TensorBoard writer besides the scalars: the model config once per
run, and after each checkpoint the generated clips with their spectrograms."""

import json
import os

import soundfile as sf
import tensorflow as tf

from samplernn import plotting


def write_config(writer, config, step):
    """The model config as JSON in TensorBoard's Text tab (tag `config`)."""
    text = "```json\n" + json.dumps(config.to_dict(), indent=2) + "\n```"
    with writer.as_default(step=step):
        tf.summary.text("config", text)
    writer.flush()


def write_generated(writer, paths, step, log=print):
    """Clip i of `paths` as audio `generated/audio_<i>` and its spectrogram as image
    `generated/spectrogram_<i>`, at `step` (the epoch), so TensorBoard's step slider walks
    through the epochs of each clip.

    A file that cannot be read or drawn is reported and skipped, never raised: a missing
    picture must not stop a training run.
    """
    for i, path in enumerate(paths):
        try:
            samples, rate = sf.read(path, dtype="float32", always_2d=True)  # (frames, channels)
            image = plotting.spectrogram_image(path)  # (height, width, 3) uint8
        except Exception as err:  # noqa: BLE001 - reported and survived, by design
            log(f"Warning: {path} was not logged to TensorBoard: {type(err).__name__}: {err}")
            continue
        name = os.path.basename(path)
        with writer.as_default(step=step):
            tf.summary.audio(f"generated/audio_{i}", samples[None], rate, description=name)  # (1, frames, channels)
            tf.summary.image(f"generated/spectrogram_{i}", image[None], description=name)  # (1, h, w, 3)
    writer.flush()
