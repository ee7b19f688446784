"""Which devices a run uses and in what precision.

Call `configure` before anything else touches TensorFlow's devices: hiding GPUs and enabling
memory growth only work before the GPUs are initialized.
"""

import dataclasses

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


def configure(device="All", mixed_precision=False, log=print):
    """Pin the run to GPU `device` (hiding the others) or use every visible GPU; on a machine
    without GPUs run on the CPU. Mixed precision is float16 on GPUs (tensor cores) and bfloat16
    on the CPU, where float16 arithmetic is emulated and slow but bfloat16 runs natively on
    CPUs with AVX-512 BF16 or AMX."""
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
