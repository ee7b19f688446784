"""Training throughput of SampleRNN: samples per second, peak memory and the achieved FLOP rate
relative to a float32 matmul measured in the same process.

    python bench/train_throughput.py [--quick] [--out bench/results/train_throughput.json]

Every row runs in a fresh subprocess (so each peak RSS is its own) and times the real training
step (samplernn.training.Stepper, Adam with gradient clipping, default tf.distribute strategy)
after warm-up steps. FLOPs are counted as the issue asks: 3 x the plain forward pass, 2 FLOPs
per multiply-add (see bench/common.py). See bench/README.md.
"""

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import common  # noqa: E402

DEFAULT_OUT = os.path.join("bench", "results", "train_throughput.json")
SAMPLE_RATE = 16000
BUSY_CORES = 0.25


# --------------------------------------------------------------------------- one row (child)


def _timed_steps(stepper, batches, states, count, probe=None, reps=2):
    """Run `count` training steps. With `probe`, the matmul rate is measured just before each
    step, so step and reference see the same machine even when other processes come and go.
    Returns a dict of per-step lists (seconds, input-wait seconds, matmul GFLOP/s, CPU cores
    taken by other processes, own CPU cores) and the states."""
    log = {"totals": [], "waits": [], "rates": [], "rate_others": [], "others": [], "own": []}
    for _ in range(count):
        if probe is not None:
            rate, others = _probe(probe, reps)
            log["rates"].append(rate)
            log["rate_others"].append(others)
        with common.CpuMeter() as meter:
            tick = time.perf_counter()
            batch = next(batches)
            fed = time.perf_counter()
            stats, states = stepper.train(batch, states)
            float(stats[0])  # the step has finished once its loss is on the host
        log["totals"].append(meter.wall)
        log["waits"].append(fed - tick)
        log["others"].append(meter.others)
        log["own"].append(meter.own / meter.wall)
    return log, states


def _probe(probe, reps):
    """(matmul GFLOP/s, CPU cores other processes used meanwhile)."""
    with common.CpuMeter() as meter:
        rate = probe.rate(reps)
    return rate, meter.others


def _quiet(others):
    return others is not None and others < BUSY_CORES


def _merge(logs):
    return {k: [v for log in logs for v in log[k]] for k in logs[0]}


def _summary(cfg, batch, log, rates, quiet_rate=None):
    """Figures over all measured steps, and over the quiet ones alone: steps during which (and
    during whose matmul probe) other processes used under BUSY_CORES. `rates` pairs a matmul
    rate with each step; `quiet_rate`, if given, replaces it for the quiet figures."""
    samples = batch * cfg.seq_len
    flops = common.train_flops_per_sample(cfg) * samples
    totals = log["totals"]
    step = statistics.median(totals)
    others = [o for o in log["others"] if o is not None]
    summary = {
        "samples_per_s": samples / step,
        "step_s": step,
        "step_s_mean": statistics.fmean(totals),
        "step_s_min": min(totals),
        "step_times_s": [round(t, 4) for t in totals],
        "achieved_gflops": flops / step / 1e9,
        "matmul_gflops": statistics.median(rates),
        "matmul_gflops_per_step": [round(r, 2) for r in rates],
        # Each step against the matmul measured just before it; the median over steps.
        "ratio": statistics.median(flops / t / 1e9 / r for t, r in zip(totals, rates)),
        "others_cpu": statistics.fmean(others) if others else None,
        "others_cpu_per_step": [None if o is None else round(o, 2) for o in log["others"]],
        "own_cpu_cores": statistics.fmean(log["own"]),
    }
    probe_others = log["rate_others"] or [0.0] * len(totals)
    quiet = [i for i, (o, p) in enumerate(zip(log["others"], probe_others)) if _quiet(o) and _quiet(p)]
    summary["quiet_steps"] = len(quiet)
    if quiet:
        quiet_step = statistics.median(totals[i] for i in quiet)
        summary.update(samples_per_s_quiet=samples / quiet_step, step_s_quiet=quiet_step)
        if quiet_rate is not None or log["rate_others"]:
            pairs = [(totals[i], quiet_rate or rates[i]) for i in quiet]
            summary.update(
                matmul_gflops_quiet=statistics.median(r for _, r in pairs),
                ratio_quiet=statistics.median(flops / t / 1e9 / r for t, r in pairs),
            )
    return summary


