"""CPU training speed of EvoPose2D-S vs SimpleBaseline-R50 at 256x192, batch 16: CPU and wall
time per image of a training step, split into the forward pass and the rest (backward + update).

    cd /work/main && nice -n 10 hatch run python bench/training_speed.py [--rounds 3] [--steps 2]

Each model is compiled as training compiles it (Adam, mean squared error on heatmaps, XLA off)
and trained on random crops and targets with `train_on_batch` after one warm-up step (tracing);
the forward pass is `predict_on_batch` of the same batch. Rounds are interleaved (both models in
turn each round) and figures are medians over rounds. "% peak" is multiply-adds (a training step
~3x the forward pass's: forward, gradient of the input, gradient of the weights) per CPU-second
over the dense float32 matmul/convolution peak measured in the same run (bench/inference.py).
`--intra-op` / `--inter-op` set TensorFlow's thread pools (0: TensorFlow's default).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import keras
import numpy as np
import tensorflow as tf
from inference import measure_peak
from machine import describe_machine

import posenets
from evopose import runtimes

MODELS = ("evopose2d_s", "simple_baseline_r50")
INPUT_SHAPE = (256, 192, 3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2, help="timed steps per model and round")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--intra-op", type=int, default=0)
    parser.add_argument("--inter-op", type=int, default=0)
    args = parser.parse_args()
    if args.intra_op:
        tf.config.threading.set_intra_op_parallelism_threads(args.intra_op)
    if args.inter_op:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_op)

    print(f"# {describe_machine()}")
    print(
        f"# TensorFlow {tf.__version__}, Keras {keras.__version__}, batch {args.batch}, "
        f"{args.rounds} interleaved rounds of {args.steps} steps, intra-op "
        f"{args.intra_op or 'default'}, inter-op {args.inter_op or 'default'}"
    )
    peak = max(measure_peak(runtimes.default_threads()).values())
    rng = np.random.default_rng(0)
    images = rng.normal(size=(args.batch, *INPUT_SHAPE)).astype(np.float32)
    models, targets, macs = {}, {}, {}
    for name in MODELS:
        keras.utils.set_random_seed(0)
        model = posenets.create_model(name, input_shape=INPUT_SHAPE)
        model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="mse", jit_compile=False)
        targets[name] = rng.uniform(size=(args.batch, *model.output_shape[1:])).astype(np.float32)
        started = time.perf_counter()
        model.train_on_batch(images, targets[name])  # warm-up: tracing
        model.predict_on_batch(images)
        print(f"  {name}: warm-up {time.perf_counter() - started:.1f} s", file=sys.stderr)
        models[name], macs[name] = model, posenets.count_flops(model)

    train_cpu: dict[str, list[float]] = {n: [] for n in MODELS}
    train_wall: dict[str, list[float]] = {n: [] for n in MODELS}
    forward_cpu: dict[str, list[float]] = {n: [] for n in MODELS}
    for round_number in range(args.rounds):
        for name in MODELS:
            model = models[name]
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for _ in range(args.steps):
                model.train_on_batch(images, targets[name])
            count = args.steps * args.batch
            train_cpu[name].append(1000 * (time.process_time() - cpu0) / count)
            train_wall[name].append(1000 * (time.perf_counter() - wall0) / count)
            cpu0 = time.process_time()
            model.predict_on_batch(images)
            forward_cpu[name].append(1000 * (time.process_time() - cpu0) / args.batch)
        print(f"  round {round_number + 1} done", file=sys.stderr, flush=True)

    print(
        "\n| model | GMAC (forward) | train CPU ms/image | train wall ms/image "
        "| forward CPU ms/image | backward + update CPU ms/image | train % peak |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    medians = {}
    for name in MODELS:
        train = statistics.median(train_cpu[name])
        forward = statistics.median(forward_cpu[name])
        medians[name] = train
        share = 3 * macs[name] / (train / 1000) / 1e9 / peak
        print(
            f"| {name} | {macs[name] / 1e9:.3f} | {train:.0f} | "
            f"{statistics.median(train_wall[name]):.0f} | {forward:.0f} | {train - forward:.0f} "
            f"| {100 * share:.0f}% |"
        )
    s, r50 = MODELS
    print(
        f"\n# SB-R50 / S per image (train CPU): {medians[r50] / medians[s]:.2f}x "
        f"(multiply-adds {macs[r50] / macs[s]:.1f}x); peak {peak:.1f} GMAC per CPU-second"
    )
    print(f"# {describe_machine()} (at the end)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
