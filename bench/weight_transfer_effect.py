"""The paper's central claim at small scale: a child that inherits its parent's weights
(SPEC section 1) starts close to its parent and trains to a lower loss than the same child
trained from scratch for the same epochs.

A parent EvoPose2D (the demo's slim ancestor, built as written at 64x48) is trained on
synthetic people; random one-gene mutations of it (each a new network: mutations that change no
layer are redrawn) are each trained the same few epochs twice, once with the parent's
weights transferred (weightxfer) and once from random initialisation (same seed, same
batches). Reported per child: the share of parameters inherited, how much of the parent's
function survives the transfer (cosine similarity of the heatmaps with the parent's, and the
share of the parent's loss improvement over an untrained network), the validation loss after
the epochs both ways, and the epochs each needs to reach the parent's own validation loss.

Run: cd /work/main && hatch run python bench/weight_transfer_effect.py [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import platform
import statistics
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from evopose.config import Config
from evopose.datasets import TRAIN, dataset_info, make_train_data, write_synthetic_dataset
from evopose.demo import IMAGE_SIZE, demo_config
from evopose.losses import HeatmapLoss, HeatmapLossMetric
from evopose.models import build_model, load_model
from evopose.search.candidate import candidate_config, search_resolution
from evopose.search.evopose_space import EvoPoseSpace, describe_mutation
from evopose.training import train
from evosearch import GenotypeSet
from weightxfer.keras import transfer_model

SEED = 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (2 children)")
    parser.add_argument("--children", type=int, help="random mutations of the parent (6)")
    parser.add_argument("--parent-epochs", type=int, help="the parent's training (10)")
    parser.add_argument("--child-epochs", type=int, help="each child's training (3)")
    parser.add_argument("--images", type=int, nargs=2, metavar=("TRAIN", "VAL"))
    parser.add_argument("--out", type=Path, default=Path("bench/out/weight_transfer_effect"))
    args = parser.parse_args()
    children = args.children or (2 if args.quick else 6)
    parent_epochs = args.parent_epochs or (3 if args.quick else 10)
    child_epochs = args.child_epochs or (2 if args.quick else 3)
    images = tuple(args.images or ((120, 16) if args.quick else (400, 40)))
    out = args.out / ("quick" if args.quick else "full")

    started = time.perf_counter()
    data_root = out / "data"
    if not (data_root / "val-dets" / "manifest.json").is_file():
        write_synthetic_dataset(
            data_root,
            train_images=images[0],
            val_images=images[1],
            image_size=IMAGE_SIZE,
            overwrite=True,
        )
    base = demo_config(out, data_root=data_root)
    keypoints = dataset_info(base, TRAIN).num_keypoints
    resolution = search_resolution(base)
    space = EvoPoseSpace(base.model.genotype, resolution=resolution)
    parent_genotype = space.ancestor()

    parent_config = candidate_config(base, parent_genotype, parent_epochs, SEED)
    parent_run = train(parent_config, out / "parent", verbose=0)
    parent = load_model(parent_run.best_model)
    parent_loss = parent_run.best_val_loss
    print(
        f"parent {space.describe(parent_genotype)}: {parent.count_params():,} parameters, "
        f"{parent_epochs} epochs, best validation loss {parent_loss:.2f}",
        flush=True,
    )

    rows = []
    seen = GenotypeSet([parent_genotype])
    for index in range(children):
        rng = np.random.default_rng([SEED, 1, index])
        genotype = space.mutate(parent_genotype, rng, seen)
        seen.add(genotype)
        config = candidate_config(base, genotype, child_epochs, SEED + 1 + index)
        row = measure_child(config, parent, parent_loss, keypoints, out / f"child-{index}")
        row["comparable"] = list(parent.output_shape[1:3]) == row.pop("heatmap_size")
        row["mutation"] = describe_mutation(parent_genotype, genotype)
        rows.append(row)
        print(format_row(index, row, child_epochs), flush=True)

    print()
    print(table(rows, child_epochs, parent_loss))
    print()
    print(summary(rows, child_epochs))
    print(
        f"\nparent {parent_epochs} epochs, {children} children x {child_epochs} epochs x 2, "
        f"{images[0]}/{images[1]} synthetic train/val images, input "
        f"{resolution[0]}x{resolution[1]} (phi = 0), batch "
        f"{base.train.batch_size}; {time.perf_counter() - started:.0f} s on {platform.machine()} "
        f"with {os.cpu_count()} CPUs"
    )


def measure_child(
    config: Config, parent: keras.Model, parent_loss: float, keypoints: int, folder: Path
) -> dict:
    """One child, trained twice: with its parent's weights and from scratch (same seed)."""
    network = dataclasses.replace(config.model, transfer_from=None)
    results = {}
    for way in ("transfer", "scratch"):
        keras.backend.clear_session()
        keras.utils.set_random_seed(config.train.seed)
        model = build_model(network, keypoints)
        if way == "transfer":
            report = transfer_model(parent, model)
            results["inherited"] = report.inherited_fraction
        start_loss, similarity = loss_and_similarity(config, model, parent)
        run = train(config, folder / way, model=model, verbose=0)
        history = run.history["val_heatmap_loss"]
        results[way] = {
            "start_loss": start_loss,
            "similarity": similarity,
            "history": history,
            "final": min(history),
            "epochs_to_parent": epochs_to_reach(start_loss, history, parent_loss),
        }
    scratch_start = results["scratch"]["start_loss"]
    gained = scratch_start - parent_loss
    results["preserved"] = (
        (scratch_start - results["transfer"]["start_loss"]) / gained if gained > 0 else math.nan
    )
    results["params"] = float(model.count_params())
    results["heatmap_size"] = list(model.output_shape[1:3])
    return results


