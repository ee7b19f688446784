import numpy as np
import pytest
import tensorflow as tf

from samplernn import quantize

MU = 255.0


# --- NumPy reference implementations, written from the formulas rather than from the code.


def np_mu_law_encode(x):
    x = np.clip(np.asarray(x, np.float64), -1.0, 1.0)
    companded = np.sign(x) * np.log1p(MU * np.abs(x)) / np.log1p(MU)
    return np.floor((companded + 1.0) / 2.0 * MU + 0.5).astype(np.int64)


def np_mu_law_decode(q):
    companded = 2.0 * np.asarray(q, np.float64) / MU - 1.0
    return np.sign(companded) * ((1.0 + MU) ** np.abs(companded) - 1.0) / MU


def np_linear_encode(x, q_levels):
    x = np.clip(np.asarray(x, np.float64), -1.0, 1.0)
    return np.floor((x + 1.0) / 2.0 * (q_levels - 1) + 0.5).astype(np.int64)


def np_linear_decode(q, q_levels):
    return 2.0 * np.asarray(q, np.float64) / (q_levels - 1) - 1.0


SCHEMES = [("mu-law", 256), ("linear", 256), ("linear", 16), ("linear", 1024), ("linear", 255)]


def enc(x, q_type, q_levels):
    return quantize.encode(tf.constant(x, tf.float32), q_type, q_levels).numpy()


def dec(q, q_type, q_levels):
    return quantize.decode(tf.constant(q, tf.int32), q_type, q_levels).numpy()


