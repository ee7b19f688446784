"""Search SampleRNN hyperparameters with Keras Tuner; the command line is PRiSM SampleRNN's.

python keras_tuner.py --data_dir ./data --num_epochs 20 --frame_sizes 16 64 --frame_sizes 32 128 \
    --batch_size 32 64 128 --seq_len 512 1024 --num_rnn_layers 2 4
"""

import argparse
import sys

from samplernn import arguments, cli, keras_tuning, search_space, tuning


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Search SampleRNN hyperparameters with Keras Tuner; each list-valued flag is a search "
        "dimension. Prints the best trial and writes its model config for train.py."
    )
    tuning.add_run_arguments(parser)
    keras_tuning.add_arguments(parser)
    arguments.add_device_argument(parser)
    search_space.add_search_space_arguments(parser)
    keras_tuning.run(parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
