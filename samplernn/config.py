"""The model configuration: one frozen object, loaded from `*.config.json` and validated once."""

import dataclasses
import json
import os
import warnings

from samplernn.errors import UserError, check_keys
from samplernn.files import atomic_write

RNN_TYPES = ("gru", "lstm")
Q_TYPES = ("mu-law", "linear")
MU_LAW_LEVELS = 256


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Architecture of a SampleRNN; the keys and defaults follow the reference toolkit.

    `frame_sizes` holds one frame size per frame-level tier, bottom first: two (the reference's
    default) make three tiers with the sample MLP, one makes two tiers, more make deeper models.
    """

    seq_len: int = 1024
    frame_sizes: tuple = (16, 64)
    dim: int = 1024
    rnn_type: str = "gru"
    num_rnn_layers: int = 4
    q_type: str = "mu-law"
    q_levels: int = 256
    emb_size: int = 256
    skip_conn: bool = False
    rnn_dropout: float = 0.0
    # Off by default: on the demo corpus each made validation NLL worse (README, "Configuring the model").
    learn_h0: bool = False
    weight_norm: bool = False
    # A ReLU after the sample MLP's first layer (the embedded window plus the frame tier's
    # conditioning). The paper's code has none there, and default.config.json turns it off
    # (README, "Configuring the model"); a config without the key means the ReLU, as every
    # model before the key had it, so their saved configs still build the model they trained.
    mlp_input_relu: bool = True

    def __post_init__(self):
        object.__setattr__(self, "frame_sizes", tuple(self.frame_sizes))
        _validate(self)

    @property
    def frame_size(self):
        """Samples per step of the bottom frame tier, and the sample MLP's window."""
        return self.frame_sizes[0]

    @property
    def big_frame_size(self):
        """Samples per step of the top tier: the context each training sequence starts with."""
        return self.frame_sizes[-1]

    def keys_differing_from(self, other):
        """The sorted names of the keys whose values differ between two configs."""
        theirs = other.to_dict()
        return sorted(k for k, v in self.to_dict().items() if theirs[k] != v)

    def to_dict(self):
        data = dataclasses.asdict(self)
        data["frame_sizes"] = list(self.frame_sizes)
        return data

    @classmethod
    def from_dict(cls, data, source="config"):
        """Build from a mapping, naming `source` and the offending key in every error."""
        check_keys(data, cls, source)
        for field in dataclasses.fields(cls):
            if field.name in data:
                _check_type(field.name, data[field.name], source)
        data = dict(data)
        if data.get("q_type", cls.q_type) == "mu-law" and data.get("q_levels", MU_LAW_LEVELS) != MU_LAW_LEVELS:
            warnings.warn(
                f"{source}: q_levels={data['q_levels']} ignored: mu-law always uses {MU_LAW_LEVELS} levels",
                stacklevel=2,
            )
            data["q_levels"] = MU_LAW_LEVELS
        try:
            return cls(**data)
        except UserError as err:
            raise UserError(f"{source}: {err}") from None

    @classmethod
    def load(cls, path):
        """Read and validate a `*.config.json` file."""
        if not os.path.isfile(path):
            raise UserError(f"config file {path!r} does not exist")
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except json.JSONDecodeError as err:
            raise UserError(f"config file {path!r} is not valid JSON: {err}") from None
        except (OSError, UnicodeDecodeError) as err:
            raise UserError(f"config file {path!r} cannot be read: {err}") from None
        return cls.from_dict(data, source=f"config file {path!r}")

    def save(self, path):
        """Write atomically, so a crash never leaves a truncated config beside a checkpoint."""
        with atomic_write(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2)
            f.write("\n")

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


# The JSON type each key must have; bool is checked before int because bool is an int in Python.
_TYPES = {
    "seq_len": int,
    "frame_sizes": list,
    "dim": int,
    "rnn_type": str,
    "num_rnn_layers": int,
    "q_type": str,
    "q_levels": int,
    "emb_size": int,
    "skip_conn": bool,
    "rnn_dropout": float,
    "learn_h0": bool,
    "weight_norm": bool,
    "mlp_input_relu": bool,
}


def _check_type(key, value, source):
    expected = _TYPES[key]
    if expected is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif expected is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif expected is list:
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    else:
        ok = isinstance(value, expected)
    if not ok:
        kind = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
            expected, "a list of integers"
        )
        raise UserError(f"{source}: key {key!r} must be {kind}, got {json.dumps(value)}")


def _validate(cfg):
    for key in ("seq_len", "dim", "num_rnn_layers", "emb_size"):
        if getattr(cfg, key) < 1:
            raise UserError(f"key {key!r} must be at least 1, got {getattr(cfg, key)}")
    if not cfg.frame_sizes or min(cfg.frame_sizes) < 1:
        raise UserError(f"key 'frame_sizes' must be one or more positive integers, got {list(cfg.frame_sizes)}")
    for below, above in zip(cfg.frame_sizes, cfg.frame_sizes[1:]):
        if above <= below or above % below:
            raise UserError(
                f"key 'frame_sizes' {list(cfg.frame_sizes)}: each frame size must be a larger multiple of the one "
                f"before it, and {above} is not of {below}"
            )
    if cfg.seq_len % cfg.big_frame_size:
        raise UserError(
            f"key 'seq_len' ({cfg.seq_len}) must be divisible by the largest frame size {cfg.big_frame_size}"
        )
    if cfg.rnn_type not in RNN_TYPES:
        raise UserError(f"key 'rnn_type' must be one of {', '.join(RNN_TYPES)}, got {cfg.rnn_type!r}")
    if cfg.q_type not in Q_TYPES:
        raise UserError(f"key 'q_type' must be one of {', '.join(Q_TYPES)}, got {cfg.q_type!r}")
    if cfg.q_type == "mu-law" and cfg.q_levels != MU_LAW_LEVELS:
        raise UserError(f"key 'q_levels' must be {MU_LAW_LEVELS} with mu-law quantization, got {cfg.q_levels}")
    if not 2 <= cfg.q_levels <= 65536:
        raise UserError(f"key 'q_levels' must be between 2 and 65536, got {cfg.q_levels}")
    if not 0.0 <= cfg.rnn_dropout < 1.0:
        raise UserError(f"key 'rnn_dropout' must be in [0, 1), got {cfg.rnn_dropout}")
