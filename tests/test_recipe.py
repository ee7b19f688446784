"""The training recipe: initialisation and optimizer choices that the quality benchmark varies
through SAMPLERNN_RECIPE, and the one-line errors for a bad one."""

import dataclasses

import keras
import numpy as np
import pytest
from conftest import tiny_config, write_corpus, write_wav

from samplernn import checkpoints, cli, data, quantize
from samplernn import recipe as recipes
from samplernn.commands import train_main
from samplernn.errors import UserError
from samplernn.model import build_model
from samplernn.settings import TrainSettings
from samplernn.training import make_optimizer, run_progress, train


def test_no_variable_is_the_default_recipe(monkeypatch):
    monkeypatch.delenv(recipes.ENV, raising=False)
    assert recipes.from_environment() == recipes.DEFAULT
    monkeypatch.setenv(recipes.ENV, '{"init": "he", "warmup_steps": 10}')
    assert recipes.from_environment() == recipes.Recipe(init="he", warmup_steps=10)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("init=he", "not a JSON object"),
        ("[1]", "expected a JSON object"),
        ('{"inti": "he"}', "unknown key 'inti'"),
        ('{"init": "lecun"}', "'init' must be one of glorot, he"),
        ('{"init": {"tier_input": "lecun"}}', "'init' of 'tier_input' must be one of glorot, he"),
        ('{"init": {"rnn": "he"}}', "'init' parts are tier_input, tier_upsample, sample_mlp, got 'rnn'"),
        ('{"init": ["he"]}', "'init' must be a name or an object of part: name"),
        ('{"clipping": "none"}', "'clipping'"),
        ('{"embedding_init": "zeros"}', "'embedding_init' must be one of uniform, normal"),
        ('{"adam_epsilon": 0}', "'adam_epsilon'"),
        ('{"gru_update_bias": "1"}', "'gru_update_bias' must be a number"),
        ('{"lstm_forget_bias": true}', "'lstm_forget_bias' must be a number"),
        ('{"adam_epsilon": "1e-7"}', "'adam_epsilon' must be a number"),
        ('{"logits_bias": "prior"}', "'logits_bias' must be one of zeros, marginal"),
        ('{"adam_beta_2": 1}', "'adam_beta_2'"),
        ('{"warmup_steps": 1.5}', "'warmup_steps'"),
        ('{"decay_to": 1.5}', "'decay_to' must be in [0, 1], got 1.5"),
        ('{"ema": 1}', "'ema' must be in [0, 1), got 1"),
        ('{"ema_ramp": 1}', "'ema_ramp' must be true or false, got 1"),
        ('{"history_noise": 1.5}', "'history_noise' must be a number in [0, 1], got 1.5"),
        ('{"history_quiet": "0.2"}', "'history_quiet' must be a number in [0, 1]"),
        ('{"history_noise": 0.6, "history_quiet": 0.6}', "'history_noise' + 'history_quiet' is a fraction"),
        ('{"history_quiet_gain": 0}', "'history_quiet_gain' must be above 0, got 0"),
        ('{"history_window": 0}', "'history_window' must be a whole number >= 1, got 0"),
        ('{"history_window": 12.5}', "'history_window' must be a whole number >= 1"),
        ('{"lr_scale": [["*", 2]]}', "'lr_scale' must be an object"),
        ('{"lr_scale": {"*bias": 0}}', "'lr_scale' of '*bias' must be a positive number"),
        ('{"lr_scale": {"*bias": "2"}}', "'lr_scale' of '*bias' must be a positive number"),
        ('{"lr_scale": {"*": [4]}}', "'lr_scale' of '*' must be a positive number or a pair [start, end]"),
        ('{"lr_scale": {"*": [4, 2, 1]}}', "'lr_scale' of '*' must be a positive number or a pair"),
        ('{"lr_scale": {"*": [4, 0]}}', "'lr_scale' of '*' must be a positive number or a pair"),
    ],
)
def test_a_bad_recipe_is_one_line_naming_the_variable(monkeypatch, text, named):
    monkeypatch.setenv(recipes.ENV, text)
    with pytest.raises(UserError) as caught:
        recipes.from_environment()
    message = str(caught.value)
    assert recipes.ENV in message and named in message and "\n" not in message


