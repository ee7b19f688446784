"""Measure validation NLL on the demo corpus for each setting of the keys the reference lacks
(learn_h0, weight_norm), to choose their defaults. Prints a table and writes JSON.

    python bench/config_defaults.py [--num_epochs 4] [--seconds 120] [--out bench/results/config_defaults.json]
"""

import argparse
import itertools
import json
import os
import sys
import tempfile
import time

from samplernn.chunking import chunk_audio
from samplernn.config import ModelConfig
from samplernn.configs import DEMO_CONFIG_FILE
from samplernn.demo_corpus import synthesize_demo_corpus
from samplernn.settings import TrainSettings
from samplernn.training import train

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--num_epochs", type=int, default=4)
    p.add_argument("--seconds", type=float, default=120.0)
    p.add_argument("--config_file", default=DEMO_CONFIG_FILE)
    p.add_argument("--out", default=os.path.join(HERE, "results", "config_defaults.json"))
    args = p.parse_args(argv)
    base = ModelConfig.load(args.config_file)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        corpus = synthesize_demo_corpus(os.path.join(tmp, "demo.wav"), seconds=args.seconds)
        chunks = os.path.join(tmp, "chunks")
        chunk_audio(corpus, chunks, log=lambda _: None)
        for learn_h0, weight_norm in itertools.product((False, True), repeat=2):
            config = base.replace(learn_h0=learn_h0, weight_norm=weight_norm)
            settings = TrainSettings(
                data_dir=chunks,
                id=f"h0={learn_h0}_wn={weight_norm}",
                logdir_root=os.path.join(tmp, "logdir"),
                num_epochs=args.num_epochs,
                batch_size=4,
                val_frac=0.25,
                resume=False,
                early_stopping_patience=None,
                generate=False,
                verbose=False,
                max_checkpoints=1,
            )
            start = time.perf_counter()
            result = train(settings, config, log=lambda _: None)
            best = min(result.history, key=lambda h: h["val_loss"])
            rows.append(
                dict(
                    learn_h0=learn_h0,
                    weight_norm=weight_norm,
                    epochs=args.num_epochs,
                    best_val_nll_bits=best["val_loss"] / 0.6931471805599453,
                    best_epoch=best["epoch"],
                    final_val_nll_bits=result.history[-1]["val_loss"] / 0.6931471805599453,
                    seconds=time.perf_counter() - start,
                )
            )
            print(
                f"learn_h0={learn_h0!s:5} weight_norm={weight_norm!s:5} "
                f"best val NLL {rows[-1]['best_val_nll_bits']:.3f} bits (epoch {best['epoch']}), "
                f"final {rows[-1]['final_val_nll_bits']:.3f}, {rows[-1]['seconds']:.0f} s",
                flush=True,
            )
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(dict(config=base.to_dict(), seconds_of_audio=args.seconds, rows=rows), f, indent=2)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
