"""How training starts and steps, beyond the config and train.py's flags: the initialisation of
the weights and the optimizer's details.

None of these choices changes what a trained model computes, so a checkpoint never needs them
(generation ignores them) and they are not config keys. bench/quality.py varies them through
the environment variable SAMPLERNN_RECIPE, a JSON object of overrides, so that every ablation
runs the real train.py; the README says which defaults it measured and why each has its value.
"""

import dataclasses
import fnmatch
import json
import math
import os

import keras
import numpy as np
import tensorflow as tf

from samplernn.errors import UserError, check_keys

ENV = "SAMPLERNN_RECIPE"
INITS = ("glorot", "he")
INIT_PARTS = ("tier_input", "tier_upsample", "sample_mlp")
# Recipe.init's default, which an object naming some parts keeps for the others (see Recipe).
DEFAULT_INIT = (("tier_input", "he"), ("tier_upsample", "glorot"), ("sample_mlp", "he"))
EMBEDDING_INITS = ("uniform", "normal")
CLIPPINGS = ("global_norm", "elementwise")
LOGITS_BIASES = ("zeros", "marginal")


@dataclasses.dataclass(frozen=True)
class Recipe:
    # The kernels' initialisation, one name for every part or {part: name} for some of
    # INIT_PARTS (the rest keep the default's): "tier_input", each frame tier's projection of
    # its input frame; "tier_upsample", each frame tier's projection of its RNN's output to the
    # tier below; "sample_mlp", the sample MLP's input and hidden layers, which a ReLU follows.
    # "he": He-uniform, as the paper's reference code has them all; "glorot": Keras' default.
    # He everywhere (the sample MLP's first ReLU left out) learned every corpus of
    # bench/quality.py better than Glorot everywhere; Glorot in the upsampling alone, which
    # starts the tiers' conditioning of the layers below about 2 to 4 times smaller, learned
    # every corpus better still, in each of three seeds. Glorot in the tiers' input too kept
    # more speech clips out of broadband noise but learned instruments and music worse.
    init: object = DEFAULT_INIT
    # The sample MLP's embedding: "uniform", Keras' [-0.05, 0.05]; "normal", a standard
    # normal as the paper's code draws it, which learned three of bench/quality.py's corpora
    # worse.
    embedding_init: str = "uniform"
    # The initial bias of the LSTM forget gates (Keras' unit_forget_bias gives 1); the paper's
    # 3 learned three of bench/quality.py's corpora worse.
    lstm_forget_bias: float = 1.0
    # The initial bias of the GRU update gates (Keras' 0). A positive one starts each unit
    # keeping more of its state, as the LSTM forget-gate bias does.
    gru_update_bias: float = 0.0
    adam_epsilon: float = 1e-7
    # Adam's decay rate for its running mean of squared gradients (Keras' and the paper's 0.999).
    adam_beta_2: float = 0.999
    # Gradients clipped to a global norm of 1, or each element to [-1, 1] as the paper's code.
    clipping: str = "global_norm"
    # The output layer's initial bias: "zeros" (a uniform first guess), or "marginal", the log of
    # how often each level occurs in (a sample of) the training files.
    logits_bias: str = "zeros"
    # Steps over which the learning rate rises linearly from zero at the start of training.
    warmup_steps: int = 0
    # The fraction of the learning rate left at the end of the last epoch (--num_epochs): the
    # rate falls along a half cosine from the first step to there; 1 keeps it constant. At the
    # one rate a fall to 0.1 made every corpus of bench/quality.py worse. With the sample MLP at
    # 4 times the rate it kept a tiny two-tone model on a seed's pitch as often as the one rate
    # did and reached 0.3 bit/sample below the old defaults (three-seed means), but its clips
    # were no nearer their corpora (further in 6 of 8 corpus and seed pairs, nearer in 3 of 8
    # at twice the budget; bench/README.md).
    decay_to: float = 1.0
    # The momentum of an exponential moving average of the weights (Keras' use_ema), 0 for
    # none. Every epoch is validated, checkpointed and generated from with the averaged
    # weights while training goes on from the raw ones; a resumed run starts from the averaged
    # weights its checkpoint holds, and a run trained without the average resumes with it
    # starting at its weights. With the sample MLP at 4 times the rate (below) the average
    # learned every corpus of bench/quality.py 0.33 to 0.58 bit/sample better than the old
    # defaults in each of three seeds, and its seeded clips followed real recordings nearer
    # and fell silent less often than the one rate's (bench/README.md). At the one rate it
    # trailed the still-improving weights and was worse.
    ema: float = 0.99
    # Whether the average's momentum rises to `ema` with the optimizer's step t, as
    # min(ema, (1 + t) / (10 + t)) (tf.train.ExponentialMovingAverage's num_updates): 0.9 at
    # step 80, 0.977 at 378, `ema` 0.99 from step 890 on. A constant 0.99 holds the average near
    # the random start for hundreds of steps: after 378 steps the ramp learned every corpus of
    # bench/quality.py 0.028 to 0.083 bit/sample better in each of seven seeds, and after 1512
    # it ended at the constant momentum's NLL (two seeds). A constant 0.98 learned as fast but
    # ended worse.
    ema_ramp: bool = True
    # Multiples of the learning rate for some weights: (pattern, (start, end)) pairs, the first
    # whose shell-style pattern matches a weight's path (as "sample_mlp/embedding/embeddings")
    # giving its multiple, which moves linearly from start at the run's first step to end at
    # its last (--num_epochs); a weight no pattern matches steps at the learning rate itself.
    # JSON gives them as an object, {"pattern": factor or [start, end], ...}, in order, and
    # replaces the default's pairs ({} steps every weight at the one rate). The sample MLP at 4
    # times the rate learned every corpus of bench/quality.py better, at dim 128 and 512. Alone
    # it let a tiny two-tone model lose a seed's pitch four times as often as the one rate and
    # gave clips further from the corpora; with the average of the weights (above) the losses
    # fell a little and the clips came nearer (tests/test_listening.py's seeded test allows 4
    # clips in 16).
    lr_scale: tuple = (("sample_mlp/*", (4.0, 4.0)),)
    # The fractions of training rows whose input carries a window of `history_window` samples
    # (at most half of seq_len) of broadband noise at the row's level (history_noise) or of the
    # recording made quieter by a gain drawn log-uniformly from [history_quiet_gain, 1)
    # (history_quiet), the targets inside the window left out of the loss, so that the model
    # learns to come back from the two states a free-running model falls into
    # (samplernn/corruption.py). Over seven seeds of bench/quality.py, with 0.25 and 0.2, it
    # kept every speech clip out of the noise the model otherwise fell into and brought the
    # clips of every corpus nearer its long-term spectrum than the old defaults', for 0.009 to
    # 0.167 bit/sample; 0.1 of quiet windows left speech's clips quieter and no nearer, and a
    # window of 256 samples made music's clips loud with hiss. 0 and 0 train on the recordings
    # alone.
    history_noise: float = 0.25
    history_quiet: float = 0.2
    history_window: int = 128
    history_quiet_gain: float = 0.05

    def __post_init__(self):
        object.__setattr__(self, "init", _init_by_part(self.init))
        if self.embedding_init not in EMBEDDING_INITS:
            raise UserError(
                f"{ENV}: 'embedding_init' must be one of {', '.join(EMBEDDING_INITS)}, got {self.embedding_init!r}"
            )
        if self.clipping not in CLIPPINGS:
            raise UserError(f"{ENV}: 'clipping' must be one of {', '.join(CLIPPINGS)}, got {self.clipping!r}")
        if self.logits_bias not in LOGITS_BIASES:
            raise UserError(f"{ENV}: 'logits_bias' must be one of {', '.join(LOGITS_BIASES)}, got {self.logits_bias!r}")
        for key in ("lstm_forget_bias", "gru_update_bias", "adam_epsilon", "adam_beta_2", "decay_to", "ema"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UserError(f"{ENV}: {key!r} must be a number, got {value!r}")
        if not self.adam_epsilon > 0:
            raise UserError(f"{ENV}: 'adam_epsilon' must be positive, got {self.adam_epsilon}")
        if not 0 <= self.adam_beta_2 < 1:
            raise UserError(f"{ENV}: 'adam_beta_2' must be in [0, 1), got {self.adam_beta_2}")
        if not isinstance(self.ema_ramp, bool):
            raise UserError(f"{ENV}: 'ema_ramp' must be true or false, got {self.ema_ramp!r}")
        if not 0 <= self.ema < 1:
            raise UserError(f"{ENV}: 'ema' must be in [0, 1), got {self.ema}")
        if not 0 <= self.decay_to <= 1:
            raise UserError(f"{ENV}: 'decay_to' must be in [0, 1], got {self.decay_to}")
        for key in ("history_noise", "history_quiet", "history_quiet_gain"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise UserError(f"{ENV}: {key!r} must be a number in [0, 1], got {value!r}")
        if self.history_noise + self.history_quiet > 1:
            raise UserError(
                f"{ENV}: 'history_noise' + 'history_quiet' is a fraction of the rows, at most 1, "
                f"got {self.history_noise + self.history_quiet:g}"
            )
        if not self.history_quiet_gain > 0:
            raise UserError(f"{ENV}: 'history_quiet_gain' must be above 0, got {self.history_quiet_gain}")
        if isinstance(self.history_window, bool) or not isinstance(self.history_window, int) or self.history_window < 1:
            raise UserError(f"{ENV}: 'history_window' must be a whole number >= 1, got {self.history_window!r}")
        if not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise UserError(f"{ENV}: 'warmup_steps' must be a whole number >= 0, got {self.warmup_steps!r}")
        scales = self.lr_scale
        if isinstance(scales, dict):
            scales = tuple(scales.items())
        if not isinstance(scales, tuple):
            raise UserError(f"{ENV}: 'lr_scale' must be an object of pattern: factor, got {scales!r}")
        object.__setattr__(self, "lr_scale", tuple((pattern, _factor_span(pattern, f)) for pattern, f in scales))

    def init_of(self, part):
        """The initialisation of `part`, one of INIT_PARTS."""
        return dict(self.init)[part]

    def clip_args(self):
        """The Keras optimizer arguments that clip the gradients this recipe's way."""
        return {"global_clipnorm": 1.0} if self.clipping == "global_norm" else {"clipvalue": 1.0}

    def rate_factors(self, path):
        """The multiples of the learning rate at which the weight at `path` steps at the start and
        at the end of the run."""
        return next((span for pattern, span in self.lr_scale if fnmatch.fnmatchcase(path, pattern)), (1.0, 1.0))

    @property
    def rates_move(self):
        """Whether some weight's multiple of the learning rate moves over the run."""
        return any(start != end for _, (start, end) in self.lr_scale)

    def warmup_factor(self, step):
        """The learning rate's multiplier at optimizer step `step` (counted from 0)."""
        return min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps else 1.0

    def decay_factor(self, progress):
        """The learning rate's multiplier when `progress`, a fraction of the run's steps, is done."""
        fall = 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
        return self.decay_to + (1.0 - self.decay_to) * fall


def _factor_span(pattern, factor):
    """lr_scale's `factor` for `pattern` as (start, end): one number holds all run, a pair
    [start, end] moves linearly from one to the other."""
    span = factor if isinstance(factor, (list, tuple)) and len(factor) == 2 else [factor, factor]
    if not all(not isinstance(f, bool) and isinstance(f, (int, float)) and f > 0 for f in span):
        raise UserError(
            f"{ENV}: 'lr_scale' of {pattern!r} must be a positive number or a pair [start, end] of them, got {factor!r}"
        )
    return float(span[0]), float(span[1])


def _init_by_part(init):
    """`init` as ((part, name), ...) over every part of INIT_PARTS: one name gives every part
    that name; an object names some parts, the rest keep the default's."""
    if isinstance(init, tuple):
        init = dict(init)
    if isinstance(init, str):
        if init not in INITS:
            raise UserError(f"{ENV}: 'init' must be one of {', '.join(INITS)}, got {init!r}")
        init = {part: init for part in INIT_PARTS}
    elif isinstance(init, dict):
        unknown = sorted(set(init) - set(INIT_PARTS))
        if unknown:
            raise UserError(f"{ENV}: 'init' parts are {', '.join(INIT_PARTS)}, got {unknown[0]!r}")
        init = dict(DEFAULT_INIT, **init)
    else:
        raise UserError(f"{ENV}: 'init' must be a name or an object of part: name, got {init!r}")
    for part, name in init.items():
        if name not in INITS:
            raise UserError(f"{ENV}: 'init' of {part!r} must be one of {', '.join(INITS)}, got {name!r}")
    return tuple((part, init[part]) for part in INIT_PARTS)


DEFAULT = Recipe()


def from_environment():
    """The recipe with SAMPLERNN_RECIPE's overrides; a mistake there is one line naming it."""
    text = os.environ.get(ENV, "").strip()
    if not text:
        return Recipe()
    try:
        overrides = json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"{ENV} is not a JSON object: {err}") from None
    check_keys(overrides, Recipe, ENV)
    return Recipe(**overrides)


def initialize(model, recipe):
    """Re-initialize a freshly built model's weights as `recipe` says (Keras' defaults are the
    built ones). Weight-norm gains follow their kernels, so the layers still start as their
    plain counterparts."""
    he = keras.initializers.HeUniform()
    for tier in model.tiers:
        if recipe.init_of("tier_input") == "he":
            _reinit(tier.input_proj, "kernel", he)
        if recipe.init_of("tier_upsample") == "he":
            _reinit(tier.upsample, "kernel", he)
    if recipe.init_of("sample_mlp") == "he":
        mlp = model.sample_mlp
        _reinit(mlp, "input_kernel", he, gain="input_g")
        for layer in mlp.hidden:
            _reinit(layer, "kernel", he)
    if recipe.embedding_init == "normal":
        _reinit(model.sample_mlp.embedding, "embeddings", keras.initializers.RandomNormal(stddev=1.0))
    if model.config.rnn_type == "gru" and recipe.gru_update_bias != 0.0:
        _set_gate_bias(model, gates=3, gate=0, value=recipe.gru_update_bias)  # gates z, r, h
    if model.config.rnn_type == "lstm" and recipe.lstm_forget_bias != 1.0:
        _set_gate_bias(model, gates=4, gate=1, value=recipe.lstm_forget_bias)  # gates i, f, c, o


def _set_gate_bias(model, gates, gate, value):
    """Set one gate's input bias to `value` in every recurrent layer of every tier."""
    for tier in model.tiers:
        for rnn in tier.rnn.rnns:
            values = rnn.cell.bias.numpy()
            # A reset_after GRU keeps (input, recurrent) bias rows; an LSTM a single one.
            row = values[0] if values.ndim == 2 else values
            units = row.shape[0] // gates
            row[gate * units : (gate + 1) * units] = value
            rnn.cell.bias.assign(values)


def _reinit(layer, name, initializer, gain="g"):
    kernel = getattr(layer, name)
    kernel.assign(initializer(kernel.shape, dtype=kernel.dtype))
    if hasattr(layer, gain):
        getattr(layer, gain).assign(tf.norm(tf.convert_to_tensor(kernel), axis=0))


def set_logits_bias(model, counts):
    """Start the output layer at the log of the levels' frequencies (add-one smoothed), so the
    first prediction is the corpus's marginal distribution rather than a uniform one."""
    log_p = np.log((counts + 1.0) / (counts.sum() + len(counts)))
    bias = model.sample_mlp.logits.bias
    bias.assign((log_p - log_p.mean()).astype(bias.dtype))
