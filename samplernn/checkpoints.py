"""The one place that knows the on-disk layout of a training run.

    <logdir_root>/<id>/<DD.MM.YYYY_HH.MM.SS>/           one run
        model.config.json                              the model config the run trained
        run.json                                       the sample rate it trained at
        model.ckpt-<epoch>.index, .data-00000-of-00001 TensorFlow checkpoint files
        events.out.tfevents.*                          TensorBoard logs

Checkpoints are written into a hidden folder and renamed into place, index file last, and
Ctrl-C is held back meanwhile: an interrupted save leaves every earlier checkpoint intact.

Inside a checkpoint (layout 2): `layout`, the model's weights under `model/`, and in training
the optimizer under `optimizer/` and the progress counters (`epoch`, `best_loss`, ...). When
training keeps a moving average of the weights, `model/` holds the average and `optimizer/`
the average again among Keras' own variables (the raw weights are not kept).
Checkpoints of the earlier layout (no `layout` entry, written by 0.1.0) held most weights
only under `optimizer/_trainable_variables/<i>`, in the order of the model's trainable
variables; `RunCheckpoint.restore` reads both.
"""

import contextlib
import datetime
import glob
import json
import os
import re
import shutil
import signal
import threading

import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

from samplernn.config import ModelConfig
from samplernn.errors import UserError
from samplernn.files import atomic_write

CONFIG_NAME = "model.config.json"
RUN_INFO_NAME = "run.json"
PREFIX = "model.ckpt"
RUN_DIR_FORMAT = "%d.%m.%Y_%H.%M.%S"
_CKPT_RE = re.compile(r"^model\.ckpt-(\d+)\.index$")
_RUN_RE = re.compile(r"^(\d\d\.\d\d\.\d{4}_\d\d\.\d\d\.\d\d)(?:-(\d+))?$")


def checkpoint_path(run_dir, epoch):
    return os.path.join(run_dir, f"{PREFIX}-{epoch}")


def epoch_of(path):
    """The epoch in a `.../model.ckpt-<epoch>` path, or None."""
    match = _CKPT_RE.match(os.path.basename(path) + ".index")
    return int(match.group(1)) if match else None


def exists(path):
    """A checkpoint is complete once its index file is in place."""
    return os.path.isfile(path + ".index")


def new_run_dir(logdir_root, run_id, now=None):
    """Create `<logdir_root>/<id>/<timestamp>`; a second run in the same second gets a suffix."""
    stamp = (now or datetime.datetime.now()).strftime(RUN_DIR_FORMAT)
    parent = os.path.join(logdir_root, run_id)
    os.makedirs(parent, exist_ok=True)
    for n in range(1000):
        path = os.path.join(parent, stamp if n == 0 else f"{stamp}-{n}")
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            continue
    raise UserError(f"cannot create a run directory under {parent!r}")


def run_dirs(logdir_root, run_id):
    """Run directories of `run_id`, oldest first."""
    parent = os.path.join(logdir_root, run_id)
    found = []
    for name in os.listdir(parent) if os.path.isdir(parent) else []:
        match = _RUN_RE.match(name)
        if match and os.path.isdir(os.path.join(parent, name)):
            try:
                when = datetime.datetime.strptime(match.group(1), RUN_DIR_FORMAT)
            except ValueError:  # looks like a timestamp but is no date (e.g. 31.02.): not a run
                continue
            found.append(((when, int(match.group(2) or 0)), os.path.join(parent, name)))
    return [path for _, path in sorted(found)]


def checkpoints_in(run_dir):
    """Complete checkpoints of one run as paths, by epoch."""
    epochs = []
    for name in os.listdir(run_dir):
        match = _CKPT_RE.match(name)
        if match:
            epochs.append(int(match.group(1)))
    return [checkpoint_path(run_dir, e) for e in sorted(epochs)]


def all_checkpoints(logdir_root, run_id):
    """Every complete checkpoint of `run_id`, newest first: the latest run's highest epoch first."""
    return [path for run_dir in reversed(run_dirs(logdir_root, run_id)) for path in reversed(checkpoints_in(run_dir))]


