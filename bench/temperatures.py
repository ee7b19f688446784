"""How a setting's unseeded clips change with the sampling temperature: every chosen row of kept
`quality.py` runs (`--workdir`) generates its clips again through generate.py at each
--temperature, and the clips are pooled per setting, corpus and temperature as pool_clips.py
pools them: median LSD to the corpus, silent clips, seconds of loud broadband noise.

At the benchmark's budget a free-running model sits near an edge between near-silence and
broadband noise, and the temperature moves it across (bench/README.md): one temperature alone
tells where a setting's edge lies more than how near its sound comes to the corpus.

    python bench/temperatures.py 'default=runs/seed0.json:baseline' 'default=runs/seed1.json:baseline' \\
        'old=runs/seed0.json:mlp_input_relu=true recipe.init=glorot' [--temperatures 0.9 0.95 1.0] [--out t.json]

Groups are pool_clips.py's LABEL=JSON:VARIANT. Each row generates as its run did (clips,
duration and generate.py --random_seed from the run's JSON), into `<row>/temperature_<T>/`.
"""

import argparse
import json
import os
import statistics

from pool_clips import new_entry, parse_group, row_reference, tally
from quality import SAMPLE_RATE, generate_clips

from samplernn import spectral
from samplernn.audio import load_audio


def chosen_rows(path, variant):
    """[(corpus, row, reference wav)] of one run's rows of `variant` that kept a checkpoint, and
    the run's generation budget (clips, seconds, random seed)."""
    with open(path) as f:
        run = json.load(f)
    rows = [
        (result["corpus"], row, row_reference(row))
        for result in run["results"]
        for row in result["rows"]
        if row["variant"] == variant and row.get("checkpoint")
    ]
    if not rows:
        raise SystemExit(f"temperatures.py: {path} has no row {variant!r} with a checkpoint")
    budget = run["budget"]
    return rows, (budget["gen_seqs"], budget["gen_dur"], run["gen_seed"])


def generate(row, temperature, gen):
    """The clips generate.py writes from the row's checkpoint at `temperature`."""
    num_seqs, dur, seed = gen
    out_dir = os.path.join(os.path.dirname(row["train_log"]), f"temperature_{temperature:g}")
    flags = ["--dur", str(dur), "--num_seqs", str(num_seqs)]
    flags += ["--temperature", str(temperature), "--random_seed", str(seed)]
    return generate_clips(row["checkpoint"], out_dir, flags)


def measure(groups, temperatures):
    """{(corpus, label, temperature): figures over every clip of the label's rows}."""
    pooled, references = {}, {}
    for label, path, variant in groups:
        rows, gen = chosen_rows(path, variant)
        for corpus, row, reference in rows:
            if reference not in references:
                references[reference] = spectral.long_term_spectrum(load_audio(reference, SAMPLE_RATE))
            for t in temperatures:
                entry = pooled.setdefault((corpus, label, t), new_entry())
                for clip in generate(row, t, gen):
                    tally(entry, clip, references[reference])
            print(f"[{corpus}] {label}: {row['name']} done", flush=True)
    return pooled


def table_lines(pooled, temperatures):
    """One line per corpus and setting: per temperature, median LSD dB [its level part] (seconds of
    noise, silent clips)."""
    head = "".join(f" {'T=' + format(t, 'g'):>28}" for t in temperatures)
    lines = [f"{'corpus':12} {'setting':10} {'clips':>5}{head}"]
    for corpus, label in sorted({(c, label) for c, label, _ in pooled}):
        cells = []
        for t in temperatures:
            e = pooled[corpus, label, t]
            cells.append(
                f" {statistics.median(e['lsd']):6.1f} [{statistics.median(e['level']):+6.1f}]"
                f" ({e['noisy']:>2d}/{e['seconds']} s, {e['silent']})"
            )
        lines.append(f"{corpus:12} {label:10} {len(pooled[corpus, label, temperatures[0]]['lsd']):5d}" + "".join(cells))
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("groups", nargs="+", help="LABEL=JSON:VARIANT, one per row of a run")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.9, 0.95, 1.0], help="Default: %(default)s.")
    parser.add_argument("--out", help="JSON file for the pooled figures")
    args = parser.parse_args(argv)
    temperatures = sorted(set(args.temperatures))
    pooled = measure([parse_group(g) for g in args.groups], temperatures)
    print("\n".join(table_lines(pooled, temperatures)))
    print(
        "cells: median LSD dB to the corpus [median level dB against the corpus] "
        "(seconds of loud broadband noise / seconds, silent clips)"
    )
    if args.out:
        with open(args.out, "w") as f:
            rows = [
                dict(corpus=c, setting=label, temperature=t, median_lsd_db=statistics.median(e["lsd"]), **e)
                for (c, label, t), e in pooled.items()
            ]
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
