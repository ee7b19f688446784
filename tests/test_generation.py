"""Generation: naming, temperatures, the compiled loop against the training forward pass,
seeding, reproducibility, generate.py's files and errors, and in-training generation."""

import contextlib
import importlib.util
import io
import os

import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf
from conftest import Terminal, periodic, run_script, tiny_config, write_wav

from samplernn import audio, checkpoints, cli, generation, progress, quantize
from samplernn.model import build_model, inference_copy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def randomized(model, seed=0):
    """Give every weight (incl. h0 and weight-norm gains) non-trivial random values."""
    rng = np.random.default_rng(seed)
    for v in model.weights:
        v.assign(rng.normal(0.0, 0.3, v.shape).astype(np.float32) + (1.0 if "_g" in v.path else 0.0))
    return model


def saved_checkpoint(tmp_path, config, epoch=7):
    """A run directory holding model.ckpt-<epoch> and the config beside it."""
    model = randomized(build_model(config))
    run_dir = str(tmp_path / "run")
    os.makedirs(run_dir)
    checkpoints.save_config(run_dir, config)
    return checkpoints.RunCheckpoint(model).save(run_dir, epoch), model


def teacher_forced_logits(model, seq):
    logits, *_ = model((tf.constant(seq, tf.int32), *model.initial_states(seq.shape[0])))
    return logits.numpy()


def assert_follows_argmax(logits, generated):
    """Every generated level is the forward pass's argmax, except at a genuine near-tie."""
    top = np.argmax(logits, axis=-1)
    for i, j in zip(*np.nonzero(top != generated)):
        ordered = np.sort(logits[i, j])
        assert ordered[-1] - ordered[-2] < 1e-3, (
            f"sequence {i} sample {j}: generated {generated[i, j]}, argmax {top[i, j]}"
        )
        break  # later samples are conditioned on the tie's other branch


def test_temperatures_truncate_or_repeat_the_last():
    assert generation.expand_temperatures([0.5, 0.9, 1.1], 2) == [0.5, 0.9]
    assert generation.expand_temperatures([0.5, 0.9], 4) == [0.5, 0.9, 0.9, 0.9]
    assert generation.expand_temperatures([1.0], 1) == [1.0]


def test_output_names_follow_the_reference():
    assert generation.output_paths("out/x.wav", 12, [0.95]) == ["out/x_e=12_t=0.95.wav"]
    assert generation.output_paths("out/x.wav", 3, [0.9, 1.0]) == ["out/x_e=3_t=0.9_0.wav", "out/x_e=3_t=1.0_1.wav"]
    assert generation.output_paths("out/x", None, [1.25]) == ["out/x_t=1.25.wav"]
    # A temperature from the command line keeps the text the user typed.
    typed = [cli.positive_float_as_typed(t) for t in ("1", "1.0", "0.950")]
    assert typed == [1.0, 1.0, 0.95]
    assert generation.output_paths("x.wav", 2, typed) == ["x_e=2_t=1_0.wav", "x_e=2_t=1.0_1.wav", "x_e=2_t=0.950_2.wav"]


@pytest.mark.parametrize(
    "rnn_type,skip,frame_sizes,xla_steps,input_relu",
    [
        ("gru", False, (4, 16), True, True),
        ("gru", False, (4, 16), False, False),
        ("lstm", True, (4, 16), True, False),
        ("lstm", True, (4, 16), False, True),
        ("gru", True, (4,), True, True),  # two tiers
        ("lstm", False, (4,), False, False),
        ("gru", False, (2, 4, 16), True, False),  # four tiers
        ("lstm", True, (2, 4, 16), False, True),
    ],
)
def test_compiled_loop_matches_the_training_forward_pass(
    rnn_type, skip, frame_sizes, xla_steps, input_relu, monkeypatch
):
    # Near-zero temperature makes sampling an argmax, so the generated levels must be
    # exactly those the (uncompiled, whole-sequence) training forward pass predicts.
    # Both forms of the tier steps: XLA-compiled and graph mode.
    monkeypatch.setattr(generation, "XLA_STEP_WORK", 10**9 if xla_steps else 0)
    config = tiny_config(
        rnn_type=rnn_type,
        skip_conn=skip,
        num_rnn_layers=2,
        learn_h0=True,
        weight_norm=True,
        frame_sizes=frame_sizes,
        mlp_input_relu=input_relu,
    )
    model = randomized(build_model(config))
    g = config.big_frame_size
    generated = generation.Sampler(model).generate(4 * g, [1e-6, 1e-6], random_seed=1)
    silence = np.full((2, g), quantize.silence_level(config.q_levels))
    logits = teacher_forced_logits(model, np.concatenate([silence, generated], axis=1))
    assert_follows_argmax(logits, generated)


