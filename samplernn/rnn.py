"""A stack of GRU or LSTM layers with explicit state, as one frame-level tier uses it.

The weights live in standard `keras.layers.GRU` / `keras.layers.LSTM` sublayers, so on a GPU
(without weight normalization) the stack calls them and Keras runs the cuDNN kernel. Elsewhere
the stack runs its own loop over the same weights: the input-side matmul of every time step is
done at once, leaving only the recurrent matmul inside the loop. Generation steps the stack
through samplernn.stepping, which uses the update functions here.

State layout: one tensor (num_layers, parts, batch, units), parts = 1 for GRU (h), 2 for LSTM (h, c).
"""

import keras
import tensorflow as tf

from samplernn.layers import Dense, column_norms, matmul_last, tracked, weight_normalized

IMPLEMENTATIONS = ("auto", "fused", "keras")


def gpu_available():
    return bool(tf.config.list_logical_devices("GPU"))


def gru_update(x_proj, h_proj, h):
    """One GRU step in Keras' reset_after form from both projections: x_proj = x @ kernel + input
    bias, h_proj = h @ recurrent kernel + recurrent bias, gates [z, r, h]. Returns the new state
    and what the sequence gradient needs: z, r, the candidate and the recurrent candidate part."""
    h_z, h_r, h_h = tf.split(h_proj, 3, axis=-1)
    x_z, x_r, x_h = tf.split(x_proj, 3, axis=-1)
    z = tf.sigmoid(x_z + h_z)
    r = tf.sigmoid(x_r + h_r)
    candidate = tf.tanh(x_h + r * h_h)
    return z * h + (1.0 - z) * candidate, z, r, candidate, h_h


def gru_gates(x_proj, h, recurrent_kernel, recurrent_bias):
    """gru_update with the recurrent projection computed here."""
    return gru_update(x_proj, tf.matmul(h, recurrent_kernel) + recurrent_bias, h)


def lstm_update(z, c):
    """One LSTM step as Keras computes it from z = x @ kernel + bias + h @ recurrent kernel,
    gates [i, f, c, o]. Returns the new (h, c)."""
    z_i, z_f, z_c, z_o = tf.split(z, 4, axis=-1)
    c = tf.sigmoid(z_f) * c + tf.sigmoid(z_i) * tf.tanh(z_c)
    return tf.sigmoid(z_o) * tf.tanh(c), c


@tf.custom_gradient
def gru_sequence(x_proj, h0, recurrent_kernel, recurrent_bias):
    """A GRU layer over a whole sequence: x_proj (time, batch, 3 * units) is the input side,
    already projected; returns every step's state (time, batch, units).

    The hand-written gradient keeps the backward loop to elementwise work and one matmul with
    the recurrent kernel transposed once, and computes the kernel's gradient after the loop as
    a single matmul over all steps. Automatic differentiation of the loop instead multiplies by
    a transposed operand (slow in oneDNN) and accumulates the kernel gradient step by step.
    """

    zeros = tf.zeros_like(h0)
    hs, zs, rs, cs, hhs = tf.scan(
        lambda carry, xp: gru_gates(xp, carry[0], recurrent_kernel, recurrent_bias),
        x_proj,
        initializer=(h0, zeros, zeros, zeros, zeros),
    )

    def grad(d_hs):
        h_prev = tf.concat([h0[None], hs[:-1]], axis=0)
        recurrent_t = tf.transpose(recurrent_kernel)

        def back(carry, inputs):
            d_out, h, z, r, c, h_h = inputs
            dh = carry[0] + d_out
            dc = dh * (1.0 - z) * (1.0 - c * c)
            dz = dh * (h - c) * z * (1.0 - z)
            dr = dc * h_h * r * (1.0 - r)
            d_x = tf.concat([dz, dr, dc], axis=-1)
            d_hp = tf.concat([dz, dr, dc * r], axis=-1)
            return dh * z + tf.matmul(d_hp, recurrent_t), d_x, d_hp

        init = (tf.zeros_like(h0), tf.zeros_like(x_proj[0]), tf.zeros_like(x_proj[0]))
        d_h, d_x, d_hp = tf.scan(back, (d_hs, h_prev, zs, rs, cs, hhs), initializer=init, reverse=True)
        units3 = tf.shape(d_hp)[-1]
        d_kernel = tf.matmul(
            tf.reshape(h_prev, (-1, tf.shape(h0)[-1])), tf.reshape(d_hp, (-1, units3)), transpose_a=True
        )
        return d_x, d_h[0], d_kernel, tf.reduce_sum(d_hp, axis=(0, 1))

    return hs, grad