def random_audio(n=20000, seed=0):
    rng = np.random.default_rng(seed)
    # Mostly small values, where mu-law's steps are finest, plus the full range and the ends.
    x = np.concatenate([rng.uniform(-1, 1, n // 2), rng.normal(0, 0.01, n // 2), [-1.0, 1.0, 0.0]])
    return np.clip(x, -1, 1).astype(np.float32)


def test_mu_law_matches_the_numpy_reference():
    x = random_audio()
    got = enc(x, "mu-law", 256)
    want = np_mu_law_encode(x)
    # float32 vs float64 may round a value lying exactly on a decision boundary differently.
    assert np.mean(got == want) > 0.999
    assert np.max(np.abs(got - want)) <= 1
    levels = np.arange(256)
    np.testing.assert_allclose(dec(levels, "mu-law", 256), np_mu_law_decode(levels), atol=2e-6)


@pytest.mark.parametrize("q_levels", [16, 256, 1024])
def test_linear_matches_the_numpy_reference(q_levels):
    x = random_audio()
    got = enc(x, "linear", q_levels)
    want = np_linear_encode(x, q_levels)
    assert np.mean(got == want) > 0.999
    assert np.max(np.abs(got - want)) <= 1
    levels = np.arange(q_levels)
    np.testing.assert_allclose(dec(levels, "linear", q_levels), np_linear_decode(levels, q_levels), atol=1e-6)


@pytest.mark.parametrize(("q_type", "q_levels"), SCHEMES)
def test_levels_stay_in_range_even_for_out_of_range_input(q_type, q_levels):
    x = np.concatenate([random_audio(), [-5.0, 5.0, -1.0001, 1.0001, np.finfo(np.float32).max]]).astype(np.float32)
    q = enc(x, q_type, q_levels)
    assert q.dtype == np.int32
    assert q.min() >= 0 and q.max() <= q_levels - 1
    # The extremes use the extreme levels.
    assert enc([-1.0, 1.0], q_type, q_levels).tolist() == [0, q_levels - 1]
    decoded = dec(np.arange(q_levels), q_type, q_levels)
    assert decoded.dtype == np.float32
    assert decoded.min() >= -1.0 - 1e-6 and decoded.max() <= 1.0 + 1e-6


def compand(x):
    return np.sign(x) * np.log1p(MU * np.abs(x)) / np.log1p(MU)


@pytest.mark.parametrize(("q_type", "q_levels"), SCHEMES)
def test_round_trip_error_is_within_the_quantization_step(q_type, q_levels):
    x = random_audio().astype(np.float64)
    q = enc(x, q_type, q_levels)
    y = dec(q, q_type, q_levels).astype(np.float64)
    if q_type == "linear":
        # Uniform steps of 2 / (q_levels - 1): rounding is off by at most half of one.
        assert np.max(np.abs(x - y)) <= 1.0 / (q_levels - 1) + 1e-6
    else:
        # Uniform steps in the companded domain, so at most half a step there ...
        assert np.max(np.abs(compand(x) - compand(y))) <= 1.0 / MU + 1e-5
        # ... and in the signal domain at most the wider of the two steps around the level.
        table = np_mu_law_decode(np.arange(q_levels))
        steps = np.diff(table)
        step = np.maximum(steps[np.clip(q - 1, 0, q_levels - 2)], steps[np.clip(q, 0, q_levels - 2)])
        assert np.all(np.abs(x - y) <= step + 1e-6)
        # Near silence that is a far finer resolution than a linear quantizer's.
        small = np.abs(x) < 0.01
        assert np.max(np.abs(x - y)[small]) < 1.0 / 255 / 5


def test_mu_law_steps_are_finest_near_zero():
    table = dec(np.arange(256), "mu-law", 256)
    steps = np.diff(table)
    assert steps[127] < steps[200] < steps[254]
    assert steps[127] < 1e-3 and steps[254] > 0.03


@pytest.mark.parametrize(("q_type", "q_levels"), SCHEMES)
def test_silence_maps_to_the_middle_level(q_type, q_levels):
    middle = quantize.silence_level(q_levels)
    assert middle == q_levels // 2
    assert enc(np.zeros(8), q_type, q_levels).tolist() == [middle] * 8
    # ... and the middle level decodes to (almost exactly) silence.
    assert abs(float(dec([middle], q_type, q_levels)[0])) <= 1.0 / (q_levels - 1) + 1e-6


@pytest.mark.parametrize(("q_type", "q_levels"), SCHEMES)
def test_encoding_is_monotonic_over_a_ramp(q_type, q_levels):
    ramp = np.linspace(-1.0, 1.0, 100001, dtype=np.float32)
    q = enc(ramp, q_type, q_levels)
    assert np.all(np.diff(q) >= 0)
    # The ramp is fine enough to hit every level.
    assert np.array_equal(np.unique(q), np.arange(q_levels))
    assert np.all(np.diff(dec(np.arange(q_levels), q_type, q_levels)) > 0)


@pytest.mark.parametrize(("q_type", "q_levels"), SCHEMES)
def test_every_level_decodes_and_re_encodes_to_itself(q_type, q_levels):
    levels = np.arange(q_levels, dtype=np.int32)
    assert enc(dec(levels, q_type, q_levels), q_type, q_levels).tolist() == levels.tolist()


def test_mu_law_is_symmetric_about_the_middle():
    x = np.linspace(0.0, 1.0, 1001, dtype=np.float32)
    # 256 levels have no exact middle: q(x) + q(-x) is 255 or 256, never further off.
    sums = enc(x, "mu-law", 256) + enc(-x, "mu-law", 256)
    assert set(np.unique(sums).tolist()) <= {255, 256}
    table = dec(np.arange(256), "mu-law", 256)
    np.testing.assert_allclose(table, -table[::-1], atol=1e-6)


def test_linear_honours_q_levels():
    x = np.linspace(-1.0, 1.0, 5001, dtype=np.float32)
    assert len(np.unique(enc(x, "linear", 16))) == 16
    assert len(np.unique(enc(x, "linear", 1024))) == 1024
    # Equal spacing: 16 levels split [-1, 1] into 15 steps of 2/15.
    np.testing.assert_allclose(np.diff(dec(np.arange(16), "linear", 16)), np.full(15, 2 / 15), rtol=1e-5)


def test_encode_and_decode_dispatch_on_q_type():
    x = np.array([-0.5, -0.01, 0.0, 0.01, 0.5], np.float32)
    assert enc(x, "mu-law", 256).tolist() == quantize.mu_law_encode(x).numpy().tolist()
    assert enc(x, "linear", 256).tolist() == quantize.linear_encode(x, 256).numpy().tolist()
    assert enc(x, "mu-law", 256).tolist() != enc(x, "linear", 256).tolist()


def test_works_inside_tf_function_graph_mode_with_any_shape():
    traced = []

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32)])
    def round_trip(audio):
        traced.append(tf.executing_eagerly())
        mu = quantize.decode(quantize.encode(audio, "mu-law", 256), "mu-law", 256)
        lin = quantize.decode(quantize.encode(audio, "linear", 64), "linear", 64)
        return quantize.encode(audio, "mu-law", 256), mu, lin

    x = random_audio(4000)[:4000].reshape(2, -1)
    q, mu, lin = round_trip(tf.constant(x))
    assert traced == [False]  # really ran as a graph
    assert q.shape == (2, x.shape[1]) and q.dtype == tf.int32
    np.testing.assert_array_equal(q.numpy(), enc(x, "mu-law", 256))
    np.testing.assert_allclose(mu.numpy(), dec(enc(x, "mu-law", 256), "mu-law", 256), atol=1e-5)
    assert np.max(np.abs(lin.numpy() - x)) <= 1 / 63 + 1e-6
    # A second shape reuses the same graph.
    round_trip(tf.constant(x[:, :10]))
    assert traced == [False]


def test_accepts_float64_and_numpy_input():
    x = np.array([-1.0, 0.0, 1.0])
    assert quantize.encode(x, "mu-law", 256).numpy().tolist() == [0, 128, 255]
    assert quantize.encode(x, "linear", 16).numpy().tolist() == [0, 8, 15]
