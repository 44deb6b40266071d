"""Exact fixes of EvoPose2D-S's CPU training step, each measured against Keras's own layers in
the same run: CPU and wall time per image of interleaved training steps, the ratio, and the
largest difference of the gradients (relative to their scale) and of the loss.

    cd /work/main && nice -n 10 hatch run python bench/training_fixes.py [--rounds 3]

Variants (the same network and weights, built with the same seed; only how layers compute):
- `keras`: every batch norm is `keras.layers.BatchNormalization` (Keras 3: `tf.nn.moments` and
  `tf.nn.batch_normalization`, a dozen elementwise ops forward, more backward);
- `fused BN`: posenets' `BatchNormalization` (what `posenets` builds): TensorFlow's fused
  kernels, `FusedBatchNormV3` / `FusedBatchNormGradV3`.
The step is bench/training_profile.py's (`tf.function`: forward, MSE, gradients, Adam). The
gradient difference is the largest over all weights, over the largest gradient of all weights
(per weight it would divide rounding noise by zero for the betas of batch norms followed by
another batch norm, whose gradients are 0 up to rounding, ~1e-9).
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
from machine import describe_machine
from training_profile import make_train_step

import posenets
from posenets.fused_batch_norm import BatchNormalization as FusedBatchNormalization


def with_batch_norm(model: keras.Model, cls: type) -> keras.Model:
    """`model` with every batch norm computed by `cls` (the same weights and configuration)."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.__class__ = cls
    return model


VARIANTS = {
    "keras": lambda model: with_batch_norm(model, keras.layers.BatchNormalization),
    "fused BN": lambda model: with_batch_norm(model, FusedBatchNormalization),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="evopose2d_s")
    parser.add_argument("--input", type=int, nargs=2, default=(256, 192), metavar=("H", "W"))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=1, help="timed steps per variant and round")
    args = parser.parse_args()
    print(f"# {describe_machine()}")
    print(
        f"# TensorFlow {tf.__version__}, Keras {keras.__version__}, {args.model} at "
        f"{args.input[0]}x{args.input[1]}, batch {args.batch}, {args.rounds} interleaved rounds "
        f"of {args.steps} steps"
    )
    rng = np.random.default_rng(0)
    images = tf.constant(rng.normal(size=(args.batch, *args.input, 3)).astype(np.float32))
    steps, gradients, losses, targets = {}, {}, {}, None
    for name, make in VARIANTS.items():
        keras.utils.set_random_seed(0)
        model = make(posenets.create_model(args.model, input_shape=(*args.input, 3)))
        if targets is None:
            shape = (args.batch, *model.output_shape[1:])
            targets = tf.constant(rng.uniform(size=shape).astype(np.float32))
        gradients[name], losses[name] = first_gradients(model, images, targets)
        steps[name] = make_train_step(model, keras.optimizers.Adam(1e-4))
        started = time.perf_counter()
        for _ in range(2):  # tracing (the second call still costs more than the rest)
            steps[name](images, targets)
        print(f"  {name}: warm-up {time.perf_counter() - started:.1f} s", file=sys.stderr)

    cpu: dict[str, list[float]] = {name: [] for name in VARIANTS}
    wall: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for round_number in range(args.rounds):
        for name, step in steps.items():
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for _ in range(args.steps):
                step(images, targets).numpy()
            count = args.steps * args.batch
            cpu[name].append(1000 * (time.process_time() - cpu0) / count)
            wall[name].append(1000 * (time.perf_counter() - wall0) / count)
        done = ", ".join(f"{name} {cpu[name][-1]:.0f}" for name in VARIANTS)
        print(f"  round {round_number + 1}: CPU ms/image {done}", file=sys.stderr, flush=True)

    baseline = next(iter(VARIANTS))
    base_cpu = statistics.median(cpu[baseline])
    base_wall = statistics.median(wall[baseline])
    print(
        "\n| variant | train CPU ms/image | train wall ms/image | CPU ratio to keras "
        "| wall ratio | max gradient diff / max gradient | loss diff |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in VARIANTS:
        pairs = list(zip(gradients[name], gradients[baseline], strict=True))
        scale = max(float(np.max(np.abs(b))) for _, b in pairs)
        diff = max(float(np.max(np.abs(g - b))) for g, b in pairs) / scale
        print(
            f"| {name} | {statistics.median(cpu[name]):.0f} | {statistics.median(wall[name]):.0f} "
            f"| {base_cpu / statistics.median(cpu[name]):.2f}x "
            f"| {base_wall / statistics.median(wall[name]):.2f}x | {diff:.1e} "
            f"| {abs(losses[name] - losses[baseline]):.1e} |"
        )
    print(f"# {describe_machine()} (at the end)")
    return 0


def first_gradients(model, images, targets) -> tuple[list[np.ndarray], float]:
    """The gradients of the MSE (training mode) of the freshly built model, and the loss."""
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(images, training=True) - targets))
    grads = tape.gradient(loss, model.trainable_variables)
    return [np.asarray(g) for g in grads], float(loss)


if __name__ == "__main__":
    sys.exit(main())