def loss_and_similarity(config: Config, model: keras.Model, parent: keras.Model) -> tuple:
    """The validation loss (Eq. 1) of an untrained `model`, and the cosine similarity of its
    heatmaps with the parent's on the first validation batch (resized to the parent's size)."""
    data = make_train_data(config, tuple(model.input_shape[1:3]), tuple(model.output_shape[1:3]))
    model.compile(loss=HeatmapLoss(), weighted_metrics=[HeatmapLossMetric()], jit_compile=False)
    scores = model.evaluate(data.val, steps=data.val_steps, verbose=0, return_dict=True)
    images = next(iter(data.val))[0]
    mine = model.predict_on_batch(images)
    theirs = parent.predict_on_batch(images)
    if mine.shape != theirs.shape:
        mine = tf.image.resize(mine, theirs.shape[1:3], method="bilinear").numpy()
    a, b = np.ravel(mine).astype(np.float64), np.ravel(theirs).astype(np.float64)
    cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))
    return float(scores["heatmap_loss"]), cosine


def epochs_to_reach(start: float, history: list[float], target: float) -> int | None:
    """The first epoch whose validation loss is at or below `target` (0: before training)."""
    if start <= target:
        return 0
    for epoch, loss in enumerate(history, start=1):
        if loss <= target:
            return epoch
    return None


def format_row(index: int, row: dict, epochs: int) -> str:
    t, s = row["transfer"], row["scratch"]
    return (
        f"child {index} ({row['mutation']}): inherited {row['inherited']:.0%}, similarity "
        f"{t['similarity']:.3f} vs {s['similarity']:.3f}, loss after {epochs} epochs "
        f"{t['final']:.1f} vs {s['final']:.1f}"
    )


def table(rows: list[dict], epochs: int, parent_loss: float) -> str:
    header = (
        "| child (mutation) | inherited | heatmap cosine with parent: WT / scratch | "
        "parent's gain kept by WT | val loss at start: WT / scratch | "
        f"val loss after {epochs} epochs: WT / scratch | WT / scratch | "
        f"epochs to parent's loss ({parent_loss:.1f}): WT / scratch |"
    )
    lines = [header, "|" + " --- |" * 8]
    for index, row in enumerate(rows):
        t, s = row["transfer"], row["scratch"]
        if row["comparable"]:
            kept = f"{row['preserved']:.0%}"
            reach = f"{_epochs(t['epochs_to_parent'], epochs)} / "
            reach += _epochs(s["epochs_to_parent"], epochs)
        else:  # another heatmap size: losses are on other targets than the parent's
            kept = reach = "n/a (heatmap size differs)"
        lines.append(
            f"| {index} ({row['mutation']}) | {row['inherited']:.0%} | "
            f"{t['similarity']:.3f} / {s['similarity']:.3f} | {kept} | "
            f"{t['start_loss']:.1f} / {s['start_loss']:.1f} | {t['final']:.1f} / {s['final']:.1f} "
            f"| {t['final'] / s['final']:.2f} | {reach} |"
        )
    return "\n".join(lines)


def summary(rows: list[dict], epochs: int) -> str:
    ratio = [r["transfer"]["final"] / r["scratch"]["final"] for r in rows]
    comparable = [r for r in rows if r["comparable"]] or [{"preserved": math.nan}]
    reached = {
        way: sum(r[way]["epochs_to_parent"] is not None for r in rows if r["comparable"])
        for way in ("transfer", "scratch")
    }
    same_size = sum(r["comparable"] for r in rows)
    return (
        f"median over {len(rows)} children: inherited "
        f"{statistics.median(r['inherited'] for r in rows):.0%}, heatmap cosine with the parent "
        f"{statistics.median(r['transfer']['similarity'] for r in rows):.3f} (scratch "
        f"{statistics.median(r['scratch']['similarity'] for r in rows):.3f}), parent's gain kept "
        f"{statistics.median(r['preserved'] for r in comparable):.0%}, val loss after {epochs} "
        f"epochs WT / scratch = {statistics.median(ratio):.2f}; of the {same_size} children with "
        f"the parent's heatmap size, reached the parent's loss within {epochs} epochs: WT "
        f"{reached['transfer']}, scratch {reached['scratch']}"
    )


def _epochs(value: int | None, limit: int) -> str:
    return f">{limit}" if value is None else str(value)


if __name__ == "__main__":
    main()
