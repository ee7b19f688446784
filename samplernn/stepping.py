"""One step of a frame-level tier at a time, as generation runs it.

Generating a few sequences is bound by memory bandwidth: each step reads every weight matrix
of the tier from memory for a single row of input, and a matrix-vector product streams best
when it is large. So the step is arranged around the vectors rather than the layers:

- Each layer's new state h_i multiplies one kernel that concatenates everything h_i feeds:
  the next layer's input kernel, its own recurrent kernel (for the next step), its skip
  projection, and for the top layer of a plain stack the upsampling. One large product per
  layer instead of two or three smaller ones; the recurrent part of the next step comes out
  of this step, ready.
- The frame's input projection is folded into the input kernel, so the frame reaches the
  gates through one (frame_size, width) matrix instead of two dim-wide ones.
- Conditioning from the tier above enters through that same input kernel and is projected
  for all `ratio` steps at once, when the tier above steps, as one matrix product.
- The bottom tier's upsampling can carry the sample MLP's first hidden kernel folded in
  (`weights(output_map)`), so the MLP skips that product for each of the frame's samples.
- Each layer's output kernel comes in one of three forms (`weights(form=...)`):
  - `"rows"`: the bias as the kernel's last row, one plain product, for XLA;
  - `"fused"`: the bias beside the kernel, a MatMul followed by a BiasAdd that oneDNN fuses
    in graph mode, and keeps the kernel packed in its own layout between calls (see
    samplernn.cli.assume_frozen_weights), at the cost of that packed copy in memory;
  - `"parts"`: the model's own kernels, not concatenated, one product each and the bias
    added after their outputs are joined, so that oneDNN fuses and packs none of them and
    the step holds no copy of the kernels beside the model's.

The step computes what FrameTier.call computes for one frame (tests hold them equal), for
GRU and LSTM, with or without skip connections, with weight normalization applied.
"""

import tensorflow as tf

from samplernn.layers import matmul_bias_row, matmul_last, with_bias_row
from samplernn.model import levels_to_input
from samplernn.rnn import gru_update, lstm_update

FORMS = ("rows", "fused", "parts")


