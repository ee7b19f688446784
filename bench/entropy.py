"""How sure a trained model is, over its own clips and over real recordings: the entropy of its
predicted distribution, teacher-forced, per quarter second. Prints a table and writes JSON.

    python bench/entropy.py 'default=runs/seed0.json:baseline' \\
        'old=runs/seed0.json:mlp_input_relu=true recipe.init=glorot' [--files 16] [--out entropy.json]

Each group is LABEL=JSON:VARIANT, a row of a `quality.py` run kept with `--workdir`, as
`pool_clips.py` takes them. The row's final checkpoint reads its generated clips and the first
`--files` of the run's corpus files, each from a zero state as generation starts, and gives, at
every sample, the entropy in bits of its softmax at temperature 1 (the clips were drawn at their
own temperature). Per block of 0.25 s the script keeps the mean entropy and the block's RMS, and
reports per source: the share of blocks above `--high` bits (the loud broadband noise that
free-running models fall into measures far above real audio), the share louder than -40 dB, and
the median entropy and level of the loud blocks below `--high`.
"""

import argparse
import glob
import json
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from pool_clips import clip_paths, parse_group  # noqa: E402
from temperatures import chosen_rows  # noqa: E402

from samplernn import cli, quantize  # noqa: E402
from samplernn.audio import load_audio, rms_db  # noqa: E402

SAMPLE_RATE = 16000
BLOCK = SAMPLE_RATE // 4
LOUD_DB = -40.0


def entropy_function(model):
    """A compiled function from levels (1, G + T) to the entropy in bits of the model's softmax
    at each of the T targets, from a zero state. Compiled, because the frame tiers step once
    per frame, which eager execution ran several times slower."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def entropy_bits(seq):
        logits = model((seq, *model.initial_states(1)), training=False)[0][0]
        log_p = tf.nn.log_softmax(logits)
        return -tf.reduce_sum(tf.exp(log_p) * log_p, axis=-1) / math.log(2.0)

    return entropy_bits


def block_entropies(model, entropy_bits, path):
    """(mean entropy in bits, RMS dB) of each whole 0.25 s block of `path`, teacher-forced."""
    audio = load_audio(path, SAMPLE_RATE)
    cfg = model.config
    levels = np.asarray(quantize.encode(audio, cfg.q_type, cfg.q_levels)).astype(np.int32)
    g = cfg.big_frame_size
    t = (len(levels) - g) // g * g
    bits = entropy_bits(levels[None, : g + t]).numpy()
    blocks = []
    for start in range(0, t - BLOCK + 1, BLOCK):
        level = rms_db(audio[g + start : g + start + BLOCK])
        blocks.append((float(bits[start : start + BLOCK].mean()), level))
    return blocks


def summarize(blocks, high):
    """The figures of one source's blocks."""
    bits = np.array([b for b, _ in blocks])
    db = np.array([d for _, d in blocks])
    loud = db > LOUD_DB
    calm_loud = loud & (bits <= high)
    return dict(
        blocks=len(blocks),
        high_share=float(np.mean(bits > high)),
        loud_share=float(np.mean(loud)),
        calm_loud_bits=float(np.median(bits[calm_loud])) if calm_loud.any() else None,
        calm_loud_db=float(np.median(db[calm_loud])) if calm_loud.any() else None,
        high_bits=float(np.median(bits[bits > high])) if (bits > high).any() else None,
    )


def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("groups", nargs="+", help="LABEL=JSON:VARIANT, as pool_clips.py takes them.")
    p.add_argument("--files", type=int, default=16, help="Corpus files read per row (default: %(default)s).")
    p.add_argument("--high", type=float, default=5.5, help="Bits above which a block counts as high (default: 5.5).")
    p.add_argument("--out", default="entropy.json", help="JSON results path (default: %(default)s).")
    args = p.parse_args(argv)
    cli.import_tensorflow_quietly()
    from samplernn.generation import load_generator_model

    results = []
    for label, path, variant in map(parse_group, args.groups):
        for corpus, row, reference in chosen_rows(path, variant)[0]:
            model = load_generator_model(row["checkpoint"], log=lambda *a: None)
            entropy_bits = entropy_function(model)
            # quality.py links the run's files into a folder beside the corpus's reference.wav.
            real = sorted(glob.glob(os.path.join(os.path.dirname(reference), "data", "*.wav")))[: args.files]
            for source, files in (("clips", clip_paths(row)), ("corpus", real)):
                blocks = [b for f in files for b in block_entropies(model, entropy_bits, f)]
                figures = summarize(blocks, args.high)
                results.append(dict(label=label, run=path, corpus=corpus, source=source, **figures))
    print(
        f"{'corpus':10} {'setting':12} {'run':12} {'source':7} {'blocks':>6} {'high %':>6} {'loud %':>6} "
        f"{'bits':>5} {'dB':>6} {'high bits':>9}"
    )
    for r in results:
        run = os.path.basename(r["run"])[:12]
        print(
            f"{r['corpus']:10} {r['label']:12} {run:12} {r['source']:7} {r['blocks']:6d} {100 * r['high_share']:6.0f} "
            f"{100 * r['loud_share']:6.0f} {fmt(r['calm_loud_bits'], '5.2f')} {fmt(r['calm_loud_db'], '6.1f')} "
            f"{fmt(r['high_bits'], '9.2f')}"
        )
    with open(args.out, "w") as f:
        settings = dict(high_bits=args.high, loud_db=LOUD_DB, block_seconds=BLOCK / SAMPLE_RATE)
        json.dump(dict(settings, rows=results), f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
