"""Ray Tune over the search space, on this machine or on a Ray cluster: each trial is a
samplernn.training.train run in a Ray worker, reporting every epoch to an ASHA scheduler and
handing Ray the checkpoint it just saved, so a restarted trial resumes from it."""

import contextlib
import json
import math
import os
import random
import socket

import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search import BasicVariantGenerator

from samplernn import checkpoints, search_space, tuning
from samplernn.errors import UserError
from samplernn.training import format_duration

TUNER_NAME = "ray_tune"
METRIC = "val_loss"
# Which points, and in what order, a search tries: fixed, so a rerun restores the same search.
SEARCH_SEED = 0
# Ray takes resource amounts to four decimal places.
RESOURCE_STEP = 1e-4
CONNECT_TIMEOUT_SECONDS = 5.0


def plan_resources(available, num_cpus, num_gpus, num_trials, max_concurrent):
    """(trials at once, CPUs per trial, GPUs per trial) from the totals asked for; UserError when
    they exceed what the Ray runtime has."""
    have_cpus, have_gpus = available.get("CPU", 0.0), available.get("GPU", 0.0)
    cpus = have_cpus if num_cpus is None else num_cpus
    gpus = have_gpus if num_gpus is None else num_gpus
    if cpus > have_cpus:
        raise UserError(f"--num_cpus {num_cpus}: the Ray runtime has only {have_cpus:g} CPUs")
    if gpus > have_gpus:
        raise UserError(f"--num_gpus {num_gpus:g}: only {have_gpus:g} GPU(s) are visible to Ray")
    if cpus < 1:
        raise UserError("the Ray runtime has no CPU to run trials on")
    concurrent = max_concurrent or max(1, min(num_trials, int(cpus)))
    per_trial_cpus = _round_down(cpus / concurrent)
    per_trial_gpus = gpus / concurrent
    # Ray shares a GPU in fractions below one; above one it hands out whole GPUs only.
    per_trial_gpus = math.floor(per_trial_gpus) if per_trial_gpus > 1 else _round_down(per_trial_gpus)
    if gpus and not per_trial_gpus:
        raise UserError(f"--num_gpus {gpus:g} is too little to share among {concurrent} trials")
    return concurrent, per_trial_cpus, per_trial_gpus


def _round_down(amount):
    return math.floor(amount / RESOURCE_STEP + 1e-9) * RESOURCE_STEP


def check_reachable(address):
    """One clear error, quickly, for a cluster address nothing answers at (Ray itself retries
    for a long while)."""
    target = address.split("://", 1)[-1]
    host, sep, port = target.rpartition(":")
    if not sep:
        return  # `auto` and the like: Ray finds the cluster itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_SECONDS).close()
    except (OSError, ValueError) as err:
        raise UserError(f"--address {address}: no Ray cluster reachable there ({err})") from None


def connect(address, num_cpus):
    """Join the cluster at `address`, or start a Ray runtime on this machine."""
    if address:
        check_reachable(address)
        try:
            ray.init(address=address)
        except (ConnectionError, RuntimeError, ValueError) as err:
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UserError(
                f"--address {address}: cannot join the Ray cluster ({first_line}); if it uses token "
                "authentication, set RAY_AUTH_MODE=token and its token (RAY_AUTH_TOKEN) here too"
            ) from None
    else:
        # `local` starts a runtime of our own even where `ray start` has left one running.
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False)


def train_trial(point, base):
    """One trial in a Ray worker: train `point` in the trial's working directory, report each
    epoch's metrics with the checkpoint saved for it, and resume from the checkpoint Ray hands
    back when it restarts the trial."""
    point = search_space.from_scalars(point)
    saved = {}

    def after_checkpoint(path, epoch, model):
        saved["run_dir"] = os.path.dirname(path)

    def on_epoch_end(metrics):
        # The run folder holds this epoch's checkpoint (the only one kept) and the model config.
        run_dir = saved.pop("run_dir", None)
        checkpoint = tune.Checkpoint.from_directory(run_dir) if run_dir else None
        tune.report(dict(metrics), checkpoint=checkpoint)

    restored = tune.get_checkpoint()
    with restored.as_directory() if restored else contextlib.nullcontext() as restored_dir:
        resume_from = checkpoints.checkpoints_in(restored_dir)[-1] if restored_dir else None
        tuning.train_point(
            point,
            base,
            os.getcwd(),  # Ray's working directory for this trial
            "trial",
            resume_from=resume_from,
            after_checkpoint=after_checkpoint,
            on_epoch_end=on_epoch_end,
        )


