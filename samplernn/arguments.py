"""Argument builders shared by the scripts; defaults come from the settings they fill."""

import argparse
import dataclasses

from samplernn import cli
from samplernn.configs import DEFAULT_CONFIG_FILE
from samplernn.devices import parse_device
from samplernn.training import CHECKPOINT_POLICIES, OPTIMIZERS, TrainSettings


def _device(text):
    try:
        return parse_device(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _policy(text):
    # The reference's table names `All` as the default; it meant Always.
    lowered = text.strip().lower()
    for policy in CHECKPOINT_POLICIES:
        if lowered == policy.lower():
            return policy
    if lowered == "all":
        return "Always"
    raise argparse.ArgumentTypeError(f"expected Always or Best, got {text!r}")


def _fraction(text):
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
    return value


def add_device_argument(parser):
    parser.add_argument(
        "--device",
        type=_device,
        default="All",
        help="GPU to use (index from 0), or All to use every visible GPU (default: All).",
    )


def add_sample_rate_argument(parser, defaults):
    parser.add_argument(
        "--sample_rate",
        type=cli.positive_int,
        default=defaults.sample_rate,
        help=f"Sample rate the audio is loaded and generated at (default: {defaults.sample_rate}).",
    )


def add_training_arguments(parser, defaults, what="training"):
    """Arguments shaping how a model trains, shared by train.py and the tuners' trials."""
    parser.add_argument(
        "--early_stopping_patience",
        type=cli.optional_int,
        default=defaults.early_stopping_patience,
        help=f"Stop {what} after this many epochs without improvement, None never stops early "
        f"(default: {defaults.early_stopping_patience}).",
    )
    parser.add_argument(
        "--val_frac",
        type=_fraction,
        default=defaults.val_frac,
        help="Fraction of the files set aside for validation, rounded to whole batches (default: 0.1).",
    )
    parser.add_argument(
        "--mixed_precision",
        type=cli.str2bool,
        default=defaults.mixed_precision,
        help="Train in mixed precision: float16 on GPUs, bfloat16 on CPUs (default: False).",
    )


def add_generation_arguments(parser, defaults):
    """Arguments that shape generated audio, shared by train.py (in-training) and generate.py."""
    add_sample_rate_argument(parser, defaults)
    parser.add_argument(
        "--temperature",
        type=cli.positive_float,
        nargs="+",
        default=list(defaults.temperature),
        help="Sampling temperature(s) > 0, one per generated sequence; the last repeats "
        f"(default: {' '.join(map(str, defaults.temperature))}).",
    )
    parser.add_argument("--seed", default=defaults.seed, help="Audio file to prime generation with (default: none).")
    parser.add_argument(
        "--seed_offset",
        type=cli.non_negative_int,
        default=defaults.seed_offset,
        help="Offset into the seed audio, in samples (default: 0).",
    )
    parser.add_argument(
        "--plot",
        type=cli.str2bool,
        default=defaults.plot,
        help="Draw a spectrogram beside each generated wav, a PNG of the same name (default: True).",
    )


def train_parser():
    d = TrainSettings(data_dir="")
    p = argparse.ArgumentParser(description="Train a SampleRNN model on a folder of wav files.")
    p.add_argument("--id", default=d.id, help=f"Id of the training session (default: {d.id}).")
    p.add_argument("--data_dir", required=True, help="Directory holding the training wav files (searched recursively).")
    p.add_argument(
        "--verbose",
        type=cli.str2bool,
        default=d.verbose,
        help="True prints each step on a new line, False overwrites it in place (default: True).",
    )
    p.add_argument(
        "--logdir_root",
        default=d.logdir_root,
        help=f"Root of the log and checkpoint directories (default: {d.logdir_root}).",
    )
    p.add_argument(
        "--output_dir",
        default=d.output_dir,
        help=f"Directory for audio generated during training (default: {d.output_dir}).",
    )
    p.add_argument(
        "--config_file",
        default=DEFAULT_CONFIG_FILE,
        help="Model configuration, a *.config.json file (default: the packaged default.config.json).",
    )
    add_device_argument(p)
    p.add_argument(
        "--num_epochs",
        type=cli.positive_int,
        default=d.num_epochs,
        help=f"Number of epochs to train (default: {d.num_epochs}).",
    )
    p.add_argument(
        "--batch_size",
        type=cli.positive_int,
        default=d.batch_size,
        help=f"Files per mini-batch (default: {d.batch_size}).",
    )
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer, help="Optimizer (default: adam).")
    p.add_argument(
        "--learning_rate",
        type=cli.positive_float,
        default=d.learning_rate,
        help=f"Learning rate (default: {d.learning_rate}).",
    )
    p.add_argument(
        "--reduce_learning_rate_after",
        type=cli.optional_int,
        default=d.reduce_learning_rate_after,
        help="Decay the learning rate exponentially after this many epochs (default: None, never).",
    )
    p.add_argument(
        "--momentum", type=float, default=d.momentum, help=f"Momentum for sgd and rmsprop (default: {d.momentum})."
    )
    p.add_argument(
        "--checkpoint_every",
        type=cli.positive_int,
        default=d.checkpoint_every,
        help="Save a checkpoint every this many epochs (default: 1).",
    )
    p.add_argument(
        "--checkpoint_policy",
        type=_policy,
        default=d.checkpoint_policy,
        help="Always saves at every interval, Best only when the validation loss improved (default: Always).",
    )
    p.add_argument(
        "--max_checkpoints",
        type=cli.optional_int,
        default=d.max_checkpoints,
        help=f"Checkpoints to keep on disk, or None to keep all (default: {d.max_checkpoints}).",
    )
    p.add_argument(
        "--resume",
        type=cli.str2bool,
        default=d.resume,
        help="Resume from --resume_from, or else the latest checkpoint of this id (default: True).",
    )
    p.add_argument("--resume_from", default=d.resume_from, help="Checkpoint to resume from (.../model.ckpt-<epoch>).")
    p.add_argument(
        "--generate",
        type=cli.str2bool,
        default=d.generate,
        help="Generate audio after each saved checkpoint (default: True).",
    )
    p.add_argument(
        "--max_generate_per_epoch",
        type=cli.non_negative_int,
        default=d.max_generate_per_epoch,
        help=f"Files generated after each checkpoint (default: {d.max_generate_per_epoch}).",
    )
    p.add_argument(
        "--output_file_dur",
        type=cli.positive_float,
        default=d.output_file_dur,
        help=f"Seconds of audio per generated file (default: {d.output_file_dur:g}).",
    )
    add_generation_arguments(p, d)
    add_training_arguments(p, d)
    return p


