"""The hyperparameter search space shared by keras_tuner.py and ray_tune.py.

Each searched parameter takes a list of candidate values on the command line
(`--batch_size 32 64`; frame sizes one list per flag, one size per frame tier:
`--frame_sizes 16 64 --frame_sizes 32 128 --frame_sizes 16` searches two 3-tier models and a
2-tier one).
A point of the space is a dict with one value per parameter. Which combinations are valid is
decided by ModelConfig and TrainSettings themselves: a combination either builds both or is
skipped, with the reason counted.
"""

import collections
import dataclasses
import itertools

from samplernn import cli
from samplernn.config import ModelConfig
from samplernn.configs import DEFAULT_CONFIG_FILE
from samplernn.errors import UserError
from samplernn.settings import TrainSettings

# Enumerating the space costs about 10 µs a combination; past this many, a search samples so
# small a fraction that the lists should be shorter.
MAX_COMBINATIONS = 200_000

MODEL_KEYS = frozenset(f.name for f in dataclasses.fields(ModelConfig))
TRAIN_KEYS = frozenset(f.name for f in dataclasses.fields(TrainSettings))


@dataclasses.dataclass(frozen=True)
class Parameter:
    name: str
    parse: object  # argparse type: text -> value
    default: tuple
    help: str


# Value types only: the ranges and cross-parameter rules belong to ModelConfig and TrainSettings.
PARAMETERS = (
    Parameter("frame_sizes", int, ((16, 64),), "Frame sizes of the frame tiers, bottom first, one list per flag"),
    Parameter("batch_size", cli.positive_int, (32, 64), "Files per mini-batch"),
    Parameter("seq_len", int, (512, 1024), "RNN sequence length"),
    Parameter("num_rnn_layers", int, (2, 4), "RNN layers per tier"),
    Parameter("dim", int, (512, 1024), "RNN hidden size"),
    Parameter("rnn_type", str, ("gru", "lstm"), "RNN cell type (gru, lstm)"),
    Parameter("q_type", str, (ModelConfig.q_type,), "Quantization (mu-law, linear)"),
    Parameter("q_levels", int, (ModelConfig.q_levels,), "Quantization levels (mu-law needs 256)"),
    Parameter("emb_size", int, (ModelConfig.emb_size,), "Sample embedding size"),
    Parameter("skip_conn", cli.str2bool, (False, True), "Skip connections in the RNNs (True, False)"),
    Parameter("rnn_dropout", float, (0.0, 0.25), "Dropout between RNN layers, in [0, 1)"),
    Parameter("learning_rate", cli.positive_float, (1e-3, 1e-4), "Learning rate"),
    Parameter("momentum", float, (TrainSettings.momentum,), "Momentum for sgd and rmsprop"),
    Parameter("optimizer", str, (TrainSettings.optimizer,), "Optimizer (adam, sgd, rmsprop)"),
)
NAMES = tuple(p.name for p in PARAMETERS)


def format_value(value):
    """A value as the user types it: `16 64` for a list of frame sizes."""
    if isinstance(value, (tuple, list)):
        return " ".join(str(v) for v in value)
    return str(value)


def to_scalar(value):
    """A value as a scalar, for tuners that choose among scalars only (Keras Tuner; Ray, which
    takes a list for a nested config): a list of frame sizes becomes `"16 64"`."""
    return format_value(value) if isinstance(value, (tuple, list)) else value


def to_scalars(point):
    return {name: to_scalar(value) for name, value in point.items()}


def from_scalars(values):
    """The inverse of `to_scalars`."""
    return {
        name: tuple(int(v) for v in value.split()) if name == "frame_sizes" else value for name, value in values.items()
    }


