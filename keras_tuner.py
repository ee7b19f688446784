"""Search SampleRNN hyperparameters with Keras Tuner; the command line is PRiSM SampleRNN's.

python keras_tuner.py --data_dir ./data --num_epochs 20 --frame_sizes 16 64 --frame_sizes 32 128 \
    --batch_size 32 64 128 --seq_len 512 1024 --num_rnn_layers 2 4

Installed, the same program is the console command `samplernn-keras-tuner` (samplernn.commands.keras_tuner_main).
"""

from samplernn.commands import keras_tuner_command
from samplernn.commands import keras_tuner_main as main  # noqa: F401 (the tests run it)

if __name__ == "__main__":
    keras_tuner_command()
