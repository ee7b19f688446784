import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from natsort import natsorted

from samplernn import chunking, cli
from samplernn.chunking import ChunkReport, chunk_audio
from samplernn.errors import UserError

# The script is not part of the installed package, so tests load it from the checkout.
SCRIPT = Path(__file__).resolve().parent.parent / "chunk_audio.py"

RATE = 16000


def load_script():
    spec = importlib.util.spec_from_file_location("chunk_audio_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tone(seconds, rate=RATE, amplitude=0.5):
    t = np.arange(round(seconds * rate)) / rate
    return amplitude * np.sin(2 * np.pi * 220.0 * t)


def write_wav(path, samples, rate=RATE):
    sf.write(path, samples, rate, subtype="PCM_16")
    return path


def read(path):
    return sf.read(path, dtype="int16")[0]


def discard(_line):
    """A `log` for tests that do not look at the messages."""


def test_20_5_seconds_at_8000_ms_gives_three_chunks_the_last_shorter(tmp_path):
    source = write_wav(tmp_path / "in.wav", tone(20.5))
    out = tmp_path / "chunks"

    report = chunk_audio(source, out, chunk_length_ms=8000, log=discard)

    names = ["chunk_0.wav", "chunk_1.wav", "chunk_2.wav"]
    assert report == ChunkReport(written=3, omitted=0, paths=[str(out / name) for name in names])
    assert sorted(os.listdir(out)) == names
    original = read(source)
    pieces = [read(path) for path in report.paths]
    assert [piece.size for piece in pieces] == [8 * RATE, 8 * RATE, 4.5 * RATE]
    np.testing.assert_array_equal(np.concatenate(pieces), original)


@pytest.mark.parametrize(
    ("overlap_ms", "starts_s", "ends_s"),
    [
        (2000, [0, 6, 12, 18], [8, 14, 20, 20.5]),
        (4000, [0, 4, 8, 12, 16], [8, 12, 16, 20, 20.5]),
        (6000, [0, 2, 4, 6, 8, 10, 12, 14], [8, 10, 12, 14, 16, 18, 20, 20.5]),
    ],
)
def test_overlap_sets_the_hop_and_chunks_stop_at_the_end(tmp_path, overlap_ms, starts_s, ends_s):
    source = write_wav(tmp_path / "in.wav", tone(20.5))

    report = chunk_audio(
        source,
        tmp_path / "out",
        chunk_length_ms=8000,
        overlap_ms=overlap_ms,
        log=discard,
    )

    original = read(source)
    assert report.written == len(starts_s)
    for path, start, end in zip(report.paths, starts_s, ends_s, strict=True):
        np.testing.assert_array_equal(read(path), original[round(start * RATE) : round(end * RATE)])


def test_silent_chunks_are_omitted_counted_and_logged(tmp_path):
    samples = tone(24.0)
    samples[8 * RATE : 16 * RATE] = 0.0
    source = write_wav(tmp_path / "in.wav", samples)
    messages = []

    report = chunk_audio(source, tmp_path / "out", chunk_length_ms=8000, log=messages.append)

    assert (report.written, report.omitted) == (2, 1)
    assert sorted(os.listdir(tmp_path / "out")) == ["chunk_0.wav", "chunk_2.wav"]
    assert len(messages) == 3
    assert messages[1].startswith("chunk 1 (8.000-16.000 s) omitted")
    assert messages[0].startswith("chunk 0 (0.000-8.000 s) written")
    assert messages[2].startswith("chunk 2 (16.000-24.000 s) written")


@pytest.mark.parametrize(("peak_dbfs", "kept"), [(-70.0, False), (-50.0, True)])
def test_silence_means_a_peak_below_minus_60_dbfs(tmp_path, peak_dbfs, kept):
    samples = tone(2.0, amplitude=10 ** (peak_dbfs / 20))
    source = write_wav(tmp_path / "in.wav", samples)

    report = chunk_audio(source, tmp_path / "out", chunk_length_ms=1000, log=discard)

    assert (report.written, report.omitted) == ((2, 0) if kept else (0, 2))


def test_names_sort_naturally_into_time_order(tmp_path):
    # Each second holds a different constant level, so a chunk's level tells its position.
    levels = np.repeat(np.arange(1, 13) / 20, RATE)
    source = write_wav(tmp_path / "in.wav", levels)
    out = tmp_path / "out"

    chunk_audio(source, out, chunk_length_ms=1000, log=discard)

    names = natsorted(os.listdir(out))
    assert names == [f"chunk_{i}.wav" for i in range(12)]
    firsts = [read(out / name)[0] for name in names]
    assert firsts == sorted(firsts)
    assert len(set(firsts)) == 12


def test_format_is_kept_and_nested_output_dir_is_created(tmp_path):
    stereo = np.stack([tone(3.0, rate=44100), -tone(3.0, rate=44100)], axis=1)
    source = write_wav(tmp_path / "in.wav", stereo, rate=44100)
    out = tmp_path / "a" / "b"

    report = chunk_audio(str(source), str(out), chunk_length_ms=2000, log=discard)

    assert report.written == 2
    info = sf.info(report.paths[1])
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (
        44100,
        2,
        44100,
        "PCM_16",
    )


def test_an_interrupted_write_leaves_only_complete_chunks(tmp_path, monkeypatch):
    source = write_wav(tmp_path / "in.wav", tone(3.0))
    out = tmp_path / "out"
    real_export = chunking.AudioSegment.export
    calls = []

    def export_then_die_on_second(self, handle, format):
        calls.append(1)
        if len(calls) == 2:
            handle.write(b"RIFF half a header")
            raise KeyboardInterrupt
        return real_export(self, handle, format=format)

    monkeypatch.setattr(chunking.AudioSegment, "export", export_then_die_on_second)

    with pytest.raises(KeyboardInterrupt):
        chunk_audio(source, out, chunk_length_ms=1000, log=discard)

    assert os.listdir(out) == ["chunk_0.wav"]
    assert read(out / "chunk_0.wav").size == RATE


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"chunk_length_ms": 0}, "chunk_length_ms"),
        ({"chunk_length_ms": -5}, "chunk_length_ms"),
        ({"overlap_ms": -1}, "overlap_ms"),
        ({"overlap_ms": 8000}, "overlap_ms"),
        ({"chunk_length_ms": 1000, "overlap_ms": 1500}, "overlap_ms"),
    ],
)
def test_bad_parameters_raise_user_error_naming_them(tmp_path, kwargs, named):
    source = write_wav(tmp_path / "in.wav", tone(1.0))

    with pytest.raises(UserError, match=named):
        chunk_audio(source, tmp_path / "out", log=discard, **kwargs)
    assert not (tmp_path / "out").exists()