def latest_checkpoint(logdir_root, run_id, exclude_run=None):
    """The highest-epoch checkpoint of the most recent run of `run_id` that saved one, or None."""
    for run_dir in reversed(run_dirs(logdir_root, run_id)):
        if run_dir == exclude_run:
            continue
        found = checkpoints_in(run_dir)
        if found:
            return found[-1]
    return None


def config_beside(path):
    """The model config saved in a checkpoint's run directory, or None if there is none."""
    config_file = os.path.join(os.path.dirname(os.path.abspath(path)), CONFIG_NAME)
    return ModelConfig.load(config_file) if os.path.isfile(config_file) else None


def save_config(run_dir, config):
    config.save(os.path.join(run_dir, CONFIG_NAME))


def save_run_info(run_dir, sample_rate):
    """Record beside the checkpoints what they need besides the model config to sound right."""
    with atomic_write(os.path.join(run_dir, RUN_INFO_NAME), "w", encoding="utf-8") as f:
        json.dump({"sample_rate": sample_rate}, f, indent=2)


def sample_rate_beside(path):
    """The sample rate a checkpoint's run trained at, or None for a run that did not record it."""
    info = os.path.join(os.path.dirname(os.path.abspath(path)), RUN_INFO_NAME)
    if not os.path.isfile(info):
        return None
    try:
        with open(info, encoding="utf-8") as f:
            rate = json.load(f)["sample_rate"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserError(f"{info!r} cannot be read ({type(err).__name__}: {err})") from None
    if not isinstance(rate, int) or rate < 1:
        raise UserError(f"{info!r}: sample_rate must be a positive integer, got {rate!r}")
    return rate


@contextlib.contextmanager
def interrupts_deferred():
    """Hold Ctrl-C until the block ends, then raise it, so a save is never cut in half."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda *_: received.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            raise KeyboardInterrupt


class DamagedCheckpoint(UserError):
    """A checkpoint whose files cannot be read in full: cut short, missing a part, or garbled."""


LAYOUT = 2
_LAYOUT_KEY = "layout/.ATTRIBUTES/VARIABLE_VALUE"


class RunCheckpoint:
    """The checkpoint object every caller saves and restores: the model, and in training the
    optimizer and the named progress counters (scalar variables)."""

    def __init__(self, model, optimizer=None, **counters):
        self.model = model
        self.optimizer = optimizer
        self.others = dict(counters)
        if optimizer is not None:
            # The optimizer's own variables (step count, slots), not the optimizer: through it
            # the checkpoint would reach the model's weights too, and TensorFlow names each
            # variable by its shortest path, optimizer/_trainable_variables/<i>. `_variables`
            # is the name the optimizer gives this list itself, so both layouts restore into it.
            self.others["optimizer"] = tf.train.Checkpoint(_variables=optimizer.variables)
        self._layout = tf.Variable(LAYOUT, dtype=tf.int64, trainable=False, name="layout")
        self._checkpoint = tf.train.Checkpoint(layout=self._layout, model=model, **self.others)

    def save(self, run_dir, epoch, keep=None):
        """Write model.ckpt-<epoch> in `run_dir`, then delete the oldest beyond `keep` (None keeps
        all). Returns the checkpoint path. A failed write (a full disk) leaves nothing of itself
        behind and is a UserError: the earlier checkpoints stay as they were."""
        final = checkpoint_path(run_dir, epoch)
        staging = os.path.join(run_dir, f".saving-{epoch}")
        with interrupts_deferred():
            shutil.rmtree(staging, ignore_errors=True)
            try:
                written = self._checkpoint.write(os.path.join(staging, os.path.basename(final)))
                data_files = sorted(glob.glob(glob.escape(written) + ".data-*"))
                for name in data_files + [written + ".index"]:
                    os.replace(name, os.path.join(run_dir, os.path.basename(name)))
            except (OSError, tf.errors.OpError) as err:
                if not exists(final):
                    for name in glob.glob(glob.escape(final) + ".data-*"):
                        os.remove(name)
                raise UserError(
                    f"cannot save checkpoint {final}: {_first_line(err)}; the earlier checkpoints are intact"
                ) from None
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            if keep is not None:
                for old in checkpoints_in(run_dir)[:-keep]:
                    remove(old)
        return final

    def restore(self, path, what="checkpoint", log=print):
        """Read `path`, insisting every weight that exists now gets its value. What the file holds
        beyond this object (the optimizer, when generating) is left unread."""
        if not exists(path):
            raise UserError(f"{what} {path!r} does not exist (expected {path}.index)")
        if not glob.glob(glob.escape(path) + ".data-*"):
            raise DamagedCheckpoint(f"{what} {path!r} is damaged: its .data file is missing")
        try:
            reader = tf.train.load_checkpoint(path)
            state, missing = self._optimizer_state(reader, what, path)
            if reader.has_tensor(_LAYOUT_KEY):
                others = {**self.others, "optimizer": tf.train.Checkpoint(_variables=state)} if missing else self.others
                _read_all_matched(tf.train.Checkpoint(layout=self._layout, model=self.model, **others), path)
            else:
                self._restore_legacy(reader, path, state)
                log(f"Read {path}, a checkpoint of the earlier layout (weights kept under optimizer/)")
        except (AssertionError, ValueError, tf.errors.InvalidArgumentError) as err:
            raise UserError(f"{what} {path!r} does not match the model config: {_first_line(err)}") from None
        except IndexError:
            # What TensorFlow raises for a .data file shorter than its index says.
            raise DamagedCheckpoint(
                f"{what} {path!r} is damaged: its .data file is cut short (a full disk or an interrupted copy?)"
            ) from None
        except (OSError, tf.errors.OpError) as err:
            raise DamagedCheckpoint(f"{what} {path!r} is damaged: {_first_line(err)}") from None
        for average, weight in zip(missing, self.model.trainable_variables):
            average.assign(weight)

    def _optimizer_state(self, reader, what, path):
        """The optimizer variables to read from the checkpoint at `path`, and the moving averages
        of the weights it lacks: a run trained without them resumes with them starting at its
        weights. Keras keys the optimizer's variables by their place in one list, so a list of
        another length would read one kind of variable into another; it is refused instead."""
        if self.optimizer is None:
            return None, []
        mine = self.optimizer.variables
        averages = self.optimizer._model_variables_moving_average if self.optimizer.use_ema else []
        saved = _child_count(reader, ("optimizer", "_variables"))
        if saved == len(mine):
            return mine, []
        if averages and saved == len(mine) - len(averages):
            return [v for v in mine if all(v is not a for a in averages)], averages
        raise UserError(
            f"{what} {path!r} holds the state of another optimizer ({saved} variables where this run's has "
            f"{len(mine)}): it trained with another --optimizer, or with an average of the weights "
            "(SAMPLERNN_RECIPE's 'ema') where this run has none; --resume False starts afresh"
        )

    def _restore_legacy(self, reader, path, state):
        """The earlier layout's weights are the optimizer's `_trainable_variables` list, in the
        order of the model's trainable variables; TensorFlow matches them by that path."""
        weights = self.model.trainable_variables
        saved = _child_count(reader, ("optimizer", "_trainable_variables"))
        if saved != len(weights):
            raise ValueError(f"it holds {saved} weights where this model has {len(weights)}")
        optimizer = dict(_trainable_variables=weights)
        if state is not None:
            optimizer["_variables"] = state
        _read_all_matched(tf.train.Checkpoint(**{**self.others, "optimizer": tf.train.Checkpoint(**optimizer)}), path)


def _child_count(reader, names):
    """How many children the object at the path `names` has in a checkpoint's object graph (0 if none)."""
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    node = 0  # the root
    for name in names:
        children = {child.local_name: child.node_id for child in graph.nodes[node].children}
        if name not in children:
            return 0
        node = children[name]
    return len(graph.nodes[node].children)


def _first_line(err):
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _read_all_matched(checkpoint, path):
    status = checkpoint.read(path)
    # Silences TensorFlow's warnings, one line per object, about what is left unread; a weight
    # of this model that the file lacks still fails the assertion.
    status.expect_partial()
    status.assert_existing_objects_matched()


def remove(path):
    """Delete a checkpoint, index first so it never looks complete while half deleted."""
    os.remove(path + ".index")
    for name in glob.glob(glob.escape(path) + ".data-*"):
        os.remove(name)
