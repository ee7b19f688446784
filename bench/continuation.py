"""How well seeded generation continues real recordings: for the checkpoints of a
bench/quality.py run, seed generate.py with the start of chunks the run never trained on and
compare what it writes with how each recording really went on. Prints a table and writes JSON.

    python bench/continuation.py --quality_json bench/results/quality.json [--seeds 8] \
        [--seed_seconds 1] [--dur 1] [--num_seqs 4] [--out bench/results/continuation.json]

quality.py must have kept its checkpoints (--workdir). For each corpus it takes --seeds chunks
that are not among the run's files, spread over the corpus; the first --seed_seconds of each
is the seed and the next --dur seconds is the truth. Every row's checkpoint generates --num_seqs
clips of --dur seconds from each seed through the real generate.py (temperature 0.95, its
default). Per clip, with samplernn.spectral's long-term spectra and log-spectral distance:

- own: the distance to its own seed's truth;
- margin: the median distance to the other seeds' truths minus own; above 0 the clip is
  nearer the recording it was seeded with than the other recordings, it continues its seed;
- level: its RMS about its mean minus its truth's, in dB;
- lost: clips with a margin below 0, and silent: clips below generate.py's near-silence level
  where the truth is not.

A "seed itself" row measures each seed's last --dur seconds the same way: how far a clip
that repeated its seed's sound would get.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile

import numpy as np
from quality import SAMPLE_RATE, generate_clips

from samplernn import spectral
from samplernn.audio import find_wav_files, heard_level_db, load_audio, write_wav
from samplernn.generation import NEAR_SILENT_DB

HERE = os.path.dirname(os.path.abspath(__file__))
SEED_ROW = "seed itself"


def held_out(corpus_dir, used, count):
    """`count` chunks of the corpus that the run did not use, spread over it in natural order."""
    free = [p for p in find_wav_files(corpus_dir) if os.path.basename(p) not in used]
    if len(free) < count:
        raise SystemExit(f"{corpus_dir} has {len(free)} chunks the run did not use; --seeds {count} needs more")
    return [free[(i * len(free)) // count] for i in range(count)]


def split(path, seed_seconds, dur):
    """(seed, truth) samples: the chunk's first seed_seconds, and the dur seconds after them."""
    audio = load_audio(path, SAMPLE_RATE)
    cut, end = round(seed_seconds * SAMPLE_RATE), round((seed_seconds + dur) * SAMPLE_RATE)
    if len(audio) < end:
        raise SystemExit(
            f"{path} is {len(audio) / SAMPLE_RATE:.2f} s; --seed_seconds plus --dur needs {end / SAMPLE_RATE:g}"
        )
    return audio[:cut], audio[cut:end]


def measure(clip, index, truths):
    """One clip's figures against the truths, the clip seeded from truths[index]'s recording."""
    spectrum = spectral.long_term_spectrum(clip)
    distances = [spectral.log_spectral_distance(spectrum, spectral.long_term_spectrum(t)) for t in truths]
    own = distances[index]
    others = statistics.median(d for i, d in enumerate(distances) if i != index)
    truth_level = heard_level_db(truths[index])
    level = heard_level_db(clip)
    return dict(
        own_lsd_db=own,
        margin_db=others - own,
        level_db=level - truth_level,
        silent=bool(level < NEAR_SILENT_DB <= truth_level),
    )


def generate(checkpoint, seed_path, out_dir, dur, num_seqs, random_seed):
    """The clips generate.py writes from `checkpoint` seeded with `seed_path`."""
    flags = ["--dur", str(dur), "--num_seqs", str(num_seqs), "--seed", seed_path, "--random_seed", str(random_seed)]
    return generate_clips(checkpoint, out_dir, flags)


def summarize(name, figures):
    return dict(
        row=name,
        clips=len(figures),
        own_lsd_db=float(np.median([f["own_lsd_db"] for f in figures])),
        margin_db=float(np.median([f["margin_db"] for f in figures])),
        level_db=float(np.median([f["level_db"] for f in figures])),
        lost=sum(f["margin_db"] < 0 for f in figures),
        silent=sum(f["silent"] for f in figures),
        per_clip=figures,
    )


def bench_corpus(result, args, workdir):
    used = set(result["files"])
    paths = held_out(result["corpus_dir"], used, args.seeds)
    seeds, truths = zip(*(split(p, args.seed_seconds, args.dur) for p in paths))
    dur_samples = len(truths[0])
    rows = [summarize(SEED_ROW, [measure(s[-dur_samples:], i, truths) for i, s in enumerate(seeds)])]
    os.makedirs(workdir, exist_ok=True)
    seed_paths = [os.path.join(workdir, f"seed_{i}.wav") for i in range(len(seeds))]
    for path, seed in zip(seed_paths, seeds):
        write_wav(path, seed, SAMPLE_RATE)
    for row in result["rows"]:
        if "checkpoint" not in row:
            continue
        figures = []
        for i, seed_path in enumerate(seed_paths):
            out_dir = os.path.join(workdir, f"{row['name']}_seed{i}")
            clips = generate(row["checkpoint"], seed_path, out_dir, args.dur, args.num_seqs, args.random_seed + i)
            figures += [measure(clip, i, truths) for clip in clips]
        rows.append(summarize(row["variant"], figures))
        print(f"[{result['corpus']}] {row['variant']}: margin {rows[-1]['margin_db']:+.1f} dB", flush=True)
    return dict(corpus=result["corpus"], seeds=[os.path.basename(p) for p in paths], rows=rows)


def table_lines(results):
    lines = [
        "| corpus | row | clips | own LSD dB | margin dB | level dB | lost | silent |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        for r in result["rows"]:
            lines.append(
                f"| {result['corpus']} | {r['row']} | {r['clips']} | {r['own_lsd_db']:.1f} | {r['margin_db']:+.1f} "
                f"| {r['level_db']:+.1f} | {r['lost']} | {r['silent']} |"
            )
    return lines


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quality_json", required=True, help="A bench/quality.py result whose checkpoints still exist.")
    p.add_argument("--seeds", type=int, default=8, help="Held-out chunks per corpus (default: %(default)s).")
    p.add_argument("--seed_seconds", type=float, default=1.0, help="Seconds of each chunk that seed (default: 1).")
    p.add_argument("--dur", type=float, default=1.0, help="Seconds generated and compared (default: 1).")
    p.add_argument("--num_seqs", type=int, default=4, help="Clips per seed and row (default: %(default)s).")
    p.add_argument("--random_seed", type=int, default=0, help="generate.py's, plus the seed's index (default: 0).")
    p.add_argument("--out", default=os.path.join(HERE, "results", "continuation.json"), help="JSON results path.")
    args = p.parse_args(argv)
    try:
        with open(args.quality_json) as f:
            quality = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise SystemExit(f"--quality_json {args.quality_json!r} cannot be read: {err}") from None
    if not isinstance(quality, dict) or not isinstance(quality.get("results"), list):
        raise SystemExit(f"--quality_json {args.quality_json!r} is not a bench/quality.py result (no 'results' list)")
    summary = dict(vars(args), results=[])
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="samplernn_continuation_") as workdir:
        for result in quality["results"]:
            corpus_dir = os.path.join(workdir, result["corpus"])
            summary["results"].append(bench_corpus(result, args, corpus_dir))
            with open(args.out, "w") as f:
                json.dump(summary, f, indent=2)
    for line in table_lines(summary["results"]):
        print(line)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
