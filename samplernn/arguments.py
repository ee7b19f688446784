"""The scripts' parsers and the argument builders they share; defaults come from the settings
they fill (samplernn.settings). TensorFlow-free, like the settings, so --help answers at once."""

import argparse
import dataclasses

from samplernn import cli, search_space
from samplernn.configs import DEFAULT_CONFIG_FILE
from samplernn.settings import (
    BEST_CONFIG_NAME,
    CHECKPOINT_POLICIES,
    DEFAULT_TUNING_EPOCHS,
    FALLBACK_SAMPLE_RATE,
    OPTIMIZERS,
    TUNING_OBJECTIVES,
    GenerateSettings,
    TrainSettings,
)


def _device(text):
    """`All` or a GPU index, as --device takes them."""
    if str(text).strip().lower() == "all":
        return "All"
    try:
        index = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected All or a GPU index, got {text!r}") from None
    if index < 0:
        raise argparse.ArgumentTypeError(f"expected All or a GPU index >= 0, got {text!r}")
    return index


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
        default=TrainSettings.device,
        help=f"GPU to use (index from 0), or All to use every visible GPU (default: {TrainSettings.device}).",
    )


def add_sample_rate_argument(parser, defaults):
    if defaults.sample_rate is None:
        told = f"the rate the model was trained at, which its run records; {FALLBACK_SAMPLE_RATE} if it did not"
    else:
        told = str(defaults.sample_rate)
    parser.add_argument(
        "--sample_rate",
        type=cli.positive_int,
        default=defaults.sample_rate,
        help=f"Sample rate the audio is loaded and generated at (default: {told}).",
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
        help="Fraction of the files set aside for validation, rounded to whole batches (default: %(default)s).",
    )
    parser.add_argument(
        "--mixed_precision",
        type=cli.str2bool,
        default=defaults.mixed_precision,
        help="Train in mixed precision: float16 on GPUs, bfloat16 on CPUs (default: %(default)s).",
    )


def add_generation_arguments(parser, defaults):
    """Arguments that shape generated audio, shared by train.py (in-training) and generate.py."""
    add_sample_rate_argument(parser, defaults)
    parser.add_argument(
        "--temperature",
        type=cli.positive_float_as_typed,
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
        help="Offset into the seed audio, in samples (default: %(default)s).",
    )
    parser.add_argument(
        "--plot",
        type=cli.str2bool,
        default=defaults.plot,
        help="Draw a spectrogram beside each generated wav, a PNG of the same name (default: %(default)s).",
    )


def train_parser():
    d = TrainSettings
    p = argparse.ArgumentParser(description="Train a SampleRNN model on a folder of wav files.")
    p.add_argument("--id", default=d.id, help=f"Id of the training session (default: {d.id}).")
    p.add_argument("--data_dir", required=True, help="Directory holding the training wav files (searched recursively).")
    p.add_argument(
        "--verbose",
        type=cli.str2bool,
        default=d.verbose,
        help="True prints each step on a new line, False overwrites it in place on a terminal and prints "
        "it every few seconds elsewhere (default: %(default)s).",
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
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer, help="Optimizer (default: %(default)s).")
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
        help="Save a checkpoint every this many epochs (default: %(default)s).",
    )
    p.add_argument(
        "--checkpoint_policy",
        type=_policy,
        default=d.checkpoint_policy,
        help="Always saves at every interval, Best only when the validation loss improved (default: %(default)s).",
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
        help="Resume from --resume_from, or else the latest checkpoint of this id (default: %(default)s).",
    )
    p.add_argument("--resume_from", default=d.resume_from, help="Checkpoint to resume from (.../model.ckpt-<epoch>).")
    p.add_argument(
        "--generate",
        type=cli.str2bool,
        default=d.generate,
        help="Generate audio after each saved checkpoint (default: %(default)s).",
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
    # The reference kept this flag after --val_frac replaced it, and so do we: its users' commands
    # keep working (train_main says it has no effect).
    p.add_argument(
        "--num_val_batches",
        type=cli.positive_int,
        default=None,
        help="Accepted as in PRiSM SampleRNN, with no effect: --val_frac sets the validation set.",
    )
    return p


def generate_parser():
    d = GenerateSettings
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
    p.add_argument(
        "--config_file", default=d.config_file, help="Model config; by default the one saved beside the checkpoint."
    )
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
        help="Number of sequences, generated together in one batch (default: %(default)s).",
    )
    add_generation_arguments(p, d)
    p.add_argument(
        "--random_seed",
        type=cli.non_negative_int,
        default=d.random_seed,
        help="Seed of the sampler's random numbers; the same seed gives the same files (default: random).",
    )
    p.add_argument(
        "--compilation_cache",
        type=cli.folder_or_off,
        default=d.compilation_cache,
        help="Folder where compiled sampling code is kept for the next run of the same model and "
        "--num_seqs; None to compile afresh every run (default: $XDG_CACHE_HOME/samplernn/xla, "
        "else ~/.cache/samplernn/xla).",
    )
    return p


