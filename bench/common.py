"""Shared pieces of the benchmarks: FLOP accounting, the matmul reference rate, synthetic
training inputs, a synthesized wav corpus, and process measurements (peak RSS, CPU taken by
other processes).

Only `flop_*`, `SMALL_CONFIG` and the pure helpers are safe to import without TensorFlow;
everything that needs TensorFlow imports it inside the function.
"""

import os
import resource
import time

from samplernn.config import ModelConfig

# The model a user gets from train.py without --config_file.
DEFAULT_CONFIG = ModelConfig.load(
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "default.config.json")
)
# A config that trains in well under a second per step on 2 cores; same tier layout as the default.
SMALL_CONFIG = DEFAULT_CONFIG.replace(seq_len=512, dim=256, num_rnn_layers=2, emb_size=64)
# The small config's two-tier counterpart: the frame tier alone over the sample MLP.
SMALL_TWO_TIER_CONFIG = SMALL_CONFIG.replace(frame_sizes=(16,))
CONFIGS = {"small": SMALL_CONFIG, "small-2-tier": SMALL_TWO_TIER_CONFIG, "default": DEFAULT_CONFIG}

# mixed precision on the CPU is bfloat16 (samplernn.devices.configure picks the same).
PRECISIONS = {"float32": "float32", "mixed": "mixed_bfloat16"}


# --------------------------------------------------------------------------- FLOP accounting


def _rnn_macs_per_step(cfg, in_dim):
    """Multiply-adds of one time step of the tier's RNN stack, as the model is written plainly."""
    gates = 3 if cfg.rnn_type == "gru" else 4
    dim = cfg.dim
    total = 0
    for i in range(cfg.num_rnn_layers):
        layer_in = in_dim if i == 0 else dim + (in_dim if cfg.skip_conn else 0)
        total += gates * (layer_in * dim + dim * dim)
        if cfg.skip_conn:
            total += dim * dim  # skip_out projection of this layer's output
    return total


def _tier_macs_per_step(cfg, frame_size, ratio):
    """Input projection + RNN layers + upsampling of one step of a frame-level tier."""
    dim = cfg.dim
    return frame_size * dim + _rnn_macs_per_step(cfg, dim) + dim * (dim * ratio)


def tier_parts(cfg):
    """The names of the frame tiers' parts in flop_breakdown, top first."""
    return [f"tier_{size}" for size in reversed(cfg.frame_sizes)]


def flop_breakdown(cfg):
    """Forward multiply-adds per sample, by part (a dict), as the issue counts them:
    per frame step of each tier its input projection, RNN layers and upsampling; per sample
    the MLP with its input layer as a dense layer over frame_size * emb_size inputs."""
    dim, sizes = cfg.dim, cfg.frame_sizes
    parts = {}
    for level in reversed(range(len(sizes))):
        ratio = sizes[level] // sizes[level - 1] if level else sizes[level]
        parts[f"tier_{sizes[level]}"] = _tier_macs_per_step(cfg, sizes[level], ratio) / sizes[level]
    return {
        **parts,
        "mlp_input": cfg.frame_size * cfg.emb_size * dim,
        "mlp_hidden": 2 * dim * dim,
        "mlp_logits": dim * cfg.q_levels,
    }


def forward_macs_per_sample(cfg):
    return sum(flop_breakdown(cfg).values())


def tier_weight_bytes_per_sample(cfg):
    """float32 bytes of tier weights one generation step reads per generated sample: every
    weight of every frame-level tier once per tier step, whatever the number of sequences."""
    parts = flop_breakdown(cfg)
    return 4 * sum(parts[name] for name in tier_parts(cfg))


def train_flops_per_sample(cfg):
    """Training FLOPs per sample: 3 x the forward pass, 2 FLOPs per multiply-add."""
    return 3 * 2 * forward_macs_per_sample(cfg)


# --------------------------------------------------------------------------- measurements