def test_he_init_rescales_the_relu_and_projection_kernels_and_their_gains():
    config = tiny_config(dim=256, emb_size=64, weight_norm=True)
    model = build_model(config)
    recipes.initialize(model, recipes.Recipe(init="he"))
    hidden = model.sample_mlp.hidden[0]
    # He-uniform: standard deviation sqrt(2 / fan_in); Glorot's would be sqrt(2 / (in + out)) here.
    assert np.std(hidden.kernel.numpy()) == pytest.approx(np.sqrt(2 / 256), rel=0.05)
    np.testing.assert_allclose(hidden.g.numpy(), np.linalg.norm(hidden.kernel.numpy(), axis=0), rtol=1e-5)
    fan_in = config.frame_size * config.emb_size
    assert np.std(model.sample_mlp.input_kernel.numpy()) == pytest.approx(np.sqrt(2 / fan_in), rel=0.05)
    upsample = model.frame_tier.upsample.kernel.numpy()
    assert np.std(upsample) == pytest.approx(np.sqrt(2 / 256), rel=0.05)
    # The logits layer keeps its own initialisation.
    assert np.std(model.sample_mlp.logits.kernel.numpy()) < 0.9 * np.sqrt(2 / 256)


def test_init_by_part_leaves_the_other_parts_at_keras_glorot():
    config = tiny_config(dim=256, emb_size=64)

    def stds(init):
        model = build_model(config)
        recipes.initialize(model, recipes.Recipe(init=init))
        tier = model.frame_tier
        kernels = (tier.input_proj.kernel, tier.upsample.kernel, model.sample_mlp.hidden[0].kernel)
        return [np.std(k.numpy()) / np.sqrt(2 / k.shape[0]) for k in kernels]  # 1 for He

    glorot = [np.sqrt(k[0] / sum(k)) for k in [(config.frame_size, 256), (256, 256 * 4), (256, 256)]]
    assert stds({"tier_input": "glorot", "tier_upsample": "he", "sample_mlp": "he"}) == pytest.approx(
        [glorot[0], 1, 1], rel=0.1
    )
    assert stds({"tier_input": "he", "tier_upsample": "glorot", "sample_mlp": "he"}) == pytest.approx(
        [1, glorot[1], 1], rel=0.1
    )
    assert stds({"tier_input": "he", "tier_upsample": "he", "sample_mlp": "glorot"}) == pytest.approx(
        [1, 1, glorot[2]], rel=0.1
    )


def test_init_object_names_some_parts_and_the_rest_keep_the_default():
    default = dict(recipes.DEFAULT.init)
    changed = "he" if default["tier_upsample"] == "glorot" else "glorot"
    recipe = recipes.Recipe(init={"tier_upsample": changed})
    assert recipe.init_of("tier_upsample") == changed
    assert [recipe.init_of(p) for p in ("tier_input", "sample_mlp")] == [default["tier_input"], default["sample_mlp"]]
    assert recipes.Recipe(init="he") == recipes.Recipe(init={p: "he" for p in recipes.INIT_PARTS})


def test_normal_embedding_init_draws_a_standard_normal_and_the_default_keeps_keras():
    model = build_model(tiny_config(q_levels=256, emb_size=64))
    before = model.sample_mlp.embedding.embeddings.numpy()
    assert np.abs(before).max() <= 0.05  # Keras' uniform
    recipes.initialize(model, recipes.Recipe())
    np.testing.assert_array_equal(model.sample_mlp.embedding.embeddings.numpy(), before)
    recipes.initialize(model, recipes.Recipe(embedding_init="normal"))
    after = model.sample_mlp.embedding.embeddings.numpy()
    assert np.std(after) == pytest.approx(1.0, rel=0.05) and abs(np.mean(after)) < 0.05


