"""Generate audio from a trained SampleRNN checkpoint; the command line is PRiSM SampleRNN's.

python generate.py --output_path out.wav --checkpoint_path ./logdir/default/<run>/model.ckpt-100 --num_seqs 4 --dur 10

Installed, the same program is the console command `samplernn-generate` (samplernn.commands.generate_main).
"""

from samplernn.commands import generate_command
from samplernn.commands import generate_main as main  # noqa: F401 (the tests run it)

if __name__ == "__main__":
    generate_command()
