"""Generating audio: a compiled sampling loop over the tiers, seeding, and output files.

The loop keeps everything on the device: each tier steps once per frame of its size (the top
tier once per big frame, the bottom one once per frame_size samples); each sample, the sample
MLP runs on the window of the last frame_size samples. The MLP's input layer is a sum of
table rows (see SampleMLP); the tables and the tiers' rearranged weights (see
samplernn.stepping) are computed once per generate().
"""

import functools
import hashlib
import json
import math
import os
import time

import numpy as np
import tensorflow as tf

from samplernn import __version__, audio, checkpoints, plotting, quantize, spectral
from samplernn.config import ModelConfig
from samplernn.devices import configure
from samplernn.errors import UserError
from samplernn.model import build_model, inference_copy
from samplernn.progress import ProgressLine
from samplernn.settings import FALLBACK_SAMPLE_RATE, default_compilation_cache
from samplernn.stepping import TierStep


def expand_temperatures(temperatures, num_seqs):
    """One temperature per sequence: the list truncated, or extended with its last value."""
    temperatures = list(temperatures)
    return (temperatures + temperatures[-1:] * num_seqs)[:num_seqs]


def format_temperature(t):
    """As the user typed it (cli.AsTyped), as the reference writes it; a float from Python code
    as Python prints it (`1.0`)."""
    return str(t)


def output_paths(output_path, epoch, temperatures):
    """`<stem>_e=<epoch>_t=<temperature>.wav`, with `_<i>` appended per sequence when there are several."""
    stem = output_path[:-4] if output_path.lower().endswith(".wav") else output_path
    tag = f"_e={epoch}" if epoch is not None else ""
    if len(temperatures) == 1:
        return [f"{stem}{tag}_t={format_temperature(temperatures[0])}.wav"]
    return [f"{stem}{tag}_t={format_temperature(t)}_{i}.wav" for i, t in enumerate(temperatures)]


def sample_levels(logits, uniform):
    """Levels drawn from softmax(logits) by inverting its CDF at `uniform` (rows, 1) in [0, 1).

    One random number per row instead of one per level (as the Gumbel-max trick needs), and
    only ops that XLA compiles. Returns (rows, 1) int32.
    """
    cdf = tf.cumsum(tf.nn.softmax(logits), axis=-1)
    below = tf.reduce_sum(tf.cast(cdf < uniform * cdf[:, -1:], tf.int32), axis=-1, keepdims=True)
    return tf.minimum(below, tf.shape(logits)[-1] - 1)


# The most samples of a seed the tiers take in one forward pass when priming. At the default
# config a pass held about 5.5 KB per sample (a 4 s seed took 2.8 GB beyond the import at 8
# sequences, when each sequence was primed on its own row).
PRIME_WINDOW = 2**15

# Tier steps are XLA-compiled when num_seqs * dim**2, the work of one step, is at most this.
# Same-process A/B runs of the sampling loop, XLA against graph mode (oneDNN), samples/s:
# dim 1024: 1 sequence +8% with XLA, 2 sequences -11%, 8 sequences -4%;
# dim 256 (2 GRU layers): 8 sequences +11% and +15% (+19% with 2 tiers), 16 sequences -5%.
XLA_STEP_WORK = 2**20