class TierStep:
    """The single-step form of one FrameTier. `weights()` arranges the tier's weights once per
    traced call; the other methods take that arrangement."""

    def __init__(self, tier):
        self.tier = tier
        self.rnn = rnn = tier.rnn
        self.gates = (3 if rnn.rnn_type == "gru" else 4) * rnn.units
        # Column widths of what each layer's state feeds, in the order weights() concatenates.
        self.widths = []
        for i in range(rnn.num_layers):
            width = [self.gates if i < rnn.num_layers - 1 else 0, self.gates]
            width.append(rnn.units if rnn.skip_conn else 0)
            width.append(tier.dim * tier.ratio if i == rnn.num_layers - 1 and not rnn.skip_conn else 0)
            self.widths.append(width)

    def weights(self, output_map=None, form="rows"):
        """A dict of float32 tensors: the folded frame kernel and bias, the input kernel the tier
        above's conditioning goes through, each layer's output kernel with its bias, and with
        skip connections the upsampling applied to the sum of their outputs.

        output_map: a (dim, dim) matrix folded into the upsampling, so that each of the step's
        outputs comes out already multiplied by it (the sample MLP's conditioning_map()).
        form: "rows", "fused" or "parts", the output kernels' form (see the module's docstring)."""
        if form not in FORMS:
            raise ValueError(f"form must be one of {FORMS}, got {form!r}")
        tier, rnn = self.tier, self.rnn
        units, num = rnn.units, rnn.num_layers
        layers = [rnn.layer_weights(i, "float32") for i in range(num)]
        gru = rnn.rnn_type == "gru"
        input_biases = [bias[0] if gru else bias for _, _, bias in layers]
        recurrent_biases = [bias[1] if gru else tf.zeros((self.gates,)) for _, _, bias in layers]
        upsample = tf.cast(tier.upsample.effective_kernel(), tf.float32)
        upsample_bias = tf.cast(tier.upsample.bias, tf.float32)
        if output_map is not None:
            # The upsampling's columns are `ratio` blocks of dim, one per output step.
            upsample = tf.reshape(tf.matmul(tf.reshape(upsample, (-1, tier.dim)), output_map), tf.shape(upsample))
            upsample_bias = tf.reshape(tf.matmul(tf.reshape(upsample_bias, (-1, tier.dim)), output_map), [-1])
        if rnn.skip_conn:
            # The stack's input reaches every layer: layer 0's kernel and the rows of the
            # others' kernels that take it (RNNStack concatenates [below, input]).
            input_kernel = tf.concat([layers[0][0]] + [kernel[units:] for kernel, _, _ in layers[1:]], axis=1)
            input_bias = tf.concat(input_biases, axis=0)
            below = [(kernel[:units], tf.zeros((self.gates,))) for kernel, _, _ in layers[1:]]
            skips = [tf.cast(proj.effective_kernel(), tf.float32) for proj in rnn.skip_out]
        else:
            input_kernel, input_bias = layers[0][0], input_biases[0]
            below = [(kernel, bias) for (kernel, _, _), bias in zip(layers[1:], input_biases[1:])]
        out_kernels = []
        for i in range(num):
            kernels = [below[i][0]] if i < num - 1 else []
            biases = [below[i][1]] if i < num - 1 else []
            kernels.append(layers[i][1])
            biases.append(recurrent_biases[i])
            if rnn.skip_conn:
                kernels.append(skips[i])
                biases.append(tf.zeros((units,)))
            elif i == num - 1:
                kernels.append(upsample)
                biases.append(upsample_bias)
            bias = tf.concat(biases, axis=0)
            if form == "parts":
                out_kernels.append((kernels, bias))
            elif form == "fused":
                out_kernels.append((tf.concat(kernels, axis=1), bias))
            else:
                out_kernels.append(with_bias_row(tf.concat(kernels, axis=1), bias))
        # levels_to_input is affine, l * scale + offset, so levels_to_input(l) @ P + p equals
        # l @ (scale * P) + (p + offset * sum_rows(P)).
        offset = levels_to_input(0, tier.q_levels, tf.float32)
        scale = levels_to_input(1, tier.q_levels, tf.float32) - offset
        proj = tf.cast(tier.input_proj.effective_kernel(), tf.float32)
        proj_bias = tf.cast(tier.input_proj.bias, tf.float32) + offset * tf.reduce_sum(proj, axis=0)
        w = {
            "frame_kernel": tf.matmul(scale * proj, input_kernel),
            "frame_bias": tf.linalg.matvec(input_kernel, proj_bias, transpose_a=True) + input_bias,
            "input_kernel": input_kernel,
            "out_kernels": out_kernels,
        }
        if rnn.skip_conn:
            w["skip_bias"] = tf.cast(rnn.skip_out[0].bias, tf.float32)
            w["upsample"], w["upsample_bias"] = upsample, upsample_bias
        return w

    def conditioning(self, w, conditioning):
        """The tier above's output (batch, steps, dim) through the input kernel, plus the frame
        bias: (batch, steps, width). A step given it adds no bias of its own."""
        return matmul_last(conditioning, w["input_kernel"], w["frame_bias"])

    def recurrent(self, w, state):
        """The recurrent projections a step needs, from a state (layers, parts, batch, units):
        (layers, batch, gates). Steps return the next ones; this starts a run."""
        # The whole output product for each layer, of which the own part is kept: this runs
        # once per generate(), and it takes every form alike.
        projections = []
        for i in range(self.rnn.num_layers):
            projections.append(tf.split(_product(state[i, 0], w["out_kernels"][i]), self.widths[i], axis=-1)[1])
        return tf.stack(projections)

    def step(self, w, frame, conditioning, state, recurrent):
        """frame (batch, frame_size) levels, conditioning (batch, width) from `conditioning()` or
        None, state and its recurrent projections -> (batch, ratio, dim), the new state and
        its recurrent projections."""
        rnn, gates = self.rnn, self.gates
        stack_in = tf.matmul(tf.cast(frame, tf.float32), w["frame_kernel"])
        stack_in += w["frame_bias"] if conditioning is None else conditioning
        x_proj = stack_in[:, :gates]
        new_state, next_recurrent, skip_sum = [], [], None
        for i in range(rnn.num_layers):
            if rnn.rnn_type == "gru":
                h = gru_update(x_proj, recurrent[i], state[i, 0])[0]
                new_state.append(h[None])
            else:
                h, c = lstm_update(x_proj + recurrent[i], state[i, 1])
                new_state.append(tf.stack([h, c]))
            below, own, skip, up = tf.split(_product(h, w["out_kernels"][i]), self.widths[i], axis=-1)
            next_recurrent.append(own)
            if rnn.skip_conn:
                skip_sum = skip if skip_sum is None else skip_sum + skip
                if i < rnn.num_layers - 1:
                    x_proj = below + stack_in[:, (i + 1) * gates : (i + 2) * gates]
            else:
                x_proj = below
        if rnn.skip_conn:
            up = tf.matmul(skip_sum + w["skip_bias"], w["upsample"]) + w["upsample_bias"]
        out = tf.reshape(up, (-1, self.tier.ratio, self.tier.dim))
        return out, tf.stack(new_state), tf.stack(next_recurrent)


def _product(x, kernel):
    """x @ kernel + bias for an output kernel of any form in weights()."""
    if not isinstance(kernel, tuple):  # rows
        return matmul_bias_row(x, kernel)
    kernels, bias = kernel
    if isinstance(kernels, list):  # parts: no BiasAdd (nor Add) right after a MatMul to fuse
        return tf.concat([tf.matmul(x, k) for k in kernels], axis=-1) + bias
    return tf.nn.bias_add(tf.matmul(x, kernels), bias)  # fused
