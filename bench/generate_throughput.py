"""Generation throughput of SampleRNN: generated samples per second at several batch sizes
(num_seqs), peak memory, and the achieved FLOP rate relative to a float32 matmul measured in
the same process.

    python bench/generate_throughput.py [--quick] [--out bench/results/generate_throughput.json]

Each row runs in a fresh subprocess (so each peak RSS is its own) and times the real compiled
sampling loop (samplernn.generation.Sampler) after a warm-up call that compiles it. FLOPs per
generated sample are counted as the model is written plainly, 2 per multiply-add: the frame
tiers' per-step work divided by their frame sizes, plus the sample MLP with its input layer as
a dense layer over the window's embeddings (bench/common.py, forward_macs_per_sample).

Generating few sequences is bound by memory bandwidth rather than arithmetic, so each row also
reports the rate at which the tiers' weights were read (every weight once per tier step) next
to a memory-bandwidth probe timed in the same process (matrix-vector products over 128 MB of
weights): on a shared machine the bus, unlike the matmul rate, varies with the neighbours.
Peak memory includes the two probes (about 160 MB).

Whole-process rows run `generate.py` as a user does, from a checkpoint saved with random
weights and Adam's slots (as training saves it), for 1 s of audio: once with an empty
compilation cache (cold) and once more reading it (warm). Each reports the phases generate.py
prints (start-up, loading, compiling, generating), the time to the first sample from process
start and the peak RSS, next to a bare `import tensorflow` timed in a subprocess in the same
run (the issue's targets: the first sample within that import plus 5 s warm and plus 15 s cold,
at the default config; at most 1 GiB of RSS beyond the import's).
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import common  # noqa: E402

DEFAULT_OUT = os.path.join("bench", "results", "generate_throughput.json")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_row(spec):
    """Child process: one (config, num_seqs) row; prints its result as JSON."""
    import numpy as np

    from samplernn import cli
    from samplernn.generation import Sampler
    from samplernn.model import build_model

    cli.assume_frozen_weights(True)  # as generate.py's process does

    cfg = common.CONFIGS[spec["config"]]
    num_seqs, seconds = spec["num_seqs"], spec["seconds"]
    probe = common.MatmulProbe()
    stream = common.StreamProbe()
    sampler = Sampler(build_model(cfg))
    temps = [1.0] * num_seqs
    g = cfg.big_frame_size
    sampler.generate(g, temps, random_seed=0)  # compile
    # Enough audio for a stable figure within about `seconds` of wall time.
    tick = time.perf_counter()
    sampler.generate(4 * g, temps, random_seed=0)
    per_sample = (time.perf_counter() - tick) / (4 * g)
    samples = int(max(4 * g, min(64000, seconds / per_sample)) // g * g)
    rates, streams, timings = [], [], []
    for rep in range(spec["reps"]):
        rates.append(probe.rate())
        streams.append(stream.rate())
        with common.CpuMeter() as meter:
            levels = sampler.generate(samples, temps, random_seed=rep)
        timings.append((meter.wall, meter.others))
        assert levels.shape == (num_seqs, samples) and np.all(levels >= 0)
    rates.append(probe.rate())
    streams.append(stream.rate())
    wall, others = min(timings)
    per_second = num_seqs * samples / wall
    achieved = per_second * 2 * common.forward_macs_per_sample(cfg) / 1e9
    matmul = max(rates)
    return dict(
        config=spec["config"],
        num_seqs=num_seqs,
        samples_per_seq=samples,
        seconds=wall,
        samples_per_second=per_second,
        real_time_factor=per_second / 16000,
        peak_rss_mb=common.peak_rss_mb(),
        achieved_gflops=achieved,
        matmul_gflops=matmul,
        ratio_to_matmul=achieved / matmul,
        tier_weights_gb_per_s=per_second / num_seqs * common.tier_weight_bytes_per_sample(cfg) / 1e9,
        stream_gb_per_s=max(streams),
        other_cores_busy=others,
    )


def save_checkpoint(spec):
    """Child process: a checkpoint of `spec["config"]` with random weights and Adam's slots, in a
    run folder under `spec["dir"]`, through the checkpoint code training uses. Prints its path."""
    import tensorflow as tf

    from samplernn import checkpoints, training
    from samplernn.model import build_model

    cfg = common.CONFIGS[spec["config"]]
    model = build_model(cfg)
    optimizer = training.make_optimizer("adam", 1e-3, 0.9)
    optimizer.build(model.trainable_variables)
    run_dir = os.path.join(spec["dir"], spec["config"])
    os.makedirs(run_dir)
    checkpoints.save_config(run_dir, cfg)
    checkpoints.save_run_info(run_dir, 16000)
    ckpt = checkpoints.RunCheckpoint(model, optimizer, epoch=tf.Variable(1, dtype=tf.int64))
    return {"checkpoint": ckpt.save(run_dir, 1)}


def run_process(cmd):
    """Run cmd in a fresh process to its end: its wall time, peak RSS (MB), the CPU cores other
    processes used meanwhile, and its stdout. os.wait4 gives this child's own peak."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        busy = common.system_busy_seconds()
        tick = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - tick
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd} failed (exit {proc.returncode}):\n{err.read()[-3000:]}")
        own = usage.ru_utime + usage.ru_stime
        others = None if busy is None else max(0.0, common.system_busy_seconds() - busy - own) / wall
        return dict(wall_s=wall, peak_rss_mb=usage.ru_maxrss / 1024.0, other_cores_busy=others), out.read()