class Sampler:
    """Generates batches of sequences from one model with one compiled loop."""

    def __init__(self, model):
        self.source = model
        self.model = inference_copy(model)
        self.tiers = [TierStep(tier) for tier in self.model.tiers]  # top first
        # Each frame's samples run compiled by XLA, which fuses their many small ops that would
        # each pay the executor's dispatch cost. The tier steps too when their products are
        # matrix-vector sized (see XLA_STEP_WORK); larger ones run in graph mode, where oneDNN's
        # matrix-matrix products beat XLA's.
        # No AutoGraph: the loop is an explicit tf.while_loop around straight-line Python, and
        # converting that Python took about a third of the tracing time.
        self._arrange = tf.function(self._arrange_fn, autograph=False)
        self._loop = tf.function(self._loop_fn, autograph=False)
        self._samples = tf.function(self._samples_fn, jit_compile=True, autograph=False)
        self._plain_steps = [functools.partial(self._tier_step_fn, k) for k in range(len(self.tiers))]
        self._compiled_steps = [tf.function(step, jit_compile=True, autograph=False) for step in self._plain_steps]
        # Priming is compiled by XLA too, so that oneDNN does not run its products: in
        # generate.py's process oneDNN would keep a packed copy of every tier's kernels for a
        # pass that runs once (a 4 s seed at the default config, 8 sequences: peak 1835 to
        # 1875 MB in graph mode, 1662 to 1716 MB with XLA).
        self._prime = tf.function(self._prime_fn, jit_compile=True)

    def refresh(self):
        """Take up the source model's current weights (in-training generation)."""
        if self.model is not self.source:
            inference_copy(self.source, into=self.model)

    def start(self, num_seqs, seed_audio=None):
        """Starting point (history, states): silence and the initial states, or the seed run
        through the tiers.

        seed_audio: (length,) float samples, length >= big_frame_size; only whole big frames
        ending at the seed's last sample are used.
        """
        cfg = self.model.config
        g = cfg.big_frame_size
        if seed_audio is None:
            return tf.fill((num_seqs, g), quantize.silence_level(cfg.q_levels)), self.model.initial_states(num_seqs)
        usable = (len(seed_audio) // g) * g
        levels = quantize.encode(seed_audio[len(seed_audio) - usable :], cfg.q_type, cfg.q_levels)[None, :]
        # Every sequence starts from the same seed, so one row is primed and each sequence gets
        # a copy of its states. The tiers' forward pass holds activations for every sample it
        # is given, so the seed goes through in windows of at most PRIME_WINDOW new samples,
        # each also holding the big frame before them, which the tiers read as context: priming's
        # memory does not grow with the seed's length.
        states = self.model.initial_states(1)
        stride = max(g, PRIME_WINDOW // g * g)
        for begin in range(0, usable - g, stride):
            states = self._prime(levels[:, begin : begin + g + stride], states)
        history = tf.tile(levels[:, usable - g :], (num_seqs, 1))
        return history, tuple(tf.tile(s, (1, 1, num_seqs, 1)) for s in states)

    def _prime_fn(self, seq, states):
        return self.model.frame_tiers(seq, states)[1]

    def generate(self, num_samples, temperatures, random_seed=None, seed_audio=None, progress=None, compiled=None):
        """Levels (num_seqs, num_samples) int32, one sequence per temperature.

        `progress(done, total)` is called after each chunk of about a second of audio;
        `compiled()` once the loop is traced and compiled, after its first big frame.
        """
        g = self.model.config.big_frame_size
        history, states = self.start(len(temperatures), seed_audio)
        temps = tf.constant(temperatures, tf.float32)[:, None]
        if random_seed is None:
            random_seed = int(np.random.SeedSequence().generate_state(1)[0] >> 1)
        seed = tf.constant(random_seed, tf.int64)
        xla_steps = len(temperatures) * self.model.config.dim**2 <= XLA_STEP_WORK
        weights = self._arrange(xla_steps)
        # Eagerly, so that these products are no ops of a graph: oneDNN would keep a packed copy
        # of their kernels. Each call hands on the projections the next call starts from.
        recurrents = tuple(t.recurrent(w, s) for t, w, s in zip(self.tiers, weights[1], states))
        total_frames = math.ceil(num_samples / g)
        chunk_frames = max(1, 16000 // g)
        chunks, done = [], 0
        while done < total_frames:
            # The first call generates one big frame, so that tracing and compiling are timed
            # apart from generating; the others end at multiples of chunk_frames.
            n = min(1 if done == 0 else chunk_frames - done % chunk_frames, total_frames - done)
            out, history, states, recurrents = self._loop(
                history,
                states,
                recurrents,
                weights,
                temps,
                seed,
                tf.constant(done, tf.int64),
                tf.constant(n),
                xla_steps,
            )
            chunks.append(out.numpy())
            done += n
            if compiled is not None and done == n:
                compiled()
            if progress is not None and (done % chunk_frames == 0 or done == total_frames):
                progress(min(done * g, num_samples), num_samples)
        return np.concatenate(chunks, axis=1)[:, :num_samples]

    def _arrange_fn(self, xla_steps):
        """The weights as the loop uses them, arranged once per generate(): the sample MLP's
        tables and kernels, and each tier's single-step arrangement (see samplernn.stepping),
        the bottom tier's upsampling through whatever the MLP folded into its tables.

        Steps that XLA compiles take each output kernel with its bias as a row. Otherwise the
        bottom tier's are fused, so that oneDNN keeps them packed (see
        cli.assume_frozen_weights), and the tiers above, which step ratio times less often, take
        the model's own kernels in parts: a packed copy costs the tier's weights again in memory,
        and so would a concatenated one. At the default config and 8 sequences, every tier fused
        and packed made the loop about 5% faster than this, for about 100 MB more."""
        mlp = self.model.sample_mlp
        bottom = len(self.tiers) - 1
        maps = [None] * bottom + [mlp.conditioning_map()]
        forms = ["rows" if xla_steps else "fused" if k == bottom else "parts" for k in range(len(self.tiers))]
        return mlp.generation_weights(), [t.weights(m, f) for t, m, f in zip(self.tiers, maps, forms)]

    def _tier_step_fn(self, k, weights, below_weights, frame, conditioning, state, recurrent):
        """Tier k's step; its output projected for the steps of the tier below (with
        `below_weights`), or for the bottom tier as it conditions the samples."""
        out, state, recurrent = self.tiers[k].step(weights, frame, conditioning, state, recurrent)
        if below_weights is not None:
            out = self.tiers[k + 1].conditioning(below_weights, out)
        return out, state, recurrent

    def _loop_fn(self, history, states, recurrents, weights, temps, seed, first_big_frame, num_big_frames, xla_steps):
        cfg = self.model.config
        f, g = cfg.frame_size, cfg.big_frame_size
        mlp_weights, tier_weights = weights
        steps = self._compiled_steps if xla_steps else self._plain_steps

        def big_frame(i, history, states, recurrents, blocks):
            # The random numbers of one big frame in one call, a row per frame; seeded by the
            # big frame's index alone, so a run is reproducible however it is split into calls.
            uniforms = tf.random.stateless_uniform(
                (g, tf.shape(history)[0], 1), tf.stack([seed, first_big_frame + tf.cast(i, tf.int64)])
            )
            uniforms = tf.reshape(uniforms, (g // f, f, -1, 1))
            frames = tf.TensorArray(tf.int32, size=g // f)

            def tier_steps(k, conditioning, history, states, recurrents, frames, frame):
                """Tier k's step, then the frame's samples below the bottom tier, or else the
                tier below's steps. Those run in a graph loop rather than unrolled, so that each
                tier's products are one op each: oneDNN keeps one packed copy of a kernel per op
                (see cli.assume_frozen_weights)."""
                size = self.tiers[k].tier.frame_size
                below = tier_weights[k + 1] if k + 1 < len(self.tiers) else None
                out, state, recurrent = steps[k](
                    tier_weights[k], below, history[:, g - size :], conditioning, states[k], recurrents[k]
                )
                states = states[:k] + (state,) + states[k + 1 :]
                recurrents = recurrents[:k] + (recurrent,) + recurrents[k + 1 :]
                if below is None:
                    history, samples = self._samples(history, out, uniforms[frame], mlp_weights, temps)
                    return history, states, recurrents, frames.write(frame, samples), frame + 1

                def below_step(r, *carried):
                    return (r + 1, *tier_steps(k + 1, tf.gather(out, r, axis=1), *carried))

                carried = (history, states, recurrents, frames, frame)
                ratio = self.tiers[k].tier.ratio
                return tf.while_loop(lambda r, *_: r < ratio, below_step, (tf.constant(0), *carried))[1:]

            history, states, recurrents, frames, _ = tier_steps(0, None, history, states, recurrents, frames, 0)
            block = tf.reshape(tf.transpose(frames.stack(), (1, 0, 2)), (-1, g))
            return i + 1, history, states, recurrents, blocks.write(i, block)

        blocks = tf.TensorArray(tf.int32, size=num_big_frames)
        _, history, states, recurrents, blocks = tf.while_loop(
            lambda i, *_: i < num_big_frames,
            big_frame,
            (tf.constant(0), history, tuple(states), tuple(recurrents), blocks),
        )
        levels = tf.reshape(tf.transpose(blocks.stack(), (1, 0, 2)), (tf.shape(history)[0], -1))
        return levels, history, states, recurrents

    def _samples_fn(self, history, frame_cond, uniforms, mlp_weights, temps):
        """The frame_size samples of one frame: history (n, G) levels, frame_cond (n, F, dim),
        uniforms (F, n, 1). Returns the new history and the samples (n, F).

        A loop rather than F unrolled copies of the MLP: each sample depends on the one
        before, so unrolling fuses nothing across samples, and one copy traces and compiles
        F times faster (start-up is most of a short generate.py run)."""
        f = self.model.config.frame_size
        g = self.model.config.big_frame_size

        def sample(p, history):
            logits = self.model.sample_mlp.step(history[:, g - f :], frame_cond[:, p], mlp_weights)
            level = sample_levels(logits / temps, uniforms[p])  # (n, 1)
            return p + 1, tf.concat([history[:, 1:], level], axis=1)

        _, history = tf.while_loop(lambda p, _: p < f, sample, (tf.constant(0), history), maximum_iterations=f)
        # The frame's samples are the last F of the history.
        return history, history[:, g - f :]


def generator_config(checkpoint_path, config=None):
    """The config a checkpoint is generated with: `config` (--config_file) if it agrees with
    the one saved beside the checkpoint, else that one."""
    if not checkpoints.exists(checkpoint_path):
        raise UserError(f"--checkpoint_path {checkpoint_path!r} names no checkpoint (expected {checkpoint_path}.index)")
    saved = checkpoints.config_beside(checkpoint_path)
    if config is None:
        if saved is None:
            raise UserError(f"no {checkpoints.CONFIG_NAME} beside {checkpoint_path!r}; pass the model's --config_file")
        return saved
    if saved is not None and saved != config:
        raise UserError(
            f"--config_file differs from the {checkpoints.CONFIG_NAME} that {checkpoint_path!r} was trained with "
            f"({', '.join(config.keys_differing_from(saved))} differ); leave --config_file out to use the run's own"
        )
    return config


def load_generator_model(checkpoint_path, config=None, log=print):
    """Build the model a checkpoint was trained with and load its weights (float32, whatever
    precision it was trained in), not the optimizer's. The config defaults to the one saved
    beside the checkpoint."""
    model = build_model(generator_config(checkpoint_path, config), initialize=False)  # every weight is restored
    checkpoints.RunCheckpoint(model).restore(checkpoint_path, what="--checkpoint_path", log=log)
    return model


def compilation_cache_dir(choice, config, num_seqs, log=print):
    """The folder of XLA's compilation cache for this model and num_seqs, created; None when
    `choice` is False (--compilation_cache None).

    `choice` is the cache's root (None: settings.default_compilation_cache()). Inside it, each
    combination of model config, num_seqs, TensorFlow and samplernn version has its own
    folder, named by a hash of them: what any of them changes is compiled afresh, never read
    from a stale entry. A default root that cannot be created is warned about and left out;
    one the user named is an error."""
    if choice is False:
        return None
    root = choice if choice is not None else default_compilation_cache()
    key = json.dumps(
        {"config": config.to_dict(), "num_seqs": num_seqs, "tensorflow": tf.__version__, "samplernn": __version__},
        sort_keys=True,
    )
    folder = os.path.join(os.path.abspath(root), hashlib.sha256(key.encode()).hexdigest()[:16])
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        if choice is None:
            log(f"Warning: no compilation cache, {folder!r} cannot be created ({err.strerror}); compiling afresh")
            return None
        raise UserError(
            f"--compilation_cache {choice!r}: cannot create {folder!r} ({err.strerror}); "
            "--compilation_cache None compiles without it"
        ) from None
    return folder


def seed_audio_from_file(path, offset, sample_rate, config):
    """The seed audio (float32) from sample `offset`; at least one big frame is required.
    NumPy only, so train.py can check a seed before TensorFlow picks its devices."""
    samples = audio.load_seed_audio(path, sample_rate)
    if offset >= len(samples):
        raise UserError(f"--seed_offset {offset} is past the end of {path!r} ({len(samples)} samples)")
    samples = samples[offset:]
    if len(samples) < config.big_frame_size:
        raise UserError(
            f"--seed {path!r} from offset {offset} has {len(samples)} samples, fewer than one big frame "
            f"({config.big_frame_size})"
        )
    return samples


# A clip whose RMS is below this (dB re full scale) is near-silent: barely audible, and 40 dB or
# more below every corpus of bench/quality.py (-20 to -25 dB).
NEAR_SILENT_DB = -60.0


def write_outputs(paths, levels, config, sample_rate, temperatures, plot=True, seeded=False, log=print):
    """One wav per sequence of `levels`, sampled at its entry of `temperatures`; with `plot`, its
    spectrogram PNG beside it. A clip that came out near-silent, or fell into loud broadband
    noise, gets a warning line saying what usually gets a model out of it."""
    for path, seq, temperature in zip(paths, levels, temperatures):
        samples = quantize.decode(seq, config.q_type, config.q_levels).numpy()
        audio.write_wav(path, samples, sample_rate)
        if plot:
            plotting.save_spectrogram(path)
        level = audio.heard_level_db(samples)
        # Sampled hotter, a model falls silent less often (bench/README.md, "the temperature").
        hotter = f"a --temperature above {temperature:g}"
        if level < NEAR_SILENT_DB:
            why = (
                f"the model fell silent after the seed; {hotter}, or more training, usually helps"
                if seeded
                else "generation starts from silence and the model stayed in it; "
                f"a --seed of its training audio, {hotter}, or more training, usually gets it out"
            )
            log(f"Warning: {path} is near-silent (RMS {level:.0f} dB about its mean): {why}")
        elif (start := audio.silent_tail_start(samples, sample_rate, NEAR_SILENT_DB)) is not None:
            # Sound, then silence to the end: a model that fell into silence and never left it.
            tail = audio.heard_level_db(samples[round(start * sample_rate) :])
            log(
                f"Warning: {path} falls near-silent at {start:.1f} s of {len(samples) / sample_rate:.1f} s and stays "
                f"so to its end (RMS {tail:.0f} dB about its mean): the model fell into silence and did not leave it; "
                f"{hotter}, or more training, usually helps"
            )
        elif noisy := spectral.noisy_seconds(samples, sample_rate):
            # A free-running model can fall into noise and stay there; sampling it at a lower
            # temperature keeps it out more often (bench/README.md, "the temperature"), though
            # once in, even a much lower one does not get it out ("a temperature steered by
            # surprise"): hence a new run, not a change mid-clip.
            log(
                f"Warning: {path} is loud broadband noise, as flat as white noise, for {noisy} of its "
                f"{len(samples) // sample_rate} whole seconds: unless your recordings sound so, the model fell "
                f"into noise; generating again at a --temperature below {temperature:g}, or more training, "
                "usually keeps it out"
            )


_IMPORTED = time.perf_counter()


def seconds_since_start():
    """Wall time since this process started (from /proc on Linux), else since it imported this
    module, which is soon after."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22, starttime
        return time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return time.perf_counter() - _IMPORTED


def _cache_entries(folder):
    return set(os.listdir(folder)) if folder and os.path.isdir(folder) else set()


class GenerationProgress:
    """What each phase of generate.py costs, a line each, and the progress line
    (see samplernn.progress):

        Loading: 1.2 s (after 11.5 s of start-up, TensorFlow's import included)
        Compiling: 4.1 s, first sample 16.8 s after start (compilation cache: 3 entries read from ...)
        Generating: 1.50/3.00 s (0.42x real time, 3.6 s)
    """

    def __init__(self, sample_rate, compilation_cache=None, log=print):
        self.sample_rate = sample_rate
        self.cache = compilation_cache
        self.log = log
        self.line = ProgressLine()
        self.start = time.perf_counter()

    def loaded(self):
        """Call when the model is loaded; compiling starts."""
        took = time.perf_counter() - self.start
        before = seconds_since_start() - took
        self.log(f"Loading: {took:.1f} s (after {before:.1f} s of start-up, TensorFlow's import included)")
        self._cached = _cache_entries(self.cache)
        self.start = time.perf_counter()

    def compiled(self):
        """Call once the first samples are out; generating starts."""
        took = time.perf_counter() - self.start
        if self.cache is None:
            cache = "compilation cache off"
        else:
            new = len(_cache_entries(self.cache) - self._cached)
            if new:
                cache = f"compilation cache: {new} entries written to {self.cache}"
            elif self._cached:
                cache = f"compilation cache: {len(self._cached)} entries read from {self.cache}"
            else:  # TensorFlow's devices started before the cache was set (in-process callers)
                cache = f"compilation cache {self.cache} unused"
        self.log(f"Compiling: {took:.1f} s, first sample {seconds_since_start():.1f} s after start ({cache})")
        self.start = time.perf_counter()

    def __call__(self, done, total):
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        speed = done / self.sample_rate / elapsed
        text = f"Generating: {done / self.sample_rate:.2f}/{total / self.sample_rate:.2f} s "
        self.line.update(text + f"({speed:.2f}x real time, {elapsed:.1f} s)", last=done >= total)


def ensure_writable(path):
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        raise UserError(f"--output_path {path!r}: cannot create {folder!r} ({err.strerror})") from None
    if not os.access(folder, os.W_OK):
        raise UserError(f"--output_path {path!r}: directory {folder!r} is not writable")


class InTrainingGenerator:
    """After each checkpoint, write up to `count` files of `dur` seconds into `output_dir`,
    named `<id>_e=<epoch>_t=<temperature>.wav` (with `plot`, a spectrogram `.png` beside each).
    A failure is reported, never raised: losing a sample file must not lose a training run."""

    def __init__(
        self, run_id, output_dir, count, dur, sample_rate, temperatures, seed_audio=None, log=print, plot=True
    ):
        self.run_id = run_id
        self.output_dir = output_dir
        self.temperatures = expand_temperatures(temperatures, count)
        self.num_samples = int(round(dur * sample_rate))
        self.sample_rate = sample_rate
        self.seed_audio = seed_audio
        self.log = log
        self.plot = plot
        self.sampler = None

    def __call__(self, checkpoint_path, epoch, model):
        if not self.temperatures:
            return []
        try:
            if self.sampler is None:
                self.sampler = Sampler(model)
            else:
                self.sampler.refresh()
            levels = self.sampler.generate(self.num_samples, self.temperatures, seed_audio=self.seed_audio)
            paths = output_paths(os.path.join(self.output_dir, self.run_id), epoch, self.temperatures)
            config = self.sampler.model.config
            write_outputs(
                paths,
                levels,
                config,
                self.sample_rate,
                self.temperatures,
                self.plot,
                self.seed_audio is not None,
                self.log,
            )
        except Exception as err:  # noqa: BLE001 - reported and survived, by design
            self.log(f"Warning: generating audio after epoch {epoch} failed: {type(err).__name__}: {err}")
            return []
        for path in paths:
            self.log(f"Generated {path}")
        return paths


def in_training_generator(settings, config, log=print):
    """The after-checkpoint hook train.py's generation flags ask for, or None; a bad --seed is
    reported before training starts rather than after its first epoch."""
    if not settings.generate or settings.max_generate_per_epoch == 0:
        return None
    seed_audio = None
    if settings.seed:
        seed_audio = seed_audio_from_file(settings.seed, settings.seed_offset, settings.sample_rate, config)
    return InTrainingGenerator(
        settings.id,
        os.path.join(settings.output_dir, settings.id),
        settings.max_generate_per_epoch,
        settings.output_file_dur,
        settings.sample_rate,
        settings.temperature,
        seed_audio,
        log,
        settings.plot,
    )


def generate_files(settings, log=print):
    """Everything generate.py does after parsing its GenerateSettings: load, sample, write.
    Returns the paths written."""
    ensure_writable(settings.output_path)
    config = generator_config(
        settings.checkpoint_path, ModelConfig.load(settings.config_file) if settings.config_file else None
    )
    rate = generation_sample_rate(settings, log)
    seed_audio = None
    if settings.seed:
        seed_audio = seed_audio_from_file(settings.seed, settings.seed_offset, rate, config)
    cache = compilation_cache_dir(settings.compilation_cache, config, settings.num_seqs, log)
    configure(settings.device, log=log, compilation_cache=cache)
    phases = GenerationProgress(rate, cache, log)
    model = load_generator_model(settings.checkpoint_path, config, log)
    phases.loaded()
    temperatures = expand_temperatures(settings.temperature, settings.num_seqs)
    levels = Sampler(model).generate(
        int(round(settings.dur * rate)),
        temperatures,
        random_seed=settings.random_seed,
        seed_audio=seed_audio,
        progress=phases,
        compiled=phases.compiled,
    )
    paths = output_paths(settings.output_path, checkpoints.epoch_of(settings.checkpoint_path), temperatures)
    write_outputs(paths, levels, config, rate, temperatures, settings.plot, seeded=seed_audio is not None, log=log)
    return paths


def generation_sample_rate(settings, log=print):
    """--sample_rate, else the rate the checkpoint's run trained at, else 16000 (a run before
    0.2.0 did not record it). Another rate than the trained one shifts pitch and tempo."""
    trained = checkpoints.sample_rate_beside(settings.checkpoint_path)
    if settings.sample_rate is None:
        return trained or FALLBACK_SAMPLE_RATE
    if trained is not None and settings.sample_rate != trained:
        log(
            f"Warning: the model was trained at {trained} Hz; at --sample_rate {settings.sample_rate} its audio "
            f"plays {settings.sample_rate / trained:.3g} times as fast and high"
        )
    return settings.sample_rate
