"""What keras_tuner.py and ray_tune.py share: the search space checked
against the corpus, one trial trained by samplernn.training.train, and the best point written
as a config train.py takes.

A tuner's results live in `<logdir_root>/<tuner>/<id>/`: the tuner's own records, one folder
per trial holding train()'s usual run folders (checkpoints, TensorBoard logs), `search.json`
(what was searched, so a rerun resumes only the same search) and `best.config.json`.
"""

import dataclasses
import json
import os
import shlex
import shutil

from samplernn import data, search_space
from samplernn.errors import UserError
from samplernn.files import atomic_write
from samplernn.settings import BEST_CONFIG_NAME, TrainSettings
from samplernn.training import train

SEARCH_RECORD_NAME = "search.json"


def base_settings(args, device=TrainSettings.device):
    """TrainSettings every trial starts from; a trial's point overrides the searched fields."""
    return TrainSettings(
        data_dir=os.path.abspath(args.data_dir),
        verbose=args.verbose,
        device=device,
        num_epochs=args.num_epochs,
        early_stopping_patience=args.early_stopping_patience,
        sample_rate=args.sample_rate,
        val_frac=args.val_frac,
        mixed_precision=args.mixed_precision,
        # A trial needs only its latest checkpoint, to resume from, and generates no audio.
        checkpoint_every=1,
        checkpoint_policy="Always",
        max_checkpoints=1,
        resume=True,
        generate=False,
    )


def results_dir(args, tuner_name):
    return os.path.abspath(os.path.join(args.logdir_root, tuner_name, args.id))


def best_config_path(args, tuner_name):
    return args.best_config_file or os.path.join(results_dir(args, tuner_name), BEST_CONFIG_NAME)


def expand_space(args, settings, needs_validation):
    """The valid points of the space given on the command line, checked against the corpus too.
    Prints how many there are and why the others were skipped."""
    space = search_space.from_args(args)
    # Fails at once, with its own message, on a missing or empty data directory.
    data.scan_corpus(settings.data_dir, settings.sample_rate, min(space["seq_len"]))
    expansion = search_space.expand(space, checks=[corpus_check(settings, needs_validation)])
    print(f"Search space: {expansion.describe()}")
    return space, expansion.points


def corpus_check(settings, needs_validation):
    """A search-space check: the corpus must fill a batch with files at least seq_len long, and,
    when the objective is a validation metric, leave a whole validation batch."""
    files_by_seq_len = {}
    problems = {}

    def problem(seq_len, batch_size):
        if seq_len not in files_by_seq_len:
            try:
                files_by_seq_len[seq_len] = data.scan_corpus(settings.data_dir, settings.sample_rate, seq_len, _quiet)
            except UserError:
                files_by_seq_len[seq_len] = []
        files = files_by_seq_len[seq_len]
        if not files:
            return f"no file in --data_dir has seq_len={seq_len} samples"
        try:
            _, val = data.split_corpus(files, settings.val_frac, batch_size, _quiet)
        except UserError as err:
            return str(err)
        if needs_validation and not val:
            return (
                f"no validation batch: --val_frac {settings.val_frac} of {len(files)} files "
                f"leaves no whole batch of {batch_size}"
            )
        return None

    def check(point):
        key = (point["seq_len"], point["batch_size"])
        if key not in problems:
            problems[key] = problem(*key)
        if problems[key]:
            raise UserError(problems[key])

    return check


def _quiet(*_):
    """The corpus checks stay silent: each trial prints its own warnings."""


def prepare_results(path, record, resume):
    """Create the results directory, or with `resume` False empty it first. A rerun may resume
    only the search it started: `record` (what is searched, and how) must match the saved one."""
    if not resume and os.path.exists(path):
        shutil.rmtree(path)
        print(f"Deleted the earlier results in {path} (--resume False)")
    os.makedirs(path, exist_ok=True)
    record = json.loads(json.dumps(record))  # tuples as lists, as they come back from the file
    record_file = os.path.join(path, SEARCH_RECORD_NAME)
    if os.path.exists(record_file):
        with open(record_file, encoding="utf-8") as f:
            saved = json.load(f)
        changed = sorted(k for k in record.keys() | saved.keys() if record.get(k) != saved.get(k))
        if changed:
            raise UserError(
                f"{path} holds a search with different {', '.join(changed)}; "
                "pass another --id, or --resume False to start afresh"
            )
    else:
        with atomic_write(record_file, "w", encoding="utf-8") as f:
            json.dump(record, f, indent=2)
            f.write("\n")


def train_point(point, base, logdir_root, run_id, resume_from=None, after_checkpoint=None, on_epoch_end=None):
    """Train one point with the same train() as train.py. Its runs go to `<logdir_root>/<run_id>/`,
    and a rerun resumes from the latest checkpoint there (or from `resume_from`)."""
    config, overrides = search_space.split(point)
    settings = dataclasses.replace(base, logdir_root=logdir_root, id=run_id, resume_from=resume_from, **overrides)
    return train(settings, config, after_checkpoint=after_checkpoint, on_epoch_end=on_epoch_end)


def write_best(point, settings, path):
    """Write the best point's model config where train.py reads it, and print the rest of the
    point as the train.py flags to pass with it."""
    config, overrides = search_space.split(point)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    config.save(path)
    flags = " ".join(f"--{name} {search_space.format_value(value)}" for name, value in overrides.items())
    print(f"Best model config written to {path}")
    print(f"Pass with it to train.py: {flags}")
    paths = ["--data_dir", settings.data_dir, "--config_file", path, "--sample_rate", str(settings.sample_rate)]
    print(f"  python train.py {shlex.join(paths)} {flags}")