def bare_import(reps=2):
    """The reference: `import tensorflow` alone in a fresh process, best of `reps`."""
    runs = [run_process([sys.executable, "-c", "import tensorflow"])[0] for _ in range(reps)]
    return dict(wall_s=min(r["wall_s"] for r in runs), peak_rss_mb=min(r["peak_rss_mb"] for r in runs))


# What generate.py prints of its phases (samplernn.generation.GenerationProgress).
PHASE_LINES = {
    "loading_s": r"^Loading: ([\d.]+) s",
    "startup_s": r"^Loading: .*after ([\d.]+) s of start-up",
    "compiling_s": r"^Compiling: ([\d.]+) s",
    "first_sample_s": r"^Compiling: .*first sample ([\d.]+) s after start",
    "generating_s": r"^Generating: .*, ([\d.]+) s\)$",
}


def run_process_row(spec, checkpoint, cache, reference):
    """One whole-process row: generate.py from `checkpoint` with the compilation cache `cache`."""
    with tempfile.TemporaryDirectory(prefix="samplernn_gen_") as out_dir:
        cmd = [
            sys.executable,
            os.path.join(ROOT, "generate.py"),
            "--output_path",
            os.path.join(out_dir, "out.wav"),
            "--checkpoint_path",
            checkpoint,
            "--dur",
            str(spec["dur"]),
            "--num_seqs",
            str(spec["num_seqs"]),
            "--random_seed",
            "0",
            "--plot",
            "False",
            "--compilation_cache",
            cache,
        ]
        row, printed = run_process(cmd)
    lines = printed.replace("\r", "\n").splitlines()
    for key, pattern in PHASE_LINES.items():
        found = [m.group(1) for line in lines for m in [re.search(pattern, line)] if m]
        row[key] = float(found[-1]) if found else None
    row.update(
        config=spec["config"],
        num_seqs=spec["num_seqs"],
        cache=spec["cache"],
        import_s=reference["wall_s"],
        import_rss_mb=reference["peak_rss_mb"],
        beyond_import_s=row["first_sample_s"] - reference["wall_s"],
        first_sample_ratio=row["first_sample_s"] / reference["wall_s"],
        rss_beyond_import_mb=row["peak_rss_mb"] - reference["peak_rss_mb"],
    )
    return row


def process_plan(args):
    rows = [("small", 1)] if args.quick else [("small", 1), ("default", 1), ("default", 8)]
    return [dict(config=c, num_seqs=n, dur=1.0, cache=k) for c, n in rows for k in ("cold", "warm")]


def run_process_rows(args):
    """Each whole-process row, after a bare import timed just before each cold row (the machine
    as those two rows find it; a shared machine's load comes and goes); the checkpoints and
    caches in a temp folder. Returns the imports and the rows."""
    rows, imports = [], []
    with tempfile.TemporaryDirectory(prefix="samplernn_bench_") as tmp:
        saved = {}
        for spec in process_plan(args):
            if spec["config"] not in saved:
                saved[spec["config"]] = run_child(dict(kind="checkpoint", config=spec["config"], dir=tmp))["checkpoint"]
            if spec["cache"] == "cold":
                imports.append(bare_import())
                print(f"  import tensorflow: {imports[-1]['wall_s']:.1f} s, {imports[-1]['peak_rss_mb']:.0f} MB")
            cache = os.path.join(tmp, f"cache_{spec['config']}_{spec['num_seqs']}")
            rows.append(run_process_row(spec, saved[spec["config"]], cache, imports[-1]))
            r = rows[-1]
            print(
                f"  generate.py {r['config']} num_seqs={r['num_seqs']} {r['cache']}: first sample "
                f"{r['first_sample_s']:.1f} s, peak {r['peak_rss_mb']:.0f} MB",
                flush=True,
            )
    return imports, rows