def run_row(spec):
    """Measure one row; returns a dict of results. Runs in its own process."""
    import tensorflow as tf

    from samplernn import data
    from samplernn.devices import configure
    from samplernn.model import build_model
    from samplernn.training import Stepper, make_optimizer

    cfg = common.CONFIGS[spec["config"]]
    batch = spec["batch"]
    devices = configure("All", spec["precision"] == "mixed", log=lambda _: None)
    strategy = devices.strategy
    with strategy.scope():
        model = build_model(cfg, devices.precision)
        optimizer = make_optimizer("adam", 1e-3, 0.9, devices.loss_scaling)
        optimizer.build(model.trainable_variables)
    stepper = Stepper(model, optimizer, strategy)
    probe = common.MatmulProbe()
    best_matmul = probe.rate(spec["matmul_reps"])

    states = stepper.zero_states(batch)
    synthetic = common.synthetic_batches(cfg, batch)
    _, states = _timed_steps(stepper, synthetic, states, spec["warmup"])
    if spec["feed"] == "synthetic":
        log, states = _timed_steps(stepper, synthetic, states, spec["steps"], probe)
        result = _summary(cfg, batch, log, log["rates"])
    else:
        # Synthetic and pipeline-fed steps alternate in blocks, so both see the same machine
        # when other processes come and go. No matmul between pipeline steps: it would give
        # the pipeline time to catch up.
        blocks = max(1, min(2, spec["steps"] // 2))
        per_block = math.ceil(spec["steps"] / blocks)
        probes = [_probe(probe, spec["matmul_reps"])]
        with tempfile.TemporaryDirectory(prefix="samplernn_bench_") as tmp:
            # write_wav_corpus makes 4 subsequences per batch of files; one spare batch.
            needed = spec["warmup"] + blocks * per_block
            common.write_wav_corpus(tmp, batch * (math.ceil(needed / 4) + 1), cfg.seq_len, SAMPLE_RATE)
            files = data.scan_corpus(tmp, SAMPLE_RATE, cfg.seq_len, log=lambda _: None)
            batches = data.epoch_batches(files, batch, epoch=1)
            dataset = iter(stepper.distribute(data.make_dataset(batches, cfg, SAMPLE_RATE)))
            fed_states = stepper.zero_states(batch)
            # The first element waits for the first files (and the step may retrace for the
            # dataset's shapes): warm-up.
            first, fed_states = _timed_steps(stepper, dataset, fed_states, spec["warmup"])
            synth_logs, fed_logs = [], []
            for _ in range(blocks):
                log, states = _timed_steps(stepper, synthetic, states, per_block)
                synth_logs.append(log)
                log, fed_states = _timed_steps(stepper, dataset, fed_states, per_block)
                fed_logs.append(log)
        probes.append(_probe(probe, spec["matmul_reps"]))
        rates = [r for r, _ in probes]
        matmul = statistics.median(rates)
        quiet_rates = [r for r, o in probes if _quiet(o)]
        quiet_rate = statistics.median(quiet_rates) if quiet_rates else None
        synth = _summary(cfg, batch, _merge(synth_logs), [matmul] * blocks * per_block, quiet_rate)
        fed = _merge(fed_logs)
        result = _summary(cfg, batch, fed, [matmul] * blocks * per_block, quiet_rate)
        result.update(
            synthetic_samples_per_s=synth["samples_per_s"],
            synthetic_step_s=synth["step_s"],
            synthetic_step_times_s=synth["step_times_s"],
            pipeline_ratio=result["samples_per_s"] / synth["samples_per_s"],
            input_wait_ms=1000 * statistics.median(fed["waits"]),
            input_wait_ms_max=1000 * max(fed["waits"]),
            first_input_wait_ms=1000 * first["waits"][0] if first["waits"] else None,
            matmul_gflops_around=rates,
        )
        if "samples_per_s_quiet" in result and "samples_per_s_quiet" in synth:
            result["pipeline_ratio_quiet"] = result["samples_per_s_quiet"] / synth["samples_per_s_quiet"]
    result.update(
        policy=devices.precision,
        matmul_gflops_best=max(best_matmul, probe.rate(spec["matmul_reps"])),
        peak_mb=common.peak_rss_mb(),
        strategy=type(strategy).__name__,
        replicas=strategy.num_replicas_in_sync,
        tf_version=tf.__version__,
    )
    return result


# --------------------------------------------------------------------------- driver (parent)


def plan(args):
    configs = ["small", "default"]
    precisions = ["float32", "mixed"]
    if args.quick:
        rows = [("small", p, "synthetic") for p in precisions]
        rows += [("default", "float32", "synthetic"), ("small", "float32", "pipeline")]
        per_config = {"small": (1, 3), "default": (1, 2)}
    else:
        rows = [(c, p, "synthetic") for c in configs for p in precisions]
        rows += [(c, "float32", "pipeline") for c in configs]
        per_config = {"small": (3, 8), "default": (2, 4)}
    specs = []
    for config, precision, feed in rows:
        warmup, steps = per_config[config]
        specs.append(
            dict(
                config=config,
                precision=precision,
                feed=feed,
                batch=args.batch,
                warmup=args.warmup if args.warmup is not None else warmup,
                steps=args.steps if args.steps is not None else steps,
                matmul_reps=3 if args.quick else 5,
            )
        )
    return specs


def wait_quiet(limit, threshold=0.25):
    """Wait up to `limit` seconds for other processes to use less than `threshold` cores."""
    deadline = time.perf_counter() + limit
    while True:
        with common.CpuMeter() as meter:
            time.sleep(2.0)
        if meter.others is None or meter.others < threshold or time.perf_counter() > deadline:
            return meter.others


def run_child(spec, timeout):
    """Run one row in a fresh interpreter; returns its result dict (or raises with its stderr)."""
    with tempfile.NamedTemporaryFile("r", suffix=".json", prefix="row_", delete=False) as handle:
        result_path = handle.name
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    cmd = [sys.executable, os.path.abspath(__file__), "--_row", json.dumps(spec), "--_result", result_path]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"row {spec} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
        with open(result_path, encoding="utf-8") as f:
            return json.load(f)
    finally:
        os.unlink(result_path)


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def print_table(rows):
    header = (
        f"{'config':<8} {'precision':<15} {'feed':<9} {'batch':>5} {'samples/s':>10} {'step s':>7} "
        f"{'peak MB':>8} {'GFLOP/s':>8} {'matmul':>8} {'ratio':>6} {'bf16 x':>6} {'others':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['config']:<8} {r['policy']:<15} {r['feed']:<9} {r['batch']:>5} {r['samples_per_s']:>10.0f} "
            f"{r['step_s']:>7.3f} {r['peak_mb']:>8.0f} {r['achieved_gflops']:>8.1f} {r['matmul_gflops']:>8.1f} "
            f"{r['ratio']:>6.2f} {_fmt(r.get('bf16_speedup'), '>6.2f')} {_fmt(r['others_cpu'], '>6.2f')}"
            f"{' *' if (r['others_cpu'] or 0) > BUSY_CORES else ''}"
        )
    print(
        "samples/s and step s from the median measured step; GFLOP/s = 3 x 2 x forward MACs per sample x samples/s;\n"
        "matmul = float32 2048^3 tf.matmul GFLOP/s in the same process, best of 2 just before each measured step\n"
        "(median over steps); ratio = median over steps of step GFLOP/s / that step's matmul GFLOP/s;\n"
        "bf16 x = mixed_bfloat16 samples/s over float32 (same config, synthetic); others = CPU cores busy\n"
        f"with other processes while the row's steps ran (0 on a quiet machine; * above {BUSY_CORES}: figures\n"
        "depressed by contention, rerun on a quiet machine or with --wait-quiet)."
    )
    for r in rows:
        if (r["others_cpu"] or 0) > BUSY_CORES and r.get("quiet_steps"):
            ratio = (
                f", matmul {r['matmul_gflops_quiet']:.1f} GFLOP/s, ratio {r['ratio_quiet']:.2f}"
                if "ratio_quiet" in r
                else " (no quiet matmul probe)"
            )
            print(
                f"{r['config']} {r['policy']} {r['feed']}: over its {r['quiet_steps']} quiet step(s) alone: "
                f"{r['samples_per_s_quiet']:.0f} samples/s, step {r['step_s_quiet']:.3f} s{ratio}"
            )
    for r in rows:
        if r["feed"] == "pipeline":
            print(
                f"pipeline ({r['config']}, {r['policy']}): {r['samples_per_s']:.0f} samples/s fed by "
                f"samplernn.data.make_dataset vs {r['synthetic_samples_per_s']:.0f} synthetic in the same process: "
                f"ratio {r['pipeline_ratio']:.3f}; input wait median {r['input_wait_ms']:.2f} ms, "
                f"max {r['input_wait_ms_max']:.2f} ms per step (first element {r['first_input_wait_ms']:.0f} ms)"
                + (f"; quiet steps alone: ratio {r['pipeline_ratio_quiet']:.3f}" if "pipeline_ratio_quiet" in r else "")
            )


def print_flops():
    for name, cfg in common.CONFIGS.items():
        parts = common.flop_breakdown(cfg)
        total = sum(parts.values())
        detail = ", ".join(f"{k} {v / 1e6:.3f}" for k, v in parts.items())
        print(
            f"{name} config ({cfg.rnn_type} x{cfg.num_rnn_layers}, dim {cfg.dim}, frames {list(cfg.frame_sizes)}, "
            f"seq_len {cfg.seq_len}, emb {cfg.emb_size}): forward {total / 1e6:.3f} M multiply-adds per sample "
            f"({detail}); training {common.train_flops_per_sample(cfg) / 1e6:.1f} MFLOP per sample"
        )


def machine_info():
    cpu = ""
    flags = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name") and not cpu:
                    cpu = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return {
        "cpu": cpu or platform.processor(),
        "cpu_count": os.cpu_count(),
        "avx512_bf16": "avx512_bf16" in flags,
        "amx_bf16": "amx_bf16" in flags,
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rows and steps (under ~2 minutes)")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"JSON results file (default {DEFAULT_OUT})")
    parser.add_argument("--batch", type=int, default=16, help="batch size (default 16)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up steps per row (default per config)")
    parser.add_argument("--steps", type=int, default=None, help="measured steps per row (default per config)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed per row (default 900)")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help="before each row, wait up to this long for other processes to leave the CPU (default 0)",
    )
    parser.add_argument("--_row", help=argparse.SUPPRESS)
    parser.add_argument("--_result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args._row:
        result = run_row(json.loads(args._row))
        with open(args._result, "w", encoding="utf-8") as f:
            json.dump(result, f)
        return 0

    if args.batch < 1:
        parser.error("--batch must be at least 1")
    print_flops()
    specs = plan(args)
    started = time.perf_counter()
    rows = []
    for i, spec in enumerate(specs, 1):
        label = f"{spec['config']} {spec['precision']} {spec['feed']}"
        print(f"[{i}/{len(specs)}] {label}: {spec['warmup']} warm-up + {spec['steps']} measured steps ...", flush=True)
        if args.wait_quiet > 0:
            others = wait_quiet(args.wait_quiet)
            if others is not None and others >= 0.25:
                print(f"      other processes still use {others:.2f} cores; measuring anyway", flush=True)
        tick = time.perf_counter()
        result = run_child(spec, args.timeout)
        rows.append({**spec, "config_dict": common.CONFIGS[spec["config"]].to_dict(), **result})
        print(f"      {result['samples_per_s']:.0f} samples/s, done in {time.perf_counter() - tick:.0f} s", flush=True)
    for r in rows:
        if r["precision"] == "mixed" and r["feed"] == "synthetic":
            key = (r["config"], "float32", "synthetic")
            base = [b for b in rows if (b["config"], b["precision"], b["feed"]) == key]
            if base:
                r["bf16_speedup"] = r["samples_per_s"] / base[0]["samples_per_s"]
    print()
    print_table(rows)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")

    report = {
        "machine": machine_info(),
        "quick": args.quick,
        "flops": {
            name: {
                "forward_macs_per_sample": common.forward_macs_per_sample(cfg),
                "forward_macs_breakdown": common.flop_breakdown(cfg),
                "train_flops_per_sample": common.train_flops_per_sample(cfg),
            }
            for name, cfg in common.CONFIGS.items()
        },
        "rows": rows,
    }
    if os.path.dirname(args.out):
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
