"""Cut a long recording into wav chunks for training, skipping silent stretches.

python chunk_audio.py --input_file song.wav --output_dir ./chunks --chunk_length 8000 --overlap 1000

Installed, the same program is the console command `samplernn-chunk` (samplernn.commands.chunk_main).
"""

from samplernn.commands import chunk_command
from samplernn.commands import chunk_main as main  # noqa: F401 (the tests run it)

if __name__ == "__main__":
    chunk_command()