def print_process_table(rows):
    head = f"{'config':8} {'seqs':>4} {'cache':5} {'start-up':>8} {'load':>5} {'compile':>7} {'first':>6} "
    head += f"{'import':>6} {'- import':>8} {'x import':>8} {'generate':>8} {'wall':>6} {'peak MB':>7} "
    head += f"{'+ import':>8} {'busy':>5}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['config']:8} {r['num_seqs']:>4} {r['cache']:5} {r['startup_s']:>8.1f} {r['loading_s']:>5.1f} "
            f"{r['compiling_s']:>7.1f} {r['first_sample_s']:>6.1f} {r['import_s']:>6.1f} {r['beyond_import_s']:>+8.1f} "
            f"{r['first_sample_ratio']:>8.2f} {r['generating_s']:>8.1f} {r['wall_s']:>6.1f} {r['peak_rss_mb']:>7.0f} "
            f"{r['rss_beyond_import_mb']:>+8.0f} {r['other_cores_busy'] or 0:>5.2f}"
        )
    print("generate.py, 1 s of audio, in seconds from process start. import: a bare `import tensorflow` in a")
    print("fresh process, timed just before the row's cold run; first: time to the first sample; - import /")
    print("x import: first minus / over import (targets at the default config: +5 s warm, +15 s cold);")
    print("+ import: peak RSS beyond the bare import's (target: under 1024 MB); busy: CPU cores other")
    print("processes used meanwhile.")


def plan(args):
    seqs = (1, 8) if args.quick else (1, 8, 64)
    configs = ("small", "small-2-tier") if args.quick else ("small", "small-2-tier", "default")
    seconds = 4.0 if args.quick else 15.0
    return [dict(config=c, num_seqs=n, seconds=seconds, reps=2) for c in configs for n in seqs]


def run_child(spec, timeout=1800):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"row {spec} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def print_table(rows):
    head = f"{'config':8} {'seqs':>4} {'samples/s':>10} {'x real time':>11} {'peak MB':>8} "
    head += f"{'GFLOP/s':>8} {'matmul':>7} {'ratio':>6} {'tiers GB/s':>10} {'stream':>6} {'busy':>5}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['config']:8} {r['num_seqs']:>4} {r['samples_per_second']:>10.0f} {r['real_time_factor']:>11.2f} "
            f"{r['peak_rss_mb']:>8.0f} {r['achieved_gflops']:>8.1f} {r['matmul_gflops']:>7.1f} "
            f"{r['ratio_to_matmul']:>6.1%} {r['tier_weights_gb_per_s']:>10.1f} {r['stream_gb_per_s']:>6.1f} "
            f"{r['other_cores_busy'] or 0:>5.2f}"
        )
    print("ratio: achieved FLOP rate (model counted plainly) / float32 2048^3 matmul rate, same process;")
    print("tiers GB/s: tier weights read per second (every weight once per tier step); stream: GB/s of")
    print("matrix-vector products over 128 MB in the same process (the memory bus as this run found it);")
    print("busy: CPU cores other processes used meanwhile (0 on a quiet machine).")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small config, num_seqs 1 and 8 only")
    p.add_argument("--out", default=DEFAULT_OUT)
    p.add_argument(
        "--rows", choices=("all", "loop", "process"), default="all", help="only the loop's rows or generate.py's"
    )
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        print(json.dumps(save_checkpoint(spec) if spec.get("kind") == "checkpoint" else run_row(spec)))
        return 0
    for name, cfg in common.CONFIGS.items():
        print(f"{name}: {common.forward_macs_per_sample(cfg) / 1e6:.2f} M multiply-adds per generated sample")
    rows = []
    for spec in plan(args) if args.rows != "process" else []:
        rows.append(run_child(spec))
        r = rows[-1]
        print(
            f"  {r['config']} num_seqs={r['num_seqs']}: {r['samples_per_second']:.0f} samples/s, "
            f"{r['ratio_to_matmul']:.1%} of matmul",
            flush=True,
        )
    imports, process_rows = run_process_rows(args) if args.rows != "loop" else ([], [])
    if rows:
        print()
        print_table(rows)
    if process_rows:
        print()
        print_process_table(process_rows)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        machine = platform.processor() or platform.machine()
        results = dict(machine=machine, cores=os.cpu_count(), rows=rows, bare_imports=imports, processes=process_rows)
        json.dump(results, f, indent=2)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
