"""Spectrogram pictures of generated audio: a PNG beside each wav, and the same picture as an
image array for TensorBoard.

Figures are drawn on matplotlib's Agg canvas directly, never through pyplot's global state,
so drawing works headless, from any thread, and leaves a notebook's own plotting alone.
"""

import io
import os

import librosa
import librosa.display
import numpy as np
import soundfile as sf
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from samplernn.files import atomic_write

# Every picture is FIGSIZE * DPI pixels: 1000 x 400, whatever the clip's length.
FIGSIZE = (10.0, 4.0)  # inches (width, height)
DPI = 100
N_FFT = 1024
HOP_LENGTH = 256
TOP_DB = 80.0


def png_path(wav_path):
    """`x.wav` -> `x.png`: the picture sits beside its sound under the same name."""
    return os.path.splitext(os.fspath(wav_path))[0] + ".png"


def _figure(wav_path):
    """The spectrogram of `wav_path` in dB below its loudest bin, on a log-frequency axis."""
    samples, rate = sf.read(os.fspath(wav_path), dtype="float32", always_2d=True)
    samples = samples.mean(axis=1)  # (frames,) mono
    seconds = len(samples) / rate
    # Clips shorter than one FFT window are padded with silence rather than refused.
    samples = librosa.util.fix_length(samples, size=max(len(samples), N_FFT))
    magnitude = np.abs(librosa.stft(samples, n_fft=N_FFT, hop_length=HOP_LENGTH))  # (1 + N_FFT/2, windows)
    db = librosa.amplitude_to_db(magnitude, ref=np.max, top_db=TOP_DB)

    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    mesh = librosa.display.specshow(
        db, sr=rate, hop_length=HOP_LENGTH, x_axis="time", y_axis="log", ax=ax, vmin=-TOP_DB, vmax=0.0
    )
    if seconds > 0:
        ax.set_xlim(0.0, seconds)  # the clip itself, not the padding or the centred first window
    fig.colorbar(mesh, ax=ax, format="%+2.0f dB")
    ax.set_title(os.path.basename(os.fspath(wav_path)))
    fig.tight_layout()
    return fig


def spectrogram_png(wav_path):
    """The spectrogram picture of `wav_path` as PNG bytes."""
    buffer = io.BytesIO()
    _figure(wav_path).savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def spectrogram_image(wav_path):
    """The spectrogram picture of `wav_path` as a (height, width, 3) uint8 array, for
    `tf.summary.image`."""
    fig = _figure(wav_path)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def save_spectrogram(wav_path):
    """Draw the spectrogram of `wav_path` into `png_path(wav_path)` and return that path.

    Written atomically, so a crash never leaves a half-written PNG under the final name.
    """
    path = png_path(wav_path)
    data = spectrogram_png(wav_path)
    with atomic_write(path) as f:
        f.write(data)
    return path
