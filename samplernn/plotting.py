"""Spectrogram pictures of generated audio: a PNG beside each wav, and the same picture as an
image array for TensorBoard.

Figures are drawn on matplotlib's Agg canvas directly, never through pyplot's global state,
so drawing works headless, from any thread, and leaves a notebook's own plotting alone.
The spectrogram is SciPy's STFT and NumPy's log, not librosa's: librosa's would bring in numba
and compile with it, about 130 MB of memory at the end of generate.py.
"""

import io
import os

import numpy as np
import scipy.signal
import soundfile as sf
from matplotlib import ticker
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


def spectrogram_db(samples, rate):
    """(frequencies in Hz, frame times in s, level in dB below the loudest bin, at least
    -TOP_DB) of mono `samples`: Hann windows of N_FFT every HOP_LENGTH samples, the first one
    centred on sample 0. Clips shorter than a window are padded with silence rather than
    refused; silence is -TOP_DB throughout."""
    samples = np.pad(samples, (0, max(0, N_FFT - len(samples))))
    freqs, times, spectrum = scipy.signal.stft(
        samples, fs=rate, window="hann", nperseg=N_FFT, noverlap=N_FFT - HOP_LENGTH, boundary="zeros"
    )
    magnitude = np.abs(spectrum)
    loudest = magnitude.max()
    if loudest == 0:
        return freqs, times, np.full(magnitude.shape, -TOP_DB)
    db = 20.0 * np.log10(np.maximum(magnitude, loudest * 10 ** (-TOP_DB / 20)) / loudest)
    return freqs, times, db


def _figure(wav_path):
    """The spectrogram of `wav_path` in dB below its loudest bin, on a log-frequency axis."""
    samples, rate = sf.read(os.fspath(wav_path), dtype="float32", always_2d=True)
    samples = samples.mean(axis=1)  # (frames,) mono
    seconds = len(samples) / rate
    freqs, times, db = spectrogram_db(samples, rate)

    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    # The log axis leaves out the 0 Hz row.
    mesh = ax.pcolormesh(times, freqs[1:], db[1:], shading="nearest", cmap="magma", vmin=-TOP_DB, vmax=0.0)
    ax.set_yscale("log", base=2)
    ax.yaxis.set_major_formatter(ticker.ScalarFormatter())
    ax.set_ylim(freqs[1], rate / 2)
    ax.set_xlim(0.0, seconds if seconds > 0 else times[-1])  # the clip itself, not the padding
    ax.set_xlabel("Time (s)")
    ax.set_ylabel("Hz")
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
