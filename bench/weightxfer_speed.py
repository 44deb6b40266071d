"""How long weight transfer takes: the numpy core on EfficientNet-B5-shaped arrays (30.6M
parameters) and the Keras adapter on EfficientNet-B0 into a mutated copy.

Each transfer is compared with a baseline measured in the same run: for the numpy core, copying
the child's arrays (what any transfer that returns new arrays must at least do); for the Keras
adapter, reading the child's weights out and writing them back (``set_weights(get_weights())``).

Run: hatch run python bench/weightxfer_speed.py [--quick] [--repeats N]
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
from keras.src.applications import efficientnet  # the builder behind EfficientNetB0..B7

from weightxfer import transfer_layers
from weightxfer.keras import layer_arrays, transfer_model

# (width, depth, resolution) of keras.applications' EfficientNets.
SCALES = {"B0": (1.0, 1.0, 224), "B5": (1.6, 2.2, 456)}


def mutated_blocks() -> list[dict]:
    """EfficientNet's blocks with one gene changed in four modules, as a search would."""
    blocks = copy.deepcopy(efficientnet.DEFAULT_BLOCKS_ARGS)
    blocks[1]["kernel_size"] = 5  # module 2: 3x3 -> 5x5
    blocks[2]["filters_out"] = blocks[3]["filters_in"] = 48  # module 3: 40 -> 48 channels
    blocks[4]["filters_out"] = blocks[5]["filters_in"] = 96  # module 5: 112 -> 96 channels
    blocks[5]["repeats"] += 1  # module 6: one more block
    return blocks


def efficientnet_model(scale: str, mutated: bool) -> keras.Model:
    width, depth, size = SCALES[scale]
    return efficientnet.EfficientNet(
        width,
        depth,
        size,
        blocks_args=mutated_blocks() if mutated else "default",
        weights=None,
        name=f"efficientnet{scale.lower()}{'_mutated' if mutated else ''}",
    )


def paired_medians(
    run: Callable[[], object], baseline: Callable[[], object], repeats: int
) -> tuple[float, float]:
    """Median wall times of ``run`` and ``baseline``, timed in turn (fairer on a shared machine)."""
    run(), baseline()  # warm-up
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for function, bucket in ((run, times[0]), (baseline, times[1])):
            start = time.perf_counter()
            function()
            bucket.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="B0 shapes only, 2 repeats")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per row (7)")
    args = parser.parse_args()
    repeats = args.repeats or (2 if args.quick else 7)
    core_scale = "B0" if args.quick else "B5"

    rows = []  # (what, child params, inherited, seconds, baseline seconds, baseline name)

    parent = layer_arrays(efficientnet_model(core_scale, mutated=False))
    for mutated in (False, True):
        child = layer_arrays(efficientnet_model(core_scale, mutated=mutated))
        _, report = transfer_layers(parent, child)
        seconds, baseline = paired_medians(
            lambda c=child: transfer_layers(parent, c),
            lambda c=child: {name: [a.copy() for a in arrays] for name, arrays in c.items()},
            repeats,
        )
        what = f"numpy core, EfficientNet-{core_scale} -> {'mutated' if mutated else 'same'}"
        rows.append((what, report, seconds, baseline, "copy child arrays"))

    keras_parent = efficientnet_model("B0", mutated=False)
    for mutated in (False, True):
        keras_child = efficientnet_model("B0", mutated=mutated)
        report = transfer_model(keras_parent, keras_child)
        seconds, baseline = paired_medians(
            lambda c=keras_child: transfer_model(keras_parent, c),
            lambda c=keras_child: c.set_weights(c.get_weights()),
            repeats,
        )
        what = f"Keras adapter, EfficientNet-B0 -> {'mutated' if mutated else 'same'}"
        rows.append((what, report, seconds, baseline, "child set_weights(get_weights())"))

    cores = os.cpu_count()
    print(f"weightxfer speed: {platform.machine()}, {cores} CPU cores, numpy {np.__version__}, "
          f"keras {keras.__version__}, median of {repeats}")  # fmt: skip
    print()
    print("| transfer | child params | inherited | time (ms) | baseline | baseline (ms) | ratio |")
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: |")
    for what, report, seconds, baseline, baseline_name in rows:
        print(
            f"| {what} | {report.total_params / 1e6:.2f}M | {report.inherited_fraction:.1%} "
            f"| {seconds * 1e3:.0f} | {baseline_name} | {baseline * 1e3:.0f} "
            f"| {seconds / baseline:.2f}x |"
        )


if __name__ == "__main__":
    main()