def test_a_marginal_logits_bias_starts_the_model_at_the_corpus_level_frequencies(tmp_path):
    config = tiny_config(q_levels=16, q_type="linear")
    # Three quarters silence, a quarter at full scale: two levels only.
    samples = np.concatenate([np.zeros(3000), np.full(1000, 0.99)])
    files = [data.AudioFile(write_wav(tmp_path / f"{i}.wav", samples), len(samples)) for i in range(3)]
    counts = data.level_counts(files, config, 16000, max_files=2)
    silence = quantize.silence_level(16)
    assert counts.sum() == 2 * len(samples) and counts[silence] == 6000 and counts[15] == 2000
    model = build_model(config)
    np.testing.assert_array_equal(model.sample_mlp.logits.bias.numpy(), 0)  # the default: uniform
    recipes.set_logits_bias(model, counts)
    expected = (counts + 1) / (counts.sum() + 16)  # add-one smoothed
    np.testing.assert_allclose(keras.ops.softmax(model.sample_mlp.logits.bias).numpy(), expected, rtol=1e-5)


def test_the_gru_update_bias_is_set_in_every_tier_and_the_default_keeps_zero():
    model = build_model(tiny_config(num_rnn_layers=2, frame_sizes=(2, 4, 16)))
    recipes.initialize(model, recipes.Recipe())
    assert not any(rnn.cell.bias.numpy().any() for tier in model.tiers for rnn in tier.rnn.rnns)
    recipes.initialize(model, recipes.Recipe(gru_update_bias=1.5))
    for tier in model.tiers:
        for rnn in tier.rnn.rnns:
            bias = rnn.cell.bias.numpy().reshape(2, 3, -1)  # input and recurrent rows, gates z, r, h
            assert (bias[0, 0] == 1.5).all() and not bias[0, 1:].any() and not bias[1].any()


def test_the_lstm_forget_bias_is_set_in_every_tier():
    model = build_model(tiny_config(rnn_type="lstm", num_rnn_layers=2, frame_sizes=(2, 4, 16)))
    recipes.initialize(model, recipes.Recipe(lstm_forget_bias=3.0))
    for tier in model.tiers:
        for rnn in tier.rnn.rnns:
            bias = rnn.cell.bias.numpy().reshape(4, -1)  # gates i, f, c, o
            assert (bias[1] == 3.0).all() and not bias[[0, 2, 3]].any()


def test_optimizer_clipping_epsilon_and_beta_2_follow_the_recipe():
    plain = make_optimizer("adam", 1e-3, 0.9)
    assert plain.global_clipnorm == 1.0 and plain.clipvalue is None and plain.epsilon == 1e-7
    assert plain.beta_2 == 0.999
    recipe = recipes.Recipe(clipping="elementwise", adam_epsilon=1e-8, adam_beta_2=0.99)
    paper = make_optimizer("adam", 1e-3, 0.9, recipe=recipe)
    assert paper.clipvalue == 1.0 and paper.global_clipnorm is None and paper.epsilon == 1e-8
    assert paper.beta_2 == 0.99


def test_the_first_matching_pattern_gives_a_weights_rate_factors(monkeypatch):
    monkeypatch.setenv(recipes.ENV, '{"lr_scale": {"sample_mlp/embedding/*": 8, "sample_mlp/*": [4, 2], "*bias": 3}}')
    recipe = recipes.from_environment()
    assert recipe.rate_factors("sample_mlp/embedding/embeddings") == (8.0, 8.0)
    assert recipe.rate_factors("sample_mlp/input_bias") == (4.0, 2.0)
    assert recipe.rate_factors("frame_tier/upsample/bias") == (3.0, 3.0)
    assert recipe.rate_factors("frame_tier/upsample/kernel") == (1.0, 1.0)


