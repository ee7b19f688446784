"""Small Keras layers and ops shared by the tiers: a weight-normalized dense layer and the
embedding-window lookup that replaces the sample MLP's input convolution."""

import keras
import tensorflow as tf


def tracked(owner, name, items):
    """`items` as a list, each item also set as the attribute `<name>_<i>` of `owner`.

    Keras 3 follows a list attribute for its own bookkeeping (`variables`, the optimizer), but
    TensorFlow's checkpoint graph follows only single attributes: the weights of layers kept
    in a plain list would be trained and never saved. Set in list order, so the order of
    Keras' variables (which the earlier checkpoint layout depends on) does not change.
    """
    items = list(items)
    for i, item in enumerate(items):
        setattr(owner, f"{name}_{i}", item)
    return items


def weight_normalized(v, g):
    """Weight normalization (Salimans & Kingma, 2016): each output column of `v` rescaled to norm `g`."""
    return v * (g / tf.maximum(tf.norm(v, axis=0), 1e-12))


def column_norms(kernel):
    """Initial `g` so that a freshly built weight-normalized layer equals its plain counterpart."""
    return keras.initializers.Constant(tf.norm(tf.convert_to_tensor(kernel), axis=0).numpy())


def matmul_last(x, kernel, bias=None):
    """(..., in) @ (in, out) [+ bias] as one 2-D matmul, the fastest form on both oneDNN and
    cuBLAS; the bias added right after it, where oneDNN fuses the two."""
    shape = tf.shape(x)
    y = tf.matmul(tf.reshape(x, (-1, shape[-1])), kernel)
    if bias is not None:
        y = tf.nn.bias_add(y, bias)
    return tf.reshape(y, tf.concat([shape[:-1], tf.shape(kernel)[-1:]], axis=0))


def with_bias_row(kernel, bias):
    """(in + 1, out): the kernel with the bias appended as a last row, for matmul_bias_row."""
    return tf.concat([kernel, bias[None]], axis=0)


def matmul_bias_row(x, kernel):
    """x (batch, in) @ a with_bias_row kernel: x @ kernel + bias as one plain product against an
    appended 1. Generation uses it because XLA compiles a plain matrix-vector product into a
    faster loop than one with the bias add fused in (oneDNN runs both alike)."""
    return tf.matmul(tf.concat([x, tf.ones_like(x[:, :1])], axis=-1), kernel)


@keras.saving.register_keras_serializable(package="samplernn")
class Dense(keras.layers.Layer):
    """A dense layer with optional weight normalization of its kernel."""

    def __init__(self, units, activation=None, use_bias=True, weight_norm=False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units < 1:
            raise ValueError(f"units must be a positive integer, received units={units!r}")
        self.units = units
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.weight_norm = weight_norm

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.units), initializer="glorot_uniform")
        if self.weight_norm:
            self.g = self.add_weight(name="g", shape=(self.units,), initializer=column_norms(self.kernel))
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def effective_kernel(self):
        if self.weight_norm:
            return weight_normalized(self.kernel, self.g)
        return self.kernel

    def call(self, inputs):
        kernel = self.effective_kernel()
        y = tf.matmul(inputs, kernel) if inputs.shape.rank == 2 else matmul_last(inputs, kernel)
        if self.use_bias:
            # bias_add lets Grappler fuse matmul, bias and relu into one oneDNN op.
            y = tf.nn.bias_add(y, self.bias)
        return self.activation(y)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "weight_norm": self.weight_norm,
        }


@tf.custom_gradient
def window_lookup_sum(tables, windows):
    """Sum over k of tables[k, windows[..., k]]: the sample MLP's input layer without the matmul.

    tables: (frame_size, q_levels, dim), one per window position, each embedding @ kernel slice.
    windows: (..., frame_size) int32 levels. Returns (..., dim).

    The custom gradient scatters into each (q_levels, dim) table directly; TensorFlow's own
    gather gradient would concatenate frame_size copies of the upstream gradient first.
    """
    frame_size = windows.shape[-1]
    if windows.shape.rank == 2:
        # One row per sequence (generation): a single gather of all frame_size rows is fewer ops.
        q_levels = tf.shape(tables)[1]
        flat = tf.reshape(tables, (-1, tf.shape(tables)[2]))
        out = tf.reduce_sum(tf.gather(flat, windows + tf.range(frame_size) * q_levels), axis=1)
    else:
        out = tf.gather(tables[0], windows[..., 0])
        for k in range(1, frame_size):
            # One gather at a time: TensorFlow would otherwise run all frame_size gathers as
            # soon as it can and hold their (..., dim) results at once, about 1 GB at the
            # default config and batch 16, more than the weights and Adam's slots together.
            with tf.control_dependencies([out]):
                out += tf.gather(tables[k], windows[..., k])

    def grad(upstream):
        q_levels, dim = tf.shape(tables)[1], tf.shape(tables)[2]
        flat_up = tf.reshape(upstream, (-1, dim))
        flat_win = tf.reshape(windows, (-1, frame_size))
        per_table = [tf.math.unsorted_segment_sum(flat_up, flat_win[:, k], q_levels) for k in range(frame_size)]
        return tf.stack(per_table), None

    return out, grad
