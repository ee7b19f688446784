import numpy as np
import pytest
import soundfile as sf
from conftest import RATE, write_wav

from samplernn.demo import report_lines, spectral_report
from samplernn.demo_corpus import synthesize_demo_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return synthesize_demo_corpus(tmp_path_factory.mktemp("report") / "demo.wav", seconds=12.0)


@pytest.fixture(scope="module")
def rows(corpus, tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    excerpt = write_wav(folder / "excerpt.wav", sf.read(corpus)[0][: 2 * RATE])
    noise = write_wav(folder / "noise.wav", np.random.default_rng(1).uniform(-0.3, 0.3, 2 * RATE))
    quiet = write_wav(folder / "quiet.wav", sf.read(corpus)[0][: 2 * RATE] * 0.01)  # 40 dB down
    return spectral_report(corpus, [excerpt, noise, quiet])


def test_one_row_per_clip_then_the_corpus_then_noise(rows):
    assert [name for name, _, _ in rows] == ["excerpt.wav", "noise.wav", "quiet.wav", "corpus", "white noise"]


def test_an_excerpt_of_the_corpus_scores_as_the_corpus_and_noise_as_noise(rows):
    figures = {name: (flatness, distance) for name, flatness, distance in rows}
    tonal = [figures["excerpt.wav"], figures["corpus"]]
    noisy = [figures["noise.wav"], figures["white noise"]]
    assert max(flatness for flatness, _ in tonal) < 0.01 < 0.3 < min(flatness for flatness, _ in noisy)
    assert max(distance for _, distance in tonal) + 1.0 < min(distance for _, distance in noisy)


def test_the_corpus_40_db_down_is_40_db_from_it(rows):
    # A model stuck in near-silence must not measure as the corpus, whatever its spectrum's shape.
    figures = {name: distance for name, _, distance in rows}
    assert figures["quiet.wav"] == pytest.approx(figures["excerpt.wav"] + 40.0, abs=3.0)


def test_the_noise_row_is_the_same_on_every_run(corpus):
    assert spectral_report(corpus, [])[-1] == spectral_report(corpus, [])[-1]


def test_lines_are_aligned_under_a_header(rows):
    lines = report_lines(rows)
    assert lines[0].split() == ["flatness", "distance"]
    assert len(lines) == len(rows) + 1
    assert len({line.index("dB") for line in lines[1:]}) == 1
