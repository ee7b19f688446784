"""Train a SampleRNN model; the command line is PRiSM SampleRNN's.

python train.py --id test --data_dir ./data --num_epochs 100 --batch_size 128 --checkpoint_every 5
"""

import sys

from samplernn import arguments, cli, generation
from samplernn.config import ModelConfig
from samplernn.training import train


def main(argv=None):
    args = arguments.train_parser().parse_args(argv)
    config = ModelConfig.load(args.config_file)
    settings = arguments.train_settings(args)
    train(settings, config, after_checkpoint=generation.in_training_generator(settings, config))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
