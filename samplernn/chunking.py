"""Cut a long recording into fixed-length wav chunks for training, dropping silent ones."""

import dataclasses
import os
import shutil
import warnings

from samplernn.errors import UserError
from samplernn.files import atomic_write

# pydub warns whenever it looks for ffmpeg or ffprobe and finds none, yet wav input never
# needs them; a missing ffmpeg is reported in the error when a file actually fails to decode.
_MISSING_FFMPEG_WARNING = "Couldn't find ff"

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=_MISSING_FFMPEG_WARNING, category=RuntimeWarning)
    from pydub import AudioSegment
    from pydub.exceptions import CouldntDecodeError

SILENCE_PEAK_DBFS = -60.0


@dataclasses.dataclass(frozen=True)
class ChunkReport:
    """What `chunk_audio` did: counts of chunks written and omitted, and the written paths."""

    written: int
    omitted: int
    paths: list[str]


def chunk_audio(input_file, output_dir, chunk_length_ms=8000, overlap_ms=0, log=print):
    """Split `input_file` into `output_dir/chunk_<i>.wav`, i counting chunks in time order.

    Chunk i starts at i * (chunk_length_ms - overlap_ms) and lasts chunk_length_ms; chunks
    stop at the first one that reaches the end of the audio, so the last may be shorter and
    none lies wholly inside its predecessor. Sample rate, sample width and channels are kept.

    A chunk is silent, and omitted, when its peak amplitude is below -60 dBFS (digital
    silence included); its index is then skipped, so the surviving names still tell where
    each chunk sat in the recording. Every written and omitted chunk is reported to `log`.

    Each chunk is written to a temporary file beside it and renamed into place, so an
    interrupted run leaves only complete wav files. Raises `UserError` for bad parameters,
    a missing or undecodable input, or an output path that is not a directory.
    """
    if not chunk_length_ms > 0:
        raise UserError(f"chunk_length_ms must be > 0, got {chunk_length_ms}")
    if not 0 <= overlap_ms < chunk_length_ms:
        raise UserError(f"overlap_ms must be >= 0 and less than chunk_length_ms ({chunk_length_ms}), got {overlap_ms}")
    input_file = os.fspath(input_file)
    output_dir = os.fspath(output_dir)
    _check_readable(input_file)
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise UserError(f"output_dir {output_dir} exists and is not a directory")

    audio = _read_audio(input_file)
    try:
        os.makedirs(output_dir, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create output_dir {output_dir}: {err.strerror or err}") from None

    rate = audio.frame_rate
    paths = []
    omitted = 0
    bounds = _chunk_bounds(int(audio.frame_count()), rate, chunk_length_ms, overlap_ms)
    for index, (start, end) in enumerate(bounds):
        chunk = audio.get_sample_slice(start, end)
        span = f"{start / rate:.3f}-{end / rate:.3f} s"
        if chunk.max_dBFS < SILENCE_PEAK_DBFS:
            omitted += 1
            log(f"chunk {index} ({span}) omitted: silent, peak below {SILENCE_PEAK_DBFS:g} dBFS")
            continue
        path = os.path.join(output_dir, f"chunk_{index}.wav")
        _write_wav(chunk, path)
        paths.append(path)
        log(f"chunk {index} ({span}) written to {path}")
    return ChunkReport(written=len(paths), omitted=omitted, paths=paths)


def _check_readable(input_file):
    """Fail on the path itself first, so a decode failure later can only mean "not audio"."""
    try:
        with open(input_file, "rb"):
            pass
    except FileNotFoundError:
        raise UserError(f"input_file {input_file} does not exist") from None
    except IsADirectoryError:
        raise UserError(f"input_file {input_file} is a directory, not a file") from None
    except OSError as err:
        raise UserError(f"cannot open input_file {input_file}: {err.strerror or err}") from None


def _read_audio(input_file):
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_MISSING_FFMPEG_WARNING, category=RuntimeWarning)
            return AudioSegment.from_file(input_file)
    except (CouldntDecodeError, OSError, IndexError, KeyError, ValueError):
        # pydub surfaces a failed decode as any of these, depending on whether its wav parser,
        # ffprobe's JSON or ffmpeg itself gave up, so they all mean "not audio we can read".
        if shutil.which(AudioSegment.converter) is None:
            raise UserError(
                f"cannot read input_file {input_file}: not a wav file pydub can parse, "
                f"and {AudioSegment.converter} (needed for other formats) is not installed"
            ) from None
        raise UserError(
            f"cannot read input_file {input_file}: not an audio file {AudioSegment.converter} can decode"
        ) from None


def _chunk_bounds(total_frames, rate, chunk_length_ms, overlap_ms):
    """(start, end) frame pairs; positions come from milliseconds so rounding never drifts."""
    hop_ms = chunk_length_ms - overlap_ms
    bounds = []
    index = 0
    while True:
        start = round(index * hop_ms * rate / 1000)
        if start >= total_frames:
            return bounds
        end = min(round((index * hop_ms + chunk_length_ms) * rate / 1000), total_frames)
        bounds.append((start, end))
        if end == total_frames:
            return bounds
        index += 1


def _write_wav(chunk, path):
    try:
        with atomic_write(path) as f:
            chunk.export(f, format="wav")
    except OSError as err:
        raise UserError(f"cannot write chunk {path}: {err.strerror or err}") from None
