"""Training: the compiled train and validation steps, and the epoch loop (its settings are
samplernn.settings.TrainSettings)."""

import dataclasses
import math
import time

import keras
import numpy as np
import tensorflow as tf

from samplernn import checkpoints, data, summaries
from samplernn import recipe as recipes
from samplernn.corruption import corrupt_history
from samplernn.devices import configure
from samplernn.errors import UserError
from samplernn.model import build_model
from samplernn.progress import ProgressLine

# The reference decays the learning rate by this factor every epoch after the given one.
LR_DECAY_PER_EPOCH = math.exp(-0.1)


@dataclasses.dataclass
class EpochStats:
    """Sums over the masked samples of an epoch."""

    loss_sum: float = 0.0
    correct: float = 0.0
    count: float = 0.0

    def add(self, loss_sum, correct, count):
        self.loss_sum += float(loss_sum)
        self.correct += float(correct)
        self.count += float(count)

    @property
    def loss(self):
        """Mean cross-entropy in nats per sample."""
        return self.loss_sum / self.count if self.count else float("nan")

    @property
    def accuracy(self):
        """Percent of samples whose most likely level was the true one."""
        return 100.0 * self.correct / self.count if self.count else float("nan")

    @property
    def bits(self):
        """Negative log-likelihood in bits per sample, the SampleRNN paper's unit."""
        return self.loss / math.log(2.0)


def make_optimizer(name, learning_rate, momentum, loss_scaling=False, recipe=recipes.DEFAULT):
    """The optimizer train.py's flags name, clipping its gradients as `recipe` says: the loss is
    summed over 256-way softmaxes, and early in training single batches of near-silence can
    otherwise throw the RNNs far off."""
    args = dict(recipe.clip_args(), rate_factors=recipe.rate_factors, name=name)
    if recipe.ema:
        args.update(use_ema=True, ema_momentum=recipe.ema, ema_ramp=recipe.ema_ramp)
    if name == "adam":
        opt = _Adam(learning_rate, beta_2=recipe.adam_beta_2, epsilon=recipe.adam_epsilon, **args)
    elif name == "sgd":
        opt = _SGD(learning_rate, momentum=momentum, **args)
    else:
        opt = _RMSprop(learning_rate, momentum=momentum, **args)
    return keras.optimizers.LossScaleOptimizer(opt) if loss_scaling else opt


class _ScaledRates:
    """An optimizer whose every weight steps at its own multiple of the learning rate: Keras'
    optimizers take one rate for all. `rate_factors(path)` gives a weight's multiples at the
    start and the end of the run; between them it moves linearly with `progress`. Its
    variables are Keras' own, so checkpoints are the plain optimizer's."""

    def __init__(self, *args, rate_factors, **kwargs):
        super().__init__(*args, **kwargs)
        self._rate_factors = rate_factors
        # The fraction of the run done, set by the training loop before each step. A plain
        # tf.Variable, which Keras keeps out of the optimizer's variables and so out of the
        # checkpoint: a resumed run sets it again from where its steps fall.
        self.progress = tf.Variable(0.0, trainable=False, name="rate_progress")

    def build(self, var_list):
        super().build(var_list)
        self._factors = [self._rate_factors(v.path) for v in var_list]

    def update_step(self, gradient, variable, learning_rate):
        start, end = self._factors[self._get_variable_index(variable)]
        factor = start
        if end != start:
            factor = start + (end - start) * tf.cast(self.progress, learning_rate.dtype)
        return super().update_step(gradient, variable, learning_rate * factor)


class _RampedAverage:
    """An optimizer whose moving average of the weights (use_ema) can start quick and slow down:
    with `ema_ramp` its momentum at optimizer step t is min(ema_momentum, (1 + t) / (10 + t)),
    as tf.train.ExponentialMovingAverage's num_updates makes it. A constant momentum near 1
    keeps the average near the random start for hundreds of steps. The step is the optimizer's
    own `iterations`, which checkpoints hold, so a resumed run ramps on from where it stopped."""

    def __init__(self, *args, ema_ramp=False, **kwargs):
        super().__init__(*args, **kwargs)
        self._ema_ramp = ema_ramp

    def _update_model_variables_moving_average(self, trainable_variables):
        if not self._ema_ramp:
            return super()._update_model_variables_moving_average(trainable_variables)
        step = tf.cast(self.iterations, "float32")
        # Momentum 0 at the first step starts the average at the weights, as Keras does.
        momentum = tf.where(step > 0, tf.minimum(self.ema_momentum, (1.0 + step) / (10.0 + step)), 0.0)
        for variable, average in zip(trainable_variables, self._model_variables_moving_average):
            if average is not None:
                # TensorFlow's form of the update: an average already at the weights stays
                # exactly there, whatever the step's momentum rounds to.
                average.assign_sub((average - variable) * tf.cast(1.0 - momentum, average.dtype))


