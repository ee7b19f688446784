"""Keras Tuner over the search space: an oracle that proposes only valid points, and a tuner
whose trials are samplernn.training.train runs."""

import importlib
import json
import os
import random
import sys

import keras

from samplernn import checkpoints, search_space, tuning
from samplernn.errors import UserError
from samplernn.files import atomic_write


def _import_keras_tuner():
    """The keras_tuner package. Our script keras_tuner.py has the same name, and the folder of a
    running script (or the working directory, under `python -m`) leads sys.path: look the
    package up with the folders holding such a script left out."""
    saved = sys.path[:]
    sys.path[:] = [p for p in saved if not os.path.isfile(os.path.join(p or os.curdir, "keras_tuner.py"))]
    try:
        return importlib.import_module("keras_tuner")
    finally:
        sys.path[:] = saved


kt = _import_keras_tuner()

TUNER_NAME = "keras_tuner"
EPOCH_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")
EPOCHS_FILE = "epochs.json"


class ValidPointsOracle(kt.Oracle):
    """Proposes untried points of an expanded space in a seeded random order, so no invalid
    combination is ever tried; stops after `max_trials` or when every point has been tried."""

    def __init__(self, space, points, objective, max_trials, seed=0):
        hp = kt.HyperParameters()
        for name in search_space.NAMES:
            hp.Choice(name, [search_space.to_scalar(v) for v in space[name]])
        super().__init__(
            objective=objective,
            max_trials=max_trials,
            hyperparameters=hp,
            allow_new_entries=False,
            seed=seed,
            # A failed trial is a bad point, not a broken search: go on to the others.
            max_consecutive_failed_trials=None,
        )
        self.points = [search_space.to_scalars(point) for point in points]

    def populate_space(self, trial_id):
        tried = [t.hyperparameters.values for t in self.trials.values()]
        # Probe from a random start: random order while few are tried, and still finds the last
        # untried point of a nearly exhausted space in one pass.
        start = random.Random(f"{self.seed}:{trial_id}").randrange(len(self.points))
        for offset in range(len(self.points)):
            values = self.points[(start + offset) % len(self.points)]
            if values not in tried:
                return {"status": kt.engine.trial.TrialStatus.RUNNING, "values": dict(values)}
        return {"status": kt.engine.trial.TrialStatus.STOPPED, "values": None}


class SampleRNNTuner(kt.engine.base_tuner.BaseTuner):
    """Runs each trial as a train() run in the trial's folder; a rerun resumes an interrupted
    trial from its last checkpoint."""

    def __init__(self, oracle, base, directory, project_name):
        self.base = base
        super().__init__(oracle=oracle, directory=directory, project_name=project_name)

    def run_trial(self, trial, *args, **kwargs):
        point = search_space.from_scalars(trial.hyperparameters.values)
        # Epoch metrics are kept on disk: a resumed trial's train() reports only its new epochs.
        epochs_file = os.path.join(self.get_trial_dir(trial.trial_id), EPOCHS_FILE)
        epochs = _load_epochs(epochs_file)

        def on_epoch_end(metrics):
            epochs[metrics["epoch"]] = {k: metrics[k] for k in EPOCH_METRICS}
            _save_epochs(epochs_file, epochs)

        # Each trial builds a fresh model; drop the previous trial's graphs and layer names.
        keras.backend.clear_session()
        try:
            tuning.train_point(point, self.base, self.project_dir, _run_id(trial), on_epoch_end=on_epoch_end)
        except UserError as err:
            print(f"Trial {trial.trial_id} failed: {err}")
            raise kt.errors.FailedTrialError(str(err)) from None
        if not epochs:
            raise kt.errors.FailedTrialError("no epoch metrics were recorded")
        history = keras.callbacks.History()
        history.history = {k: [epochs[e][k] for e in sorted(epochs)] for k in EPOCH_METRICS}
        return history


def _run_id(trial):
    """train()'s id for a trial: its runs then sit in Keras Tuner's own trial folder."""
    return f"trial_{trial.trial_id}"


def _load_epochs(path):
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return {int(epoch): metrics for epoch, metrics in json.load(f).items()}


def _save_epochs(path, epochs):
    with atomic_write(path, "w", encoding="utf-8") as f:
        json.dump(epochs, f, indent=2)


def trial_summary(trial):
    """The reference toolkit's summary of a trial."""
    lines = [
        "[Trial summary]",
        f" |-Trial ID: {trial.trial_id}",
        f" |-Score: {trial.score}",
        # Keras Tuner counts the epochs of a History from 0.
        f" |-Best step: {trial.best_step + 1}",
        " > Hyperparameters:",
    ]
    values = trial.hyperparameters.values
    lines += [f" |-{name}: {search_space.format_value(values[name])}" for name in sorted(values)]
    return "\n".join(lines)


def run(args):
    """Search, print the best trial's summary and write its config; returns the best point."""
    base = tuning.base_settings(args, device=args.device)
    space, points = tuning.expand_space(args, base, needs_validation=args.objective.startswith("val_"))
    results = tuning.results_dir(args, TUNER_NAME)
    record = {"space": space, "num_epochs": args.num_epochs, "objective": args.objective}
    tuning.prepare_results(results, record, args.resume)

    direction = "max" if args.objective.endswith("accuracy") else "min"
    oracle = ValidPointsOracle(space, points, kt.Objective(args.objective, direction), args.max_trials)
    tuner = SampleRNNTuner(oracle, base, os.path.dirname(results), os.path.basename(results))
    tuner.search()

    best = [t for t in tuner.oracle.get_best_trials(1) if t.status == kt.engine.trial.TrialStatus.COMPLETED]
    if not best:
        raise UserError(f"no trial completed (see the errors above); results in {results}")
    trial = best[0]
    print()
    print(trial_summary(trial))
    latest = checkpoints.latest_checkpoint(results, _run_id(trial))
    if latest:
        print(f"Its latest checkpoint: {latest}")
    point = search_space.from_scalars(trial.hyperparameters.values)
    tuning.write_best(point, base, tuning.best_config_path(args, TUNER_NAME))
    return point
