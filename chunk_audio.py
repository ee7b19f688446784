"""Cut a long recording into wav chunks for training, skipping silent stretches.

python chunk_audio.py --input_file song.wav --output_dir ./chunks --chunk_length 8000 --overlap 1000
"""

import argparse
import sys

from samplernn import cli
from samplernn.chunking import chunk_audio


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--input_file",
        required=True,
        help="Recording to chunk (wav, or any format ffmpeg reads).",
    )
    parser.add_argument(
        "--output_dir",
        required=True,
        help="Directory for chunk_<i>.wav files; created if missing.",
    )
    parser.add_argument(
        "--chunk_length",
        type=cli.positive_int,
        default=8000,
        help="Length of each chunk in ms (default: 8000).",
    )
    parser.add_argument(
        "--overlap",
        type=cli.non_negative_int,
        default=0,
        help="Overlap between consecutive chunks in ms, less than --chunk_length (default: 0).",
    )
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    report = chunk_audio(args.input_file, args.output_dir, args.chunk_length, args.overlap)
    print(f"{report.written} chunks written to {args.output_dir}, {report.omitted} silent chunks omitted")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