class _Adam(_RampedAverage, _ScaledRates, keras.optimizers.Adam):
    pass


class _SGD(_RampedAverage, _ScaledRates, keras.optimizers.SGD):
    pass


class _RMSprop(_RampedAverage, _ScaledRates, keras.optimizers.RMSprop):
    pass


def learning_rate_at(epoch, base, reduce_after):
    """Constant until `reduce_after` epochs, then exponentially decaying; a function of the
    epoch alone, so a resumed run picks up the same rate."""
    if reduce_after is None or epoch <= reduce_after:
        return base
    return base * LR_DECAY_PER_EPOCH ** (epoch - reduce_after)


def run_progress(epoch, step, steps, num_epochs):
    """The fraction of the run (--num_epochs) done before step `step` of `steps` in `epoch`: a
    function of where the step falls, so a resumed run picks up the same schedules."""
    return (epoch - 1 + (step - 1) / steps) / num_epochs


def step_learning_rate(base, recipe, done, progress):
    """The rate of the step `progress` into the run, `done` optimizer steps in: the epoch's rate
    `base`, times the recipe's warm-up and its decay over --num_epochs."""
    return base * recipe.warmup_factor(done) * recipe.decay_factor(progress)


def averaged_in(optimizer, model):
    """Put the optimizer's moving averages into the model's weights; returns the raw values
    they replaced, for training to go on from."""
    raw = [v.numpy() for v in model.trainable_variables]
    optimizer.finalize_variable_values(model.trainable_variables)
    return raw


def masked_stats(logits, targets, mask):
    """Per-batch sums: cross-entropy, correct predictions, counted samples (padding excluded)."""
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)
    hits = tf.cast(tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), targets), tf.float32)
    return tf.reduce_sum(ce * mask), tf.reduce_sum(hits * mask), tf.reduce_sum(mask)


class Stepper:
    """The compiled train and validation steps, replicated by the devices' strategy.

    RNN states are passed in and out of every step, per replica; at the first subsequence of a
    batch (`reset`) the step replaces them by the model's initial state. Gradients stop at the
    subsequence boundary: truncated backpropagation through time.
    """

    def __init__(self, model, optimizer, strategy, recipe=recipes.DEFAULT):
        self.model = model
        self.optimizer = optimizer
        self.strategy = strategy
        self.recipe = recipe
        # The corrupted windows' draws are stateless, seeded by this and the step, so that
        # NumPy's seed (which bench/quality.py sets) repeats them.
        self.corruption_seed = int(np.random.randint(2**31 - 1))
        self._train = tf.function(self._replica_train)
        self._eval = tf.function(self._replica_eval)

    def zero_states(self, batch_size):
        per_replica = batch_size // self.strategy.num_replicas_in_sync
        return self.strategy.experimental_distribute_values_from_function(
            lambda _: self.model.initial_states(per_replica)
        )

    def distribute(self, dataset):
        """Give each replica the same rows of every batch, so its RNN states stay its own.

        Elements of a dataset from `distribute_datasets_from_function` go to the replicas in
        turn, so each batch is split into one element per replica, in replica order.
        """
        n = self.strategy.num_replicas_in_sync
        if n == 1:
            return dataset

        def per_replica(seq, mask, reset):
            return tf.data.Dataset.from_tensor_slices(
                (tf.stack(tf.split(seq, n)), tf.stack(tf.split(mask, n)), tf.fill([n], reset))
            )

        split = dataset.flat_map(per_replica).prefetch(tf.data.AUTOTUNE)
        return self.strategy.distribute_datasets_from_function(lambda _: split)

    def train(self, batch, states):
        stats, states = self.strategy.run(self._train, args=(*batch, states))
        return self._sum(stats), states

    def evaluate(self, batch, states):
        stats, states = self.strategy.run(self._eval, args=(*batch, states))
        return self._sum(stats), states

    def validate(self, batches, batch_size, sample_rate):
        """Statistics of the model over `batches` (lists of files), dropout off."""
        stats = EpochStats()
        if batches:
            states = self.zero_states(batch_size)
            for batch in self.distribute(data.make_dataset(batches, self.model.config, sample_rate)):
                step_stats, states = self.evaluate(batch, states)
                stats.add(*step_stats)
        return stats

    def _sum(self, stats):
        return [self.strategy.reduce(tf.distribute.ReduceOp.SUM, s, axis=None) for s in stats]

    def _start(self, seq, reset, states):
        fresh = self.model.initial_states(tf.shape(seq)[0])
        return tuple(tf.where(reset, f, tf.stop_gradient(s)) for f, s in zip(fresh, states))

    def _replica_train(self, seq, mask, reset, states):
        model = self.model
        big_frame = model.config.big_frame_size
        inputs = seq
        if self.recipe.history_noise or self.recipe.history_quiet:
            inputs, mask = self._corrupted(seq, mask)
        with tf.GradientTape() as tape:
            logits, *states = model((inputs, *self._start(seq, reset, states)), training=True)
            loss_sum, correct, count = masked_stats(logits, seq[:, big_frame:], mask)
            # Divide by the count over all replicas: the optimizer sums replicas' gradients.
            total = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, count)
            loss = loss_sum / tf.maximum(total, 1.0)
            scaled = self.optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, model.trainable_variables)
        self.optimizer.apply(grads, model.trainable_variables)
        return (loss_sum, correct, count), tuple(states)

    def _corrupted(self, seq, mask):
        """corrupt_history with draws seeded by the step, made for the whole batch of which this
        replica holds one slice."""
        replica = tf.distribute.get_replica_context()
        rows = tf.shape(seq)[0]
        seed = tf.stack([tf.constant(self.corruption_seed, tf.int64), tf.cast(self.optimizer.iterations, tf.int64)])
        first = tf.cast(replica.replica_id_in_sync_group, tf.int32) * rows
        return corrupt_history(
            seq, mask, self.recipe, self.model.config, seed, first, rows * replica.num_replicas_in_sync
        )

    def _replica_eval(self, seq, mask, reset, states):
        logits, *states = self.model((seq, *self._start(seq, reset, states)), training=False)
        return masked_stats(logits, seq[:, self.model.config.big_frame_size :], mask), tuple(states)


