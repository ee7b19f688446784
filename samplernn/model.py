"""The SampleRNN model and the one factory every script builds it with.

Tiers, top to bottom, in the default three-tier model (F = frame_size, G = big_frame_size,
T = seq_len):
  big-frame tier  RNN over frames of G samples; its output is upsampled to the frame rate.
  frame tier      RNN over frames of F samples, conditioned by the big tier; upsampled to
                  one vector per sample.
  sample MLP      predicts each sample from the embeddings of the F samples before it,
                  conditioned by the frame tier; logits over the quantization levels.
A two-tier model has the frame tier alone over the MLP; deeper models have more frame tiers
above the big one, each over frames a multiple of the size below (config.frame_sizes).

A training input `seq` holds T target samples preceded by G samples of context:
(batch, G + T) int32 levels. Targets are seq[:, G:].
"""

import contextlib

import keras
import tensorflow as tf

from samplernn.config import ModelConfig
from samplernn.layers import (
    Dense,
    column_norms,
    matmul_bias_row,
    matmul_last,
    tracked,
    weight_normalized,
    window_lookup_sum,
    with_bias_row,
)
from samplernn.rnn import RNNStack


def levels_to_input(levels, q_levels, dtype):
    """Quantized levels -> floats in [-2, 2], the scale the paper's reference code feeds its RNNs."""
    return tf.cast(levels, dtype) * (4.0 / (q_levels - 1)) - 2.0