@pytest.mark.parametrize("frame_sizes", [(4,), (4, 16), (2, 4, 16)])
@pytest.mark.parametrize("windowed", [False, True])
def test_seed_primes_all_tiers(frame_sizes, windowed, monkeypatch):
    config = tiny_config(num_rnn_layers=2, frame_sizes=frame_sizes, learn_h0=True)
    model = randomized(build_model(config))
    g = config.big_frame_size
    if windowed:  # the seed's 3 big frames go through the tiers one window of a big frame at a time
        monkeypatch.setattr(generation, "PRIME_WINDOW", g)
    extra = g - 1  # the earliest samples, too few for a big frame, are left out
    seed_audio = periodic(3 * g + extra)
    generated = generation.Sampler(model).generate(2 * g, [1e-6, 1e-6], random_seed=1, seed_audio=seed_audio)
    seed_levels = quantize.encode(seed_audio[extra:], config.q_type, config.q_levels).numpy()[None, :]
    # Each sequence continues the seed as if the whole of it had gone through the tiers at once.
    logits = teacher_forced_logits(model, np.concatenate([np.tile(seed_levels, (2, 1)), generated], axis=1))
    assert_follows_argmax(logits[:, 2 * g :], generated)


def test_generated_audio_depends_on_the_seed():
    # A low temperature lets the model's logits, not the shared random numbers, pick the levels.
    sampler = generation.Sampler(randomized(build_model(tiny_config(weight_norm=False))))
    a = sampler.generate(16, [0.05], random_seed=5, seed_audio=periodic(64))
    b = sampler.generate(16, [0.05], random_seed=5, seed_audio=-periodic(64, phase=0.3))
    c = sampler.generate(16, [0.05], random_seed=5)
    assert a[0, 0] != b[0, 0] or a[0, 1] != b[0, 1]
    assert not np.array_equal(a, c)


def test_fixed_random_seed_reproduces_and_other_seeds_differ():
    sampler = generation.Sampler(randomized(build_model(tiny_config())))
    first = sampler.generate(300, [1.0, 0.7], random_seed=42)
    assert first.shape == (2, 300) and first.dtype == np.int32
    assert np.array_equal(first, sampler.generate(300, [1.0, 0.7], random_seed=42))
    assert not np.array_equal(first, sampler.generate(300, [1.0, 0.7], random_seed=43))
    assert first.min() >= 0 and first.max() < 256


def test_temperature_sharpens_the_distribution():
    sampler = generation.Sampler(randomized(build_model(tiny_config())))
    levels = sampler.generate(2000, [0.05, 5.0], random_seed=3)
    distinct_cold, distinct_hot = (len(np.unique(row)) for row in levels)
    assert distinct_cold < distinct_hot


def test_inference_copy_computes_the_same_function():
    config = tiny_config(weight_norm=True, learn_h0=True, skip_conn=True, num_rnn_layers=2)
    model = randomized(build_model(config))
    plain = inference_copy(model)
    assert not plain.config.weight_norm
    seq = np.random.default_rng(0).integers(0, 256, (2, config.big_frame_size + config.seq_len))
    np.testing.assert_allclose(teacher_forced_logits(plain, seq), teacher_forced_logits(model, seq), atol=1e-4)