def format_duration(seconds):
    minutes, secs = divmod(seconds, 60.0)
    hours, minutes = divmod(int(minutes), 60)
    if hours:
        return f"{hours} hr {minutes} min {secs:.3f} sec"
    if minutes:
        return f"{minutes} min {secs:.3f} sec"
    return f"{secs:.3f} sec"


def step_line(epoch, num_epochs, step, steps, stats, seconds):
    return (
        f"Epoch: {epoch}/{num_epochs}, Step: {step}/{steps}, Loss: {stats.loss:.3f}, "
        f"Accuracy: {stats.accuracy:.3f}, ({seconds:.4f} sec/step), NLL: {stats.bits:.3f} bits/sample"
    )


def epoch_line(epoch, num_epochs, train, val, steps, seconds):
    val_loss = f"{val.loss:.3f}" if val.count else "n/a"
    val_acc = f"{val.accuracy:.3f}" if val.count else "n/a"
    val_bits = f"{val.bits:.3f} bits/sample" if val.count else "n/a"
    return (
        f"Epoch: {epoch}/{num_epochs}, Loss: {train.loss:.3f}, Accuracy: {train.accuracy:.3f}, "
        f"Val Loss: {val_loss}, Val Accuracy: {val_acc} ({steps} steps in {format_duration(seconds)}), "
        f"NLL: {train.bits:.3f} bits/sample, Val NLL: {val_bits}"
    )


@dataclasses.dataclass
class TrainResult:
    run_dir: str
    last_epoch: int
    history: list  # one dict per epoch run: epoch, loss, accuracy, val_loss, val_accuracy, lr
    checkpoints: list
    stopped_early: bool = False


class _Progress:
    """Counters that live in the checkpoint so a resumed run knows where it stood."""

    def __init__(self):
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.best_loss = tf.Variable(np.inf, dtype=tf.float64, trainable=False, name="best_loss")
        self.saved_loss = tf.Variable(np.inf, dtype=tf.float64, trainable=False, name="saved_loss")
        self.bad_epochs = tf.Variable(0, dtype=tf.int64, trainable=False, name="bad_epochs")


def resume_candidates(settings, config, log):
    """The checkpoints to try resuming from, newest first; none starts from scratch.

    --resume_from names one. Otherwise: every checkpoint of the id, skipping (and saying so)
    those whose run's config cannot be read. The newest readable config must equal `config`;
    older runs with another config are not candidates.
    """
    if not settings.resume:
        return []
    if settings.resume_from:
        path = settings.resume_from
        if not checkpoints.exists(path):
            raise UserError(f"--resume_from {path!r} names no checkpoint (expected {path}.index)")
        _refuse_other_config(path, checkpoints.config_beside(path), config)
        return [path]
    candidates = []
    for path in checkpoints.all_checkpoints(settings.logdir_root, settings.id):
        try:
            saved = checkpoints.config_beside(path)
        except UserError as err:
            log(f"Warning: skipping checkpoint {path}: {err}")
            continue
        if not candidates:
            _refuse_other_config(path, saved, config)
        if saved is None or saved == config:
            candidates.append(path)
    if not candidates:
        log(f"No checkpoint found for id {settings.id!r} under {settings.logdir_root!r}; starting from scratch")
    return candidates


