"""Where the time of one training step goes: each tier's forward and forward+backward timed
separately, the optimizer update, the matmul shapes the step is made of, and an op-type
breakdown of one real step from a tf.profiler trace.

    python bench/profile_step.py [--config default|small] [--precision float32|mixed]
                                 [--batch 16] [--reps 3] [--no-trace] [--out FILE.json]
"""

import argparse
import collections
import glob
import json
import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import common  # noqa: E402


def timed(fn, reps):
    """Best-of-`reps` seconds of `fn()` after one warm-up call (which traces it); the minimum is
    the estimate least disturbed by other processes on a shared machine."""
    import tensorflow as tf

    def run():
        out = fn()
        # Wait for the result: pulling one scalar of the first output to the host.
        first = tf.nest.flatten(out)[0]
        float(tf.reshape(first, [-1])[0])

    run()
    times = []
    for _ in range(reps):
        tick = time.perf_counter()
        run()
        times.append(time.perf_counter() - tick)
    return min(times)


def tier_timings(cfg, precision, batch, reps):
    import tensorflow as tf

    from samplernn.devices import configure
    from samplernn.layers import window_lookup_sum
    from samplernn.model import build_model
    from samplernn.training import Stepper, make_optimizer, masked_stats

    devices = configure("All", precision == "mixed", log=lambda _: None)
    model = build_model(cfg, devices.precision)
    optimizer = make_optimizer("adam", 1e-3, 0.9, devices.loss_scaling)
    optimizer.build(model.trainable_variables)
    stepper = Stepper(model, optimizer, devices.strategy)
    f, g, t = cfg.frame_size, cfg.big_frame_size, cfg.seq_len
    seq, mask, _ = next(common.synthetic_batches(cfg, batch))
    big_state, frame_state = model.initial_states(batch)
    big_frames = tf.reshape(seq[:, :t], (batch, t // g, g))
    frames = tf.reshape(seq[:, g - f : g - f + t], (batch, t // f, f))
    windows = tf.stack([seq[:, g - f + k : g - f + k + t] for k in range(f)], axis=-1)
    targets = seq[:, g:]
    big_cond, _ = model.big_tier(big_frames, None, big_state)
    frame_cond, _ = model.frame_tier(frames, big_cond, frame_state)
    rng = tf.random.Generator.from_seed(1)
    cot_big = tf.cast(rng.normal(big_cond.shape), big_cond.dtype)
    cot_frame = tf.cast(rng.normal(frame_cond.shape), frame_cond.dtype)
    mlp = model.sample_mlp
    tables = mlp.input_tables()
    cot_tables = tf.cast(rng.normal(tables.shape), tables.dtype)
    x0 = tf.cast(rng.normal(frame_cond.shape), frame_cond.dtype)

    def with_grads(loss_fn, variables, inputs=()):
        def run():
            with tf.GradientTape() as tape:
                for x in inputs:
                    tape.watch(x)
                loss = loss_fn()
            return tape.gradient(loss, [*variables, *inputs])

        return tf.function(run)

    def big_loss():
        out, _ = model.big_tier(big_frames, None, big_state, training=True)
        return tf.reduce_sum(tf.cast(out * cot_big, tf.float32))

    def frame_loss():
        out, _ = model.frame_tier(frames, big_cond, frame_state, training=True)
        return tf.reduce_sum(tf.cast(out * cot_frame, tf.float32))

    def mlp_loss():
        loss_sum, _, count = masked_stats(mlp(windows, frame_cond), targets, mask)
        return loss_sum / count

    def tables_loss():
        return tf.reduce_sum(tf.cast(mlp.input_tables() * cot_tables, tf.float32))

    def lookup_loss():
        return tf.reduce_sum(tf.cast(window_lookup_sum(tables, windows) * x0, tf.float32))

    def dense_loss():
        x = tf.nn.relu(x0)
        for layer in mlp.hidden:
            x = layer(x)
        loss_sum, _, count = masked_stats(mlp.logits(x), targets, mask)
        return loss_sum / count

    dense_vars = [v for layer in (*mlp.hidden, mlp.logits) for v in layer.trainable_variables]
    table_vars = [mlp.embedding.embeddings, mlp.input_kernel] + ([mlp.input_g] if cfg.weight_norm else [])
    parts = [
        ("big tier", big_loss, model.big_tier.trainable_variables, ()),
        ("frame tier (incl. grad to big tier's output)", frame_loss, model.frame_tier.trainable_variables, (big_cond,)),
        ("sample MLP, whole (incl. grad to frame tier's output)", mlp_loss, mlp.trainable_variables, (frame_cond,)),
        ("  MLP input tables: embedding x kernel", tables_loss, table_vars, ()),
        ("  MLP window lookup-sum", lookup_loss, [], (tables,)),
        ("  MLP hidden + logits + softmax CE", dense_loss, dense_vars, (x0,)),
    ]
    rows = []
    for name, loss_fn, variables, inputs in parts:
        fwd = timed(tf.function(loss_fn), reps)
        both = timed(with_grads(loss_fn, variables, inputs), reps)
        rows.append({"part": name, "forward_s": fwd, "forward_backward_s": both})

    grads = [tf.fill(v.shape, tf.constant(1e-4, v.dtype)) for v in model.trainable_variables]
    apply = tf.function(lambda: optimizer.apply(grads, model.trainable_variables) or tf.constant(0.0))
    optimizer_s = timed(apply, reps)
    rows.append({"part": "optimizer (Adam, global-norm clip)", "forward_s": None, "forward_backward_s": optimizer_s})

    states = stepper.zero_states(batch)

    def full_forward():
        logits, _, _ = model((seq, big_state, frame_state), training=True)
        return masked_stats(logits, targets, mask)

    rows.append(
        {
            "part": "whole training step (Stepper.train)",
            "forward_s": timed(tf.function(full_forward), reps),
            "forward_backward_s": timed(lambda: stepper.train((seq, mask, tf.constant(False)), states)[0], reps),
        }
    )
    return rows, stepper, (seq, mask)


def matmul_shapes(cfg, batch, dtype, reps):
    """GFLOP/s of the matmul shapes one step is made of: (m x k) @ (k x n), with the operand
    stored transposed where TensorFlow's MatMul gradient passes transpose_a / transpose_b."""
    import tensorflow as tf

    d, f, t, b = cfg.dim, cfg.frame_size, cfg.seq_len, batch
    gates = 3 if cfg.rnn_type == "gru" else 4
    # name, m, k, n, transpose_a, transpose_b
    shapes = [
        ("reference 2048^3", 2048, 2048, 2048, False, False),
        ("RNN step fwd: h @ W_hh", b, d, gates * d, False, False),
        ("RNN step bwd dh, as TF's grad: dz @ W_hh (transpose_b)", b, gates * d, d, False, True),
        ("RNN step bwd dh with W_hh^T stored: dz @ W_hh^T", b, gates * d, d, False, False),
        ("RNN step bwd dW_hh, as TF's grad: h (transpose_a) @ dz", d, b, gates * d, True, False),
        ("RNN dW_hh over all frame steps at once (transpose_a)", d, b * t // f, gates * d, True, False),
        ("RNN input side over all frame steps", b * t // f, d, gates * d, False, False),
        ("frame tier upsample", b * t // f, d, f * d, False, False),
        ("MLP hidden layer", b * t, d, d, False, False),
        ("MLP logits", b * t, d, cfg.q_levels, False, False),
    ]
    out = []
    for name, m, k, n, ta, tb in shapes:
        x = tf.cast(tf.random.normal((k, m) if ta else (m, k)), dtype)
        y = tf.cast(tf.random.normal((n, k) if tb else (k, n)), dtype)

        # Small shapes repeat inside one tf.while_loop (as an RNN's steps do) so that call
        # overhead does not dominate; the loop counter enters each product so nothing is hoisted.
        def body(i, acc, x=x, y=y, ta=ta, tb=tb):
            prod = tf.matmul(x + tf.cast(i, x.dtype), y, transpose_a=ta, transpose_b=tb)
            return i + 1, acc + tf.cast(prod[0, 0], tf.float32)

        inner = max(1, int(2e9 // (2 * m * k * n)))
        loop = tf.function(
            lambda body=body, inner=inner: tf.while_loop(
                lambda i, acc: i < inner, body, (tf.constant(0), tf.constant(0.0))
            )[1]
        )
        seconds = timed(loop, reps) / inner
        out.append({"shape": name, "m": m, "k": k, "n": n, "gflops": 2 * m * k * n / seconds / 1e9})
    return out


def _xplane_module():
    try:
        from tensorflow.tsl.profiler.protobuf import xplane_pb2
    except ImportError:
        from tsl.profiler.protobuf import xplane_pb2
    return xplane_pb2


TIERS = ("big_frame_tier", "frame_tier", "sample_mlp")


def scope_of(op_name):
    """'backward frame_tier/rnn loop' etc.: direction, tier and part of one op from its name."""
    direction = "backward" if op_name.startswith("gradient_tape/") else "forward"
    parts = op_name.split("/")
    for i, part in enumerate(parts):
        tier = next((t for t in TIERS if re.fullmatch(rf"{t}(_\d+)?", part)), None)
        if tier is None:
            continue
        sub = re.sub(r"_\d+$", "", parts[i + 1]) if i + 1 < len(parts) else ""
        if sub == "rnn":
            sub = "rnn loop" if any(p.startswith("scan") for p in parts[i + 2 :]) else "rnn outside loop"
        elif tier == "sample_mlp":
            sub = {"hidden": "hidden", "logits": "logits", "einsum": "input tables", "GatherV2": "window lookup"}.get(
                re.sub(r"_\d+$", "", sub), "other (weight norm, bias, relu)"
            )
        elif sub not in ("upsample", "input_proj"):
            sub = "other"
        return f"{direction} {tier}/{sub}"
    if re.match(r"(UnsortedSegmentSum|GatherV2|stack|Reshape)", parts[0]):
        return "backward sample_mlp/window lookup (custom gradient, unscoped)"
    if any(k in op_name.lower() for k in ("adam", "clip", "global_norm", "assignadd", "assignvariable")):
        return "optimizer"
    return f"{direction} other"


CONTAINER_OPS = {"While", "StatefulPartitionedCall", "PartitionedCall", "If", "StatelessWhile", "StatelessIf"}


def trace_step(stepper, batch_data, batch, top, keep=False):
    """Op-type totals of one training step from a tf.profiler trace (container ops excluded).

    Times are summed over the executor's threads, so with two cores they can add up to more
    than the step's wall time."""
    import tensorflow as tf

    seq, mask = batch_data
    states = stepper.zero_states(batch)
    stepper.train((seq, mask, tf.constant(False)), states)  # warm
    logdir = tempfile.mkdtemp(prefix="samplernn_profile_")
    tf.profiler.experimental.start(logdir)
    tick = time.perf_counter()
    stats, _ = stepper.train((seq, mask, tf.constant(False)), states)
    float(stats[0])
    wall = time.perf_counter() - tick
    tf.profiler.experimental.stop()
    paths = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)
    xspace = _xplane_module().XSpace()
    if paths:
        with open(paths[0], "rb") as fh:
            xspace.ParseFromString(fh.read())
    if not keep:
        shutil.rmtree(logdir, ignore_errors=True)
        logdir = None
    totals, counts, scopes = collections.Counter(), collections.Counter(), collections.Counter()
    for plane in xspace.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        names = {mid: m.name for mid, m in plane.event_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                name = names.get(event.metadata_id, "")
                if ":" not in name or "::" in name:
                    continue
                op_type = name.rsplit(":", 1)[1]
                if not op_type or op_type in CONTAINER_OPS or " " in op_type:
                    continue
                totals[op_type] += event.duration_ps / 1e12
                counts[op_type] += 1
                scopes[scope_of(name.rsplit(":", 1)[0])] += event.duration_ps / 1e12
    ops = [{"op": op, "seconds": s, "count": counts[op]} for op, s in totals.most_common(top)]
    by_scope = [{"scope": k, "seconds": v} for k, v in scopes.most_common()]
    return {"wall_s": wall, "ops": ops, "scopes": by_scope, "logdir": logdir}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", choices=sorted(common.CONFIGS), default="default")
    parser.add_argument("--precision", choices=sorted(common.PRECISIONS), default="float32")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--top", type=int, default=15, help="op types listed from the trace")
    parser.add_argument("--no-trace", action="store_true", help="skip the tf.profiler trace")
    parser.add_argument("--keep-trace", action="store_true", help="keep the trace directory (for TensorBoard)")
    parser.add_argument("--out", help="also write the results as JSON here")
    args = parser.parse_args(argv)

    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # each part's tf.function traces once; no retracing warnings
    cfg = common.CONFIGS[args.config]
    samples = args.batch * cfg.seq_len
    flops = common.train_flops_per_sample(cfg) * samples
    probe = common.MatmulProbe()
    print(f"{args.config} config, {args.precision}, batch {args.batch}: {samples} samples per step")
    print(f"matmul reference: {probe.rate(3):.1f} GFLOP/s (float32 2048^3)")

    rows, stepper, batch_data = tier_timings(cfg, args.precision, args.batch, args.reps)
    step = rows[-1]["forward_backward_s"]
    print(f"\n{'part':<56} {'fwd s':>8} {'fwd+bwd s':>10} {'% of step':>9}")
    for r in rows:
        fwd = "-" if r["forward_s"] is None else f"{r['forward_s']:.3f}"
        share = 100 * r["forward_backward_s"] / step
        print(f"{r['part']:<56} {fwd:>8} {r['forward_backward_s']:>10.3f} {share:>8.1f}%")
    print(
        f"whole step: {samples / step:.0f} samples/s, {flops / step / 1e9:.1f} GFLOP/s as counted "
        f"(3 x {common.forward_macs_per_sample(cfg) / 1e6:.2f} M MACs/sample x 2)"
    )

    dtype = "bfloat16" if args.precision == "mixed" else "float32"
    shapes = matmul_shapes(cfg, args.batch, dtype, args.reps)
    print(f"\nmatmul shapes of the step ({dtype}):")
    for s in shapes:
        dims = f"{s['m']:>6} x {s['k']:>5} @ {s['k']:>5} x {s['n']:>5}"
        print(f"  {s['shape']:<56} {dims}  {s['gflops']:>7.1f} GFLOP/s")

    trace = None
    if not args.no_trace:
        trace = trace_step(stepper, batch_data, args.batch, args.top, keep=args.keep_trace)
        kept = f"; trace kept in {trace['logdir']}" if trace["logdir"] else ""
        print(f"\ntf.profiler, one step ({trace['wall_s']:.2f} s wall{kept}), time by op type summed over threads:")
        for op in trace["ops"]:
            print(f"  {op['op']:<32} {op['seconds']:>8.3f} s  {op['count']:>7} calls")
        total = sum(x["seconds"] for x in trace.get("scopes", []))
        print("\nsame trace, op time by part of the model:")
        for x in trace.get("scopes", []):
            print(f"  {x['scope']:<56} {x['seconds']:>8.3f} s {100 * x['seconds'] / total:>6.1f}%")

    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(
                {
                    "config": args.config,
                    "precision": args.precision,
                    "batch": args.batch,
                    "parts": rows,
                    "matmul_shapes": shapes,
                    "trace": trace,
                },
                fh,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
