"""Has a trained model learned how a file starts? Unseeded generation starts where training
starts every file: after a big frame of silence, from the initial states. A model that gives
the first sample most of its probability near silence will generate silence from there.

    python bench/file_start.py --checkpoint_path RUN/model.ckpt-N --data_dir FILES [--files 16]

Teacher-forces the model on the first seq_len samples of up to --files wav files (natural
order) after that silent context, and prints: the probability within 2 levels of silence at
the first sample (median over the files) and over two later spans, how far the files' first
samples lie from silence, and the NLL of the first 16 samples against that of the subsequence's
second half.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from samplernn import generation, quantize  # noqa: E402
from samplernn.audio import find_wav_files, load_audio  # noqa: E402

NEAR = 2  # levels either side of silence that count as silence


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint_path", required=True)
    p.add_argument("--data_dir", required=True, help="The run's training files, or any of the corpus.")
    p.add_argument("--files", type=int, default=16)
    p.add_argument("--sample_rate", type=int, default=16000)
    args = p.parse_args()
    model = generation.load_generator_model(args.checkpoint_path, log=lambda _: None)
    cfg = model.config
    silence = quantize.silence_level(cfg.q_levels)
    seqs = []
    for path in find_wav_files(args.data_dir)[: args.files]:
        levels = quantize.encode(load_audio(path, args.sample_rate)[: cfg.seq_len], cfg.q_type, cfg.q_levels)
        seqs.append(np.concatenate([np.full(cfg.big_frame_size, silence), levels.numpy()]))
    seqs = np.stack(seqs).astype(np.int32)  # files shorter than seq_len are not expected here
    logits, *_ = model((tf.constant(seqs), *model.initial_states(len(seqs))))
    probs = tf.nn.softmax(logits).numpy()
    near = np.abs(np.arange(cfg.q_levels) - silence) <= NEAR
    targets = seqs[:, cfg.big_frame_size :]
    bits = -np.log2(np.take_along_axis(probs, targets[..., None], -1)[..., 0])
    half = cfg.seq_len // 2
    print(f"{len(seqs)} files, {cfg.seq_len} samples each, after {cfg.big_frame_size} of silence")
    print(f"P(within {NEAR} levels of silence), first sample (median): {np.median(probs[:, 0, near].sum(-1)):.3f}")
    print(f"  samples 1-16 (mean): {probs[:, 1:17, near].sum(-1).mean():.3f}")
    print(f"  second half (mean): {probs[:, half:, near].sum(-1).mean():.3f}")
    print(f"first sample's distance from silence in levels (median): {np.median(np.abs(targets[:, 0] - silence)):.1f}")
    print(f"NLL, bits/sample: first 16 samples {bits[:, :16].mean():.2f}, second half {bits[:, half:].mean():.2f}")


if __name__ == "__main__":
    main()
