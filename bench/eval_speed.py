"""Benchmark of cocoeval_tools: vectorised heatmap decoding against a per-keypoint loop, and COCO
keypoint evaluation of a COCO-sized synthetic set with pycocotools and with faster-coco-eval.

Run: cd /work/main && hatch run python bench/eval_speed.py [--quick]
"""

from __future__ import annotations

import argparse
import copy
import io
import os
import platform
import time
from collections.abc import Callable
from contextlib import redirect_stdout

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from cocoeval_tools import STAT_NAMES, decode_heatmaps, evaluate, synthetic_keypoint_dataset


def decode_keypoint_by_keypoint(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The baseline: the reference implementation's loop, one instance and keypoint at a time."""
    n, height, width, k = heatmaps.shape
    coords, scores = np.zeros((n, k, 2)), np.zeros((n, k))
    for i in range(n):
        for j in range(k):
            heatmap = heatmaps[i, :, :, j]
            y, x = np.unravel_index(heatmap.argmax(), heatmap.shape)
            fx, fy = float(x), float(y)
            if 0 < x < width - 1:
                fx += 0.25 * np.sign(float(heatmap[y, x + 1]) - float(heatmap[y, x - 1]))
            if 0 < y < height - 1:
                fy += 0.25 * np.sign(float(heatmap[y + 1, x]) - float(heatmap[y - 1, x]))
            coords[i, j] = fx, fy
            scores[i, j] = heatmap[y, x] / 255.0
    return coords, scores


def seconds(function: Callable[[], object], repeats: int = 1) -> tuple[float, float, object]:
    """Best wall time and best CPU time of ``repeats`` calls, and the last call's value. The
    CPU time (this process) is the steadier figure on a shared machine."""
    best_wall = best_cpu = float("inf")
    value = None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        value = function()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu, value


def bench_decoding(instances: int, height: int, width: int, batch: int) -> list[tuple]:
    """Decode ``instances`` x 17 heatmaps in batches both ways; checks that they agree."""
    rng = np.random.default_rng(0)
    totals = np.zeros(4)  # loop wall, loop CPU, vectorised wall, vectorised CPU
    for start in range(0, instances, batch):
        count = min(batch, instances - start)
        heatmaps = rng.uniform(0, 255, size=(count, height, width, 17)).astype(np.float32)
        loop_wall, loop_cpu, (loop_coords, loop_scores) = seconds(
            lambda h=heatmaps: decode_keypoint_by_keypoint(h)
        )
        wall, cpu, (coords, scores) = seconds(lambda h=heatmaps: decode_heatmaps(h), 3)
        np.testing.assert_array_equal(coords, loop_coords)
        np.testing.assert_allclose(scores, loop_scores, rtol=1e-6)
        totals += (loop_wall, loop_cpu, wall, cpu)
    label = f"decode {instances:,} x 17 heatmaps {height}x{width}"
    return [
        (label, "per-keypoint loop (baseline)", totals[0], totals[1], 1.0),
        ("", "decode_heatmaps (vectorised)", totals[2], totals[3], totals[1] / totals[3]),
    ]


def direct_pycocotools(ground_truth: dict, results: list[dict]) -> np.ndarray:
    """The textbook pycocotools run (the baseline), its printing swallowed."""
    with redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = ground_truth
        coco.createIndex()
        evaluator = COCOeval(coco, coco.loadRes(results), iouType="keypoints")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator.stats[: len(STAT_NAMES)]


def bench_evaluation(images: int, repeats: int) -> tuple[list[tuple], float, float]:
    """Evaluate one synthetic set three ways; returns rows, the AP and the largest stat gap."""
    ground_truth, results = synthetic_keypoint_dataset(images, seed=0)
    people = sum(1 for a in ground_truth["annotations"] if a["num_keypoints"] > 0)
    fresh = [copy.deepcopy(results) for _ in range(repeats)]  # pycocotools mutates its input
    runs = {
        "pycocotools, direct (baseline)": lambda: direct_pycocotools(ground_truth, fresh.pop()),
        "evaluate(backend='pycocotools')": lambda: evaluate(ground_truth, results),
        "evaluate(backend='faster-coco-eval')": lambda: evaluate(
            ground_truth, results, backend="faster-coco-eval"
        ),
    }
    timings = {name: seconds(run, repeats) for name, run in runs.items()}
    baseline_cpu = timings["pycocotools, direct (baseline)"][1]
    baseline, ours, fast = (value for _, _, value in timings.values())
    assert list(ours.values()) == baseline.tolist(), "evaluate differs from pycocotools"
    gap = max(abs(ours[name] - fast[name]) for name in STAT_NAMES)
    label = f"evaluate {images:,} images, {people:,} people, {len(results):,} results"
    rows = [
        (label if index == 0 else "", name, wall, cpu, baseline_cpu / cpu)
        for index, (name, (wall, cpu, _)) in enumerate(timings.items())
    ]
    return rows, ours["AP"], gap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (a tenth of the sizes)")
    options = parser.parse_args()
    instances, images, repeats = (600, 500, 1) if options.quick else (6000, 5000, 2)
    rows = bench_decoding(instances, 64, 48, batch=500)
    evaluation_rows, ap, gap = bench_evaluation(images, repeats)
    rows += evaluation_rows
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, numpy {np.__version__}")
    print("| task | method | wall s | CPU s | speed-up (CPU) |")
    print("| --- | --- | ---: | ---: | ---: |")
    for task, method, wall, cpu, ratio in rows:
        print(f"| {task} | {method} | {wall:.3f} | {cpu:.3f} | {ratio:.1f}x |")
    print(
        f"\nsynthetic set: AP {ap:.3f}; largest gap between the backends over the 10 stats: "
        f"{gap:.1e}; evaluate(backend='pycocotools') equals the direct run exactly"
    )


if __name__ == "__main__":
    main()
