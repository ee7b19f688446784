"""Train a SampleRNN model; the command line is PRiSM SampleRNN's.

python train.py --id test --data_dir ./data --num_epochs 100 --batch_size 128 --checkpoint_every 5

Installed, the same program is the console command `samplernn-train` (samplernn.commands.train_main).
"""

from samplernn.commands import train_command
from samplernn.commands import train_main as main  # noqa: F401 (the tests run it)

if __name__ == "__main__":
    train_command()