def add_tuning_run_arguments(parser):
    """The arguments besides the search space that both tuners take; read with
    `tuning.base_settings`."""
    d = TrainSettings
    p = parser
    p.add_argument("--data_dir", required=True, help="Directory holding the training wav files (searched recursively).")
    p.add_argument("--id", default=d.id, help=f"Id of the tuning session; a rerun with it resumes (default: {d.id}).")
    p.add_argument(
        "--logdir_root",
        default=d.logdir_root,
        help=f"Root of the results; each tuner keeps them in <logdir_root>/<tuner>/<id> (default: {d.logdir_root}).",
    )
    p.add_argument(
        "--num_epochs",
        type=cli.positive_int,
        default=DEFAULT_TUNING_EPOCHS,
        help=f"Epochs each trial trains at most (default: {DEFAULT_TUNING_EPOCHS}).",
    )
    add_sample_rate_argument(p, d)
    add_training_arguments(p, d, what="a trial")
    p.add_argument(
        "--verbose",
        type=cli.str2bool,
        default=False,
        help="True prints each training step on a new line, False overwrites it in place (default: %(default)s).",
    )
    p.add_argument(
        "--resume",
        type=cli.str2bool,
        default=True,
        help="True resumes the search of this --id, False deletes its results and starts afresh "
        "(default: %(default)s).",
    )
    p.add_argument(
        "--best_config_file",
        default=None,
        help=f"Where to write the best model config (default: <logdir_root>/<tuner>/<id>/{BEST_CONFIG_NAME}).",
    )


def keras_tuner_parser():
    p = argparse.ArgumentParser(
        description="Search SampleRNN hyperparameters with Keras Tuner; each list-valued flag is a search "
        "dimension. Prints the best trial and writes its model config for train.py."
    )
    add_tuning_run_arguments(p)
    p.add_argument(
        "--max_trials", type=cli.positive_int, default=10, help="Trials to run at most (default: %(default)s)."
    )
    p.add_argument(
        "--objective",
        choices=TUNING_OBJECTIVES,
        default=TUNING_OBJECTIVES[0],
        help=f"Metric a trial is scored by, its best epoch's value (default: {TUNING_OBJECTIVES[0]}).",
    )
    add_device_argument(p)
    search_space.add_search_space_arguments(p)
    return p


def _gpus(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of GPUs, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number of GPUs >= 0, got {text!r}")
    return value


def ray_tune_parser():
    p = argparse.ArgumentParser(
        description="Search SampleRNN hyperparameters with Ray Tune and an ASHA scheduler; each list-valued "
        "flag is a search dimension. Prints the best hyperparameters and writes their model config for train.py."
    )
    add_tuning_run_arguments(p)
    p.add_argument(
        "--num_cpus",
        type=cli.positive_int,
        default=None,
        help="CPUs the search uses, shared among the trials running at once (default: all the Ray runtime has).",
    )
    p.add_argument(
        "--num_gpus",
        type=_gpus,
        default=None,
        help="GPUs the search uses, shared among the trials running at once; a trial may get a fraction "
        "of one (default: all the Ray runtime has).",
    )
    p.add_argument("--num_trials", type=cli.positive_int, default=10, help="Trials to run (default: %(default)s).")
    p.add_argument(
        "--max_concurrent_trials",
        type=cli.positive_int,
        default=None,
        help="Trials running at once (default: one per CPU, at most --num_trials).",
    )
    p.add_argument(
        "--grace_period",
        type=cli.positive_int,
        default=None,
        help="Epochs every trial trains before the ASHA scheduler may stop it (default: a quarter of --num_epochs).",
    )
    p.add_argument(
        "--address",
        default=None,
        help="Address of a running Ray cluster to join (host:port of `ray start --head`, or auto); "
        "default: start a Ray runtime on this machine.",
    )
    search_space.add_search_space_arguments(p)
    return p


def _settings(cls, args):
    """`cls` from the parsed arguments that are its fields."""
    fields = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in vars(args).items() if k in fields}
    values["temperature"] = tuple(values["temperature"])
    return cls(**values)


def train_settings(args):
    """TrainSettings from parsed train.py arguments."""
    return _settings(TrainSettings, args)


def generate_settings(args):
    """GenerateSettings from parsed generate.py arguments."""
    return _settings(GenerateSettings, args)
