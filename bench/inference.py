"""CPU inference throughput of the paper's networks at 256x192, with and without XLA.

    cd /work/main && hatch run python bench/inference.py [--quick]

Measures images/s of `model.predict_on_batch` at batch 1 and 32 for EvoPose2D-XS, -S,
SimpleBaseline-R50 and HRNet-W32, each compiled with `jit_compile=False` and `True`, in one
run; the baseline is SimpleBaseline-R50 measured in the same run, same batch and same mode.
Ratios are speed-ups over the baseline, from wall time and from process CPU time (the steadier
figure on a shared machine).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass

import keras
import numpy as np

import posenets

MODELS = ("evopose2d_xs", "evopose2d_s", "simple_baseline_r50", "hrnet_w32")
BASELINE = "simple_baseline_r50"
BATCHES = (1, 32)
INPUT_SHAPE = (256, 192, 3)


@dataclass(frozen=True)
class Measurement:
    model: str
    batch: int
    xla: bool
    images_per_second: float
    cpu_ms_per_image: float
    first_call_seconds: float


def measure(
    model: keras.Model, name: str, batch: int, xla: bool, min_seconds: float, min_calls: int
) -> Measurement:
    """Throughput of repeated predict_on_batch calls after one warm-up (trace/compile) call."""
    model.compile(jit_compile=xla)
    images = np.random.default_rng(0).normal(size=(batch, *INPUT_SHAPE)).astype("float32")
    start = time.perf_counter()
    model.predict_on_batch(images)
    first_call = time.perf_counter() - start
    calls, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while calls < min_calls or time.perf_counter() - start < min_seconds:
        model.predict_on_batch(images)
        calls += 1
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    images_done = calls * batch
    return Measurement(
        name, batch, xla, images_done / elapsed, 1000 * cpu / images_done, first_call
    )


def table(results: list[Measurement]) -> str:
    """Markdown table with ratios to the baseline of the same batch and mode."""
    baseline = {(r.batch, r.xla): r for r in results if r.model == BASELINE}
    rows = [
        "| model | batch | XLA | images/s | x SimpleBaseline-R50 | CPU ms/image "
        "| x SimpleBaseline-R50 (CPU) | first call s |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        reference = baseline.get((r.batch, r.xla))
        speed = f"{r.images_per_second / reference.images_per_second:.2f}" if reference else "-"
        cpu = f"{reference.cpu_ms_per_image / r.cpu_ms_per_image:.2f}" if reference else "-"
        rows.append(
            f"| {r.model} | {r.batch} | {'yes' if r.xla else 'no'} | "
            f"{r.images_per_second:.1f} | {speed} | {r.cpu_ms_per_image:.0f} | {cpu} | "
            f"{r.first_call_seconds:.1f} |"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one timed call per setting")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    args = parser.parse_args()
    min_seconds, min_calls = (0.0, 1) if args.quick else (5.0, 3)
    models = args.models if BASELINE in args.models else [*args.models, BASELINE]

    print(
        f"# {platform.machine()} CPU, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"Keras {keras.__version__} ({keras.backend.backend()}), input 256x192, "
        f"load average at start {os.getloadavg()[0]:.1f}"
    )
    results = []
    for name in models:
        model = posenets.create_model(name, input_shape=INPUT_SHAPE)
        for xla in (False, True):
            for batch in BATCHES:
                result = measure(model, name, batch, xla, min_seconds, min_calls)
                print(
                    f"  {name} batch {batch} XLA {xla}: {result.images_per_second:.1f} images/s",
                    file=sys.stderr,
                    flush=True,
                )
                results.append(result)
        del model
        keras.backend.clear_session()
    print(table(results))
    print(f"# load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
