"""How well the model learns real recordings: validation NLL per epoch at a fixed budget, and
how close generated audio comes to its corpus. Prints a table and writes JSON.

    python bench/quality.py [--corpora /work/corpora] [--quick] \
        [--variant learn_h0=true] [--variant "--learning_rate 0.002"] [--out bench/results/quality.json]

For each corpus (a folder of wav chunks below --corpora, as bench/corpora.py builds them) it
trains a baseline, today's defaults on bench/quality.config.json, and then every --variant on
the same files at the same budget, each through the real train.py in a subprocess; then it
generates from each run's final checkpoint through the real generate.py and measures the clips
with samplernn.spectral as the demo does (median spectral flatness, log-spectral distance of the
long-term spectrum to the corpus's, levels included), beside the corpus itself and white noise.
Variant rows report their difference from the baseline of the same invocation.

A variant is one string of tokens: `key=value` overrides a model config key (the value is
read as JSON, else as a string: `rnn_type=lstm`, `frame_sizes=[8,32]`), and `--flag value`
or `--flag=value` is passed to train.py after the benchmark's own flags, so it wins, and
`recipe.key=value` sets one of samplernn.recipe's training choices through SAMPLERNN_RECIPE
(`recipe.init=he`, `recipe.warmup_steps=200`). Any key the config or the recipe accepts or flag
train.py takes can be ablated; train.py refuses unknown ones.
"""

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile as sf

from samplernn.audio import find_wav_files, heard_level_db, load_audio, rms_db, silent_tail_start
from samplernn.demo import spectral_report
from samplernn.generation import NEAR_SILENT_DB
from samplernn.spectral import noisy_seconds

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CONFIG_FILE = os.path.join(HERE, "quality.config.json")
SAMPLE_RATE = 16000
BASELINE = "baseline"

# The real train.py, run as __main__ after seeding Python, NumPy and TensorFlow, so that a
# baseline and its variants start from the same random numbers and a rerun repeats itself.
TRAIN_BOOTSTRAP = (
    "import runpy, sys; from samplernn import cli; cli.import_tensorflow_quietly(); import keras; "
    "keras.utils.set_random_seed(int(sys.argv[1])); sys.argv = sys.argv[2:]; "
    "runpy.run_path(sys.argv[0], run_name='__main__')"
)
EPOCH_LINE = re.compile(
    r"^Epoch: (\d+)/\d+, Loss: \S+, Accuracy: \S+, Val Loss: \S+, Val Accuracy: \S+ "
    r"\((\d+) steps in [^)]*\), NLL: ([\d.]+) bits/sample, Val NLL: ([\d.]+) bits/sample"
)
STEP_TIME = re.compile(r", Step: \d+/\d+, .*\(([\d.]+) sec/step\)")
SAVED_LINE = re.compile(r"^Saved checkpoint (.+)$")

BUDGETS = {
    # files are whole batches of --batch_size; steps per epoch = train batches x subsequences per file
    "full": dict(train_files=48, val_files=16, epochs=2, gen_dur=3.0, gen_seqs=2),
    "quick": dict(train_files=16, val_files=16, epochs=1, gen_dur=1.0, gen_seqs=1),
}


def parse_variant(spec):
    """`spec` -> (config overrides {key: value}, train.py flags [str], recipe overrides {key:
    value}). See the module doc."""
    overrides, flags, recipe = {}, [], {}
    for token in spec.split():
        if token.startswith("--"):
            flags += token.split("=", 1)
        elif flags and "=" not in token:
            flags.append(token)  # a value of the flag before it
        elif "=" in token:
            key, _, text = token.partition("=")
            target, key = (recipe, key[len("recipe.") :]) if key.startswith("recipe.") else (overrides, key)
            try:
                target[key] = json.loads(text)
            except json.JSONDecodeError:
                target[key] = text
        else:
            raise SystemExit(f"--variant {spec!r}: {token!r} is neither key=value nor a --flag or its value")
    return overrides, flags, recipe


