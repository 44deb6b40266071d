"""The tf.data pipeline: shards to batches for training, validation loss and prediction.

Per example: parse, draw the augmentation (stateless, from the seed and the example's position,
so a seed gives the same batches every run), build the crop transform, decode only the part
of the JPEG the crop needs, warp it to the input size, normalise. Per batch: the heatmap
targets, vectorised over the batch.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence

import tensorflow as tf

from posedata.augment import AugmentConfig, draw_augmentation
from posedata.converted import MANIFEST_NAME, ConvertedSplit, join
from posedata.crops import crop_image, normalize_images
from posedata.errors import DataError
from posedata.graphcheck import check_graph_geometry
from posedata.heatmaps import encode_heatmaps
from posedata.info import COCO_PERSON, DatasetInfo
from posedata.records import SHARD_SUFFIX, parse_example
from posedata.transform import apply_transform, crop_transform

MODES = ("train", "val", "predict")
_DTYPES = ("float32", "bfloat16")
_AUTOTUNE = tf.data.AUTOTUNE


ShardFiles = ConvertedSplit | str | os.PathLike | Sequence[str | os.PathLike]
"""Where the shards are: a `ConvertedSplit` (its manifest already read), or paths, globs or
split folders, local or e.g. `gs://`."""


def training_batches(
    files: ShardFiles,
    *,
    input_size: tuple[int, int],
    heatmap_size: tuple[int, int],
    batch_size: int,
    augment: AugmentConfig = AugmentConfig(),  # noqa: B008 (frozen, immutable)
    seed: int | None = None,
    shuffle_buffer: int = 2048,
    repeat: bool = False,
    dataset_info: DatasetInfo = COCO_PERSON,
    dtype: str = "float32",
    input_context: tf.distribute.InputContext | None = None,
) -> tf.data.Dataset:
    """Training batches `(images, heatmaps, valid)`: shuffled, augmented crops by `augment`
    (reproducible with a `seed`) and their heatmap targets; full batches only."""
    return make_dataset(
        files,
        mode="train",
        input_size=input_size,
        heatmap_size=heatmap_size,
        batch_size=batch_size,
        augment=augment,
        seed=seed,
        shuffle_buffer=shuffle_buffer,
        repeat=repeat,
        dataset_info=dataset_info,
        dtype=dtype,
        input_context=input_context,
    )


def validation_batches(
    files: ShardFiles,
    *,
    input_size: tuple[int, int],
    heatmap_size: tuple[int, int],
    batch_size: int,
    dataset_info: DatasetInfo = COCO_PERSON,
    dtype: str = "float32",
    input_context: tf.distribute.InputContext | None = None,
) -> tf.data.Dataset:
    """Validation batches `(images, heatmaps, valid)` for the loss: plain crops in the shards'
    order; the last batch is padded with entries whose `valid` is all zero."""
    return make_dataset(
        files,
        mode="val",
        input_size=input_size,
        heatmap_size=heatmap_size,
        batch_size=batch_size,
        dataset_info=dataset_info,
        dtype=dtype,
        input_context=input_context,
    )


def prediction_batches(
    files: ShardFiles,
    *,
    input_size: tuple[int, int],
    batch_size: int,
    flip_test: bool = False,
    dataset_info: DatasetInfo = COCO_PERSON,
    dtype: str = "float32",
    input_context: tf.distribute.InputContext | None = None,
) -> tf.data.Dataset:
    """Prediction batches (dicts) for evaluation: images, image_id, instance_id, score,
    transform (2x3, image to input pixels), box and mask (False for the padding of the last
    batch); with `flip_test` also "images_flipped" (`posedata.mirror_transform` is their
    transform)."""
    return make_dataset(
        files,
        mode="predict",
        input_size=input_size,
        batch_size=batch_size,
        flip_test=flip_test,
        dataset_info=dataset_info,
        dtype=dtype,
        input_context=input_context,
    )


def make_dataset(
    file_pattern: ShardFiles,
    *,
    mode: str,
    input_size: tuple[int, int],
    batch_size: int,
    heatmap_size: tuple[int, int] | None = None,
    augment: AugmentConfig = AugmentConfig(),  # noqa: B008 (frozen, immutable)
    dtype: str = "float32",
    seed: int | None = None,
    shuffle: bool | None = None,
    shuffle_buffer: int = 2048,
    repeat: bool = False,
    dataset_info: DatasetInfo = COCO_PERSON,
    flip_test: bool = False,
    input_context: tf.distribute.InputContext | None = None,
) -> tf.data.Dataset:
    """Batches from TFRecord shards (a `ConvertedSplit`, or paths, globs, split folders; local
    or e.g. `gs://`) by a
    mode string: the one implementation behind `training_batches`, `validation_batches` and
    `prediction_batches` (use those; this stays for compatibility).

    - "train": augmented crops, `(images, heatmaps, valid)`; full batches only.
    - "val": plain crops, `(images, heatmaps, valid)`; the last batch is padded with
      entries whose `valid` is all zero, so a loss normalised by `sum(valid)` is exact.
    - "predict": a dict of images, image_id, instance_id, score, transform (2x3, image to
      input pixels), box and mask (False for the padding of the last batch); with `flip_test`
      also "images_flipped", the mirrored crops (`posedata.mirror_transform` is their transform).

    `batch_size` is the global batch: with `input_context` (from
    `strategy.distribute_datasets_from_function`) files are sharded per input pipeline and
    batches are the per-replica size. Images are ImageNet-normalised RGB `(B, H, W, 3)`,
    heatmaps `(B, Ho, Wo, K)`, both in `dtype`; `valid` is float32 `(B, K)`.
    """
    if mode not in MODES:
        raise DataError(f"mode {mode!r}: must be one of {', '.join(MODES)}")
    if dtype not in _DTYPES:
        raise DataError(f"dtype {dtype!r}: must be one of {', '.join(_DTYPES)}")
    if mode != "predict" and heatmap_size is None:
        raise DataError(f"mode {mode!r} needs heatmap_size=(height, width)")
    _check_size("input_size", input_size)
    if heatmap_size is not None:
        _check_size("heatmap_size", heatmap_size)
    if batch_size < 1:
        raise DataError(f"batch_size {batch_size}: must be at least 1")
    files = _find_shards(file_pattern, mode, dataset_info)
    check_graph_geometry()  # once per process: refuses to build crops this TensorFlow miscomputes
    if input_context is not None:
        if len(files) < input_context.num_input_pipelines:
            raise DataError(
                f"{len(files)} shard files cannot feed {input_context.num_input_pipelines} "
                "input pipelines; write smaller shards"
            )
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    # Evaluation keeps the shards' order; training is reproducible when seeded.
    deterministic = seed is not None or mode != "train"
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    shuffle = mode == "train" if shuffle is None else shuffle

    ds = tf.data.Dataset.from_tensor_slices(files)
    if input_context is not None:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if shuffle:
        ds = ds.shuffle(len(files), seed=seed)
    ds = ds.interleave(
        lambda f: tf.data.TFRecordDataset(f, buffer_size=8 << 20),
        cycle_length=min(len(files), 8),
        num_parallel_calls=_AUTOTUNE,
        deterministic=deterministic,
    )
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed)
    if repeat:
        ds = ds.repeat()
    ds = ds.enumerate()

    k = dataset_info.num_keypoints
    out_dtype = tf.dtypes.as_dtype(dtype)
    base_seed = tf.constant([seed, 0], tf.int64)
    flip_indices = tf.constant(dataset_info.flip_indices, tf.int32)

    def crop_example(index: tf.Tensor, serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        ex = parse_example(serialized, k)
        box, keypoints = ex["box"], ex["keypoints"]
        if mode == "train":
            seed_i = tf.random.experimental.stateless_fold_in(base_seed, index)
            aug = draw_augmentation(augment, seed_i, box, keypoints, dataset_info)
            transform = crop_transform(
                aug["box"],
                input_size,
                scale=aug["scale"],
                rotation=aug["rotation"],
                flip=aug["flip"],
                padding=aug["padding"],
            )
            order = tf.where(aug["flip"], flip_indices, tf.range(k))
            keypoints = tf.gather(keypoints, order)
        else:
            transform = crop_transform(box, input_size)
        pixels = crop_image(ex["jpeg"], ex["image_size"], transform, input_size)
        images = tf.cast(normalize_images(pixels), out_dtype)
        if mode == "predict":
            return {
                "images": images,
                "image_id": ex["image_id"],
                "instance_id": ex["instance_id"],
                "score": ex["score"],
                "transform": transform,
                "box": ex["box"],
            }
        return {
            "images": images,
            "keypoints": apply_transform(transform, keypoints[:, :2]),
            "valid": keypoints[:, 2] > 0,
        }

    ds = ds.map(crop_example, num_parallel_calls=_AUTOTUNE, deterministic=deterministic)
    ds = ds.batch(batch_size, drop_remainder=mode == "train")
    if mode != "train":
        ds = ds.map(lambda b: _pad_batch(b, batch_size), num_parallel_calls=_AUTOTUNE)

    def finish(batch: dict[str, tf.Tensor]) -> tuple[tf.Tensor, ...] | dict[str, tf.Tensor]:
        if mode == "predict":
            if flip_test:
                batch["images_flipped"] = tf.reverse(batch["images"], axis=[2])
            return batch
        heatmaps, valid = encode_heatmaps(
            batch["keypoints"], batch["valid"], input_size, heatmap_size
        )
        return batch["images"], tf.cast(heatmaps, out_dtype), valid

    ds = ds.map(finish, num_parallel_calls=_AUTOTUNE, deterministic=deterministic)
    options = tf.data.Options()
    options.deterministic = deterministic
    return ds.with_options(options).prefetch(_AUTOTUNE)


def _pad_batch(batch: dict[str, tf.Tensor], batch_size: int) -> dict[str, tf.Tensor]:
    """Pad a short last batch to `batch_size` (static shapes) and add a `mask`."""
    count = tf.shape(next(iter(batch.values())))[0]
    missing = batch_size - count
    out = {}
    for key, value in batch.items():
        if key == "transform":  # an invertible stand-in, so the padding maps anywhere safely
            filler = tf.tile(tf.eye(2, 3)[None], [missing, 1, 1])
        else:
            fill = -1 if key in ("image_id", "instance_id") else 0
            filler = tf.fill(
                tf.concat([[missing], tf.shape(value)[1:]], 0), tf.cast(fill, value.dtype)
            )
        padded = tf.concat([value, filler], axis=0)
        out[key] = tf.ensure_shape(padded, [batch_size, *value.shape[1:]])
    if "valid" not in out:  # (validation needs no mask: padded entries are all-invalid)
        out["mask"] = tf.range(batch_size) < count
    return out


def _find_shards(file_pattern: ShardFiles, mode: str, info: DatasetInfo) -> list[str]:
    if isinstance(file_pattern, ConvertedSplit):
        _check_split(file_pattern, mode, info)
        if not file_pattern.shards:
            raise DataError(f"shards {file_pattern.folder}: the split holds no shards")
        return list(file_pattern.shard_paths)
    patterns = [file_pattern] if isinstance(file_pattern, str | os.PathLike) else list(file_pattern)
    files: list[str] = []
    for pattern in map(os.fspath, patterns):
        if tf.io.gfile.isdir(pattern):
            pattern = join(pattern, "*" + SHARD_SUFFIX)
        found = sorted(tf.io.gfile.glob(pattern))
        if not found:
            raise DataError(f"shards {pattern}: no files match")
        files += found
    for folder in sorted({os.path.dirname(f) for f in files}):
        if tf.io.gfile.exists(join(folder, MANIFEST_NAME)):
            _check_split(ConvertedSplit.open(folder), mode, info)
    return files


def _check_split(split: ConvertedSplit, mode: str, info: DatasetInfo) -> None:
    if split.num_keypoints != info.num_keypoints:
        raise DataError(
            f"shards in {split.folder} hold {split.num_keypoints} keypoints, dataset_info "
            f"{info.name!r} has {info.num_keypoints}; pass the matching dataset_info"
        )
    if mode != "predict" and split.split == "val-dets":
        raise DataError(
            f"shards in {split.folder} hold detector boxes without keypoints; use mode='predict'"
        )


def _check_size(name: str, size: tuple[int, int]) -> None:
    if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
        raise DataError(f"{name} {size!r}: must be (height, width), two positive integers")