@keras.saving.register_keras_serializable(package="samplernn")
class RNNStack(keras.layers.Layer):
    """`num_layers` recurrent layers of `units`, optional skip connections, learned initial state
    and weight normalization.

    With `skip_conn` the stack's input reaches every layer (concatenated to the previous layer's
    output) and the output is the sum of a projection of every layer's output, as in the
    SampleRNN paper's reference code.
    """

    def __init__(
        self,
        rnn_type,
        units,
        num_layers,
        skip_conn=False,
        dropout=0.0,
        learn_h0=False,
        weight_norm=False,
        implementation="auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if rnn_type not in ("gru", "lstm"):
            raise ValueError(f"rnn_type must be 'gru' or 'lstm', received rnn_type={rnn_type!r}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, received num_layers={num_layers!r}")
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, received {implementation!r}")
        if implementation == "keras" and weight_norm:
            raise ValueError("implementation='keras' cannot apply weight_norm; use 'fused' or 'auto'")
        self.rnn_type = rnn_type
        self.units = units
        self.num_layers = num_layers
        self.skip_conn = skip_conn
        self.dropout = dropout
        self.learn_h0 = learn_h0
        self.weight_norm = weight_norm
        self.implementation = implementation
        self.parts = 1 if rnn_type == "gru" else 2
        rnn_class = keras.layers.GRU if rnn_type == "gru" else keras.layers.LSTM
        self.rnns = tracked(
            self,
            "layer",
            (
                rnn_class(units, return_sequences=True, return_state=True, name=f"{rnn_type}_{i}")
                for i in range(num_layers)
            ),
        )
        self.drop = keras.layers.Dropout(dropout) if dropout else None
        if skip_conn:
            # One bias for the summed projections is enough; the others would be redundant.
            self.skip_out = tracked(
                self,
                "skip_out",
                (
                    Dense(units, use_bias=i == 0, weight_norm=weight_norm, name=f"skip_out_{i}")
                    for i in range(num_layers)
                ),
            )

    def build(self, input_shape):
        in_dim = input_shape[-1]
        kernel_g, recurrent_g = [], []
        for i, rnn in enumerate(self.rnns):
            layer_in = in_dim if i == 0 else self.units + (in_dim if self.skip_conn else 0)
            rnn.build((None, None, layer_in))
            if self.weight_norm:
                for gains, name, kernel in (
                    (kernel_g, "kernel_g", rnn.cell.kernel),
                    (recurrent_g, "recurrent_g", rnn.cell.recurrent_kernel),
                ):
                    gains.append(
                        self.add_weight(name=f"{name}_{i}", shape=(kernel.shape[-1],), initializer=column_norms(kernel))
                    )
        self.kernel_g = tracked(self, "kernel_g", kernel_g)
        self.recurrent_g = tracked(self, "recurrent_g", recurrent_g)
        if self.skip_conn:
            for proj in self.skip_out:
                proj.build((None, None, self.units))
        if self.learn_h0:
            self.h0 = self.add_weight(name="h0", shape=(self.num_layers, self.parts, self.units), initializer="zeros")

    def initial_state(self, batch_size):
        """The state every sequence starts from: learned when `learn_h0`, else zeros."""
        shape = (self.num_layers, self.parts, batch_size, self.units)
        if self.learn_h0:
            h0 = tf.cast(self.h0, self.compute_dtype)
            return tf.broadcast_to(h0[:, :, None, :], shape)
        return tf.zeros(shape, self.compute_dtype)

    def uses_keras_layers(self):
        if self.implementation == "auto":
            return gpu_available() and not self.weight_norm
        return self.implementation == "keras"

    def layer_weights(self, i, dtype=None):
        """(kernel, recurrent_kernel, bias) of layer i as used in the computation, in `dtype`
        (default: the compute dtype)."""
        dtype = dtype or self.compute_dtype
        cell = self.rnns[i].cell
        kernel, recurrent = cell.kernel, cell.recurrent_kernel
        if self.weight_norm:
            kernel = weight_normalized(kernel, self.kernel_g[i])
            recurrent = weight_normalized(recurrent, self.recurrent_g[i])
        return tf.cast(kernel, dtype), tf.cast(recurrent, dtype), tf.cast(cell.bias, dtype)

    def call(self, inputs, state, training=False):
        """inputs (batch, time, in_dim), state (layers, parts, batch, units) -> (batch, time, units), state."""
        keras_path = self.uses_keras_layers()
        x, outputs, new_state = inputs, [], []
        for i in range(self.num_layers):
            if i > 0 and self.skip_conn:
                x = tf.concat([x, inputs], axis=-1)
            if keras_path:
                seq, *parts = self.rnns[i](x, initial_state=list(tf.unstack(state[i])), training=training)
            else:
                seq, parts = self._run_layer(i, x, state[i])
            new_state.append(tf.stack(parts))
            x = self.drop(seq, training=training) if self.drop else seq
            outputs.append(x)
        return self.combine(outputs), tf.stack(new_state)

    def combine(self, outputs):
        """The stack's output from every layer's: the last one, or with skip connections the sum
        of their projections."""
        if not self.skip_conn:
            return outputs[-1]
        total = self.skip_out[0](outputs[0])
        for proj, out in zip(self.skip_out[1:], outputs[1:]):
            total = total + proj(out)
        return total

    def _run_layer(self, i, x, state):
        """Layer i over a whole sequence with the input projection hoisted out of the loop."""
        kernel, recurrent, bias = self.layer_weights(i)
        input_bias = bias[0] if self.rnn_type == "gru" else bias
        x_proj = tf.transpose(matmul_last(x, kernel) + input_bias, (1, 0, 2))  # (time, batch, gates)
        if self.rnn_type == "gru":
            hs = gru_sequence(x_proj, state[0], recurrent, bias[1])
            return tf.transpose(hs, (1, 0, 2)), [hs[-1]]
        hs, cs = tf.scan(
            lambda hc, xp: lstm_update(xp + tf.matmul(hc[0], recurrent), hc[1]),
            x_proj,
            initializer=(state[0], state[1]),
        )
        return tf.transpose(hs, (1, 0, 2)), [hs[-1], cs[-1]]

    def get_config(self):
        return {
            **super().get_config(),
            "rnn_type": self.rnn_type,
            "units": self.units,
            "num_layers": self.num_layers,
            "skip_conn": self.skip_conn,
            "dropout": self.dropout,
            "learn_h0": self.learn_h0,
            "weight_norm": self.weight_norm,
            "implementation": self.implementation,
        }