@keras.saving.register_keras_serializable(package="samplernn")
class FrameTier(keras.layers.Layer):
    """An RNN over frames of `frame_size` samples whose output is upsampled `ratio` times
    with a learned projection per output position."""

    def __init__(
        self,
        frame_size,
        ratio,
        dim,
        rnn_type,
        num_layers,
        q_levels,
        skip_conn=False,
        dropout=0.0,
        learn_h0=False,
        weight_norm=False,
        rnn_implementation="auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.frame_size = frame_size
        self.ratio = ratio
        self.dim = dim
        self.q_levels = q_levels
        self._rnn_args = dict(
            rnn_type=rnn_type,
            num_layers=num_layers,
            skip_conn=skip_conn,
            dropout=dropout,
            learn_h0=learn_h0,
            weight_norm=weight_norm,
            implementation=rnn_implementation,
        )
        self.input_proj = Dense(dim, weight_norm=weight_norm, name="input_proj")
        self.rnn = RNNStack(units=dim, name="rnn", **self._rnn_args)
        self.upsample = Dense(dim * ratio, weight_norm=weight_norm, name="upsample")

    def build(self, input_shape):
        self.input_proj.build((None, None, self.frame_size))
        self.rnn.build((None, None, self.dim))
        self.upsample.build((None, None, self.dim))

    def initial_state(self, batch_size):
        return self.rnn.initial_state(batch_size)

    def call(self, frames, conditioning, state, training=False):
        """frames (batch, steps, frame_size) levels; conditioning (batch, steps, dim) or None.
        Returns (batch, steps * ratio, dim) and the new state."""
        x = self.input_proj(levels_to_input(frames, self.q_levels, self.compute_dtype))
        if conditioning is not None:
            x = x + conditioning
        h, state = self.rnn(x, state, training=training)
        up = self.upsample(h)  # (batch, steps, ratio * dim)
        return tf.reshape(up, (tf.shape(up)[0], -1, self.dim)), state

    def get_config(self):
        return {
            **super().get_config(),
            "frame_size": self.frame_size,
            "ratio": self.ratio,
            "dim": self.dim,
            "q_levels": self.q_levels,
            **{k if k != "implementation" else "rnn_implementation": v for k, v in self._rnn_args.items()},
        }


@keras.saving.register_keras_serializable(package="samplernn")
class SampleMLP(keras.layers.Layer):
    """The sample-level MLP: four layers, the first over the embedded window of previous samples.

    The first layer is a dense layer over frame_size * emb_size inputs. Since its inputs are
    embeddings of q_levels possible values, it is computed as one (q_levels, dim) table per
    window position (embedding @ kernel slice), and each sample sums frame_size table rows.
    """

    def __init__(self, frame_size, q_levels, emb_size, dim, weight_norm=False, input_relu=True, **kwargs):
        super().__init__(**kwargs)
        self.input_relu = input_relu
        self.frame_size = frame_size
        self.q_levels = q_levels
        self.emb_size = emb_size
        self.dim = dim
        self.weight_norm = weight_norm
        self.embedding = keras.layers.Embedding(q_levels, emb_size, name="embedding")
        self.hidden = tracked(
            self,
            "hidden",
            (Dense(dim, activation="relu", weight_norm=weight_norm, name=f"hidden_{i}") for i in range(2)),
        )
        # float32 logits keep the softmax and loss stable under mixed precision.
        self.logits = Dense(q_levels, weight_norm=weight_norm, dtype="float32", name="logits")

    def build(self, input_shape):
        self.embedding.build((None,))
        self.input_kernel = self.add_weight(
            name="input_kernel", shape=(self.frame_size * self.emb_size, self.dim), initializer="glorot_uniform"
        )
        if self.weight_norm:
            self.input_g = self.add_weight(
                name="input_g", shape=(self.dim,), initializer=column_norms(self.input_kernel)
            )
        self.input_bias = self.add_weight(name="input_bias", shape=(self.dim,), initializer="zeros")
        for layer in self.hidden:
            layer.build((None, None, self.dim))
        self.logits.build((None, None, self.dim))

    def effective_input_kernel(self):
        if self.weight_norm:
            return weight_normalized(self.input_kernel, self.input_g)
        return self.input_kernel

    def input_tables(self):
        """(frame_size, q_levels, dim): row v of table k is embedding(v) @ kernel rows of position k."""
        kernel = tf.cast(self.effective_input_kernel(), self.compute_dtype)
        kernel = tf.reshape(kernel, (self.frame_size, self.emb_size, self.dim))
        emb = tf.cast(self.embedding.embeddings, self.compute_dtype)
        return tf.einsum("qe,ked->kqd", emb, kernel)

    def call(self, windows, conditioning):
        """windows (..., frame_size) levels, conditioning (..., dim) -> logits (..., q_levels) float32."""
        x = self._input_activation(window_lookup_sum(self.input_tables(), windows) + self.input_bias + conditioning)
        for layer in self.hidden:
            x = layer(x)
        return self.logits(x)

    def _input_activation(self, x):
        return tf.nn.relu(x) if self.input_relu else x

    def generation_weights(self):
        """What generation computes once per call rather than once per sample (float32): the
        input tables, the bias added to their sum, and the dense kernels applied after it,
        each with its bias appended as a last row.

        Without the input ReLU the first hidden layer is linear in that sum, so it is folded
        into the tables and the bias, and each sample skips one (dim, dim) product. The
        conditioning must then come through the same layer: see conditioning_map()."""
        tables = tf.cast(self.input_tables(), tf.float32)
        bias = tf.cast(self.input_bias, tf.float32)
        layers = self.hidden + [self.logits]
        first = self.conditioning_map()
        if first is not None:
            tables = matmul_last(tables, first)
            bias = tf.linalg.matvec(first, bias, transpose_a=True) + tf.cast(self.hidden[0].bias, tf.float32)
            layers = layers[1:]
        kernels = [tf.cast(with_bias_row(layer.effective_kernel(), layer.bias), tf.float32) for layer in layers]
        return tables, bias, kernels

    def conditioning_map(self):
        """The (dim, dim) float32 matrix that step()'s conditioning must already have gone
        through (the folded first hidden kernel), or None when nothing is folded."""
        return None if self.input_relu else tf.cast(self.hidden[0].effective_kernel(), tf.float32)

    def step(self, windows, conditioning, weights):
        """Logits for one sample per row: windows (batch, frame_size), conditioning (batch, dim)
        through conditioning_map(), weights from generation_weights()."""
        tables, bias, kernels = weights
        # The input ReLU, or with the first hidden layer folded in, that layer's own.
        x = tf.nn.relu(window_lookup_sum(tables, windows) + bias + conditioning)
        for i, kernel in enumerate(kernels):
            x = matmul_bias_row(x, kernel)
            if i < len(kernels) - 1:
                x = tf.nn.relu(x)
        return x

    def get_config(self):
        return {
            **super().get_config(),
            "frame_size": self.frame_size,
            "q_levels": self.q_levels,
            "emb_size": self.emb_size,
            "dim": self.dim,
            "weight_norm": self.weight_norm,
            "input_relu": self.input_relu,
        }


def tier_names(level):
    """(attribute, layer name) of the frame tier `level` tiers above the bottom one. The two
    tiers of a three-tier model keep the names 0.2.0 saved their checkpoints under."""
    if level == 0:
        return "frame_tier", "frame_tier"
    if level == 1:
        return "big_tier", "big_frame_tier"
    return f"tier_{level}", f"frame_tier_{level}"


@keras.saving.register_keras_serializable(package="samplernn")
class SampleRNN(keras.Model):
    """Frame tiers over the sample MLP, with explicit RNN states, so training can carry them
    across subsequences (truncated BPTT) and generation can step them.

    `tiers` lists the frame tiers top first: tier k steps once per frame_sizes[-1 - k] samples
    and conditions the one below it, the bottom one conditions the sample MLP.
    """

    def __init__(
        self,
        seq_len,
        frame_sizes,
        dim,
        rnn_type,
        num_rnn_layers,
        q_type,
        q_levels,
        emb_size,
        skip_conn,
        rnn_dropout,
        learn_h0,
        weight_norm,
        mlp_input_relu=True,
        rnn_implementation="auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.config = ModelConfig(
            seq_len=seq_len,
            frame_sizes=tuple(frame_sizes),
            dim=dim,
            rnn_type=rnn_type,
            num_rnn_layers=num_rnn_layers,
            q_type=q_type,
            q_levels=q_levels,
            emb_size=emb_size,
            skip_conn=skip_conn,
            rnn_dropout=rnn_dropout,
            learn_h0=learn_h0,
            weight_norm=weight_norm,
            mlp_input_relu=mlp_input_relu,
        )
        self.rnn_implementation = rnn_implementation
        cfg = self.config
        tier_args = dict(
            dim=dim,
            rnn_type=rnn_type,
            num_layers=num_rnn_layers,
            q_levels=cfg.q_levels,
            skip_conn=skip_conn,
            dropout=rnn_dropout,
            learn_h0=learn_h0,
            weight_norm=weight_norm,
            rnn_implementation=rnn_implementation,
        )
        # Built top first, the order of Keras' variables that the earlier checkpoint layout
        # depends on.
        tiers = []
        sizes = cfg.frame_sizes
        for level in reversed(range(len(sizes))):
            ratio = sizes[level] // sizes[level - 1] if level else sizes[level]
            attribute, name = tier_names(level)
            tier = FrameTier(sizes[level], ratio, name=name, **tier_args)
            setattr(self, attribute, tier)
            tier.build(None)
            tiers.append(tier)
        self.tiers = tiers
        self.sample_mlp = SampleMLP(
            cfg.frame_size,
            cfg.q_levels,
            emb_size,
            dim,
            weight_norm=weight_norm,
            input_relu=mlp_input_relu,
            name="sample_mlp",
        )
        self.sample_mlp.build(None)
        self.built = True

    def initial_states(self, batch_size):
        """One state per tier, top first, at the start of every sequence."""
        return tuple(tier.initial_state(batch_size) for tier in self.tiers)

    def call(self, inputs, training=False):
        """inputs = (seq (batch, G + T) levels, *states), G the largest frame size and T a
        multiple of it (seq_len in training). Returns logits (batch, T, q_levels) float32
        followed by the new states."""
        seq, *states = inputs
        frame_cond, states = self.frame_tiers(seq, states, training=training)
        f, g = self.config.frame_size, self.config.big_frame_size
        t = tf.shape(seq)[1] - g
        # windows[:, i, k] = seq[:, g - f + i + k]: the f samples before target i.
        windows = tf.stack([seq[:, g - f + k : g - f + k + t] for k in range(f)], axis=-1)
        logits = self.sample_mlp(windows, frame_cond)
        return (logits, *states)

    def frame_tiers(self, seq, states, training=False):
        """The frame tiers over seq (batch, G + T): the bottom tier's output per target sample
        (batch, T, dim) and the new states. Generation primes the states with this alone."""
        g = self.config.big_frame_size
        batch, t = tf.shape(seq)[0], tf.shape(seq)[1] - g
        conditioning, new_states = None, []
        for tier, state in zip(self.tiers, states):
            # Each tier sees the frame just before the samples it conditions.
            size = tier.frame_size
            frames = tf.reshape(seq[:, g - size : g - size + t], (batch, t // size, size))
            conditioning, state = tier(frames, conditioning, state, training=training)
            new_states.append(state)
        return conditioning, tuple(new_states)

    def get_config(self):
        return {**self.config.to_dict(), "rnn_implementation": self.rnn_implementation, "name": self.name}


def build_model(config, precision="float32", rnn_implementation="auto", initialize=True):
    """The one factory: training, generation and both tuners build their model here.

    `precision` is a Keras dtype policy name; every layer takes it when constructed, so the
    global policy is set only while the model is built and restored afterwards.
    `initialize=False` leaves every weight unfilled, for a caller that overwrites them all
    (restoring a checkpoint, inference_copy): the recurrent kernels' orthogonal initializer
    alone takes about 10 s at the default config, and filled weights take their size in memory
    again while the restored values arrive (see _weights_created_unfilled).
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        with contextlib.nullcontext() if initialize else _weights_created_unfilled():
            return SampleRNN(**config.to_dict(), rnn_implementation=rnn_implementation, name="samplernn")
    finally:
        keras.config.set_dtype_policy(previous)


@contextlib.contextmanager
def _weights_created_unfilled():
    """Keras variables created meanwhile take memory that nothing writes (an Empty op without
    its fill), so their values are whatever it held, and its pages cost no RSS until written.
    A restore reads every value into new memory before it replaces the old; with weights
    filled at creation (even with zeros) both would be resident, and TensorFlow's oneDNN
    allocator keeps the freed ones for reuse rather than returning them: the weights' size
    again, for the whole run.

    Keras 3 has no public switch for this; its TensorFlow backend creates every variable's value
    through `Variable._initialize_with_initializer`. Should a later Keras lack it, the weights
    are initialized as usual: slower, never wrong."""
    variable_class = keras.Variable
    original = getattr(variable_class, "_initialize_with_initializer", None)
    if original is None:
        yield
        return

    def unfilled(variable, initializer):
        variable._initialize(tf.raw_ops.Empty(shape=variable._shape, dtype=variable._dtype, init=False))

    own = "_initialize_with_initializer" in vars(variable_class)
    variable_class._initialize_with_initializer = unfilled
    try:
        yield
    finally:
        if own:
            variable_class._initialize_with_initializer = original
        else:
            del variable_class._initialize_with_initializer


def inference_copy(model, into=None):
    """A float32 model without weight normalization that computes what `model` computes.

    Generation reads plain float32 kernels instead of renormalizing every weight matrix at
    every sample; a model trained in mixed precision generates in float32. Returns `model`
    itself when it is already such a model; `into` refreshes an earlier copy in place.
    """
    if into is None:
        if not model.config.weight_norm and model.compute_dtype == "float32":
            return model
        into = build_model(model.config.replace(weight_norm=False), initialize=False)

    def dense(src, dst):
        dst.kernel.assign(src.effective_kernel())
        if src.use_bias:
            dst.bias.assign(src.bias)

    def tier(src, dst):
        dense(src.input_proj, dst.input_proj)
        dense(src.upsample, dst.upsample)
        for i, layer in enumerate(dst.rnn.rnns):
            kernel, recurrent, bias = src.rnn.layer_weights(i, dtype="float32")
            layer.cell.kernel.assign(kernel)
            layer.cell.recurrent_kernel.assign(recurrent)
            layer.cell.bias.assign(bias)
        if src.rnn.skip_conn:
            for s, d in zip(src.rnn.skip_out, dst.rnn.skip_out):
                dense(s, d)
        if src.rnn.learn_h0:
            dst.rnn.h0.assign(src.rnn.h0)

    for src, dst in zip(model.tiers, into.tiers):
        tier(src, dst)
    src, dst = model.sample_mlp, into.sample_mlp
    dst.embedding.embeddings.assign(src.embedding.embeddings)
    dst.input_kernel.assign(src.effective_input_kernel())
    dst.input_bias.assign(src.input_bias)
    for s, d in zip(src.hidden, dst.hidden):
        dense(s, d)
    dense(src.logits, dst.logits)
    return into