def select_files(corpus_dir, count):
    """`count` chunks spread evenly over the corpus in natural order: the same ones every run."""
    paths = find_wav_files(corpus_dir)
    if len(paths) < count:
        raise SystemExit(f"{corpus_dir} has {len(paths)} wav files; the budget needs {count}")
    return [paths[(i * len(paths)) // count] for i in range(count)]


def run_logged(cmd, log_path, env=None):
    """Run `cmd`, its output to `log_path`; returns (return code, the output's lines)."""
    with open(log_path, "w") as log:
        code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env).returncode
    with open(log_path) as log:
        return code, log.read().splitlines()


def generate_clips(checkpoint, out_dir, flags):
    """The clips generate.py writes into `out_dir` from `checkpoint` with `flags` (a list); a
    failure ends the benchmark naming the checkpoint and generate.py's last lines."""
    os.makedirs(out_dir, exist_ok=True)
    cmd = [sys.executable, os.path.join(REPO, "generate.py"), "--checkpoint_path", checkpoint]
    cmd += ["--output_path", os.path.join(out_dir, "clip.wav"), "--plot", "False", *flags]
    code, lines = run_logged(cmd, os.path.join(out_dir, "generate.log"))
    if code != 0:
        raise SystemExit(f"generate.py exited {code} on {checkpoint}: " + " | ".join(lines[-3:]))
    names = sorted(n for n in os.listdir(out_dir) if n.endswith(".wav"))
    return [load_audio(os.path.join(out_dir, n), SAMPLE_RATE) for n in names]


def train_row(name, spec, seed, data_dir, row_dir, args, budget):
    overrides, flags, recipe = parse_variant(spec) if spec else ({}, [], {})
    os.makedirs(row_dir, exist_ok=True)
    with open(args.config_file) as f:
        config = json.load(f)
    config.update(overrides)
    config_path = os.path.join(row_dir, "model.config.json")
    with open(config_path, "w") as f:
        json.dump(config, f, indent=2)
    n_files = budget["train_files"] + budget["val_files"]
    # whole batches: train.py sets aside round(val_frac * files / batch) batches, exactly val_files
    cmd = [sys.executable, "-c", TRAIN_BOOTSTRAP, str(seed), os.path.join(REPO, "train.py")]
    cmd += ["--id", name, "--data_dir", data_dir, "--config_file", config_path]
    cmd += ["--logdir_root", os.path.join(row_dir, "logdir"), "--output_dir", os.path.join(row_dir, "generated")]
    cmd += ["--batch_size", str(args.batch_size), "--num_epochs", str(budget["epochs"])]
    cmd += ["--val_frac", repr(budget["val_files"] / n_files), "--sample_rate", str(SAMPLE_RATE)]
    cmd += ["--checkpoint_every", str(budget["epochs"]), "--max_checkpoints", "1", "--resume", "False"]
    cmd += ["--early_stopping_patience", "None", "--generate", "False", "--verbose", "True", *flags]
    start = time.perf_counter()
    env = dict(os.environ, SAMPLERNN_RECIPE=json.dumps(recipe)) if recipe else None
    code, lines = run_logged(cmd, os.path.join(row_dir, "train.log"), env)
    row = dict(
        name=name,
        variant=spec or BASELINE,
        train_seed=seed,
        config_overrides=overrides,
        train_flags=flags,
        recipe=recipe,
        train_seconds=time.perf_counter() - start,
        # this machine is shared: the 1-minute load average as training ended (2 cores here)
        load_average=os.getloadavg()[0],
        epochs=[],
        train_log=os.path.join(row_dir, "train.log"),
    )
    step_times, checkpoint = [], None
    for line in lines:
        if m := EPOCH_LINE.match(line):
            epoch, steps, nll, val_nll = m.groups()
            row["epochs"].append(dict(epoch=int(epoch), steps=int(steps), nll=float(nll), val_nll=float(val_nll)))
        elif m := STEP_TIME.search(line):
            step_times.append(float(m.group(1)))
        elif m := SAVED_LINE.match(line):
            checkpoint = m.group(1).strip()
    row["steps"] = sum(e["steps"] for e in row["epochs"])
    row["median_step_seconds"] = statistics.median(step_times[1:]) if len(step_times) > 1 else None
    if code != 0 or checkpoint is None or not row["epochs"]:
        row["error"] = f"train.py exited {code}: " + " | ".join(lines[-3:])
        return row
    row["val_nll"] = row["epochs"][-1]["val_nll"]
    row["checkpoint"] = checkpoint
    return row


def generate_row(row, row_dir, reference, budget, args):
    """Generate from the row's checkpoint and measure the clips against the reference recording."""
    out_dir = os.path.join(row_dir, "clips")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    cmd = [sys.executable, os.path.join(REPO, "generate.py"), "--checkpoint_path", row["checkpoint"]]
    cmd += ["--output_path", os.path.join(out_dir, "clip.wav"), "--dur", str(budget["gen_dur"])]
    cmd += ["--num_seqs", str(budget["gen_seqs"]), "--random_seed", str(args.gen_seed), "--plot", "False"]
    start = time.perf_counter()
    code, lines = run_logged(cmd, os.path.join(row_dir, "generate.log"))
    row["generate_seconds"] = time.perf_counter() - start
    clips = sorted(os.path.join(out_dir, n) for n in os.listdir(out_dir) if n.endswith(".wav"))
    if code != 0 or not clips:
        row["error"] = f"generate.py exited {code}: " + " | ".join(lines[-3:])
        return []
    report = spectral_report(reference, clips)
    clip_rows = report[:-2]
    audio = [load_audio(path, SAMPLE_RATE) for path in clips]
    levels, heard = [rms_db(a) for a in audio], [heard_level_db(a) for a in audio]
    noisy = [noisy_seconds(a, SAMPLE_RATE) for a in audio]
    row["clips"] = [
        dict(file=name, flatness=f, lsd_db=d, rms_db=r, heard_db=h, noisy_seconds=n, seconds=len(a) // SAMPLE_RATE)
        for (name, f, d), r, h, n, a in zip(clip_rows, levels, heard, noisy, audio)
    ]
    row["flatness"] = float(np.median([f for _, f, _ in clip_rows]))
    row["lsd_db"] = float(np.median([d for _, _, d in clip_rows]))
    row["rms_db"] = float(np.median(levels))
    # Clips generate.py warns about: a model stuck in the silence generation starts from, or
    # at a constant level beside it.
    row["silent_clips"] = sum(level < NEAR_SILENT_DB for level in heard)
    # and the clips it warns about for falling silent part of the way through
    row["fell_silent_clips"] = sum(
        level >= NEAR_SILENT_DB and silent_tail_start(a, SAMPLE_RATE, NEAR_SILENT_DB) is not None
        for a, level in zip(audio, heard)
    )
    # and the seconds of loud broadband noise, which a clip can fall into and stay in
    row["noisy_seconds"] = sum(noisy)
    return report[-2:]  # the corpus and white-noise rows


def write_reference(paths, path):
    """The run's files joined into one recording, the corpus the clips are measured against."""
    audio = np.concatenate([load_audio(p, SAMPLE_RATE) for p in paths])
    sf.write(path, audio, SAMPLE_RATE, subtype="PCM_16")


def bench_corpus(corpus, corpus_dir, workdir, rows_spec, args, budget, result, save):
    """Fill `result` row by row, calling `save()` after each, so an interrupted run keeps what it measured."""
    n_files = budget["train_files"] + budget["val_files"]
    files = select_files(corpus_dir, n_files)
    data_dir = os.path.join(workdir, corpus, "data")
    os.makedirs(data_dir, exist_ok=True)
    for i, path in enumerate(files):
        os.symlink(os.path.abspath(path), os.path.join(data_dir, f"{i:04d}_{os.path.basename(path)}"))
    reference = os.path.join(workdir, corpus, "reference.wav")
    write_reference(files, reference)
    result.update(corpus=corpus, corpus_dir=corpus_dir, files=[os.path.basename(p) for p in files], rows=[])
    for index, (spec, seed) in enumerate(rows_spec):
        label = f"{spec or BASELINE} (seed {seed})"
        print(f"[{corpus}] {label}: training", flush=True)
        row_dir = os.path.join(workdir, corpus, f"row{index}")
        row = train_row(f"{corpus}_row{index}", spec, seed, data_dir, row_dir, args, budget)
        if "error" not in row:
            print(f"[{corpus}] {label}: val NLL {row['val_nll']:.3f} bits/sample; generating", flush=True)
            refs = generate_row(row, row_dir, reference, budget, args)
            if refs:
                (_, cf, cd), (_, nf, nd) = refs
                result["corpus_row"] = dict(flatness=cf, lsd_db=cd, rms_db=rms_db(load_audio(reference, SAMPLE_RATE)))
                result["noise_row"] = dict(flatness=nf, lsd_db=nd)
        if "error" in row:
            print(f"[{corpus}] {label}: FAILED: {row['error']}", flush=True)
        result["rows"].append(row)
        add_differences(result["rows"])
        save()


def add_differences(rows):
    """Each row's val NLL and LSD minus those of the first baseline row (the reference)."""
    base = next((r for r in rows if r["variant"] == BASELINE and "val_nll" in r), None)
    for row in rows:
        for key in ("val_nll", "lsd_db"):
            if base is not None and key in row and key in base:
                row[f"d_{key}"] = row[key] - base[key]


def fmt(value, spec, missing="-"):
    return missing if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def table_lines(results):
    head = (
        f"{'corpus':12} {'row':28} {'val NLL by epoch':22} {'d NLL':>6} {'flatness':>8} "
        f"{'LSD dB':>6} {'d LSD':>6} {'RMS dB':>6} {'silent':>6} {'fell':>4} {'noise s':>7} "
        f"{'steps':>5} {'s/step':>6} {'train s':>7}"
    )
    lines = [head]
    for res in results:
        first_seed = res["rows"][0]["train_seed"]
        for row in res["rows"]:
            by_epoch = " ".join(f"{e['val_nll']:.3f}" for e in row["epochs"]) or "failed"
            silent = f"{row['silent_clips']}/{len(row['clips'])}" if "clips" in row else "-"
            fell = f"{row['fell_silent_clips']}" if "fell_silent_clips" in row else "-"
            noisy = (
                f"{row['noisy_seconds']}/{sum(c['seconds'] for c in row['clips'])}" if "noisy_seconds" in row else "-"
            )
            label = row["variant"] if row["train_seed"] == first_seed else f"{row['variant']} seed {row['train_seed']}"
            lines.append(
                f"{res['corpus']:12} {label[:28]:28} {by_epoch:22} {fmt(row.get('d_val_nll'), '+6.3f'):>6} "
                f"{fmt(row.get('flatness'), '8.4f'):>8} {fmt(row.get('lsd_db'), '6.1f'):>6} "
                f"{fmt(row.get('d_lsd_db'), '+6.1f'):>6} {fmt(row.get('rms_db'), '6.1f'):>6} {silent:>6} {fell:>4} "
                f"{noisy:>7} {row['steps']:5d} "
                f"{fmt(row.get('median_step_seconds'), '6.3f'):>6} {row['train_seconds']:7.0f}"
            )
        for key, label in (("corpus_row", "(corpus itself)"), ("noise_row", "(white noise)")):
            if key in res:
                ref = res[key]
                level = f" {'':>6} {fmt(ref.get('rms_db'), '6.1f'):>6}" if key == "corpus_row" else ""
                lines.append(
                    f"{res['corpus']:12} {label:28} {'':22} {'':>6} {ref['flatness']:8.4f} {ref['lsd_db']:6.1f}{level}"
                )
    return lines


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--corpora", default="/work/corpora", help="Folder of corpora, one subfolder each (default: %(default)s)."
    )
    p.add_argument("--only", nargs="+", help="Corpora (subfolder names) to run; default: every subfolder.")
    p.add_argument("--variant", action="append", default=[], help="A variant row (see the module doc); repeatable.")
    p.add_argument(
        "--baselines",
        type=int,
        default=1,
        help="Baseline rows per corpus, the k-th with --train_seed + k, to show the run-to-run spread (default: 1).",
    )
    p.add_argument("--quick", action="store_true", help="The quick budget: " + json.dumps(BUDGETS["quick"]))
    for key, value in BUDGETS["full"].items():
        p.add_argument(f"--{key}", type=type(value), help=f"Override the budget's {key} (full: {value}).")
    p.add_argument("--batch_size", type=int, default=16, help="Files per batch (default: %(default)s).")
    p.add_argument("--config_file", default=CONFIG_FILE, help="Base model config (default: bench/quality.config.json).")
    p.add_argument("--train_seed", type=int, default=0, help="Seed set before train.py runs (default: %(default)s).")
    p.add_argument("--gen_seed", type=int, default=0, help="generate.py --random_seed (default: %(default)s).")
    p.add_argument("--workdir", help="Keep runs, checkpoints and clips here (default: a temporary folder, removed).")
    p.add_argument("--out", default=os.path.join(HERE, "results", "quality.json"), help="JSON results path.")
    args = p.parse_args(argv)
    budget = dict(BUDGETS["quick" if args.quick else "full"])
    budget.update({k: getattr(args, k) for k in budget if getattr(args, k) is not None})
    for key in ("train_files", "val_files"):
        if budget[key] % args.batch_size:
            raise SystemExit(f"--{key} {budget[key]} must be a multiple of --batch_size {args.batch_size}")
    for spec in args.variant:
        parse_variant(spec)  # a malformed variant fails before hours of training
    # Extra baselines differ only in their seed: their spread is the noise a difference must beat.
    rows_spec = [("", args.train_seed + i) for i in range(args.baselines)] + [
        (v, args.train_seed) for v in args.variant
    ]
    names = args.only or sorted(n for n in os.listdir(args.corpora) if os.path.isdir(os.path.join(args.corpora, n)))
    corpus_dirs = {n: os.path.join(args.corpora, n, "chunks") for n in names}
    corpus_dirs = {n: d if os.path.isdir(d) else os.path.join(args.corpora, n) for n, d in corpus_dirs.items()}

    workdir = args.workdir or tempfile.mkdtemp(prefix="samplernn_quality_")
    os.makedirs(workdir, exist_ok=True)
    with open(args.config_file) as f:
        base_config = json.load(f)
    summary = dict(
        budget=dict(budget, batch_size=args.batch_size),
        config_file=os.path.relpath(args.config_file, REPO),
        base_config=base_config,
        train_seed=args.train_seed,
        gen_seed=args.gen_seed,
        started=time.strftime("%Y-%m-%d %H:%M:%S"),
        load_average_at_start=os.getloadavg(),
        cpus=os.cpu_count(),
        results=[],
    )
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)

    def save():
        with open(args.out, "w") as f:
            json.dump(summary, f, indent=2)

    try:
        for name, corpus_dir in corpus_dirs.items():
            summary["results"].append({})
            bench_corpus(name, corpus_dir, workdir, rows_spec, args, budget, summary["results"][-1], save)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    summary["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    summary["load_average_at_end"] = os.getloadavg()
    save()
    print()
    print(
        f"budget: {budget['train_files']} training and {budget['val_files']} validation files, batch "
        f"{args.batch_size}, {budget['epochs']} epochs; {budget['gen_seqs']} clip(s) of {budget['gen_dur']:g} s"
    )
    for line in table_lines(summary["results"]):
        print(line)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