def test_missing_input_raises_user_error_naming_it(tmp_path):
    missing = tmp_path / "nope.wav"

    with pytest.raises(UserError, match="does not exist") as caught:
        chunk_audio(missing, tmp_path / "out", log=discard)
    assert str(missing) in str(caught.value)


def test_directory_as_input_raises_user_error(tmp_path):
    with pytest.raises(UserError, match="input_file .* is a directory"):
        chunk_audio(tmp_path, tmp_path / "out", log=discard)


def test_text_renamed_to_wav_raises_user_error_and_writes_nothing(tmp_path):
    fake = tmp_path / "notes.wav"
    fake.write_text("this is not audio\n" * 50)

    with pytest.raises(UserError, match="cannot read input_file") as caught:
        chunk_audio(fake, tmp_path / "out", log=discard)
    assert str(fake) in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_output_dir_that_is_a_file_raises_user_error(tmp_path):
    source = write_wav(tmp_path / "in.wav", tone(1.0))
    blocker = tmp_path / "taken"
    blocker.write_text("")

    with pytest.raises(UserError, match="output_dir .* is not a directory") as caught:
        chunk_audio(source, blocker, log=discard)
    assert str(blocker) in str(caught.value)


def test_script_chunks_end_to_end(tmp_path, capsys):
    script = load_script()
    source = write_wav(tmp_path / "in.wav", np.concatenate([tone(8.0), np.zeros(8 * RATE), tone(4.5)]))
    out = tmp_path / "out"

    status = script.main(["--input_file", str(source), "--output_dir", str(out)])

    assert status == 0
    assert sorted(os.listdir(out)) == ["chunk_0.wav", "chunk_2.wav"]
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines[:3]] == [
        ["chunk", "0"],
        ["chunk", "1"],
        ["chunk", "2"],
    ]
    assert lines[-1] == f"2 chunks written to {out}, 1 silent chunks omitted"
    assert len(lines) == 4


def test_script_overlap_flag_changes_the_chunking(tmp_path, capsys):
    script = load_script()
    source = write_wav(tmp_path / "in.wav", tone(20.5))
    argv = ["--input_file", str(source), "--output_dir", str(tmp_path / "out")]

    assert script.main([*argv, "--chunk_length", "8000", "--overlap", "2000"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("4 chunks written")


def test_script_reports_user_errors_on_one_line_with_non_zero_exit(tmp_path, capsys):
    script = load_script()
    missing = tmp_path / "nope.wav"

    status = cli.run(
        script.main,
        ["--input_file", str(missing), "--output_dir", str(tmp_path / "out")],
    )

    assert status == cli.EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert str(missing) in err


def test_script_rejects_overlap_not_shorter_than_chunk_length(tmp_path, capsys):
    script = load_script()
    source = write_wav(tmp_path / "in.wav", tone(1.0))
    argv = [
        "--input_file",
        str(source),
        "--output_dir",
        str(tmp_path / "out"),
        "--chunk_length",
        "500",
    ]

    assert cli.run(script.main, [*argv, "--overlap", "500"]) == cli.EXIT_USER_ERROR
    assert "overlap_ms" in capsys.readouterr().err


@pytest.mark.parametrize("flags", [["--chunk_length", "0"], ["--overlap", "-1"], ["--chunk_length", "8s"]])
def test_script_rejects_malformed_numbers_at_parse_time(tmp_path, flags):
    script = load_script()
    argv = [
        "--input_file",
        str(tmp_path / "in.wav"),
        "--output_dir",
        str(tmp_path / "out"),
        *flags,
    ]

    with pytest.raises(SystemExit) as caught:
        script.main(argv)
    assert caught.value.code == 2