def test_a_moving_multiple_steps_a_weight_at_its_place_between_start_and_end():
    weight = keras.Variable(np.zeros(2), name="w")
    optimizer = make_optimizer("sgd", 0.1, 0.0, recipe=recipes.Recipe(lr_scale={"w": [4, 2]}))
    optimizer.build([weight])
    moves = []
    for progress in (0.0, 0.5, 1.0):
        optimizer.progress.assign(progress)
        before = weight.numpy()
        optimizer.apply([np.array([0.3, -0.4])], [weight])  # a norm of 0.5, under the clipping's
        moves.append(before - weight.numpy())
    np.testing.assert_allclose(moves, [[0.12, -0.16], [0.09, -0.12], [0.06, -0.08]], rtol=1e-6)
    # The progress is not the optimizer's: checkpoints keep the plain optimizer's variables.
    plain = make_optimizer("sgd", 0.1, 0.0)
    plain.build([keras.Variable(np.zeros(2), name="w")])
    assert [v.path for v in optimizer.variables] == [v.path for v in plain.variables]


def test_run_progress_counts_the_steps_done_over_every_epoch():
    assert run_progress(1, 1, 4, 2) == 0.0
    assert run_progress(1, 3, 4, 2) == 0.25
    assert run_progress(2, 1, 4, 2) == 0.5
    assert run_progress(2, 4, 4, 2) == 0.875


@pytest.mark.parametrize("name", ["adam", "sgd", "rmsprop"])
def test_a_scaled_weight_steps_as_the_scaled_learning_rate(name):
    def trained(rate, recipe):
        scaled, plain = keras.Variable(np.ones(3), name="scaled"), keras.Variable(np.ones(3), name="plain")
        optimizer = make_optimizer(name, rate, 0.9, recipe=recipe)
        optimizer.build([scaled, plain])
        for step in range(3):
            grad = np.array([0.1, -0.2, 0.3]) * (step + 1)
            optimizer.apply([grad, -grad], [scaled, plain])
        assert optimizer.name == name  # the checkpoint's optimizer, whatever the recipe
        return scaled.numpy(), plain.numpy()

    fast, slow = trained(0.004, recipes.DEFAULT), trained(0.001, recipes.DEFAULT)
    mixed = trained(0.001, recipes.Recipe(lr_scale={"scal*": 4}))
    np.testing.assert_allclose(mixed[0], fast[0], rtol=1e-6)
    np.testing.assert_allclose(mixed[1], slow[1], rtol=1e-6)
    assert not np.allclose(fast[0], slow[0], rtol=1e-3)