def trial_dirname(trial):
    return f"trial_{trial.trial_id}"


def make_tuner(args, base, space, points, results, resources):
    """A new Tuner, or the one saved in `results` restored: its finished trials stay finished and
    the others resume from their last checkpoints."""
    concurrent, cpus, gpus = resources
    trainable = tune.with_resources(tune.with_parameters(train_trial, base=base), {"cpu": cpus, "gpu": gpus})
    if tune.Tuner.can_restore(results):
        print(f"Resuming the search in {results}")
        return tune.Tuner.restore(results, trainable=trainable, resume_unfinished=True, resume_errored=True)
    grace = args.grace_period or max(1, args.num_epochs // 4)
    return tune.Tuner(
        trainable,
        param_space={
            name: tune.choice([search_space.to_scalar(v) for v in space[name]]) for name in search_space.NAMES
        },
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode="min",
            # Exactly the chosen points, each once: Ray samples nothing itself.
            search_alg=BasicVariantGenerator(
                points_to_evaluate=[search_space.to_scalars(p) for p in points], max_concurrent=concurrent
            ),
            num_samples=len(points),
            scheduler=ASHAScheduler(time_attr="training_iteration", max_t=args.num_epochs, grace_period=grace),
            trial_dirname_creator=trial_dirname,
        ),
        run_config=tune.RunConfig(
            name=os.path.basename(results),
            storage_path=os.path.dirname(results),
            # Two, not one: Ray snapshots the whole experiment whenever a trial has saved num_to_keep.
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
            verbose=1,
        ),
    )


def best_trial_summary(result):
    frame = result.metrics_dataframe
    best_val = frame[METRIC].min()
    best_epoch = int(frame.loc[frame[METRIC].idxmin(), "epoch"])
    return "\n".join(
        [
            "[Best trial]",
            f" |-Trial ID: {result.metrics['trial_id']}",
            f" |-Iterations: {result.metrics['training_iteration']}",
            f" |-Duration: {format_duration(result.metrics['time_total_s'])}",
            f" |-{METRIC}: {best_val} (epoch {best_epoch})",
        ]
    )


def run(args):
    """Search, print the best hyperparameters and trial, and write the best config; returns the best point."""
    base = tuning.base_settings(args)
    space, valid = tuning.expand_space(args, base, needs_validation=True)
    points = random.Random(SEARCH_SEED).sample(valid, min(len(valid), args.num_trials))
    if len(points) < args.num_trials:
        print(f"Running {len(points)} trials: the space has no more valid combinations")
    results = tuning.results_dir(args, TUNER_NAME)
    tuning.prepare_results(results, {"space": space, "num_epochs": args.num_epochs, "points": points}, args.resume)

    connect(args.address, args.num_cpus)
    try:
        resources = plan_resources(
            ray.cluster_resources(), args.num_cpus, args.num_gpus, len(points), args.max_concurrent_trials
        )
        concurrent, cpus, gpus = resources
        print(f"Running {concurrent} trial(s) at a time, each with {cpus:g} CPU(s) and {gpus:g} GPU(s)")
        grid = make_tuner(args, base, space, points, results, resources).fit()
    finally:
        ray.shutdown()

    unfinished = len(grid) - grid.num_terminated - grid.num_errors
    if unfinished:
        print(f"The search stopped with {unfinished} of {len(grid)} trials unfinished; rerun the command to resume it")
        raise KeyboardInterrupt
    try:
        best = grid.get_best_result(metric=METRIC, mode="min", scope="all")
    except RuntimeError:
        first = next((r.error for r in grid if r.error), None)
        raise UserError(f"no trial reported {METRIC} (first error: {first}); results in {results}") from None
    point = search_space.from_scalars({name: best.config[name] for name in search_space.NAMES})
    print()
    print("Best hyperparameters:")
    print(json.dumps(point, indent=2, sort_keys=True))
    print(best_trial_summary(best))
    if best.checkpoint:
        found = checkpoints.checkpoints_in(best.checkpoint.path)
        if found:
            print(f"Its latest checkpoint: {found[-1]}")
    tuning.write_best(point, base, tuning.best_config_path(args, TUNER_NAME))
    return point
