"""Generate audio from a trained SampleRNN checkpoint; the command line is PRiSM SampleRNN's.

python generate.py --output_path out.wav --checkpoint_path ./logdir/default/<run>/model.ckpt-100 --num_seqs 4 --dur 10

Installed, the same program is the console command `samplernn-generate` (samplernn.commands.generate_main).
"""

import sys

from samplernn import cli
from samplernn.commands import generate_main as main

if __name__ == "__main__":
    sys.exit(cli.run(main))