def test_generate_script_writes_named_files_of_exact_length(tmp_path, capsys):
    config = tiny_config()
    ckpt, _ = saved_checkpoint(tmp_path, config, epoch=7)
    out = str(tmp_path / "gen" / "out.wav")
    argv = [
        "--output_path",
        out,
        "--checkpoint_path",
        ckpt,
        "--dur",
        "0.0173",
        "--num_seqs",
        "3",
        "--temperature",
        "0.9",
        "1.1",
        "--random_seed",
        "4",
    ]
    assert cli.run(load_script("generate").main, argv) == 0
    names = sorted(n for n in os.listdir(tmp_path / "gen") if n.endswith(".wav"))  # spectrogram PNGs beside
    assert names == ["out_e=7_t=0.9_0.wav", "out_e=7_t=1.1_1.wav", "out_e=7_t=1.1_2.wav"]
    for name in names:
        data, rate = sf.read(tmp_path / "gen" / name)
        assert rate == 16000 and data.shape == (round(0.0173 * 16000),)
    out = capsys.readouterr().out
    assert "Generated" in out and "near-silent" not in out  # random weights make noise


def silent_checkpoint(tmp_path, config, offset=0):
    """A checkpoint whose every prediction is `offset` levels from silence, as a model stuck in
    silence (or at a constant level beside it)."""
    model = randomized(build_model(config))
    logits = model.sample_mlp.logits
    logits.kernel.assign(tf.zeros_like(logits.kernel))
    stuck = quantize.silence_level(config.q_levels) + offset
    logits.bias.assign(np.where(np.arange(config.q_levels) == stuck, 50.0, 0.0))
    run_dir = str(tmp_path / "run")
    os.makedirs(run_dir)
    checkpoints.save_config(run_dir, config)
    return checkpoints.RunCheckpoint(model).save(run_dir, 3)


