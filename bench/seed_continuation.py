"""How often a seeded run continues its seed's pitch: the setting of
tests/test_listening.py::test_a_seeded_run_continues_the_seeds_pitch, repeated.

    python bench/seed_continuation.py [--runs 10] [--epochs 6] [--recipe '{"lr_scale": {"sample_mlp/*": 4}}']
        [--out bench/results/seed_continuation.json]

Each run trains the test's two-tone model (500 and 800 Hz, six half-second files of each, dim
32, batch 4) through the real train.py with fresh random weights, then seeds generate.py with
a quarter second of each tone and generates 2 sequences at temperature 1. For each of the 4
clips it reports the fraction of the first 100 ms's energy at the seed's harmonics; the test
asks more than 0.7 of every clip, so a run passes when its lowest fraction does. --recipe sets
SAMPLERNN_RECIPE for the training (samplernn.recipe), which is how a training choice's effect
on the test is measured: the test passes or fails once, this counts how often.
"""

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

import test_listening  # noqa: E402  (the test's model, corpus and scripts, so this measures the test)
from conftest import RATE, harmonic_tone, write_wav  # noqa: E402

from samplernn.spectral import harmonic_energy_fraction  # noqa: E402

PASS = test_listening.HARMONIC


def one_run(folder, epochs):
    """The four clips' harmonic fractions: two sequences seeded with each pitch."""
    config = test_listening.CONFIG.replace(frame_sizes=(16, 64))
    checkpoint = test_listening.train_on(
        folder, test_listening.PITCHES, files_per_pitch=6, seconds=0.5, epochs=epochs, generate=False, config=config
    )
    fractions = []
    for pitch in test_listening.PITCHES:
        seed = write_wav(str(folder / f"seed_{pitch:g}.wav"), harmonic_tone(pitch, RATE // 4, phase=2.1, seed=99))
        args = ("--seed", seed, "--dur", 0.2, "--num_seqs", 2, "--temperature", 1.0, "--random_seed", 1)
        for clip in test_listening.generate(folder, checkpoint, f"seeded_{pitch:g}", *args):
            fractions.append(harmonic_energy_fraction(clip[: RATE // 10], RATE, pitch))
    return fractions


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="Trainings, each from fresh weights (default: 10).")
    parser.add_argument("--epochs", type=int, default=6, help="Epochs per training (the test's: 6).")
    parser.add_argument("--recipe", default="", help="SAMPLERNN_RECIPE for the training (default: none).")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "seed_continuation.json"))
    args = parser.parse_args()
    os.environ["SAMPLERNN_RECIPE"] = args.recipe  # train.py runs in a subprocess that inherits it
    names = [f"{pitch:g} Hz #{i}" for pitch in test_listening.PITCHES for i in (1, 2)]
    print(f"recipe {args.recipe or '(defaults)'}, {args.epochs} epochs; a run passes when every clip is above {PASS}")
    print(f"{'run':>3}  " + "  ".join(f"{name:>9}" for name in names) + "  pass")
    runs = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as folder:
            fractions = one_run(Path(folder), args.epochs)
        runs.append({"fractions": fractions, "passed": min(fractions) > PASS})
        print(f"{run:>3}  " + "  ".join(f"{f:9.3f}" for f in fractions) + f"  {'yes' if runs[-1]['passed'] else 'NO'}")
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:  # after every run, so an interrupted one keeps what it measured
            json.dump({"recipe": args.recipe, "epochs": args.epochs, "threshold": PASS, "runs": runs}, f, indent=1)
    print(f"passed {sum(r['passed'] for r in runs)} of {len(runs)}")


if __name__ == "__main__":
    main()
