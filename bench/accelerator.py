"""Training images/s of EvoPose2D-S and SimpleBaseline-R50 at 256x192 on a GPU, with mixed
precision, with and without XLA, and whether posedata's input pipeline keeps up.

    cd /work/main && hatch run python bench/accelerator.py [--seconds 20] [--batch 64]

For each model and XLA setting: the model compiled as training compiles it (Adam, mean squared
error, `mixed_float16`), trained on one in-memory batch held on the GPU after a warm-up (tracing,
XLA compilation); images/s from wall time. The input pipeline (`posedata.make_dataset`, train
mode, synthetic 640x480 shards) is timed alone on the CPU: its images/s, per CPU core, against
the fastest GPU consumption measured, gives the cores needed to keep the GPU fed. Needs a GPU:
without one it says so in one line and exits 2. Meant to finish within 5 minutes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

MODELS = ("evopose2d_s", "simple_baseline_r50")
INPUT_SIZE = (256, 192)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; an invalid value is argparse's one-line error and exit 2."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--batch", type=_positive, default=64, help="training batch size")
    parser.add_argument("--seconds", type=_positive_float, default=20.0, help="timed per case")
    parser.add_argument(
        "--precision", choices=("mixed_float16", "mixed_bfloat16", "float32"),
        default="mixed_float16",
    )  # fmt: skip
    parser.add_argument(
        "--xla", choices=("both", "on", "off"), default="both", help="XLA settings to measure"
    )
    parser.add_argument("--pipeline-batches", type=_positive, default=20)
    return parser.parse_args(argv)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def gpu_names() -> list[str]:
    """The GPUs TensorFlow sees (empty on a CPU-only machine)."""
    import tensorflow as tf

    return [device.name for device in tf.config.list_physical_devices("GPU")]


def train_images_per_second(name: str, batch: int, xla: bool, precision: str, seconds: float):
    """(images/s, warm-up seconds) of train_on_batch on one batch resident on the GPU."""
    import keras
    import numpy as np
    import tensorflow as tf

    import posenets

    keras.mixed_precision.set_global_policy(precision)
    keras.utils.set_random_seed(0)
    model = posenets.create_model(name, input_shape=(*INPUT_SIZE, 3))
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="mse", jit_compile=xla)
    rng = np.random.default_rng(0)
    with tf.device("/GPU:0"):
        images = tf.constant(rng.normal(size=(batch, *INPUT_SIZE, 3)).astype(np.float32))
        targets = tf.constant(rng.uniform(size=(batch, *model.output_shape[1:])).astype(np.float32))
    started = time.perf_counter()
    for _ in range(2):
        model.train_on_batch(images, targets)
    warm_up = time.perf_counter() - started
    steps, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds or steps < 3:
        loss = model.train_on_batch(images, targets)
        steps += 1
    float(np.asarray(loss))  # wait for the last step
    elapsed = time.perf_counter() - started
    keras.mixed_precision.set_global_policy("float32")
    return steps * batch / elapsed, warm_up


def pipeline_images_per_second(batches: int, batch: int) -> tuple[float, int]:
    """(images/s of posedata's training pipeline on the CPU, CPU cores it may use)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from pipeline import shards_from, throughput

    import posedata

    heatmap_size = (INPUT_SIZE[0] // 4, INPUT_SIZE[1] // 4)
    with tempfile.TemporaryDirectory() as tmp:
        shards = shards_from("synthetic", Path(tmp))
        dataset = posedata.make_dataset(
            str(shards), mode="train", input_size=INPUT_SIZE, heatmap_size=heatmap_size,
            batch_size=batch, repeat=True, seed=0,
        )  # fmt: skip
        rate, _ = throughput(dataset, batches, batch)
    return rate, len(os.sched_getaffinity(0))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    gpus = gpu_names()
    if not gpus:
        print(
            "accelerator.py: no GPU here (TensorFlow sees none); run it on a machine with one",
            file=sys.stderr,
        )
        return 2
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from machine import describe_machine

    print(f"# {describe_machine()}; GPUs: {', '.join(gpus)}")
    print(f"# batch {args.batch}, {args.precision}, {args.seconds:g} s timed per case")
    settings = {"both": (False, True), "on": (True,), "off": (False,)}[args.xla]
    rows, fastest = [], 0.0
    for name in args.models:
        for xla in settings:
            rate, warm_up = train_images_per_second(
                name, args.batch, xla, args.precision, args.seconds
            )
            fastest = max(fastest, rate)
            rows.append(f"| {name} | {'on' if xla else 'off'} | {rate:.0f} | {warm_up:.0f} |")
            print(f"  {name} XLA {xla}: {rate:.0f} images/s", file=sys.stderr, flush=True)
    print("\n| model | XLA | train images/s | warm-up s |\n| --- | --- | ---: | ---: |")
    print("\n".join(rows))
    rate, cores = pipeline_images_per_second(args.pipeline_batches, args.batch)
    per_core = rate / cores
    print(
        f"\n# input pipeline: {rate:.0f} images/s on {cores} cores ({per_core:.0f} per core); "
        f"the fastest case consumes {fastest:.0f} images/s: "
        f"{'keeps up' if rate >= fastest else 'does NOT keep up'}, "
        f"{fastest / per_core:.1f} cores needed"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
