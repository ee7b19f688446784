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
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import common  # noqa: E402

DEFAULT_OUT = os.path.join("bench", "results", "generate_throughput.json")


def run_row(spec):
    """Child process: one (config, num_seqs) row; prints its result as JSON."""
    import numpy as np

    from samplernn.generation import Sampler
    from samplernn.model import build_model

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
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(run_row(json.loads(args.child))))
        return 0
    for name, cfg in common.CONFIGS.items():
        print(f"{name}: {common.forward_macs_per_sample(cfg) / 1e6:.2f} M multiply-adds per generated sample")
    rows = []
    for spec in plan(args):
        rows.append(run_child(spec))
        r = rows[-1]
        print(
            f"  {r['config']} num_seqs={r['num_seqs']}: {r['samples_per_second']:.0f} samples/s, "
            f"{r['ratio_to_matmul']:.1%} of matmul",
            flush=True,
        )
    print()
    print_table(rows)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(
            dict(machine=platform.processor() or platform.machine(), cores=os.cpu_count(), rows=rows), f, indent=2
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
