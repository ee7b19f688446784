"""What the default training recipe costs per step against the plain one.

The default recipe (`samplernn.recipe.DEFAULT`) steps the sample MLP at a multiple of the
learning rate and keeps a moving average of every weight, its momentum rising with the step:
one more multiply per weight and one more copy of the weights per step; and it corrupts a
window of some rows' input history (`samplernn.corruption`): a few element-wise ops over the
batch. This times the real training step (`Stepper` with `make_optimizer`, float32, synthetic
batches of the real shapes) with each recipe, with the default's average at a constant
momentum, and with the default without the corrupted windows, in one process, in alternating
blocks so all see the same machine, and prints the ratios of the median step times.

    python bench/recipe_cost.py [--configs small default] [--blocks 4] [--steps 10] \\
        [--out bench/results/recipe_cost.json]
"""

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import common  # noqa: E402

DEFAULT_OUT = os.path.join(HERE, "results", "recipe_cost.json")


def measure(name, blocks, steps, batch):
    """{recipe label: step times in seconds} for one config, blocks alternating after a warm-up block."""
    from samplernn import recipe as recipes
    from samplernn.devices import configure
    from samplernn.model import build_model
    from samplernn.training import Stepper, make_optimizer

    cfg = common.CONFIGS[name]
    devices = configure("All", False, log=lambda _: None)
    recipes_by_label = {
        "default": recipes.DEFAULT,
        "constant": dataclasses.replace(recipes.DEFAULT, ema_ramp=False),
        "uncorrupted": dataclasses.replace(recipes.DEFAULT, history_noise=0.0, history_quiet=0.0),
        "plain": dataclasses.replace(recipes.DEFAULT, ema=0.0, lr_scale=(), history_noise=0.0, history_quiet=0.0),
    }
    runs = {}
    for label, recipe in recipes_by_label.items():
        with devices.strategy.scope():
            model = build_model(cfg, devices.precision)
            optimizer = make_optimizer("adam", 1e-3, 0.9, recipe=recipe)
            optimizer.build(model.trainable_variables)
        stepper = Stepper(model, optimizer, devices.strategy, recipe)
        runs[label] = [stepper, stepper.zero_states(batch), []]
    batches = common.synthetic_batches(cfg, batch)
    for block in range(blocks + 1):  # the first block warms up (and traces) each step
        for run in runs.values():
            stepper, states, times = run
            for _ in range(steps):
                start = time.perf_counter()
                stats, states = stepper.train(next(batches), states)
                float(stats[0])  # wait for the step
                if block:
                    times.append(time.perf_counter() - start)
            run[1] = states
    return {label: run[2] for label, run in runs.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=["small", "default"], choices=sorted(common.CONFIGS))
    parser.add_argument("--blocks", type=int, default=4, help="measured blocks per recipe (default 4)")
    parser.add_argument("--steps", type=int, default=10, help="steps per block (default 10)")
    parser.add_argument("--batch", type=int, default=16, help="batch size (default 16)")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"JSON results file (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    results = []
    labels = ("default", "constant", "uncorrupted", "plain")
    header = ("config", *(f"{k} s/step" for k in labels), "/plain", "/constant", "/uncorrupted")
    print("{:14} {:>14} {:>15} {:>18} {:>12} {:>7} {:>9} {:>12}".format(*header))
    for name in args.configs:
        times = measure(name, args.blocks, args.steps, args.batch)
        default, constant, uncorrupted, plain = (statistics.median(times[k]) for k in labels)
        results.append(
            dict(
                config=name,
                batch=args.batch,
                times=times,
                ratio=default / plain,
                ramp_ratio=default / constant,
                corruption_ratio=default / uncorrupted,
            )
        )
        row = (name, default, constant, uncorrupted, plain, default / plain, default / constant, default / uncorrupted)
        print("{:14} {:14.4f} {:15.4f} {:18.4f} {:12.4f} {:7.3f} {:9.3f} {:12.3f}".format(*row), flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
