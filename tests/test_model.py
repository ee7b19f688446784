import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_config

from samplernn.layers import Dense, window_lookup_sum
from samplernn.model import FrameTier, SampleMLP, SampleRNN, build_model, inference_copy, levels_to_input
from samplernn.rnn import RNNStack
from samplernn.stepping import TierStep

BATCH = 3


def small_config(**changes):
    """The tiny config with one big-frame step per subsequence: eager calls stay fast."""
    return tiny_config(**{"seq_len": 16, **changes})


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(1234)


def random_seq(config, batch=BATCH, seed=0, length=None):
    rng = np.random.default_rng(seed)
    length = length or config.big_frame_size + config.seq_len
    return tf.constant(rng.integers(0, config.q_levels, (batch, length)), tf.int32)


def run(model, seq, states=None, training=False):
    states = states or model.initial_states(seq.shape[0])
    logits, *states = model((seq, *states), training=training)
    return (logits.numpy(), *states)


def randomize(model, seed=1, scale=0.3):
    """Give every weight (including h0 and the weight-norm gains) random values, so that tests
    see all of them: freshly built, h0 is zero and g equals the kernels' norms."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        w.assign(rng.normal(0.0, scale, w.shape).astype(w.dtype))


# --- shapes


VARIANTS = [
    *itertools.product(["gru", "lstm"], [False, True], [(False, False), (True, True)]),
    ("gru", False, (True, False)),
    ("lstm", True, (False, True)),
]


@pytest.mark.parametrize(("rnn_type", "skip_conn", "extras"), VARIANTS)
def test_logits_and_state_shapes(rnn_type, skip_conn, extras):
    learn_h0, weight_norm = extras
    config = small_config(
        rnn_type=rnn_type, skip_conn=skip_conn, learn_h0=learn_h0, weight_norm=weight_norm, num_rnn_layers=2
    )
    model = build_model(config)
    parts = 1 if rnn_type == "gru" else 2

    logits, big, frame = run(model, random_seq(config))

    assert logits.shape == (BATCH, config.seq_len, config.q_levels)
    assert logits.dtype == np.float32
    assert np.isfinite(logits).all()
    assert big.shape == frame.shape == (2, parts, BATCH, config.dim)
    names = [w.path for w in model.weights]
    assert any(n.endswith("rnn/h0") for n in names) == learn_h0
    assert any(n.endswith("/g") or "_g" in n for n in names) == weight_norm
    assert any("skip_out" in n for n in names) == skip_conn
    assert any(f"{rnn_type}_1" in n for n in names)


@pytest.mark.parametrize(
    ("frame_sizes", "attributes"),
    [((4,), ["frame_tier"]), ((4, 16), ["big_tier", "frame_tier"]), ((2, 4, 16), ["tier_2", "big_tier", "frame_tier"])],
)
def test_one_frame_tier_per_frame_size(frame_sizes, attributes):
    config = small_config(frame_sizes=frame_sizes, num_rnn_layers=2, rnn_type="lstm")
    model = build_model(config)
    logits, *states = run(model, random_seq(config))
    assert logits.shape == (BATCH, config.seq_len, config.q_levels)
    assert [s.shape for s in states] == [(2, 2, BATCH, config.dim)] * len(frame_sizes)
    # Top first; each tier's output upsampled to the step rate of the one below it, the
    # bottom one's to one vector per sample; the names under which checkpoints keep them.
    assert [t.frame_size for t in model.tiers] == list(reversed(frame_sizes))
    assert [t.ratio for t in model.tiers] == [b // a for a, b in zip((1, *frame_sizes), frame_sizes)][::-1]
    assert [t for t in model.tiers] == [getattr(model, name) for name in attributes]
    assert len(model.trainable_variables) == len(frame_sizes) * len(model.tiers[0].trainable_variables) + len(
        model.sample_mlp.trainable_variables
    )


def test_linear_quantization_with_other_levels_sets_the_logits_width():
    config = small_config(q_type="linear", q_levels=64)
    logits, _, _ = run(build_model(config), random_seq(config))
    assert logits.shape == (BATCH, config.seq_len, 64)


def test_emb_size_is_honoured():
    for emb_size in (3, 8):
        model = build_model(tiny_config(emb_size=emb_size))
        assert model.sample_mlp.embedding.embeddings.shape == (256, emb_size)
        assert model.sample_mlp.input_kernel.shape == (4 * emb_size, 16)


def test_levels_to_input_spans_minus_two_to_two():
    x = levels_to_input(tf.constant([0, 128, 255]), 256, tf.float32).numpy()
    np.testing.assert_allclose(x, [-2.0, 4.0 * 128 / 255 - 2.0, 2.0], atol=1e-6)


def test_learned_h0_is_the_initial_state_and_zero_state_without_it():
    config = small_config(rnn_type="lstm", num_rnn_layers=2, learn_h0=True)
    model = build_model(config)
    randomize(model)
    big, frame = model.initial_states(2)
    h0 = model.big_tier.rnn.h0.numpy()
    np.testing.assert_array_equal(big.numpy()[:, :, 0], h0)
    np.testing.assert_array_equal(big.numpy()[:, :, 1], h0)
    assert np.abs(frame.numpy()).sum() > 0
    plain = build_model(config.replace(learn_h0=False))
    big, frame = plain.initial_states(2)
    assert not big.numpy().any() and not frame.numpy().any()


# --- the two RNN implementations


@pytest.mark.parametrize(("rnn_type", "skip_conn"), [("gru", True), ("lstm", True), ("lstm", False)])
def test_fused_and_keras_rnn_implementations_agree(rnn_type, skip_conn):
    """The 'keras' path calls keras.layers.GRU/LSTM (cuDNN on a GPU); 'fused' is the own loop."""
    config = small_config(rnn_type=rnn_type, skip_conn=skip_conn, num_rnn_layers=2, weight_norm=False)
    fused = build_model(config, rnn_implementation="fused")
    randomize(fused)
    reference = build_model(config, rnn_implementation="keras")
    reference.set_weights(fused.get_weights())
    assert fused.big_tier.rnn.uses_keras_layers() is False
    assert reference.big_tier.rnn.uses_keras_layers() is True
    seq = random_seq(config)

    a_logits, a_big, a_frame = run(fused, seq)
    b_logits, b_big, b_frame = run(reference, seq)
    np.testing.assert_allclose(a_logits, b_logits, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(a_big.numpy(), b_big.numpy(), atol=1e-5)
    np.testing.assert_allclose(a_frame.numpy(), b_frame.numpy(), atol=1e-5)
    # A second subsequence from the carried states agrees as well.
    seq2 = random_seq(config, seed=5)
    a2, _, _ = run(fused, seq2, (a_big, a_frame))
    b2, _, _ = run(reference, seq2, (b_big, b_frame))
    np.testing.assert_allclose(a2, b2, atol=1e-4, rtol=1e-4)


def test_auto_runs_the_fused_loop_on_the_cpu_and_keras_cannot_weight_normalize():
    model = build_model(tiny_config(weight_norm=False))
    if not tf.config.list_logical_devices("GPU"):
        assert model.big_tier.rnn.uses_keras_layers() is False
    with pytest.raises(ValueError, match="weight_norm"):
        build_model(tiny_config(weight_norm=True), rnn_implementation="keras")


def test_tier_step_refuses_an_unknown_form():
    with pytest.raises(ValueError, match="form must be one of .* got 'packed'"):
        TierStep(build_model(tiny_config()).frame_tier).weights(form="packed")


@pytest.mark.parametrize(
    ("rnn_type", "skip_conn", "weight_norm", "form"),
    [
        ("gru", False, False, "rows"),
        ("gru", False, False, "parts"),
        ("gru", True, True, "fused"),
        ("gru", True, False, "parts"),
        ("lstm", False, True, "fused"),
        ("lstm", True, False, "rows"),
    ],
)
def test_tier_steps_equal_the_sequence_call(rnn_type, skip_conn, weight_norm, form):
    # Generation's single-step form (folded input projection, concatenated output kernels,
    # recurrent projections carried between steps) against the training forward pass, with
    # the output kernels in each form: biases as kernel rows (XLA's), beside the kernels
    # (oneDNN's fused products) or the model's kernels in parts.
    config = small_config(
        rnn_type=rnn_type, skip_conn=skip_conn, weight_norm=weight_norm, learn_h0=True, num_rnn_layers=3
    )
    model = build_model(config)
    randomize(model)
    rng = np.random.default_rng(0)
    for tier, cond in (
        (model.big_tier, None),
        (model.frame_tier, tf.constant(rng.normal(size=(2, 5, config.dim)), tf.float32)),
    ):
        stepper = TierStep(tier)
        w = stepper.weights(form=form)
        frames = tf.constant(rng.integers(0, 256, (2, 5, tier.frame_size)), tf.int32)
        state = tier.initial_state(2)
        whole, whole_state = tier(frames, cond, state)

        projected = None if cond is None else stepper.conditioning(w, cond)
        recurrent = stepper.recurrent(w, state)
        pieces = []
        for t in range(5):
            up, state, recurrent = stepper.step(
                w, frames[:, t], None if projected is None else projected[:, t], state, recurrent
            )
            pieces.append(up)
        np.testing.assert_allclose(np.concatenate(pieces, axis=1), whole.numpy(), atol=1e-4)
        np.testing.assert_allclose(state.numpy(), whole_state.numpy(), atol=1e-5)
        # The projections a step hands on are those of the state it returns.
        np.testing.assert_allclose(recurrent.numpy(), stepper.recurrent(w, state).numpy(), atol=1e-4)

        # A map folded into the upsampling comes out applied to each of the step's outputs.
        out_map = rng.normal(size=(config.dim, config.dim)).astype(np.float32)
        mapped = stepper.weights(tf.constant(out_map), form)
        start = tier.initial_state(2)
        cond0 = None if projected is None else projected[:, 0]
        up = stepper.step(mapped, frames[:, 0], cond0, start, stepper.recurrent(mapped, start))[0]
        np.testing.assert_allclose(up.numpy(), whole[:, : tier.ratio].numpy() @ out_map, atol=1e-4)


# --- the sample MLP's input layer


@pytest.mark.parametrize("input_relu", [True, False])
def test_sample_mlp_equals_a_dense_layer_over_the_window_embeddings(input_relu):
    mlp = SampleMLP(frame_size=4, q_levels=32, emb_size=5, dim=6, weight_norm=True, input_relu=input_relu)
    mlp.build(None)
    rng = np.random.default_rng(0)
    for w in mlp.weights:
        w.assign(rng.normal(0.0, 0.5, w.shape).astype(np.float32))
    windows = tf.constant(rng.integers(0, 32, (2, 9, 4)), tf.int32)
    cond = tf.constant(rng.normal(size=(2, 9, 6)), tf.float32)

    got = mlp(windows, cond).numpy()

    emb = tf.gather(mlp.embedding.embeddings, windows)  # (2, 9, 4, 5)
    flat = tf.reshape(emb, (2, 9, 20))
    kernel = mlp.input_kernel * (mlp.input_g / tf.norm(mlp.input_kernel, axis=0))
    x = flat @ kernel + mlp.input_bias + cond
    x = tf.nn.relu(x) if input_relu else x
    for layer in mlp.hidden:
        x = tf.nn.relu(x @ layer.effective_kernel() + layer.bias)
    want = x @ mlp.logits.effective_kernel() + mlp.logits.bias
    np.testing.assert_allclose(got, want.numpy(), atol=1e-4, rtol=1e-4)

    # Generation's per-sample form (tables and bias-row kernels arranged once) computes the same.
    # Without the input ReLU the first hidden layer is folded in: one kernel fewer per sample,
    # and the conditioning arrives through that layer's kernel.
    weights = mlp.generation_weights()
    assert len(weights[2]) == (3 if input_relu else 2)
    mapped = cond if input_relu else cond @ mlp.conditioning_map()
    stepped = [mlp.step(windows[:, t], mapped[:, t], weights) for t in range(9)]
    np.testing.assert_allclose(np.stack(stepped, axis=1), want.numpy(), atol=1e-4, rtol=1e-4)


def test_window_lookup_sum_gradient_matches_plain_gathers():
    rng = np.random.default_rng(0)
    tables = tf.Variable(rng.normal(size=(3, 10, 4)).astype(np.float32))
    windows = tf.constant(rng.integers(0, 10, (2, 5, 3)), tf.int32)
    upstream = tf.constant(rng.normal(size=(2, 5, 4)).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        fast = window_lookup_sum(tables, windows)
        plain = sum(tf.gather(tables[k], windows[..., k]) for k in range(3))
        fast_loss = tf.reduce_sum(fast * upstream)
        plain_loss = tf.reduce_sum(plain * upstream)
    np.testing.assert_allclose(fast.numpy(), plain.numpy(), atol=1e-6)
    np.testing.assert_allclose(
        tape.gradient(fast_loss, tables).numpy(),
        tf.convert_to_tensor(tape.gradient(plain_loss, tables)).numpy(),
        atol=1e-5,
    )


# --- state and causality


@pytest.mark.parametrize("rnn_type", ["gru", "lstm"])
def test_two_halves_with_the_state_carried_equal_the_whole(rnn_type):
    half_config = small_config(rnn_type=rnn_type, num_rnn_layers=2, skip_conn=True)
    whole_config = half_config.replace(seq_len=2 * half_config.seq_len)
    half_model = build_model(half_config)
    randomize(half_model)
    whole_model = build_model(whole_config)
    whole_model.set_weights(half_model.get_weights())  # seq_len changes no weight
    g, t = half_config.big_frame_size, half_config.seq_len
    seq = random_seq(whole_config)

    whole, whole_big, whole_frame = run(whole_model, seq)
    first, big, frame = run(half_model, seq[:, : g + t])
    second, big, frame = run(half_model, seq[:, t:], (big, frame))

    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(big.numpy(), whole_big.numpy(), atol=1e-5)
    np.testing.assert_allclose(frame.numpy(), whole_frame.numpy(), atol=1e-5)
    # ... whereas restarting the second half from the initial state gives other logits.
    restarted, _, _ = run(half_model, seq[:, t:])
    assert np.abs(restarted - second).max() > 1e-3


@pytest.mark.parametrize(
    ("skip_conn", "frame_sizes"), [(False, (4, 16)), (True, (4, 16)), (True, (4,)), (False, (2, 4, 16))]
)
def test_changing_a_sample_changes_no_earlier_logit(skip_conn, frame_sizes):
    config = tiny_config(num_rnn_layers=2, skip_conn=skip_conn, seq_len=64, frame_sizes=frame_sizes)
    model = build_model(config)
    randomize(model)
    g = config.big_frame_size
    base = random_seq(config, batch=1).numpy()
    targets = [0, 3, 4, 15, 16, 17, 40, 63]
    # Row 0 is the original; row r + 1 has target sample targets[r] changed. Rows are independent.
    batch = np.repeat(base, len(targets) + 1, axis=0)
    for row, target in enumerate(targets, 1):
        batch[row, g + target] = (batch[row, g + target] + 128) % 256

    logits, *_ = run(model, tf.constant(batch))

    for row, target in enumerate(targets, 1):
        # Logit i predicts sample g + i: it sees only the samples before it.
        np.testing.assert_allclose(logits[row, : target + 1], logits[0, : target + 1], atol=1e-5)
        if target + 1 < config.seq_len:
            assert np.abs(logits[row, target + 1] - logits[0, target + 1]).max() > 1e-4


def test_the_context_before_the_targets_conditions_the_first_logit():
    config = small_config()
    model = build_model(config)
    randomize(model)
    seq = random_seq(config, batch=1)
    base, _, _ = run(model, seq)
    changed = seq.numpy().copy()
    changed[:, config.big_frame_size - 1] = (changed[:, config.big_frame_size - 1] + 100) % 256
    logits, _, _ = run(model, tf.constant(changed))
    assert np.abs(logits[:, 0] - base[:, 0]).max() > 1e-4


# --- serialization, precision, dropout


def layer_instances():
    return [
        Dense(7, activation="relu", use_bias=False, weight_norm=True, name="d"),
        RNNStack("lstm", 6, 2, skip_conn=True, dropout=0.2, learn_h0=True, weight_norm=False, implementation="fused"),
        FrameTier(16, 4, 8, "gru", 2, 256, skip_conn=True, dropout=0.1, learn_h0=True, weight_norm=True, name="t"),
        SampleMLP(4, 256, 8, 16, weight_norm=True, name="mlp"),
    ]


@pytest.mark.parametrize("layer", layer_instances(), ids=lambda layer: type(layer).__name__)
def test_layer_get_config_round_trips(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(revived) is type(layer)
    assert revived.get_config() == config


def test_model_round_trips_through_keras_serialization_with_the_same_outputs():
    config = small_config(rnn_type="lstm", num_rnn_layers=2, skip_conn=True, rnn_dropout=0.1, emb_size=5)
    model = build_model(config)
    randomize(model)
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    assert isinstance(revived, SampleRNN)
    assert revived.config == config
    assert revived.get_config() == model.get_config()
    revived.set_weights(model.get_weights())
    seq = random_seq(config)
    np.testing.assert_allclose(run(revived, seq)[0], run(model, seq)[0], atol=1e-6)


def test_mixed_bfloat16_computes_in_bfloat16_and_returns_float32_logits():
    config = small_config(num_rnn_layers=2)
    model = build_model(config, precision="mixed_bfloat16")
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    assert model.big_tier.compute_dtype == "bfloat16"
    assert all(w.dtype == "float32" for w in model.weights)
    logits, big, frame = run(model, random_seq(config))
    assert logits.dtype == np.float32
    assert big.dtype == frame.dtype == tf.bfloat16
    assert np.isfinite(logits).all()
    # Close to the float32 model with the same weights, to bfloat16's precision.
    reference = build_model(config)
    reference.set_weights(model.get_weights())
    np.testing.assert_allclose(logits, run(reference, random_seq(config))[0], atol=0.1)


def test_dropout_is_off_unless_training():
    config = small_config(num_rnn_layers=2, rnn_dropout=0.5)
    model = build_model(config)
    randomize(model)
    seq = random_seq(config)
    first, _, _ = run(model, seq, training=False)
    second, _, _ = run(model, seq, training=False)
    np.testing.assert_array_equal(first, second)
    trained_a, _, _ = run(model, seq, training=True)
    trained_b, _, _ = run(model, seq, training=True)
    assert np.abs(trained_a - trained_b).max() > 1e-4
    assert np.abs(trained_a - first).max() > 1e-4
    # Without dropout configured, training=True changes nothing.
    plain = build_model(config.replace(rnn_dropout=0.0))
    plain.set_weights(model.get_weights())
    np.testing.assert_allclose(run(plain, seq, training=True)[0], first, atol=1e-5)


def test_gradients_reach_every_trainable_weight():
    # A learned h0 is one of the weights; it also keeps the recurrent kernels' gradient non-zero
    # when a tier takes a single step from its initial state.
    config = small_config(num_rnn_layers=2, skip_conn=True, rnn_type="lstm", learn_h0=True)
    model = build_model(config)
    randomize(model)
    seq = random_seq(config)
    with tf.GradientTape() as tape:
        logits, _, _ = model((seq, *model.initial_states(BATCH)), training=True)
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=seq[:, config.big_frame_size :], logits=logits)
        )
    grads = tape.gradient(loss, model.trainable_variables)
    missing = [v.path for v, g in zip(model.trainable_variables, grads) if g is None]
    assert missing == []
    zero = [v.path for v, g in zip(model.trainable_variables, grads) if not np.any(tf.convert_to_tensor(g).numpy())]
    assert zero == []


def test_gru_sequence_gradient_matches_automatic_differentiation():
    from samplernn.rnn import gru_gates, gru_sequence

    rng = np.random.default_rng(0)
    steps, batch, units = 7, 3, 5
    x = tf.constant(rng.normal(size=(steps, batch, 3 * units)), tf.float32)
    h0 = tf.constant(rng.normal(size=(batch, units)), tf.float32)
    kernel = tf.constant(rng.normal(size=(units, 3 * units)) * 0.5, tf.float32)
    bias = tf.constant(rng.normal(size=(3 * units,)), tf.float32)
    weights = tf.constant(rng.normal(size=(steps, batch, units)), tf.float32)

    def plain(x, h0, kernel, bias):
        return tf.scan(lambda h, xp: gru_gates(xp, h, kernel, bias)[0], x, initializer=h0)

    results = []
    for fn in (plain, gru_sequence):
        with tf.GradientTape() as tape:
            tape.watch([x, h0, kernel, bias])
            hs = fn(x, h0, kernel, bias)
            loss = tf.reduce_sum(hs * weights) + tf.reduce_sum(hs[-1] ** 2)
        results.append((hs, tape.gradient(loss, [x, h0, kernel, bias])))
    (hs_plain, grads_plain), (hs_fast, grads_fast) = results
    np.testing.assert_allclose(hs_fast, hs_plain, atol=1e-6)
    for fast, ref in zip(grads_fast, grads_plain):
        np.testing.assert_allclose(fast, ref, rtol=1e-4, atol=1e-5)


def test_a_model_built_uninitialized_has_the_same_weights_and_a_copy_fills_them_all():
    # Generation restores every weight, so it builds the model without running initializers;
    # whatever the unfilled memory held must not survive inference_copy (restoring checks
    # that every weight was read).
    config = tiny_config(learn_h0=True, skip_conn=True, num_rnn_layers=2)
    plain, unfilled = build_model(config), build_model(config, initialize=False)
    assert [(v.path, v.shape) for v in unfilled.weights] == [(v.path, v.shape) for v in plain.weights]
    source = build_model(config.replace(weight_norm=True))
    randomize(source)
    inference_copy(source, into=unfilled)
    reference = inference_copy(source)
    for got, want in zip(unfilled.weights, reference.weights):
        np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=got.path)
    assert any(np.any(v.numpy()) for v in build_model(config).weights)  # initializers run again afterwards
