"""Graph-mode checks of posedata's TensorFlow code, run as a script in a fresh process.

`TF_ENABLE_ONEDNN_OPTS` is read when TensorFlow is imported, so the tests run this file in a
subprocess once with it forced to 1 and once to 0, whatever the CPU's default, and read the JSON
it prints as its last line. Usage: `python graph_checks.py SHARD_FOLDER`.
"""

import json
import math
import sys

import numpy as np
import tensorflow as tf

import posedata
from posedata import graphcheck, transform
from posedata.augment import draw_augmentation
from posedata.records import parse_example

INPUT, HEATMAP = (64, 48), (32, 24)
RANDOM_CASES = 400


def random_cases(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Boxes anywhere in a 2000x1500 image, from slivers to whole-image boxes."""
    size = np.exp(rng.uniform(np.log(2.0), np.log(1200.0), (n, 2)))
    corner = rng.uniform(-100.0, 1500.0, (n, 2))
    return {
        "boxes": np.concatenate([corner, size], 1).astype(np.float32),
        "scales": rng.uniform(0.6, 1.4, n).astype(np.float32),
        "rotations": rng.uniform(-180.0, 180.0, n).astype(np.float32),
        "flips": rng.uniform(size=n) < 0.5,
        "paddings": rng.choice(np.array([1.25, 1.5], np.float32), n),
    }


def geometry_errors(cases: dict[str, np.ndarray]) -> dict[str, float]:
    """Largest error against the float64 reference, in input pixels, per mode and output."""
    boxes = cases["boxes"]
    points = np.stack(
        [boxes[:, :2], boxes[:, :2] + boxes[:, 2:], boxes[:, :2] + 0.5 * boxes[:, 2:]], 1
    ).astype(np.float32)
    reference = []
    for i, box in enumerate(boxes):
        matrix = graphcheck.reference_crop_transform(
            box,
            INPUT,
            scale=cases["scales"][i],
            rotation=cases["rotations"][i],
            flip=bool(cases["flips"][i]),
            padding=cases["paddings"][i],
        )
        reference.append(points[i].astype(np.float64) @ matrix[:, :2].T + matrix[:, 2])
    reference = np.stack(reference)

    def geometry(box, point, scale, rotation, flip, padding):
        matrix = posedata.crop_transform(
            box, INPUT, scale=scale, rotation=rotation, flip=flip, padding=padding
        )
        mirrored = posedata.mirror_transform(matrix, INPUT[1])
        return {
            "crop": posedata.apply_transform(matrix, point),
            "inverse": posedata.invert_transform(matrix),
            # Mirroring the crop undoes the flip: u -> (W - 1) - u.
            "mirror": posedata.apply_transform(mirrored, point),
        }

    args = (boxes, points, cases["scales"], cases["rotations"], cases["flips"], cases["paddings"])
    runs = {
        "eager": geometry(*args),
        "tf.function": tf.function(geometry)(*args),
    }
    mapped = tf.data.Dataset.from_tensor_slices(args).map(geometry)
    rows = [row for row in mapped]
    runs["tf.data"] = {key: tf.stack([row[key] for row in rows]) for key in rows[0]}
    errors = {}
    for mode, out in runs.items():
        crop = out["crop"].numpy()
        errors[f"{mode} crop"] = float(np.max(np.abs(crop - reference)))
        # Where the inverse sends the crop points: back onto the box (image pixels).
        back = np.einsum("nij,npj->npi", out["inverse"].numpy()[..., :2], reference)
        back += out["inverse"].numpy()[:, None, :, 2]
        errors[f"{mode} inverse"] = float(np.max(np.abs(back - points)))
        mirrored = reference.copy()
        mirrored[..., 0] = (INPUT[1] - 1.0) - reference[..., 0]
        mirrored = out["mirror"].numpy() - mirrored
        errors[f"{mode} mirror"] = float(np.max(np.abs(mirrored)))
    return errors


def pipeline_errors(shards: str) -> dict[str, float]:
    """The training pipeline (full augmentation, graph mode) against an eager re-derivation of
    every example's augmentation and a float64 crop: heatmap peaks must sit on the reference
    cells, and exactly the keypoints inside the crop must be valid."""
    info = posedata.COCO_PERSON
    augment = posedata.AugmentConfig(half_body_prob=0.3, shift_factor=0.1)
    seed = 7
    files = sorted(tf.io.gfile.glob(f"{shards}/*.tfrecord"))[:1]  # one shard: no interleaving
    dataset = posedata.make_dataset(
        files,
        mode="train",
        input_size=INPUT,
        heatmap_size=HEATMAP,
        batch_size=1,
        augment=augment,
        seed=seed,
        shuffle=False,
        repeat=True,  # three passes: each draws other augmentations (by position)
    )
    records = list(tf.data.TFRecordDataset(files))
    base_seed = tf.constant([seed, 0], tf.int64)
    ratio = np.array([HEATMAP[1] / INPUT[1], HEATMAP[0] / INPUT[0]])
    checked = wrong_cells = wrong_valid = 0
    passes = records * 3
    for index, (serialized, (_, heatmaps, valid)) in enumerate(
        zip(passes, dataset.take(len(passes)), strict=True)
    ):
        example = parse_example(serialized, info.num_keypoints)
        keypoints = example["keypoints"].numpy().astype(np.float64)
        seed_i = tf.random.experimental.stateless_fold_in(base_seed, tf.constant(index, tf.int64))
        aug = draw_augmentation(augment, seed_i, example["box"], example["keypoints"], info)
        matrix = graphcheck.reference_crop_transform(
            aug["box"].numpy(),
            INPUT,
            scale=float(aug["scale"]),
            rotation=float(aug["rotation"]),
            flip=bool(aug["flip"]),
            padding=float(aug["padding"]),
        )
        if bool(aug["flip"]):
            keypoints = keypoints[list(info.flip_indices)]
        mapped = keypoints[:, :2] @ matrix[:, :2].T + matrix[:, 2]
        cells = np.floor(mapped * ratio + 0.5)
        inside = (cells >= 0).all(1) & (cells < [HEATMAP[1], HEATMAP[0]]).all(1)
        expected_valid = (keypoints[:, 2] > 0) & inside
        maps = heatmaps.numpy()[0]
        wrong_valid += int(np.sum(expected_valid != (valid.numpy()[0] > 0)))
        for k in np.flatnonzero(expected_valid):
            y, x = np.unravel_index(np.argmax(maps[..., k]), maps.shape[:2])
            # A float32 point within rounding of a cell boundary may land on the neighbour.
            near_boundary = np.any(np.abs((mapped[k] * ratio + 0.5) % 1.0 - 0.5) > 0.499)
            if (x, y) != tuple(cells[k].astype(int)) and not near_boundary:
                wrong_cells += 1
            checked += 1
    return {"keypoints checked": checked, "wrong cells": wrong_cells, "wrong valid": wrong_valid}


def eager_graph_differences(shards: str) -> dict[str, float]:
    """Every TensorFlow function of posedata, eager vs `tf.function` (largest difference)."""
    files = sorted(tf.io.gfile.glob(f"{shards}/*.tfrecord"))
    serialized = next(iter(tf.data.TFRecordDataset(files)))
    example = parse_example(serialized, 17)
    box, keypoints = example["box"], example["keypoints"]
    transform_ = posedata.crop_transform(box, INPUT, scale=1.2, rotation=25.0, flip=True)
    pixels = tf.cast(tf.io.decode_jpeg(example["jpeg"], channels=3), tf.float32)
    seed = tf.constant([3, 4], tf.int64)
    calls = {
        "parse_example": lambda: parse_example(serialized, 17)["keypoints"],
        "crop_transform": lambda: posedata.crop_transform(
            box, INPUT, scale=1.2, rotation=25.0, flip=True, padding=1.5
        ),
        "mirror_transform": lambda: posedata.mirror_transform(transform_, INPUT[1]),
        "invert_transform": lambda: posedata.invert_transform(transform_),
        "apply_transform": lambda: posedata.apply_transform(transform_, keypoints[:, :2]),
        "heatmap_centres": lambda: posedata.heatmap_centres(
            posedata.apply_transform(transform_, keypoints[:, :2]), INPUT, HEATMAP
        ),
        "encode_heatmaps": lambda: posedata.encode_heatmaps(
            posedata.apply_transform(transform_, keypoints[:, :2])[None],
            keypoints[None, :, 2] > 0,
            INPUT,
            HEATMAP,
        )[0],
        "draw_augmentation": lambda: tf.concat(
            [
                tf.reshape(tf.cast(v, tf.float32), [-1])
                for v in draw_augmentation(
                    posedata.AugmentConfig(half_body_prob=1.0, shift_factor=0.1),
                    seed,
                    box,
                    keypoints,
                    posedata.COCO_PERSON,
                ).values()
            ],
            0,
        ),
        "crop_image": lambda: posedata.crop_image(
            example["jpeg"], example["image_size"], transform_, INPUT
        ),
        "warp_image": lambda: posedata.warp_image(pixels, transform_, INPUT),
        "normalize_images": lambda: posedata.normalize_images(pixels),
    }
    differences = {}
    for name, call in calls.items():
        eager = call().numpy().astype(np.float64)
        graph = tf.function(call)().numpy().astype(np.float64)
        differences[name] = float(np.max(np.abs(eager - graph))) if eager.size else 0.0
    return differences


def tripwire(fire_with_old_geometry: bool) -> dict[str, object]:
    """Does `check_graph_geometry` pass here, and does it stop the pre-fix geometry (with
    `tf.unstack`, the pattern the remapper miscompiled)?"""
    result: dict[str, object] = {"passes": graphcheck.check_graph_geometry() <= 0.01}
    if not fire_with_old_geometry:
        return result

    def old_crop_transform(box, input_size, *, scale=1.0, rotation=0.0, flip=False, padding=1.25):
        box = tf.convert_to_tensor(box, tf.float32)
        height, width = (float(s) for s in input_size)
        x, y, w, h = tf.unstack(box, axis=-1)
        cx, cy = x + 0.5 * w, y + 0.5 * h
        crop_w = tf.maximum(w, h * (width / height)) * padding * scale
        zoom = width / tf.maximum(crop_w, 1e-6)
        theta = tf.convert_to_tensor(rotation, tf.float32) * (math.pi / 180.0)
        cos, sin = zoom * tf.cos(theta), zoom * tf.sin(theta)
        cos, sin, cx, cy = transform._broadcast(cos, sin, cx, cy)
        tx = 0.5 * (width - 1.0) - (cos * cx + sin * cy)
        ty = 0.5 * (height - 1.0) - (-sin * cx + cos * cy)
        mirror = tf.broadcast_to(tf.cast(flip, tf.bool), tf.shape(cos))
        sign = tf.where(mirror, -1.0, 1.0)
        row_u = tf.stack([sign * cos, sign * sin, sign * tx + tf.where(mirror, width - 1, 0.0)], -1)
        return tf.stack([row_u, tf.stack([-sin, cos, ty], -1)], axis=-2)

    # The minimal reproduction: does this TensorFlow, CPU and setting miscompile at all?
    def f(box):
        _, _, w, h = tf.unstack(box)
        return tf.maximum(w, h * 0.75) * 1.25

    box = tf.constant([12.3, 5.7, 340.6, 132.8])
    result["bug reproduces"] = abs(float(tf.function(f)(box)) - float(f(box))) > 1e-3
    transform.crop_transform = old_crop_transform
    graphcheck._graph_error.cache_clear()
    try:
        graphcheck.check_graph_geometry()
        result["old geometry stopped"] = None
    except posedata.GraphMiscompileError as error:
        result["old geometry stopped"] = str(error)
    return result


def main() -> None:
    shards = sys.argv[1]
    report = {
        "geometry": geometry_errors(random_cases(np.random.default_rng(0), RANDOM_CASES)),
        "pipeline": pipeline_errors(shards),
        "eager vs graph": eager_graph_differences(shards),
        "tripwire": tripwire(fire_with_old_geometry=True),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
