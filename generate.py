"""Generate audio from a trained SampleRNN checkpoint; the command line is PRiSM SampleRNN's.

python generate.py --output_path out.wav --checkpoint_path ./logdir/default/<run>/model.ckpt-100 --num_seqs 4 --dur 10
"""

import sys

from samplernn import arguments, checkpoints, cli, generation
from samplernn.config import ModelConfig
from samplernn.devices import configure


def main(argv=None):
    args = arguments.generate_parser().parse_args(argv)
    generation.ensure_writable(args.output_path)
    configure(args.device)
    config = ModelConfig.load(args.config_file) if args.config_file else None
    model = generation.load_generator_model(args.checkpoint_path, config)
    seed_audio = None
    if args.seed:
        seed_audio = generation.seed_audio_from_file(args.seed, args.seed_offset, args.sample_rate, model.config)
    temperatures = generation.expand_temperatures(args.temperature, args.num_seqs)
    num_samples = int(round(args.dur * args.sample_rate))
    sampler = generation.Sampler(model)
    levels = sampler.generate(
        num_samples,
        temperatures,
        random_seed=args.random_seed,
        seed_audio=seed_audio,
        progress=generation.ProgressLine(args.sample_rate),
    )
    epoch = checkpoints.epoch_of(args.checkpoint_path)
    paths = generation.output_paths(args.output_path, epoch, temperatures)
    generation.write_outputs(paths, levels, model.config, args.sample_rate)
    for path in paths:
        print(f"Generated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
