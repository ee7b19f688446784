"""The quick-start job: synthesize a small corpus, chunk it, train on it, generate from it.

    python -m samplernn.demo            # a few minutes on 2 CPU cores

Everything runs through the same package functions as chunk_audio.py, train.py and generate.py.
"""

import argparse
import os
import sys

import numpy as np

from samplernn import cli
from samplernn.audio import load_audio
from samplernn.chunking import chunk_audio
from samplernn.configs import DEMO_CONFIG_FILE
from samplernn.demo_corpus import synthesize_demo_corpus

SAMPLE_RATE = 16000
# Fixed, so that the noise row of the report is the same on every run.
NOISE_SEED = 0


def build_parser():
    p = argparse.ArgumentParser(description="Train and generate end to end on a synthesized corpus.")
    p.add_argument(
        "--workdir", default="./demo_data", help="Where the corpus and its chunks go (default: ./demo_data)."
    )
    p.add_argument("--logdir_root", default="./logdir", help="Checkpoints and logs (default: ./logdir).")
    p.add_argument("--output_dir", default="./generated", help="Generated audio (default: ./generated).")
    p.add_argument(
        "--config_file", default=DEMO_CONFIG_FILE, help="Model config (default: the packaged demo.config.json)."
    )
    p.add_argument("--seconds", type=cli.positive_float, default=96.0, help="Length of the corpus (default: 96).")
    p.add_argument(
        "--chunk_length",
        type=cli.positive_int,
        default=8000,
        help="Chunk length in ms, as for chunk_audio.py (default: 8000).",
    )
    p.add_argument("--num_epochs", type=cli.positive_int, default=6, help="Training epochs (default: 6).")
    p.add_argument(
        "--output_file_dur",
        type=cli.positive_float,
        default=2.0,
        help="Seconds per clip written after each checkpoint, as for train.py (default: 2).",
    )
    p.add_argument("--batch_size", type=cli.positive_int, default=4, help="Files per mini-batch (default: 4).")
    p.add_argument("--learning_rate", type=cli.positive_float, default=0.002, help="Learning rate (default: 0.002).")
    p.add_argument("--dur", type=cli.positive_float, default=3.0, help="Seconds per generated file (default: 3).")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    cli.import_tensorflow_quietly()
    from samplernn import generation
    from samplernn.config import ModelConfig
    from samplernn.settings import GenerateSettings, TrainSettings
    from samplernn.training import train

    corpus = os.path.join(args.workdir, "demo.wav")
    chunks = os.path.join(args.workdir, "chunks")
    print(f"1/4 Synthesizing {args.seconds:g} s of plucked-string melodies into {corpus}")
    synthesize_demo_corpus(corpus, seconds=args.seconds)
    print(f"2/4 Chunking into {chunks}")
    report = chunk_audio(corpus, chunks, chunk_length_ms=args.chunk_length, log=lambda _: None)
    print(f"    {report.written} chunks written, {report.omitted} silent chunks omitted")
    print(f"3/4 Training for {args.num_epochs} epochs with {args.config_file}")
    config = ModelConfig.load(args.config_file)
    settings = TrainSettings(
        data_dir=chunks,
        id="demo",
        logdir_root=args.logdir_root,
        output_dir=args.output_dir,
        num_epochs=args.num_epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        val_frac=0.25,
        resume=False,
        early_stopping_patience=None,
        output_file_dur=args.output_file_dur,
        verbose=False,
    )
    result = train(settings, config, after_checkpoint=generation.in_training_generator(settings, config))
    print(f"4/4 Generating {args.dur:g} s at three temperatures from {result.checkpoints[-1]}")
    final = GenerateSettings(
        checkpoint_path=result.checkpoints[-1],
        output_path=os.path.join(args.output_dir, "demo", "final.wav"),
        dur=args.dur,
        num_seqs=3,
        temperature=(0.9, 1.0, 1.1),
        random_seed=0,
    )
    paths = generation.generate_files(final)
    for path in paths:
        print(f"    {path}")
    print("How close the clips came to the corpus (spectral flatness: near 1 for noise, near 0 for tones;")
    print("distance: of the long-term average spectrum to the corpus's, in dB):")
    for line in report_lines(spectral_report(corpus, paths)):
        print(f"    {line}")
    print(f"Done. Listen to the files above; TensorBoard: tensorboard --logdir {args.logdir_root}")
    return 0


def spectral_report(corpus_path, clip_paths, seed=NOISE_SEED):
    """[(name, median flatness, log-spectral distance in dB)] for each clip, then for the corpus
    and for white noise of the corpus's RMS.

    The corpus row is the median over the corpus cut into pieces as long as the first clip,
    so that it is measured as the clips are; every distance is to the whole corpus's spectrum.
    """
    from samplernn import spectral

    corpus = load_audio(corpus_path, SAMPLE_RATE)  # (samples,)
    reference = spectral.long_term_spectrum(corpus)

    def figures(samples):
        return spectral.median_flatness(samples), spectral.log_spectral_distance(
            spectral.long_term_spectrum(samples), reference
        )

    clips = [load_audio(path, SAMPLE_RATE) for path in clip_paths]
    rows = [(os.path.basename(path), *figures(clip)) for path, clip in zip(clip_paths, clips)]
    length = min(len(clips[0]), len(corpus)) if clips else len(corpus)
    pieces = [corpus[i : i + length] for i in range(0, len(corpus) - length + 1, length)]
    flatness, distance = np.median([figures(piece) for piece in pieces], axis=0)
    rows.append(("corpus", float(flatness), float(distance)))
    rms = float(np.sqrt(np.mean(corpus.astype(np.float64) ** 2)))
    noise = np.random.default_rng(seed).normal(0.0, rms, length).astype(np.float32)
    rows.append(("white noise", *figures(noise)))
    return rows


def report_lines(rows):
    """The report as aligned text lines, a header first."""
    width = max(len(name) for name, _, _ in rows)
    lines = [f"{'':{width}}  flatness  distance"]
    lines += [f"{name:{width}}  {flatness:8.4f}  {distance:5.1f} dB" for name, flatness, distance in rows]
    return lines


if __name__ == "__main__":
    sys.exit(cli.run(main))