def peak_rss_mb():
    """High-water mark of this process's resident set (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _own_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def system_busy_seconds():
    """CPU seconds all processes spent busy since boot (from /proc/stat), or None off Linux."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """Wall time, this process's CPU time and other processes' CPU time over an interval.

    `others` (in cores) says how much of the machine someone else took while we measured:
    near 0 on a quiet machine; on 2 cores, 1.0 means half the machine was busy elsewhere.
    """

    def __enter__(self):
        self._wall, self._own, self._sys = time.perf_counter(), _own_cpu_seconds(), system_busy_seconds()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self._wall
        self.own = _own_cpu_seconds() - self._own
        busy = system_busy_seconds()
        self.others = None if busy is None else max(0.0, (busy - self._sys) - self.own) / max(self.wall, 1e-9)
        return False


def best_seconds(fn, reps):
    """The shortest of `reps` timed calls of fn()."""
    best = float("inf")
    for _ in range(reps):
        tick = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - tick)
    return best


class MatmulProbe:
    """The reference rate: float32 GFLOP/s of an n x n x n tf.matmul inside a tf.function."""

    def __init__(self, n=2048):
        import tensorflow as tf

        self.n = n
        self._a = tf.random.normal((n, n), dtype=tf.float32)
        self._b = tf.random.normal((n, n), dtype=tf.float32)
        self._matmul = tf.function(tf.matmul)
        self.rate(1)  # trace and warm up

    def rate(self, reps=3):
        """Best of `reps` runs."""
        return 2.0 * self.n**3 / best_seconds(lambda: float(self._matmul(self._a, self._b)[0, 0]), reps) / 1e9


class StreamProbe:
    """The memory-bandwidth reference: GB/s of float32 matrix-vector products over `mb` of
    weights (too many for any cache) inside a tf.function, the access pattern of generating
    one sequence. Unlike the matmul rate it drops when other machines share the memory bus."""

    def __init__(self, mb=128, cols=16384):
        import tensorflow as tf

        rows = 1024
        count = max(1, int(mb * 1e6 // (4 * rows * cols)))
        self.bytes = 4 * rows * cols * count
        kernels = [tf.random.normal((rows, cols)) for _ in range(count)]

        @tf.function
        def stream(x):
            for kernel in kernels:
                x = x + tf.matmul(x, kernel)[:, :rows] * 1e-9
            return x

        self._stream = stream
        self._x = tf.ones((1, rows))
        self.rate(1)

    def rate(self, reps=3):
        """Best of `reps` runs."""
        return self.bytes / best_seconds(lambda: float(self._stream(self._x)[0, 0]), reps) / 1e9


# --------------------------------------------------------------------------- inputs


def synthetic_batches(cfg, batch_size, seed=0):
    """An endless iterator of training batches of the real shapes and dtypes:
    (seq (batch, G + T) int32 levels, mask (batch, T) float32 ones, reset () bool), with reset
    alternating True/False so both the fresh-state and carried-state paths run."""
    import tensorflow as tf

    rng = tf.random.Generator.from_seed(seed)
    seqs = [
        rng.uniform((batch_size, cfg.big_frame_size + cfg.seq_len), 0, cfg.q_levels, dtype=tf.int32) for _ in range(2)
    ]
    mask = tf.ones((batch_size, cfg.seq_len), tf.float32)
    resets = [tf.constant(True), tf.constant(False)]
    i = 0
    while True:
        yield seqs[i % 2], mask, resets[i % 2]
        i += 1


def write_wav_corpus(directory, files, seq_len, sample_rate=16000, seed=0):
    """`files` mono 16-bit wav files of plucked-string melodies under `directory`.

    Lengths vary between 3 and 4 subsequences, so every batch pads its shorter files and a new
    batch of files is loaded every 4 training steps: a harder test of the pipeline's prefetching
    than the 8-second chunks chunk_audio.py writes (125 steps per batch at seq_len 1024).
    """
    import numpy as np

    from samplernn.demo_corpus import synthesize_demo_corpus

    rng = np.random.default_rng(seed)
    paths = []
    for i in range(files):
        length = int(rng.integers(3 * seq_len + 1, 4 * seq_len + 1))
        path = os.path.join(directory, f"clip_{i:03d}.wav")
        synthesize_demo_corpus(path, seconds=length / sample_rate, sample_rate=sample_rate, seed=seed + i)
        paths.append(path)
    return paths
