"""Search SampleRNN hyperparameters with Ray Tune, here or on a Ray cluster; the command line is
PRiSM SampleRNN's.

python ray_tune.py --data_dir ./data --num_cpus 4 --num_gpus 2 --num_trials 10 --num_epochs 20 \
    --frame_sizes 16 64 --frame_sizes 32 128 --batch_size 32 64 128 --seq_len 512 1024 --num_rnn_layers 2 4
"""

import argparse
import sys

from samplernn import cli, ray_tuning, search_space, tuning


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Search SampleRNN hyperparameters with Ray Tune and an ASHA scheduler; each list-valued "
        "flag is a search dimension. Prints the best hyperparameters and writes their model config for train.py."
    )
    tuning.add_run_arguments(parser)
    ray_tuning.add_arguments(parser)
    search_space.add_search_space_arguments(parser)
    ray_tuning.run(parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
