"""Pool the generated clips of several `quality.py` runs (kept with `--workdir`) per setting
and corpus, and measure them again from the files.

A row of `quality.py` measures 2 to 8 clips of one training, and which of two settings has its
clips nearer the corpus changed with the seed more than with the setting (bench/README.md).
Pooling the clips of three seeds gives one median per setting over 24 clips: the distance to the
corpus (LSD), its two parts (`level`, the clip's mean dB above the corpus, and `shape`, what is
left once that gain is taken out; `samplernn.spectral.level_and_shape`), and counts of the two
ways a free-running model goes wrong: clips stuck near silence, and seconds of loud broadband
noise (`samplernn.spectral.noisy_seconds`).

    python bench/pool_clips.py 'default=runs/seed0.json:baseline' 'default=runs/seed1.json:baseline' \\
        'old=runs/seed0.json:mlp_input_relu=true recipe.init=glorot' [--out pooled.json]

Each group is LABEL=JSON:VARIANT, the variant as `quality.py` printed it (`baseline` for its
first row); the same label may be given for rows of several runs.
"""

import argparse
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from samplernn import spectral  # noqa: E402
from samplernn.audio import heard_level_db, load_audio  # noqa: E402
from samplernn.generation import NEAR_SILENT_DB  # noqa: E402

SAMPLE_RATE = 16000


def parse_group(text):
    """'LABEL=JSON:VARIANT' -> (label, json path, variant)."""
    label, sep, rest = text.partition("=")
    path, sep2, variant = rest.partition(".json:")
    if not (sep and sep2 and label and variant):
        raise SystemExit(f"pool_clips.py: group {text!r} is not LABEL=JSON:VARIANT")
    return label, path + ".json", variant


def row_reference(row):
    """The corpus recording a quality.py row measured its clips against."""
    return os.path.join(os.path.dirname(os.path.dirname(row["train_log"])), "reference.wav")


def clip_paths(row):
    """The paths of the clips a quality.py row generated and measured."""
    clip_dir = os.path.join(os.path.dirname(row["train_log"]), "clips")
    return [os.path.join(clip_dir, c["file"]) for c in row["clips"]]


def row_clips(path, variant):
    """{corpus: ([clip paths], reference wav)} of one run's row."""
    with open(path) as f:
        run = json.load(f)
    found = {}
    for result in run["results"]:
        for row in result["rows"]:
            if row["variant"] == variant and row.get("clips"):
                found[result["corpus"]] = (clip_paths(row), row_reference(row))
    if not found:
        raise SystemExit(f"pool_clips.py: {path} has no measured row {variant!r}")
    return found


def new_entry():
    """The figures `tally` pools, before any clip."""
    return dict(lsd=[], level=[], shape=[], silent=0, noisy=0, seconds=0)


def pool(groups):
    """{(corpus, label): figures over every clip of the label's rows}."""
    pooled = {}
    for label, path, variant in groups:
        for corpus, (clips, reference) in row_clips(path, variant).items():
            entry = pooled.setdefault((corpus, label), dict(new_entry(), runs=[]))
            corpus_spectrum = spectral.long_term_spectrum(load_audio(reference, SAMPLE_RATE))
            first = len(entry["lsd"])
            for clip in clips:
                tally(entry, load_audio(clip, SAMPLE_RATE), corpus_spectrum)
            entry["runs"].append(statistics.median(entry["lsd"][first:]))
    return pooled


def tally(entry, audio, corpus_spectrum):
    """Count one clip into a pooled `entry`: its distance to the corpus's long-term spectrum,
    that distance's level and shape, and whether it is near-silent or noise."""
    spectrum = spectral.long_term_spectrum(audio)
    entry["lsd"].append(spectral.log_spectral_distance(spectrum, corpus_spectrum))
    level, shape = spectral.level_and_shape(spectrum, corpus_spectrum)
    entry["level"].append(level)
    entry["shape"].append(shape)
    entry["silent"] += heard_level_db(audio) < NEAR_SILENT_DB
    entry["noisy"] += spectral.noisy_seconds(audio, SAMPLE_RATE)
    entry["seconds"] += len(audio) // SAMPLE_RATE


def table_lines(pooled):
    lines = [
        f"{'corpus':12} {'setting':10} {'clips':>5} {'LSD dB':>6} {'level':>6} {'shape':>6} {'per run':18} "
        f"{'silent':>6} {'noise s':>8}"
    ]
    for (corpus, label), e in sorted(pooled.items()):
        runs = " / ".join(f"{x:.1f}" for x in e["runs"])
        lines.append(
            f"{corpus:12} {label:10} {len(e['lsd']):5d} {statistics.median(e['lsd']):6.1f} "
            f"{statistics.median(e['level']):6.1f} {statistics.median(e['shape']):6.1f} {runs:18} "
            f"{e['silent']:6d} {e['noisy']:>3d}/{e['seconds']:<4d}"
        )
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("groups", nargs="+", help="LABEL=JSON:VARIANT, one per row of a run")
    parser.add_argument("--out", help="JSON file for the pooled figures")
    args = parser.parse_args(argv)
    pooled = pool([parse_group(g) for g in args.groups])
    print("\n".join(table_lines(pooled)))
    if args.out:
        with open(args.out, "w") as f:
            rows = [
                dict(corpus=c, setting=label, median_lsd_db=statistics.median(e["lsd"]), **e)
                for (c, label), e in pooled.items()
            ]
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
