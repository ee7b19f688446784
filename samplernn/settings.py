"""The run settings of train.py, generate.py and the tuners, with their defaults (the
reference's). Nothing here imports TensorFlow, so the scripts build their parsers, and answer
--help and --version, without loading it."""

import dataclasses
import os

from samplernn.errors import UserError

OPTIMIZERS = ("adam", "sgd", "rmsprop")
CHECKPOINT_POLICIES = ("Always", "Best")

# The tuners: the reference trains each trial for 30 epochs unless told otherwise, and Keras
# Tuner scores a trial by one of these metrics at its best epoch.
DEFAULT_TUNING_EPOCHS = 30
TUNING_OBJECTIVES = ("val_loss", "val_accuracy", "loss", "accuracy")
BEST_CONFIG_NAME = "best.config.json"


# The rate of a run that did not record one (runs before 0.2.0, the reference's): its default.
FALLBACK_SAMPLE_RATE = 16000


def default_compilation_cache():
    """Where generate.py keeps its compiled sampling functions unless told otherwise:
    $XDG_CACHE_HOME/samplernn/xla, or ~/.cache/samplernn/xla."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "samplernn", "xla")


@dataclasses.dataclass(frozen=True, kw_only=True)
class SharedSettings:
    """What train.py and generate.py share: the devices, and how clips are generated (train.py
    generates after each checkpoint)."""

    device: object = "All"  # a GPU index, or "All"
    sample_rate: int = FALLBACK_SAMPLE_RATE
    temperature: tuple = (0.95,)
    seed: object = None  # an audio file that primes generation
    seed_offset: int = 0
    plot: bool = True

    def __post_init__(self):
        if self.sample_rate is not None and self.sample_rate < 1:
            raise UserError(f"--sample_rate must be positive, got {self.sample_rate}")
        if not self.temperature or not all(t > 0 for t in self.temperature):
            raise UserError(f"--temperature must be one or more numbers > 0, got {list(self.temperature)}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainSettings(SharedSettings):
    """Everything train.py takes besides the model config."""

    data_dir: str
    id: str = "default"
    verbose: bool = True
    logdir_root: str = "./logdir"
    output_dir: str = "./generated"
    num_epochs: int = 100
    batch_size: int = 64
    optimizer: str = "adam"
    learning_rate: float = 0.001
    reduce_learning_rate_after: object = None
    momentum: float = 0.9
    checkpoint_every: int = 1
    checkpoint_policy: str = "Always"
    max_checkpoints: object = 5
    resume: bool = True
    resume_from: object = None
    early_stopping_patience: object = 3
    generate: bool = True
    max_generate_per_epoch: int = 1
    output_file_dur: float = 3.0
    val_frac: float = 0.1
    mixed_precision: bool = False

    def __post_init__(self):
        super().__post_init__()
        if self.optimizer not in OPTIMIZERS:
            raise UserError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.checkpoint_policy not in CHECKPOINT_POLICIES:
            raise UserError(f"--checkpoint_policy must be Always or Best, got {self.checkpoint_policy!r}")
        if not 0.0 <= self.val_frac < 1.0:
            raise UserError(f"--val_frac must be in [0, 1), got {self.val_frac}")
        if self.max_checkpoints is not None and self.max_checkpoints < 1:
            raise UserError(f"--max_checkpoints must be at least 1 or None, got {self.max_checkpoints}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class GenerateSettings(SharedSettings):
    """Everything generate.py takes."""

    output_path: str
    checkpoint_path: str
    config_file: object = None  # None: the model.config.json saved beside the checkpoint
    sample_rate: object = None  # None: the rate the model was trained at, as its run recorded
    dur: float = 3.0
    num_seqs: int = 1
    random_seed: object = None  # None: a fresh sequence of random numbers each run
    compilation_cache: object = None  # a folder; None: default_compilation_cache(); False: off

    def __post_init__(self):
        super().__post_init__()
        if not self.dur > 0:
            raise UserError(f"--dur must be > 0, got {self.dur}")
        if self.num_seqs < 1:
            raise UserError(f"--num_seqs must be at least 1, got {self.num_seqs}")