def add_search_space_arguments(parser):
    """One list-valued flag per searched parameter; read them back with `from_args`."""
    group = parser.add_argument_group("search space (each flag takes a list of candidate values)")
    for p in PARAMETERS:
        # Lists of frame sizes apart by commas, other values as they are typed.
        default = (", " if p.name == "frame_sizes" else " ").join(format_value(v) for v in p.default)
        if p.name == "frame_sizes":
            # `append` would add to a non-empty default rather than replace it, so the
            # default is filled in by `from_args`.
            group.add_argument(
                "--frame_sizes",
                type=p.parse,
                nargs="+",
                action="append",
                metavar="FRAME_SIZE",
                help=f"{p.help}; repeat the flag for more candidates (default: {default}).",
            )
        else:
            group.add_argument(
                f"--{p.name}",
                type=p.parse,
                nargs="+",
                default=list(p.default),
                metavar=p.name.upper(),
                help=f"{p.help} (default: {default}).",
            )


def from_args(args):
    """The space as {name: tuple of distinct candidates}, in the order given."""
    space = {}
    for p in PARAMETERS:
        values = getattr(args, p.name)
        if values is None:
            values = p.default
        space[p.name] = tuple(dict.fromkeys(tuple(v) if isinstance(v, list) else v for v in values))
    return space


def _product(numbers):
    total = 1
    for n in numbers:
        total *= n
    return total


@dataclasses.dataclass
class Expansion:
    points: list  # valid points, each a dict name -> value
    skipped: collections.Counter  # reason -> number of combinations skipped for it

    def describe(self):
        total = len(self.points) + sum(self.skipped.values())
        text = f"{len(self.points)} of {total} combinations valid"
        if self.skipped:
            text += "; skipped: " + "; ".join(f"{reason} ({n})" for reason, n in self.skipped.most_common())
        return text


def expand(space, checks=()):
    """Every valid combination of `space`. A combination is valid when it builds a ModelConfig
    and a TrainSettings, and passes each of `checks` (callables that raise UserError with the
    reason). Raises UserError naming the reasons when none is valid."""
    missing = [name for name in NAMES if not space.get(name)]
    if missing:
        raise UserError(f"the search space has no candidates for {', '.join(missing)}")
    total = _product(len(values) for values in space.values())
    if total > MAX_COMBINATIONS:
        raise UserError(
            f"the search space has {total} combinations, more than {MAX_COMBINATIONS}: give fewer candidates"
        )
    skipped = collections.Counter()
    # Model and training parts are validated apart: each valid part is checked once.
    model_names = [n for n in NAMES if n in MODEL_KEYS]
    train_names = [n for n in NAMES if n not in MODEL_KEYS]
    model_parts = _valid_parts(space, model_names, _check_model, skipped, _product(len(space[n]) for n in train_names))
    train_parts = _valid_parts(space, train_names, _check_train, skipped, len(model_parts))
    points = []
    for model_part, train_part in itertools.product(model_parts, train_parts):
        merged = {**model_part, **train_part}
        point = {name: merged[name] for name in NAMES}
        try:
            for check in checks:
                check(point)
        except UserError as err:
            skipped[str(err)] += 1
            continue
        points.append(point)
    expansion = Expansion(points, skipped)
    if not points:
        raise UserError(f"no valid combination in the search space: {expansion.describe()}")
    return expansion


def _valid_parts(space, names, check, skipped, weight):
    """Combinations of `names` that pass `check`; each failure counts `weight` full combinations."""
    parts = []
    for values in itertools.product(*(space[n] for n in names)):
        part = dict(zip(names, values))
        try:
            check(part)
        except UserError as err:
            if weight:
                skipped[str(err)] += weight
            continue
        parts.append(part)
    return parts


def _check_model(part):
    ModelConfig(**part)


def _check_train(part):
    TrainSettings(data_dir="", **part)


def split(point):
    """A point as (ModelConfig, TrainSettings overrides): what goes in the *.config.json and
    what is passed to train.py on its command line. Keys the space does not search keep the
    values of default.config.json, which train.py trains with when given no config."""
    config = ModelConfig.load(DEFAULT_CONFIG_FILE).replace(**{k: v for k, v in point.items() if k in MODEL_KEYS})
    overrides = {k: v for k, v in point.items() if k not in MODEL_KEYS}
    return config, overrides
