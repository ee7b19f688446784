"""Which devices a run uses and in what precision.

Call `configure` before anything else touches TensorFlow's devices: hiding GPUs, enabling
memory growth and XLA's compilation cache only work before the devices are initialized.
"""

import contextlib
import dataclasses
import os

import tensorflow as tf

from samplernn.errors import UserError


@dataclasses.dataclass(frozen=True)
class Devices:
    strategy: tf.distribute.Strategy
    precision: str  # a Keras dtype policy name
    description: str

    @property
    def replicas(self):
        return self.strategy.num_replicas_in_sync

    @property
    def loss_scaling(self):
        """float16 gradients underflow without loss scaling; bfloat16 has float32's range."""
        return self.precision == "mixed_float16"


XLA_FLAGS_VARIABLE = "TF_XLA_FLAGS"
_CACHE_FLAG = "--tf_xla_persistent_cache_directory"


def configure(device="All", mixed_precision=False, log=print, compilation_cache=None):
    """Pin the run to GPU `device` (hiding the others) or use every visible GPU; on a machine
    without GPUs run on the CPU. Mixed precision is float16 on GPUs (tensor cores) and bfloat16
    on the CPU, where float16 arithmetic is emulated and slow but bfloat16 runs natively on
    CPUs with AVX-512 BF16 or AMX. `compilation_cache`: a folder where XLA keeps what it
    compiles for later processes to read back (see compilation_cache_flag)."""
    with compilation_cache_flag(compilation_cache):
        gpus = tf.config.list_physical_devices("GPU")
    if device != "All":
        if not gpus:
            log(f"No GPU is visible; --device {device} ignored, running on the CPU")
        elif device >= len(gpus):
            raise UserError(f"--device {device}: only {len(gpus)} GPU(s) are visible (0 to {len(gpus) - 1})")
        else:
            tf.config.set_visible_devices(gpus[device], "GPU")
            gpus = [gpus[device]]
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:
            pass  # already initialized by an earlier run in this process; growth was set then
    if len(gpus) > 1:
        strategy = tf.distribute.MirroredStrategy()
        description = f"{len(gpus)} GPUs (MirroredStrategy)"
    else:
        strategy = tf.distribute.get_strategy()
        description = "GPU" if gpus else "CPU"
    precision = "float32"
    if mixed_precision:
        precision = "mixed_float16" if gpus else "mixed_bfloat16"
    return Devices(strategy, precision, description)


@contextlib.contextmanager
def compilation_cache_flag(folder):
    """TensorFlow's persistent compilation cache, in `folder` (None: none) while TensorFlow
    initializes its devices inside the block: every function XLA compiles (the jit_compile ones)
    is written there, and a later process that compiles the same computation reads it instead.

    TensorFlow reads TF_XLA_FLAGS once, when it first initializes its devices (not at import),
    so this only takes effect then; afterwards TF_XLA_FLAGS is put back as it was, so that no
    child process inherits the flag. A cache folder the user's own TF_XLA_FLAGS names wins."""
    flags = os.environ.get(XLA_FLAGS_VARIABLE)
    if folder is None or _CACHE_FLAG in (flags or ""):
        yield
        return
    if '"' in folder:
        raise UserError(f"--compilation_cache {folder!r}: a folder name with a double quote cannot be passed to XLA")
    os.environ[XLA_FLAGS_VARIABLE] = f'{flags or ""} {_CACHE_FLAG}="{folder}"'.strip()
    try:
        yield
    finally:
        if flags is None:
            del os.environ[XLA_FLAGS_VARIABLE]
        else:
            os.environ[XLA_FLAGS_VARIABLE] = flags