def _refuse_other_config(path, saved, config):
    if saved is not None and saved != config:
        raise UserError(
            f"checkpoint {path!r} was trained with a different model config "
            f"({', '.join(config.keys_differing_from(saved))} differ); "
            "pass the same --config_file, or --resume False to start afresh"
        )


def resume(ckpt, candidates, settings, log):
    """Restore the newest intact candidate; a damaged one is named, left alone, and passed over
    (unless the user named it with --resume_from). Returns the path restored, or None."""
    what = "--resume_from" if settings.resume_from else "checkpoint"
    for path in candidates:
        try:
            ckpt.restore(path, what=what, log=log)
            return path
        except checkpoints.DamagedCheckpoint as err:
            if settings.resume_from:
                raise
            log(f"Warning: {err}; trying the one before it")
    if candidates:
        # A failed read may have set some weights: starting from them would not be from scratch.
        raise UserError(
            f"every checkpoint of id {settings.id!r} under {settings.logdir_root!r} is damaged; "
            "pass --resume False to start afresh"
        )
    return None


def train(settings, config, log=print, after_checkpoint=None, on_epoch_end=None):
    """Train `config` on `settings.data_dir`; returns a TrainResult.

    `after_checkpoint(path, epoch, model)` runs after each saved checkpoint (in-training generation);
    the audio files it returns, if any, are logged to TensorBoard with their spectrograms.
    `on_epoch_end(metrics)` after each epoch, with the dict appended to `TrainResult.history`
    (the tuners report from it). If it returns True, training stops there.
    """
    # The user's files first: a mistake there is reported before TensorFlow touches any device.
    files = data.scan_corpus(settings.data_dir, settings.sample_rate, config.seq_len, log=log)
    train_files, val_files = data.split_corpus(files, settings.val_frac, settings.batch_size, log=log)
    candidates = resume_candidates(settings, config, log)
    recipe = recipes.from_environment()
    devices = configure(settings.device, settings.mixed_precision, log=log)
    if settings.batch_size % devices.replicas:
        raise UserError(f"--batch_size {settings.batch_size} must be divisible by the {devices.replicas} devices")

    with devices.strategy.scope():
        model = build_model(config, devices.precision)
        recipes.initialize(model, recipe)
        if recipe.logits_bias == "marginal":
            counts = data.level_counts(train_files, config, settings.sample_rate)
            recipes.set_logits_bias(model, counts)
        optimizer = make_optimizer(
            settings.optimizer, settings.learning_rate, settings.momentum, devices.loss_scaling, recipe
        )
        optimizer.build(model.trainable_variables)
        progress = _Progress()
    # The loss-scale wrapper stays out of the checkpoint so runs resume across precisions.
    inner = optimizer.inner_optimizer if devices.loss_scaling else optimizer
    ckpt = checkpoints.RunCheckpoint(
        model,
        inner,
        epoch=progress.epoch,
        best_loss=progress.best_loss,
        saved_loss=progress.saved_loss,
        bad_epochs=progress.bad_epochs,
    )
    resumed = resume(ckpt, candidates, settings, log)
    if resumed:
        log(f"Resuming from {resumed} (epoch {int(progress.epoch.numpy())})")

    run_dir = checkpoints.new_run_dir(settings.logdir_root, settings.id)
    checkpoints.save_config(run_dir, config)
    checkpoints.save_run_info(run_dir, sample_rate=settings.sample_rate)
    log(
        f"Training on {devices.description} ({devices.precision}); {len(train_files)} training and "
        f"{len(val_files)} validation files; logs and checkpoints in {run_dir}"
    )
    writer = tf.summary.create_file_writer(run_dir)
    stepper = Stepper(model, optimizer, devices.strategy, recipe)
    val_batches = data.epoch_batches(val_files, settings.batch_size)
    result = TrainResult(run_dir, int(progress.epoch.numpy()), [], [])
    summaries.write_config(writer, config, step=result.last_epoch)
    if result.last_epoch >= settings.num_epochs:
        log(f"The checkpoint is at epoch {result.last_epoch}; raise --num_epochs above it to train further")
    # --verbose False shows the steps on one progress line; a log other than print (the tuners,
    # tests) gets the epoch lines alone.
    steps_line = ProgressLine() if not settings.verbose and log is print else None

    for epoch in range(int(progress.epoch.numpy()) + 1, settings.num_epochs + 1):
        # --- the learning rate of this epoch (--reduce_learning_rate_after's)
        base = learning_rate_at(epoch, settings.learning_rate, settings.reduce_learning_rate_after)
        # --- train over this epoch's shuffled batches
        batches = data.epoch_batches(train_files, settings.batch_size, epoch)
        steps = data.steps_in(batches, config.seq_len)
        stats = EpochStats()
        states = stepper.zero_states(settings.batch_size)
        start = time.perf_counter()
        dataset = stepper.distribute(data.make_dataset(batches, config, settings.sample_rate))
        done_before = int(optimizer.iterations.numpy())  # read once: a read each step would wait for the device
        last_lr = None
        for step, batch in enumerate(dataset, 1):
            tick = time.perf_counter()
            at = run_progress(epoch, step, steps, settings.num_epochs)
            lr = step_learning_rate(base, recipe, done_before + step - 1, at)
            if lr != last_lr:  # a constant rate is set once, not on every step
                optimizer.learning_rate = last_lr = lr
            if recipe.rates_move:
                inner.progress.assign(at)
            step_stats, states = stepper.train(batch, states)
            stats.add(*step_stats)
            if not math.isfinite(stats.loss):
                raise UserError(
                    f"the loss became {stats.loss} at epoch {epoch}, step {step}; try a lower --learning_rate"
                )
            line = step_line(epoch, settings.num_epochs, step, steps, stats, time.perf_counter() - tick)
            if settings.verbose:
                log(line)
            elif steps_line is not None:
                steps_line.update(line)
            with writer.as_default(step=optimizer.iterations):
                tf.summary.scalar("step/loss", stats.loss)
                tf.summary.scalar("step/accuracy", stats.accuracy)
                tf.summary.scalar("step/nll_bits", stats.bits)
        if steps_line is not None:
            steps_line.end()
        # --- from here to the epoch's end the model holds the averaged weights, if any
        raw = averaged_in(inner, model) if recipe.ema else None
        # --- validate with dropout off
        val = stepper.validate(val_batches, settings.batch_size, settings.sample_rate)
        log(epoch_line(epoch, settings.num_epochs, stats, val, steps, time.perf_counter() - start))
        with writer.as_default(step=epoch):
            for name, value in (
                ("loss", stats.loss),
                ("accuracy", stats.accuracy),
                ("nll_bits", stats.bits),
                ("val_loss", val.loss),
                ("val_accuracy", val.accuracy),
                ("val_nll_bits", val.bits),
                ("learning_rate", lr),
            ):
                if math.isfinite(value):
                    tf.summary.scalar(f"epoch/{name}", value)
        writer.flush()
        result.history.append(
            dict(
                epoch=epoch,
                loss=stats.loss,
                accuracy=stats.accuracy,
                val_loss=val.loss,
                val_accuracy=val.accuracy,
                learning_rate=lr,
            )
        )
        result.last_epoch = epoch
        # --- early-stopping bookkeeping, on validation loss when there is a validation set
        monitored = val.loss if val.count else stats.loss
        improved = monitored < progress.best_loss.numpy()
        if improved:
            progress.best_loss.assign(monitored)
            progress.bad_epochs.assign(0)
        else:
            progress.bad_epochs.assign_add(1)
        patience = settings.early_stopping_patience
        stop = patience is not None and not improved and progress.bad_epochs.numpy() >= patience
        progress.epoch.assign(epoch)
        # --- checkpoint, then whatever follows a checkpoint
        last = stop or epoch == settings.num_epochs
        due = epoch % settings.checkpoint_every == 0 or last
        if settings.checkpoint_policy == "Best":
            due = due and monitored < progress.saved_loss.numpy()
        if due:
            progress.saved_loss.assign(min(monitored, progress.saved_loss.numpy()))
            path = ckpt.save(run_dir, epoch, keep=settings.max_checkpoints)
            result.checkpoints.append(path)
            log(f"Saved checkpoint {path}")
            if after_checkpoint is not None:
                summaries.write_generated(writer, after_checkpoint(path, epoch, model) or [], epoch, log)
        if raw is not None:
            for variable, value in zip(model.trainable_variables, raw):
                variable.assign(value)
        if on_epoch_end is not None and on_epoch_end(result.history[-1]):
            break
        if stop:
            log(f"Early stopping: no improvement for {int(progress.bad_epochs.numpy())} epochs")
            result.stopped_early = True
            break
    writer.close()
    return result
