"""CPU inference of EvoPose2D-S and SimpleBaseline-R50 at 256x192 on every exact runtime, against
the machine's measured peak.

    cd /work/main && nice -n 10 hatch run python bench/inference.py [--rounds 3] [--batches 1 32]

Paths (all float32, all checked against Keras on the same inputs): Keras `predict_on_batch`
(XLA off), TFLite/XNNPACK with a dynamic batch (the export resized to the batch) and with a
static batch (an export per batch size: what `evopose predict --runtime tflite` runs), ONNX
Runtime with its threads' spinning off, and OpenVINO in f32 when it is importable. Every path
gets the same explicit thread count (`--threads`, default all cores).

Rounds are interleaved (every path and model once per round, in turn), so that load from other
jobs spreads over all of them; each figure is the median over rounds of CPU time (the process's,
all threads) and wall time per image. The peak is measured in the same run: a float32 dense
matmul (TensorFlow and NumPy) and a 3x3 convolution (TensorFlow), in GMAC per CPU-second; each
path's "% peak" is the network's multiply-adds (posenets.count_flops) per CPU-second over that
peak. Exports are cached in bench/out/inference/ by a hash of the (seeded) weights, so a rerun
measures without converting again.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import keras
import numpy as np
import tensorflow as tf
from machine import describe_machine

import posenets
from evopose import runtimes
from evopose.export import export_keras_model

MODELS = ("evopose2d_s", "simple_baseline_r50")
SHORT = {"evopose2d_s": "S", "simple_baseline_r50": "SB-R50"}
INPUT_SHAPE = (256, 192, 3)
OUT = Path(__file__).resolve().parent / "out" / "inference"


def measure_peak(threads: int, seconds: float = 1.5) -> dict[str, float]:
    """GMAC per CPU-second of dense float32 work: matmul (TF, NumPy) and a 3x3 convolution."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(1024, 1024)).astype(np.float32)
    ta = tf.constant(a)
    images = tf.constant(rng.normal(size=(8, 64, 48, 128)).astype(np.float32))
    kernel = tf.constant(rng.normal(size=(3, 3, 128, 128)).astype(np.float32))
    conv_macs = 8 * 64 * 48 * 128 * 128 * 9
    cases = {
        "tf matmul 1024": (lambda: tf.linalg.matmul(ta, ta).numpy(), 1024**3),
        "numpy matmul 1024": (lambda: a @ a, 1024**3),
        "tf conv3x3 128->128": (
            lambda: tf.nn.conv2d(images, kernel, 1, "SAME").numpy(),
            conv_macs,
        ),
    }
    result = {}
    for name, (work, macs) in cases.items():
        work()
        calls, cpu0, wall0 = 0, time.process_time(), time.perf_counter()
        while time.perf_counter() - wall0 < seconds or calls < 3:
            work()
            calls += 1
        cpu = time.process_time() - cpu0
        result[name] = calls * macs / cpu / 1e9
    return result


def weights_key(model: keras.Model) -> str:
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()[:16]


def build_paths(
    model: keras.Model, name: str, batches: list[int], threads: int
) -> dict[tuple[str, int], Callable[[np.ndarray], np.ndarray]]:
    """(path, batch) -> a function running a batch of crops."""
    key = f"{name}-{weights_key(model)}"
    OUT.mkdir(parents=True, exist_ok=True)

    def cached(format: str, batch: int | None) -> Path:
        suffix = {"tflite": ".tflite", "onnx": ".onnx"}[format]
        path = OUT / f"{key}{'-b' + str(batch) if batch else ''}{suffix}"
        if not path.is_file():
            started = time.perf_counter()
            export_keras_model(model, format, path, batch=batch)
            print(
                f"  exported {path.name} in {time.perf_counter() - started:.0f} s",
                file=sys.stderr,
                flush=True,
            )
        return path

    paths: dict[tuple[str, int], Callable] = {}
    keras_runtime = runtimes.KerasRuntime(model)
    dynamic = runtimes.TFLiteRuntime.from_file(cached("tflite", None), threads)
    onnx = runtimes.OnnxRuntime(cached("onnx", None), threads)
    openvino = _openvino(cached("onnx", None), threads)
    for batch in batches:
        paths["Keras predict_on_batch", batch] = keras_runtime
        paths["TFLite XNNPACK, dynamic batch", batch] = dynamic
        paths["TFLite XNNPACK, static batch", batch] = runtimes.TFLiteRuntime.from_file(
            cached("tflite", batch), threads
        )
        paths["ONNX Runtime, spinning off", batch] = onnx
        if openvino is not None:
            paths["OpenVINO f32", batch] = openvino
    return paths