def test_warmup_factor_rises_linearly_to_one():
    recipe = recipes.Recipe(warmup_steps=4)
    assert [recipe.warmup_factor(s) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert recipes.DEFAULT.warmup_factor(0) == 1.0


def test_decay_factor_falls_along_a_half_cosine_to_decay_to():
    recipe = recipes.Recipe(decay_to=0.1)
    factors = [recipe.decay_factor(p) for p in (0.0, 0.25, 0.5, 1.0, 1.5)]
    np.testing.assert_allclose(factors, [1.0, 0.1 + 0.9 * (1 + 0.5**0.5) / 2, 0.55, 0.1, 0.1])
    assert recipes.Recipe(decay_to=1.0).decay_factor(0.7) == 1.0


def recipe_run(tmp_path, monkeypatch, recipe_text, **changes):
    """(config, starting weights, settings) of a tiny run under the recipe `recipe_text`: the
    starting weights are those train() builds after the same random seed, which it sets again."""
    corpus = tmp_path / "corpus"
    if not corpus.exists():
        write_corpus(str(corpus), (400, 450, 500, 550))
    config = tiny_config()
    monkeypatch.setenv(recipes.ENV, recipe_text)
    keras.utils.set_random_seed(0)
    start = build_model(config)
    recipes.initialize(start, recipes.from_environment())
    keras.utils.set_random_seed(0)
    values = dict(
        data_dir=str(corpus), logdir_root=str(tmp_path / "logdir"), num_epochs=1, batch_size=2, val_frac=0.25,
        generate=False, verbose=False, learning_rate=0.01,
    )  # fmt: skip
    return config, start, TrainSettings(**{**values, **changes})


def test_a_long_warmup_holds_the_weights_near_their_start(tmp_path, monkeypatch):
    moved, trained = {}, {}
    for warmup in (0, 10**7):
        config, start, settings = recipe_run(tmp_path, monkeypatch, f'{{"warmup_steps": {warmup}}}', id=f"w{warmup}")
        train(settings, config, log=lambda _: None, after_checkpoint=lambda p, e, m: trained.update(model=m))
        moved[warmup] = max(
            float(np.abs(a - b).max()) for a, b in zip(trained["model"].get_weights(), start.get_weights())
        )
    assert moved[10**7] < 1e-4 < 0.01 < moved[0]


def test_training_steps_each_weight_at_its_scaled_rate(tmp_path, monkeypatch):
    config, start, settings = recipe_run(tmp_path, monkeypatch, '{"lr_scale": {"sample_mlp/*": 1e-9}}')
    trained = {}
    train(settings, config, log=lambda _: None, after_checkpoint=lambda p, e, m: trained.update(model=m))
    moved = {
        v.path: float(np.abs(v.numpy() - w.numpy()).max())
        for v, w in zip(trained["model"].trainable_variables, start.trainable_variables)
    }
    mlp = [m for path, m in moved.items() if path.startswith("sample_mlp/")]
    tiers = [m for path, m in moved.items() if not path.startswith("sample_mlp/")]
    assert mlp and tiers and max(mlp) < 1e-6 < 1e-3 < min(tiers)


def test_training_moves_a_multiple_over_the_run(tmp_path, monkeypatch):
    # From a millionth (the weights held, as above) to the full rate: the sample MLP moves only
    # if the loop carries the multiple along the run.
    config, start, settings = recipe_run(
        tmp_path, monkeypatch, '{"lr_scale": {"sample_mlp/*": [1e-9, 1]}}', num_epochs=2
    )
    trained = {}
    train(settings, config, log=lambda _: None, after_checkpoint=lambda p, e, m: trained.update(model=m))
    moved = [
        float(np.abs(v.numpy() - w.numpy()).max())
        for v, w in zip(trained["model"].trainable_variables, start.trainable_variables)
        if v.path.startswith("sample_mlp/")
    ]
    assert moved and max(moved) > 1e-3


def test_training_starts_from_the_training_files_marginal_when_asked(tmp_path, monkeypatch):
    corpus = str(tmp_path / "corpus")
    write_corpus(corpus, (400, 450, 500, 550))
    config = tiny_config()
    # A warm-up this long holds every weight at its start, so the bias seen after one epoch is
    # the one training started from.
    monkeypatch.setenv(recipes.ENV, '{"logits_bias": "marginal", "warmup_steps": 10000000}')
    settings = TrainSettings(
        data_dir=corpus, logdir_root=str(tmp_path / "logdir"), num_epochs=1, batch_size=2, val_frac=0.25,
        generate=False, verbose=False,
    )  # fmt: skip
    trained = {}
    train(settings, config, log=lambda _: None, after_checkpoint=lambda p, e, m: trained.update(model=m))
    files = data.scan_corpus(corpus, settings.sample_rate, config.seq_len, log=lambda _: None)
    train_files, _ = data.split_corpus(files, 0.25, 2, log=lambda _: None)
    counts = data.level_counts(train_files, config, settings.sample_rate)
    expected = (counts + 1) / (counts.sum() + config.q_levels)
    bias = trained["model"].sample_mlp.logits.bias
    np.testing.assert_allclose(keras.ops.softmax(bias).numpy(), expected, rtol=1e-4)


def test_train_py_with_a_bad_recipe_is_one_line_and_writes_no_run(tmp_path, monkeypatch, capsys):
    corpus = str(tmp_path / "corpus")
    write_corpus(corpus, (400, 450, 500, 550))
    tiny_config().save(str(tmp_path / "tiny.json"))
    monkeypatch.setenv(recipes.ENV, '{"warmup": 100}')
    argv = ["--data_dir", corpus, "--config_file", str(tmp_path / "tiny.json"), "--batch_size", "2"]
    argv += ["--logdir_root", str(tmp_path / "logdir")]
    assert cli.run(train_main, argv, prog="train.py") == cli.EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "SAMPLERNN_RECIPE: unknown key 'warmup'" in err
    assert not (tmp_path / "logdir").exists()


def test_an_averaged_run_keeps_the_average_in_its_checkpoints_and_trains_on_from_the_raw_weights(tmp_path, monkeypatch):
    # An average this slow stays where the first step (at the one rate: 0.01 a weight) left the weights.
    recipe_text = '{"ema": 0.999999, "ema_ramp": false, "lr_scale": {}}'
    config, start, settings = recipe_run(tmp_path, monkeypatch, recipe_text, num_epochs=2)
    trained = []
    result = train(
        settings, config, log=lambda _: None, after_checkpoint=lambda p, e, m: trained.append(m.get_weights())
    )
    # The checkpoint on disk holds the average, near the starting weights ...
    kept = build_model(config)
    checkpoints.RunCheckpoint(kept).restore(result.checkpoints[-1])
    moved = max(float(np.abs(a - b).max()) for a, b in zip(kept.get_weights(), start.get_weights()))
    assert moved < 0.03
    # ... and validation and generation read it, while training went on from the raw weights.
    losses = [h["loss"] for h in result.history]
    val_losses = [h["val_loss"] for h in result.history]
    assert max(abs(v - val_losses[0]) for v in val_losses) < 0.05
    assert losses[1] < losses[0] - 0.5 and losses[1] < val_losses[1] - 0.5
    assert all(np.allclose(a, b) for a, b in zip(trained[-1], kept.get_weights()))


def test_a_run_trained_without_the_average_resumes_with_it_starting_at_its_weights(tmp_path, monkeypatch):
    config, _, settings = recipe_run(tmp_path, monkeypatch, '{"ema": 0}')
    first = train(settings, config, log=lambda _: None)
    saved = build_model(config)
    checkpoints.RunCheckpoint(saved).restore(first.checkpoints[-1])
    # So slow an average stays where it starts: at the resumed weights, not at zeros or a slot.
    monkeypatch.setenv(recipes.ENV, '{"ema": 0.999999, "ema_ramp": false}')
    lines = []
    second = train(dataclasses.replace(settings, num_epochs=2), config, log=lines.append)
    assert any(line.startswith(f"Resuming from {first.checkpoints[-1]}") for line in lines)
    assert second.last_epoch == 2
    kept = build_model(config)
    checkpoints.RunCheckpoint(kept).restore(second.checkpoints[-1])
    assert max(float(np.abs(a - b).max()) for a, b in zip(kept.get_weights(), saved.get_weights())) < 0.01


def test_resuming_an_averaged_run_without_the_average_is_one_line(tmp_path, monkeypatch):
    config, _, settings = recipe_run(tmp_path, monkeypatch, '{"ema": 0.99}')
    train(settings, config, log=lambda _: None)
    monkeypatch.setenv(recipes.ENV, '{"ema": 0}')
    with pytest.raises(UserError) as caught:
        train(dataclasses.replace(settings, num_epochs=2), config, log=lambda _: None)
    message = str(caught.value)
    assert "\n" not in message and "holds the state of another optimizer" in message
    assert "SAMPLERNN_RECIPE's 'ema'" in message and message.endswith("--resume False starts afresh")


@pytest.mark.parametrize(
    "ramp, step, momentum",
    [(True, 0, 0.0), (True, 5, 0.4), (True, 80, 0.9), (True, 2000, 0.99), (False, 5, 0.99)],
)
def test_the_averages_momentum_ramps_with_the_optimizers_step_up_to_ema(ramp, step, momentum):
    # At rate 0 the weight holds at 1, so from 0 the average moves to 1 - momentum. Step 0 is
    # Keras' first, which starts the average at the weights. The step is `iterations`, the
    # counter a checkpoint restores.
    optimizer = make_optimizer("sgd", 0.0, 0.0, recipe=recipes.Recipe(ema=0.99, ema_ramp=ramp))
    weight = keras.Variable(np.ones(3, "float32"))
    optimizer.build([weight])
    optimizer.iterations.assign(step)
    (average,) = optimizer._model_variables_moving_average
    average.assign(np.zeros(3, "float32"))
    optimizer.apply([keras.ops.ones(3)], [weight])
    np.testing.assert_allclose(average.numpy(), 1.0 - momentum, atol=1e-6)
