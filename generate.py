"""Generate audio from a trained SampleRNN checkpoint; the command line is PRiSM SampleRNN's.

python generate.py --output_path out.wav --checkpoint_path ./logdir/default/<run>/model.ckpt-100 --num_seqs 4 --dur 10
"""

import sys

from samplernn import arguments, cli, generation
from samplernn.config import ModelConfig
from samplernn.devices import configure


def main(argv=None):
    args = arguments.generate_parser().parse_args(argv)
    configure(args.device)
    paths = generation.generate_files(
        args.checkpoint_path,
        args.output_path,
        config=ModelConfig.load(args.config_file) if args.config_file else None,
        dur=args.dur,
        num_seqs=args.num_seqs,
        sample_rate=args.sample_rate,
        temperatures=args.temperature,
        seed=args.seed,
        seed_offset=args.seed_offset,
        random_seed=args.random_seed,
    )
    for path in paths:
        print(f"Generated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