def _openvino(onnx_path: Path, threads: int):
    try:
        import openvino
    except ImportError:
        return None
    core = openvino.Core()
    compiled = core.compile_model(
        str(onnx_path),
        "CPU",
        {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": str(threads)},
    )
    return lambda images: np.asarray(compiled(images)[0], np.float32)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--threads", type=int, default=runtimes.default_threads())
    parser.add_argument("--seconds", type=float, default=1.0, help="per path and round, batch 1")
    args = parser.parse_args()

    print(f"# {describe_machine()}")
    print(
        f"# TensorFlow {tf.__version__}, Keras {keras.__version__}, {args.threads} threads per "
        f"runtime, {args.rounds} interleaved rounds, input 256x192"
    )
    peak = measure_peak(args.threads)
    best_peak = max(peak.values())
    print("# peak GMAC per CPU-second: " + ", ".join(f"{k} {v:.1f}" for k, v in peak.items()))

    models, macs, paths = {}, {}, {}
    for name in MODELS:
        keras.utils.set_random_seed(0)
        models[name] = posenets.create_model(name, input_shape=INPUT_SHAPE)
        macs[name] = posenets.count_flops(models[name])
        paths[name] = build_paths(models[name], name, args.batches, args.threads)
    rng = np.random.default_rng(0)
    inputs = {b: rng.normal(size=(b, *INPUT_SHAPE)).astype(np.float32) for b in args.batches}

    agreement: dict[tuple[str, str, int], float] = {}
    for name in MODELS:
        for (path, batch), run in paths[name].items():
            expected = np.asarray(models[name].predict_on_batch(inputs[batch]), np.float32)
            actual = run(inputs[batch])  # also the warm-up call
            agreement[name, path, batch] = float(
                np.max(np.abs(actual - expected)) / np.max(np.abs(expected))
            )

    cpu: dict[tuple, list[float]] = {}
    wall: dict[tuple, list[float]] = {}
    for round_number in range(args.rounds):
        for batch in args.batches:
            for path in dict.fromkeys(p for p, b in paths[MODELS[0]] if b == batch):
                for name in MODELS:
                    run = paths[name][path, batch]
                    calls, cpu0, wall0 = 0, time.process_time(), time.perf_counter()
                    while calls < 1 or (batch == 1 and time.perf_counter() - wall0 < args.seconds):
                        run(inputs[batch])
                        calls += 1
                    images = calls * batch
                    key = (name, path, batch)
                    cpu.setdefault(key, []).append(1000 * (time.process_time() - cpu0) / images)
                    wall.setdefault(key, []).append(1000 * (time.perf_counter() - wall0) / images)
        print(f"  round {round_number + 1} done", file=sys.stderr, flush=True)

    s, r50 = MODELS
    print(
        "\n| path | batch | S CPU ms | S wall ms | SB-R50 CPU ms | SB-R50 wall ms "
        "| SB-R50 / S (CPU) | S % peak | SB-R50 % peak | max diff / scale (S, SB-R50) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for batch in args.batches:
        for path in dict.fromkeys(p for p, b in paths[s] if b == batch):
            c = {n: statistics.median(cpu[n, path, batch]) for n in MODELS}
            w = {n: statistics.median(wall[n, path, batch]) for n in MODELS}
            share = {n: macs[n] / (c[n] / 1000) / 1e9 / best_peak for n in MODELS}
            print(
                f"| {path} | {batch} | {c[s]:.0f} | {w[s]:.0f} | {c[r50]:.0f} | {w[r50]:.0f} "
                f"| {c[r50] / c[s]:.2f}x | {100 * share[s]:.0f}% | {100 * share[r50]:.0f}% "
                f"| {agreement[s, path, batch]:.1e}, {agreement[r50, path, batch]:.1e} |"
            )
    print(
        f"\n# multiply-adds: S {macs[s] / 1e9:.3f} G, SB-R50 {macs[r50] / 1e9:.3f} G "
        f"({macs[r50] / macs[s]:.1f}x); peak used: {best_peak:.1f} GMAC per CPU-second"
    )
    print(f"# {describe_machine()} (at the end)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
