"""The command-line programs, one `*_main(argv=None)` each. The top-level scripts and the console
commands `pip install .` makes both run them, so both take the same arguments:

    train.py         samplernn-train         train_main
    generate.py      samplernn-generate      generate_main
    chunk_audio.py   samplernn-chunk         chunk_main
    keras_tuner.py   samplernn-keras-tuner   keras_tuner_main
    ray_tune.py      samplernn-ray-tune      ray_tune_main

The parsers come from samplernn.arguments, which does not import TensorFlow, and each main
imports what its command needs only once its arguments are parsed, so `--help` and `--version`
answer at once. The tuners' libraries come with the `tune` extra, which the core install
(`pip install .`) leaves out.
"""

import argparse
import importlib
import sys

from samplernn import __version__, arguments, cli
from samplernn.errors import UserError

TUNE_EXTRA_MODULES = ("keras_tuner", "ray")
TUNE_EXTRA_INSTALL = "pip install 'samplernn[tune]'"


def add_version_argument(parser):
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def train_parser():
    return add_version_argument(arguments.train_parser())


def train_main(argv=None):
    """Train a SampleRNN model; the command line is PRiSM SampleRNN's."""
    args = train_parser().parse_args(argv)
    settings = arguments.train_settings(args)
    if args.num_val_batches is not None:
        print(f"Note: --num_val_batches has no effect; --val_frac ({settings.val_frac:g}) sets the validation set")
    cli.import_tensorflow_quietly()
    from samplernn import generation
    from samplernn.config import ModelConfig
    from samplernn.training import train

    config = ModelConfig.load(args.config_file)
    train(settings, config, after_checkpoint=generation.in_training_generator(settings, config))
    return 0


def generate_parser():
    return add_version_argument(arguments.generate_parser())


def generate_main(argv=None):
    """Generate audio from a trained checkpoint; the command line is PRiSM SampleRNN's."""
    settings = arguments.generate_settings(generate_parser().parse_args(argv))
    cli.import_tensorflow_quietly()
    from samplernn import generation

    for path in generation.generate_files(settings):
        print(f"Generated {path}")
    return 0


def chunk_parser():
    parser = argparse.ArgumentParser(description="Cut a long recording into wav chunks for training.")
    parser.add_argument(
        "--input_file",
        required=True,
        help="Recording to chunk (wav, or any format ffmpeg reads).",
    )
    parser.add_argument(
        "--output_dir",
        required=True,
        help="Directory for chunk_<i>.wav files; created if missing.",
    )
    parser.add_argument(
        "--chunk_length",
        type=cli.positive_int,
        default=8000,
        help="Length of each chunk in ms (default: %(default)s).",
    )
    parser.add_argument(
        "--overlap",
        type=cli.non_negative_int,
        default=0,
        help="Overlap between consecutive chunks in ms, less than --chunk_length (default: %(default)s).",
    )
    return add_version_argument(parser)


def chunk_main(argv=None):
    """Cut a long recording into wav chunks for training, skipping silent stretches."""
    args = chunk_parser().parse_args(argv)
    from samplernn.chunking import chunk_audio

    report = chunk_audio(args.input_file, args.output_dir, args.chunk_length, args.overlap)
    print(f"{report.written} chunks written to {args.output_dir}, {report.omitted} silent chunks omitted")
    return 0


def import_tuner(module, library):
    """A tuner's module, or one line naming the extra that installs its library."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] not in TUNE_EXTRA_MODULES:
            raise
        raise UserError(f"{library} is not installed; it comes with the tune extra: {TUNE_EXTRA_INSTALL}") from None


def keras_tuner_parser():
    return add_version_argument(arguments.keras_tuner_parser())


def keras_tuner_main(argv=None):
    """Search hyperparameters with Keras Tuner; the command line is PRiSM SampleRNN's."""
    args = keras_tuner_parser().parse_args(argv)
    cli.import_tensorflow_quietly()
    import_tuner("samplernn.keras_tuning", "Keras Tuner").run(args)
    return 0


def ray_tune_parser():
    return add_version_argument(arguments.ray_tune_parser())


def ray_tune_main(argv=None):
    """Search hyperparameters with Ray Tune, here or on a Ray cluster; the command line is PRiSM SampleRNN's."""
    args = ray_tune_parser().parse_args(argv)
    cli.import_tensorflow_quietly()
    import_tuner("samplernn.ray_tuning", "Ray Tune").run(args)
    return 0


# Whole processes: the console commands ([project.scripts] in pyproject.toml) and the top-level
# scripts run as programs. A user error or Ctrl-C is one line on stderr and an exit code. Only
# here is it known that the process does nothing else, so only here are oneDNN's weights
# declared frozen (generating) or not (training; see cli.assume_frozen_weights).


def train_command():
    cli.assume_frozen_weights(False)
    sys.exit(cli.run(train_main))


def generate_command():
    cli.assume_frozen_weights(True)
    sys.exit(cli.run(generate_main))


def chunk_command():
    sys.exit(cli.run(chunk_main))


def keras_tuner_command():
    cli.assume_frozen_weights(False)
    sys.exit(cli.run(keras_tuner_main))


def ray_tune_command():
    cli.assume_frozen_weights(False)
    sys.exit(cli.run(ray_tune_main))
