"""Search SampleRNN hyperparameters with Ray Tune, here or on a Ray cluster; the command line is
PRiSM SampleRNN's.

python ray_tune.py --data_dir ./data --num_cpus 4 --num_gpus 2 --num_trials 10 --num_epochs 20 \
    --frame_sizes 16 64 --frame_sizes 32 128 --batch_size 32 64 128 --seq_len 512 1024 --num_rnn_layers 2 4

Installed, the same program is the console command `samplernn-ray-tune` (samplernn.commands.ray_tune_main).
"""

from samplernn.commands import ray_tune_command
from samplernn.commands import ray_tune_main as main  # noqa: F401 (the tests run it)

if __name__ == "__main__":
    ray_tune_command()
