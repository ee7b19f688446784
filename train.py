"""Train a SampleRNN model; the command line is PRiSM SampleRNN's.

python train.py --id test --data_dir ./data --num_epochs 100 --batch_size 128 --checkpoint_every 5
"""

import sys

from samplernn import arguments, cli
from samplernn.config import ModelConfig
from samplernn.training import train


def main(argv=None):
    args = arguments.train_parser().parse_args(argv)
    config = ModelConfig.load(args.config_file)
    train(arguments.train_settings(args), config)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
