"""Benchmark: posedata's training pipeline against JPEG decoding alone and a naive pipeline.

Three tf.data pipelines read the same TFRecord shards with the same parallelism:
- "JPEG decode only": parse and fully decode every image, nothing else (the ceiling that
  decoding sets);
- "posedata train": `posedata.make_dataset(mode="train")`: full augmentation, partial
  decoding of the crop's window, warp, normalisation, batched heatmaps;
- "naive": the same augmentation and targets, but the whole image decoded, converted to float
  and normalised before the warp (as the paper's code did).

Run: `cd /work/main && hatch run python bench/pipeline.py [--quick] [--data coco-mini]`.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import tensorflow as tf
from machine import describe_machine  # bench/machine.py (the script's folder is on sys.path)

import posedata
from posedata.augment import draw_augmentation
from posedata.crops import normalize_images, warp_image
from posedata.heatmaps import encode_heatmaps
from posedata.records import parse_example
from posedata.synthetic import make_synthetic_coco

AUTOTUNE = tf.data.AUTOTUNE


def shards_from(data: str, workdir: Path) -> Path:
    """Train shards of the chosen data: synthetic 640x480 images, the real COCO sample, or a dir."""
    if data == "synthetic":
        paths = make_synthetic_coco(
            workdir / "synthetic", num_train_images=120, num_val_images=0, image_size=(480, 640)
        )
        posedata.convert_coco(paths.train_annotations, paths.train_images, workdir, split="train")
        return workdir / "train"
    if data == "coco-mini":
        root = os.environ.get("EVOPOSE_COCO_MINI")
        if not root:
            sys.exit("--data coco-mini needs EVOPOSE_COCO_MINI (the real COCO sample)")
        posedata.convert_coco(Path(root) / "test_coco.json", root, workdir, split="train")
        return workdir / "train"
    return Path(data)


def records(shards: Path) -> tf.data.Dataset:
    """The shards' serialized examples, repeated, read as make_dataset reads them."""
    files = sorted(str(p) for p in shards.glob("*.tfrecord"))
    return (
        tf.data.Dataset.from_tensor_slices(files)
        .interleave(tf.data.TFRecordDataset, cycle_length=min(8, len(files)),
                    num_parallel_calls=AUTOTUNE)
        .repeat()
    )  # fmt: skip


def decode_only(shards: Path, batch_size: int) -> tf.data.Dataset:
    """Parse and fully decode each JPEG; keep one pixel so nothing is optimised away."""

    def decode(serialized: tf.Tensor) -> tf.Tensor:
        image = tf.io.decode_jpeg(parse_example(serialized, 17)["jpeg"], channels=3)
        return image[0, 0]

    return records(shards).map(decode, num_parallel_calls=AUTOTUNE).batch(batch_size)


def naive(
    shards: Path, batch_size: int, input_size: tuple[int, int], heatmap_size
) -> tf.data.Dataset:
    """Same augmentation and targets; full decode and full-image float conversion first."""
    info = posedata.COCO_PERSON
    augment = posedata.AugmentConfig()
    flip_indices = tf.constant(info.flip_indices)

    def crop(index: tf.Tensor, serialized: tf.Tensor):
        ex = parse_example(serialized, 17)
        aug = draw_augmentation(augment, tf.stack([index, 0]), ex["box"], ex["keypoints"], info)
        transform = posedata.crop_transform(
            aug["box"], input_size, scale=aug["scale"], rotation=aug["rotation"],
            flip=aug["flip"], padding=aug["padding"],
        )  # fmt: skip
        image = normalize_images(tf.io.decode_jpeg(ex["jpeg"], channels=3))  # whole image
        keypoints = tf.gather(ex["keypoints"], tf.where(aug["flip"], flip_indices, tf.range(17)))
        xy = posedata.apply_transform(transform, keypoints[:, :2])
        return warp_image(image, transform, input_size), xy, keypoints[:, 2] > 0

    def targets(images, xy, valid):
        heatmaps, valid = encode_heatmaps(xy, valid, input_size, heatmap_size)
        return images, heatmaps, valid

    return (
        records(shards).enumerate().map(crop, num_parallel_calls=AUTOTUNE)
        .batch(batch_size, drop_remainder=True).map(targets, num_parallel_calls=AUTOTUNE)
        .prefetch(AUTOTUNE)
    )  # fmt: skip


def throughput(dataset: tf.data.Dataset, batches: int, batch_size: int) -> tuple[float, float]:
    """(images per second, CPU milliseconds per image) after two warm-up batches.

    CPU time counts every thread of this process, so it holds up on a busy machine where
    wall-clock rates swing.
    """
    it = iter(dataset)
    for _ in range(2):
        next(it)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(batches):
        next(it)
    images = batches * batch_size
    return images / (time.perf_counter() - start), 1000 * (time.process_time() - cpu) / images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--data", default="synthetic", help="synthetic, coco-mini or a shard dir")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--input-size", type=int, nargs=2, default=(256, 192))
    args = parser.parse_args()
    input_size = tuple(args.input_size)
    heatmap_size = (input_size[0] // 4, input_size[1] // 4)
    batches, rounds = (6, 1) if args.quick else (20, 3)
    with tempfile.TemporaryDirectory() as tmp:
        shards = shards_from(args.data, Path(tmp))
        manifest = posedata.read_manifest(shards)
        pipelines = {
            "JPEG decode only": decode_only(shards, args.batch_size),
            "posedata train (partial decode)": posedata.make_dataset(
                str(shards), mode="train", input_size=input_size, heatmap_size=heatmap_size,
                batch_size=args.batch_size, repeat=True, seed=0,
            ),
            "naive (full decode, float, warp)": naive(
                shards, args.batch_size, input_size, heatmap_size
            ),
        }  # fmt: skip
        # Rounds alternate the pipelines so that a busy spell on a shared machine hits all of
        # them; each figure is the median over the rounds.
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in pipelines}
        for _ in range(rounds):
            for name, ds in pipelines.items():
                runs[name].append(throughput(ds, batches, args.batch_size))
        results = {
            name: (statistics.median(r for r, _ in v), statistics.median(c for _, c in v))
            for name, v in runs.items()
        }
    decode = results["JPEG decode only"][0]
    naive_rate, naive_cpu = results["naive (full decode, float, warp)"]
    print(
        f"\n{platform.machine()}, {os.cpu_count()} CPU cores, TF {tf.__version__}; data: "
        f"{args.data} ({manifest['counts']['examples']} instances), input {input_size[0]}x"
        f"{input_size[1]}, heatmaps {heatmap_size[0]}x{heatmap_size[1]}, batch "
        f"{args.batch_size}; median of {rounds} rounds of {batches} batches\n"
        f"{describe_machine()}\n"
    )
    print("| pipeline | images/s | vs JPEG decode only | vs naive | CPU ms/image | CPU vs naive |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, (rate, cpu) in results.items():
        print(
            f"| {name} | {rate:.0f} | {rate / decode:.2f}x | {rate / naive_rate:.2f}x "
            f"| {cpu:.1f} | {cpu / naive_cpu:.2f}x |"
        )


if __name__ == "__main__":
    main()