def generate_parser():
    d = GenerateDefaults()
    p = argparse.ArgumentParser(description="Generate audio from a trained SampleRNN checkpoint.")
    p.add_argument(
        "--output_path",
        required=True,
        help="Path of the generated .wav file; epoch, temperature and index are added to the name.",
    )
    p.add_argument(
        "--checkpoint_path",
        required=True,
        help="Checkpoint to generate from, as training prints it (.../model.ckpt-<epoch>).",
    )
    p.add_argument("--config_file", default=None, help="Model config; by default the one saved beside the checkpoint.")
    add_device_argument(p)
    p.add_argument(
        "--dur",
        type=cli.positive_float,
        default=d.dur,
        help=f"Seconds of audio per sequence; fractions allowed (default: {d.dur:g}).",
    )
    p.add_argument(
        "--num_seqs",
        type=cli.positive_int,
        default=d.num_seqs,
        help="Number of sequences, generated together in one batch (default: 1).",
    )
    add_generation_arguments(p, d)
    p.add_argument(
        "--random_seed",
        type=cli.non_negative_int,
        default=None,
        help="Seed of the sampler's random numbers; the same seed gives the same files (default: random).",
    )
    return p


@dataclasses.dataclass(frozen=True)
class GenerateDefaults:
    """generate.py's defaults, the reference's."""

    dur: float = 3.0
    num_seqs: int = 1
    sample_rate: int = 16000
    temperature: tuple = (0.95,)
    seed: object = None
    seed_offset: int = 0
    plot: bool = True


def train_settings(args):
    """TrainSettings from parsed train.py arguments."""
    fields = {f.name for f in dataclasses.fields(TrainSettings)}
    values = {k: v for k, v in vars(args).items() if k in fields}
    values["temperature"] = tuple(values["temperature"])
    return TrainSettings(**values)