@pytest.mark.parametrize("seeded", [False, True])
def test_a_near_silent_clip_is_written_with_a_warning_saying_what_helps(tmp_path, capsys, seeded):
    config = tiny_config()
    ckpt = silent_checkpoint(tmp_path, config)
    out = tmp_path / "gen" / "o.wav"
    argv = ["--output_path", str(out), "--checkpoint_path", ckpt, "--dur", "0.05", "--plot", "False"]
    if seeded:
        seed = write_wav(str(tmp_path / "seed.wav"), periodic(2 * config.big_frame_size))
        argv += ["--seed", seed]
    assert cli.run(load_script("generate").main, argv) == 0
    clip = tmp_path / "gen" / "o_e=3_t=0.95.wav"
    assert len(sf.read(clip)[0]) == round(0.05 * 16000)  # written all the same
    (warning,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Warning:")]
    assert f"{clip} is near-silent (RMS " in warning
    assert ("fell silent after the seed" in warning) == seeded
    assert ("--seed" in warning) != seeded
    assert "a --temperature above 0.95" in warning


def test_a_clip_stuck_at_a_constant_level_is_near_silent_too(tmp_path, capsys):
    # A constant offset is inaudible, though its plain RMS is well above the warning's -60 dB.
    config = tiny_config()
    ckpt = silent_checkpoint(tmp_path, config, offset=-30)
    out = tmp_path / "gen" / "o.wav"
    argv = ["--output_path", str(out), "--checkpoint_path", ckpt, "--dur", "0.05", "--plot", "False"]
    assert cli.run(load_script("generate").main, argv) == 0
    clip = sf.read(tmp_path / "gen" / "o_e=3_t=0.95.wav")[0]
    assert audio.rms_db(clip) > -45 and np.ptp(clip) == 0
    (warning,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Warning:")]
    assert "is near-silent (RMS -200 dB about its mean)" in warning


def sound_then(quiet, seconds=3.0, sound_seconds=1.0, rate=16000):
    """Noise for sound_seconds, then `quiet` (a value) to the end of the clip."""
    clip = np.full(round(seconds * rate), quiet, np.float32)
    clip[: round(sound_seconds * rate)] = np.random.default_rng(0).uniform(-0.5, 0.5, round(sound_seconds * rate))
    return clip


@pytest.mark.parametrize(
    "clip, start",
    [
        (sound_then(0.0), 1.0),
        (sound_then(-0.014), 1.0),  # a constant offset is as silent as zeros
        (sound_then(0.0, sound_seconds=0.35), 0.4),  # on the 0.1 s grid, the first start past the sound
        (sound_then(0.0, seconds=10.0, sound_seconds=8.0), None),  # a quiet end shorter than a quarter
        (sound_then(0.0, seconds=0.8, sound_seconds=0.1), None),  # and shorter than a second
        (sound_then(0.0, sound_seconds=3.0), None),  # sound to the end
        (np.zeros(16000), 0.0),
    ],
)
def test_the_silent_tail_of_a_clip_is_found_on_a_tenth_of_a_second_grid(clip, start):
    assert audio.silent_tail_start(clip, 16000, generation.NEAR_SILENT_DB) == start


@pytest.mark.parametrize("sound_seconds, warned", [(1.0, True), (2.5, False)])
def test_a_clip_that_falls_silent_part_of_the_way_is_written_with_a_warning(tmp_path, sound_seconds, warned):
    config = tiny_config()
    clip = sound_then(0.0, sound_seconds=sound_seconds)
    levels = quantize.encode(clip, config.q_type, config.q_levels)[None, :]
    path = str(tmp_path / "o.wav")
    lines = []
    generation.write_outputs([path], levels, config, 16000, [0.95], plot=False, log=lines.append)
    assert len(sf.read(path)[0]) == len(clip)  # written all the same
    assert audio.heard_level_db(sf.read(path)[0]) > generation.NEAR_SILENT_DB
    if warned:
        (warning,) = lines
        assert warning.startswith(f"Warning: {path} falls near-silent at 1.0 s of 3.0 s and stays so to its end (RMS ")
        assert warning.endswith("a --temperature above 0.95, or more training, usually helps")
    else:
        assert not any("near-silent" in line for line in lines)


def test_a_clip_of_loud_broadband_noise_is_written_with_a_warning_naming_the_temperature(tmp_path):
    config = tiny_config()
    rng = np.random.default_rng(0)
    t = np.arange(3 * 16000) / 16000
    noise = rng.normal(0, 0.1, len(t))
    clips = {
        "noise.wav": noise,
        "tone_then_noise.wav": np.where(t < 2, 0.3 * np.sin(2 * np.pi * 440 * t), noise),
        "tone.wav": 0.3 * np.sin(2 * np.pi * 440 * t),
        "hiss.wav": noise / 1000,  # quieter than any recording: counted as near-silence instead
    }
    paths = [str(tmp_path / name) for name in clips]
    levels = np.stack([quantize.encode(c.astype(np.float32), config.q_type, config.q_levels) for c in clips.values()])
    lines = []
    generation.write_outputs(paths, levels, config, 16000, [0.95, 1.0, 0.95, 0.95], plot=False, log=lines.append)
    noisy = [line for line in lines if "broadband noise" in line]
    assert [line.split(" is loud")[0] for line in noisy] == [f"Warning: {p}" for p in paths[:2]]
    assert "for 3 of its 3 whole seconds" in noisy[0] and "--temperature below 0.95" in noisy[0]
    assert "for 1 of its 3 whole seconds" in noisy[1] and "--temperature below 1," in noisy[1]


def test_generate_script_with_frozen_onednn_weights_follows_the_forward_pass(tmp_path):
    # At 8 sequences of a dim-384 model the tier steps run in graph mode, where generate.py's
    # process has oneDNN keep each kernel packed after its first product (see
    # cli.assume_frozen_weights). The files it writes must still hold what the saved weights
    # predict, through the seed's priming and every step after it.
    config = tiny_config(dim=384)
    assert 8 * config.dim**2 > generation.XLA_STEP_WORK
    ckpt, model = saved_checkpoint(tmp_path, config)
    g = config.big_frame_size
    seed = str(tmp_path / "seed.wav")
    write_wav(seed, periodic(2 * g))
    out = tmp_path / "gen"
    args = ["--checkpoint_path", ckpt, "--output_path", out / "o.wav", "--dur", 4 * g / 16000, "--num_seqs", 8]
    run_script("generate.py", *args, "--temperature", 1e-6, "--random_seed", 1, "--seed", seed, "--plot", False)
    names = sorted(os.listdir(out), key=lambda name: int(name[:-4].rsplit("_", 1)[1]))
    generated = np.stack([encoded(out / name, config) for name in names])
    assert generated.shape == (8, 4 * g)
    seed_levels = np.tile(encoded(seed, config), (8, 1))
    logits = teacher_forced_logits(model, np.concatenate([seed_levels, generated], axis=1))
    assert_follows_argmax(logits[:, g:], generated)


def encoded(path, config):
    """The levels of a 16 kHz wav file."""
    samples, rate = sf.read(path, dtype="float32")
    assert rate == 16000
    return quantize.encode(samples, config.q_type, config.q_levels).numpy()


@pytest.mark.parametrize(("typed", "name"), [("1.0", "o_e=7_t=1.0.wav"), ("1", "o_e=7_t=1.wav")])
def test_generate_script_names_files_by_the_temperature_as_typed(tmp_path, typed, name):
    ckpt, _ = saved_checkpoint(tmp_path, tiny_config(), epoch=7)
    argv = ["--output_path", str(tmp_path / "gen" / "o.wav"), "--checkpoint_path", ckpt, "--dur", "0.01"]
    assert cli.run(load_script("generate").main, argv + ["--temperature", typed, "--plot", "False"]) == 0
    assert os.listdir(tmp_path / "gen") == [name]


@pytest.mark.parametrize("terminal", [True, False])
def test_generate_progress_is_rewritten_on_a_terminal_and_whole_lines_in_a_log(tmp_path, monkeypatch, terminal):
    monkeypatch.setattr(progress, "clock", lambda: 0.0)  # no time passes: a log gets the first and last line
    ckpt, _ = saved_checkpoint(tmp_path, tiny_config())
    argv = ["--output_path", str(tmp_path / "o.wav"), "--checkpoint_path", ckpt, "--dur", "2.5", "--plot", "False"]
    out = Terminal() if terminal else io.StringIO()
    with contextlib.redirect_stdout(out):
        assert load_script("generate").main(argv) == 0
    shown = [line for line in out.getvalue().split("\n") if "Generating:" in line]
    # One update per second of audio generated.
    if terminal:
        assert len(shown) == 1
        pieces = [piece.split(" (")[0] for piece in shown[0].split("\r")]
        assert pieces == ["", "Generating: 1.00/2.50 s", "Generating: 2.00/2.50 s", "Generating: 2.50/2.50 s"]
    else:
        assert "\r" not in out.getvalue()
        assert [line.split(" (")[0] for line in shown] == ["Generating: 1.00/2.50 s", "Generating: 2.50/2.50 s"]


def test_the_compilation_cache_has_a_folder_per_config_num_seqs_and_version(tmp_path, monkeypatch):
    config, root = tiny_config(), str(tmp_path / "cache")
    folder = generation.compilation_cache_dir(root, config, 1)
    assert os.path.isdir(folder) and os.path.dirname(folder) == root
    assert generation.compilation_cache_dir(root, config, 1) == folder
    others = {
        generation.compilation_cache_dir(root, config, 2),
        generation.compilation_cache_dir(root, config.replace(dim=24), 1),
    }
    monkeypatch.setattr(tf, "__version__", "0.0.0")
    others.add(generation.compilation_cache_dir(root, config, 1))
    assert len(others | {folder}) == 4
    assert generation.compilation_cache_dir(False, config, 1) is None
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert generation.compilation_cache_dir(None, config, 1).startswith(str(tmp_path / "xdg" / "samplernn" / "xla"))


def test_an_unusable_compilation_cache_is_one_line_or_a_warning(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(generation.UserError, match="--compilation_cache .* None compiles without it"):
        generation.compilation_cache_dir(str(tmp_path / "file"), tiny_config(), 1)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))  # the default: generate without it
    logged = []
    assert generation.compilation_cache_dir(None, tiny_config(), 1, logged.append) is None
    assert len(logged) == 1 and logged[0].startswith("Warning: no compilation cache")


@pytest.mark.parametrize(
    "change,message",
    [
        (
            lambda a, t: a.__setitem__(a.index("--checkpoint_path") + 1, str(t / "nope" / "model.ckpt-1")),
            "names no checkpoint",
        ),
        (lambda a, t: a.extend(["--config_file", str(t / "other.config.json")]), "(dim differ)"),
        (
            lambda a, t: [
                a.extend(["--config_file", str(t / "other.config.json")]),
                os.remove(t / "run" / checkpoints.CONFIG_NAME),
            ],
            "does not match the model config",
        ),
        (lambda a, t: a.extend(["--seed", str(t / "missing.wav")]), "does not exist"),
        (lambda a, t: a.extend(["--seed", write_wav(str(t / "short.wav"), periodic(10))]), "fewer than one big frame"),
        (
            lambda a, t: a.extend(["--seed", write_wav(str(t / "s.wav"), periodic(100)), "--seed_offset", "100"]),
            "past the end",
        ),
        (lambda a, t: a.__setitem__(1, str(t / "a_file" / "out.wav")), "--output_path"),
        (lambda a, t: a.extend(["--compilation_cache", str(t / "a_file")]), "--compilation_cache"),
    ],
)
def test_generate_bad_inputs_get_one_line(tmp_path, capsys, change, message):
    config = tiny_config()
    ckpt, _ = saved_checkpoint(tmp_path, config)
    config.replace(dim=24).save(str(tmp_path / "other.config.json"))
    (tmp_path / "a_file").write_text("not a directory")
    argv = ["--output_path", str(tmp_path / "out.wav"), "--checkpoint_path", ckpt, "--dur", "0.01"]
    change(argv, tmp_path)
    assert cli.run(load_script("generate").main, argv) == cli.EXIT_USER_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "Traceback" not in err[0]


@pytest.mark.parametrize(
    "flag,value", [("--dur", "0"), ("--num_seqs", "0"), ("--temperature", "0"), ("--temperature", "-1")]
)
def test_generate_out_of_range_values_are_refused(tmp_path, capsys, flag, value):
    argv = ["--output_path", str(tmp_path / "o.wav"), "--checkpoint_path", "x", flag, value]
    with pytest.raises(SystemExit) as exit_info:
        load_script("generate").main(argv)
    assert exit_info.value.code == 2
    assert flag in capsys.readouterr().err


def test_in_training_generation_names_files_and_survives_failures(tmp_path):
    model = randomized(build_model(tiny_config()))
    logged = []
    hook = generation.InTrainingGenerator(
        "run", str(tmp_path / "gen" / "run"), 2, 0.01, 16000, [0.95], log=logged.append
    )
    paths = hook(str(tmp_path / "model.ckpt-3"), 3, model)
    assert sorted(os.path.basename(p) for p in paths) == ["run_e=3_t=0.95_0.wav", "run_e=3_t=0.95_1.wav"]
    assert all(sf.info(p).frames == 160 for p in paths)
    hook.sampler.generate = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom"))
    assert hook(str(tmp_path / "model.ckpt-4"), 4, model) == []
    assert any("after epoch 4 failed" in line and "boom" in line for line in logged)
