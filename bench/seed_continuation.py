"""How often a seeded run continues its seed's pitch: the setting of
tests/test_listening.py::test_a_seeded_run_continues_the_seeds_pitch, repeated.

    python bench/seed_continuation.py [--runs 10] [--epochs 6] [--recipe '{"lr_scale": {"sample_mlp/*": 4}}']
        [--num_seqs 16] [--temperature 0.95 ...] [--fresh_seeds] [--out bench/results/seed_continuation.json]

Each run trains the test's two-tone model (500 and 800 Hz, six half-second files of each, dim
32, batch 4) through the real train.py with fresh random weights, then seeds generate.py with
a quarter second of each tone and generates --num_seqs sequences per tone at each
--temperature. For each clip it reports the fraction of the first 100 ms's energy at the seed's
harmonics; under 0.7 (the test's bound) the clip lost its seed's pitch. The defaults are the
test's: 16 sequences per pitch at temperature 0.95 and --random_seed 1, and a run passes when
at least 12 of each pitch's clips keep it, so this counts how often the test would pass. A
training choice's effect is measured better per clip: both temperatures, and with
--fresh_seeds a --random_seed of each generate.py call's own (100 * run + pitch in Hz + 100 *
temperature) rather than the test's rows of seed 1 over and over. --recipe sets SAMPLERNN_RECIPE for the
training (samplernn.recipe).
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


def run_passes(fractions, num_seqs):
    """The test's rule, for every temperature: each pitch's clips (in PITCHES order) keep it often enough."""
    kept = test_listening.KEPT * num_seqs / test_listening.SEEDED_CLIPS
    return all(
        sum(f > PASS for f in clips[i * num_seqs : (i + 1) * num_seqs]) >= kept
        for clips in fractions.values()
        for i in range(len(test_listening.PITCHES))
    )


def one_run(folder, run, epochs, num_seqs, temperatures, fresh_seeds):
    """{temperature: harmonic fractions}, num_seqs clips seeded with each pitch in turn."""
    config = test_listening.CONFIG.replace(frame_sizes=(16, 64))
    checkpoint = test_listening.train_on(
        folder, test_listening.PITCHES, files_per_pitch=6, seconds=0.5, epochs=epochs, generate=False, config=config
    )
    seeds = {
        pitch: write_wav(str(folder / f"seed_{pitch:g}.wav"), harmonic_tone(pitch, RATE // 4, phase=2.1, seed=99))
        for pitch in test_listening.PITCHES
    }
    fractions = {}
    for temp in temperatures:
        fractions[temp] = []
        for pitch, seed in seeds.items():
            random_seed = 100 * run + int(pitch) + int(temp * 100) if fresh_seeds else 1
            args = ("--seed", seed, "--dur", 0.2, "--num_seqs", num_seqs, "--temperature", temp)
            for clip in test_listening.generate(
                folder, checkpoint, f"seeded_{pitch:g}_{temp:g}", *args, "--random_seed", random_seed
            ):
                fractions[temp].append(harmonic_energy_fraction(clip[: RATE // 10], RATE, pitch))
    return fractions


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="Trainings, each from fresh weights (default: 10).")
    parser.add_argument("--epochs", type=int, default=6, help="Epochs per training (the test's: 6).")
    parser.add_argument("--recipe", default="", help="SAMPLERNN_RECIPE for the training (default: none).")
    parser.add_argument(
        "--num_seqs",
        type=int,
        default=test_listening.SEEDED_CLIPS,
        help="Clips per pitch and temperature (the test's: 16).",
    )
    parser.add_argument("--temperature", type=float, nargs="+", default=[0.95], help="The test's: 0.95.")
    parser.add_argument("--fresh_seeds", action="store_true", help="A random seed per generate.py call.")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "seed_continuation.json"))
    args = parser.parse_args()
    os.environ["SAMPLERNN_RECIPE"] = args.recipe  # train.py runs in a subprocess that inherits it
    print(
        f"recipe {args.recipe or '(defaults)'}, {args.epochs} epochs, {args.num_seqs} clips per pitch; "
        f"a clip keeps its pitch above {PASS}, a run passes when "
        f"{test_listening.KEPT} of every {test_listening.SEEDED_CLIPS} clips of each pitch do"
    )
    runs = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as folder:
            fractions = one_run(Path(folder), run, args.epochs, args.num_seqs, args.temperature, args.fresh_seeds)
        runs.append(
            {"fractions": {str(t): f for t, f in fractions.items()}, "passed": run_passes(fractions, args.num_seqs)}
        )
        for temp in args.temperature:
            shown = "  ".join(f"{f:.3f}" for f in fractions[temp])
            print(f"run {run:>2}, temperature {temp:g}: {shown}")
        print(f"run {run:>2}: {'passed' if runs[-1]['passed'] else 'FAILED'}")
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:  # after every run, so an interrupted one keeps what it measured
            json.dump({**vars(args), "threshold": PASS, "runs": runs}, f, indent=1)
    print(f"passed {sum(r['passed'] for r in runs)} of {len(runs)}")
    for temp in args.temperature:
        clips = [f for r in runs for f in r["fractions"][str(temp)]]
        print(f"temperature {temp:g}: {sum(f <= PASS for f in clips)} of {len(clips)} clips lost their pitch")


if __name__ == "__main__":
    main()
