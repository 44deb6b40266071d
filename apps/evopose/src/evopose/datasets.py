"""The app's side of the data: converting datasets into `data.root` and feeding the trainer.

A dataset folder (`data.root`) holds posedata's split folders: `train/` and `val/`
(ground-truth boxes) and `val-dets/` (detector boxes, for AP), each with a `manifest.json`.
"""

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

import posedata
from evopose import atomic
from evopose.config import Config, require_path
from evopose.errors import ConfigFileError, InputFileError

log = logging.getLogger(__name__)

TRAIN, VAL, VAL_DETECTIONS = "train", "val", "val-dets"
MANIFEST = "manifest.json"  # posedata's per-split manifest
RAW_FOLDER = "coco"  # where `data synth` puts its COCO-format images and annotations


@dataclass(frozen=True)
class TrainData:
    """Batched datasets of `(images NHWC, heatmaps NHWK, valid NK)`: what `evopose.train` reads.

    `train` is either a function `epoch (0-based) -> that epoch's batches` (at least
    `steps_per_epoch` of them), which makes a resumed run replay exactly the batches an
    uninterrupted one would have seen, or one dataset that repeats forever and is read on
    from epoch to epoch (a resumed run then starts it over).
    """

    train: tf.data.Dataset | Callable[[int], tf.data.Dataset]
    steps_per_epoch: int
    val: tf.data.Dataset
    val_steps: int | None = None  # None: run `val` to its end


def split_folder(config: Config, split: str) -> str:
    """The folder of `split` under `data.root` (a local path or a gs:// URL); a ConfigFileError
    naming the key when it is missing."""
    root = require_path(config, "data.root", kind="dir")
    folder = f"{root.rstrip('/')}/{split}"
    if not tf.io.gfile.exists(f"{folder}/{MANIFEST}"):
        raise ConfigFileError(
            f"{config.source}: data.root: '{root}' has no converted '{split}' split "
            f"(no {split}/{MANIFEST}); run `evopose data convert` or `evopose data synth`"
        )
    return folder


def open_split(config: Config, split: str) -> posedata.ConvertedSplit:
    """The converted `split` under `data.root`, its manifest read and checked (once: pass it
    on rather than opening it again)."""
    return posedata.ConvertedSplit.open(split_folder(config, split))


@dataclass(frozen=True)
class TrainingSplits:
    """The two converted splits `train` reads: `train` (augmented) and `val` (the loss)."""

    train: posedata.ConvertedSplit
    val: posedata.ConvertedSplit

    @property
    def dataset_info(self) -> posedata.DatasetInfo:
        """The keypoint description stored with the training split."""
        return self.train.dataset_info


def open_training_splits(config: Config) -> TrainingSplits:
    """The train and val splits under `data.root`, each opened once."""
    return TrainingSplits(open_split(config, TRAIN), open_split(config, VAL))


def augment_config(config: Config) -> posedata.AugmentConfig:
    """The config's augmentation as posedata's `AugmentConfig`."""
    return config.data.augment.to_posedata()


def epoch_seed(seed: int, epoch: int) -> int:
    """The data seed of one epoch: shuffling and augmentation draws of epoch `epoch` (0-based)
    of a run seeded `seed` depend on these two numbers only."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0] % 2**31)


def make_train_data(
    config: Config,
    input_size: tuple[int, int],
    heatmap_size: tuple[int, int],
    splits: TrainingSplits | None = None,
) -> TrainData:
    """Training (augmented) and validation (ground-truth boxes) batches for `train`, from
    `splits` (default: opened from `data.root`).

    The training batches are made per epoch, shuffled and augmented from
    `epoch_seed(train.seed, epoch)`, so a resumed run sees the batches an uninterrupted one
    would have.
    """
    recipe = config.train
    splits = splits or open_training_splits(config)
    train_split, val_split = splits.train, splits.val
    examples = train_split.examples
    steps = recipe.steps_per_epoch or examples // recipe.batch_size
    if examples < recipe.batch_size or steps < 1:
        raise InputFileError(
            f"{train_split.folder} holds {examples} examples, fewer than one batch "
            f"(train.batch_size={recipe.batch_size})"
        )
    info = splits.dataset_info
    common = {"input_size": input_size, "heatmap_size": heatmap_size, "dataset_info": info}
    augment = augment_config(config)

    def train(epoch: int) -> tf.data.Dataset:
        return posedata.training_batches(
            train_split,
            batch_size=recipe.batch_size,
            augment=augment,
            seed=epoch_seed(recipe.seed, epoch),
            shuffle_buffer=config.data.shuffle_buffer,
            repeat=True,  # an epoch may hold more examples than the split (steps_per_epoch)
            **common,
        ).take(steps)

    if val_split.examples == 0:
        raise InputFileError(f"{val_split.folder} holds no examples; validation needs at least one")
    val = posedata.validation_batches(val_split, batch_size=recipe.val_batch_size, **common)
    val_batches = math.ceil(val_split.examples / recipe.val_batch_size)  # the last one is padded
    val_steps = min(recipe.val_steps or val_batches, val_batches)
    return TrainData(train=train, steps_per_epoch=steps, val=val, val_steps=val_steps)


def find_corrupt_shards(folder: str) -> list[tuple[str, str]]:
    """The shards of a split folder that cannot be read to their end, each with the first
    line of its error (reads every record: use it to name a shard once reading failed)."""
    from posedata.records import SHARD_SUFFIX

    corrupt = []
    for shard in sorted(tf.io.gfile.glob(f"{folder.rstrip('/')}/*{SHARD_SUFFIX}")):
        try:
            for _ in tf.data.TFRecordDataset(shard):
                pass
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
            lines = str(error.message).strip().splitlines()
            corrupt.append((shard, lines[0] if lines else type(error).__name__))
    return corrupt


def convert_coco_dataset(
    *,
    annotations: Path,
    images: Path,
    out: Path,
    split: str,
    detections: Path | None = None,
    shard_size: int = 1024,
    overwrite: bool = False,
    keypoints: str | None = None,
) -> dict[str, posedata.ConvertedSplit]:
    """Converts one COCO split into `out/<split>` (and `out/val-dets` with detections), with a
    progress bar; returns the converted splits by split folder name. `keypoints` names a known
    keypoint set (`posedata.KEYPOINT_SETS`); default: the annotation file's category."""
    for path, what in ((annotations, "annotation file"), (detections, "detections file")):
        if path is not None and not path.is_file():
            raise InputFileError(f"{what} '{path}': no such file")
    if not images.is_dir():
        raise InputFileError(f"image folder '{images}': no such folder")
    if detections is not None and split != VAL:
        raise InputFileError(f"detections belong to the val split, not to split {split!r}")
    info = posedata.keypoint_set(keypoints) if keypoints is not None else None
    jobs = [(split, None)]
    if detections is not None:
        jobs.append((VAL_DETECTIONS, detections))
    manifests = {}
    for name, dets in jobs:
        with _ProgressBar(f"{name}") as progress:
            manifest = posedata.convert_coco(
                annotations,
                images,
                out,
                split=name,
                detections=dets,
                shard_size=shard_size,
                overwrite=overwrite,
                progress=progress,
                dataset_info=info,
            )
        manifests[name] = posedata.ConvertedSplit.from_manifest(manifest, str(out / name))
        _warn_skipped(manifests[name])
    return manifests


MPII_FOLDER = "annotations"  # `data convert --format mpii`: its COCO-format annotation files


def convert_mpii_dataset(
    *,
    annotations: Path,
    images: Path,
    out: Path,
    split: str,
    head_boxes: Path | None = None,
    detections: Path | None = None,
    shard_size: int = 1024,
    overwrite: bool = False,
) -> dict[str, posedata.ConvertedSplit]:
    """Converts one split of MPII's own JSON annotations (HRNet's and mmpose's format): first
    to a COCO keypoints file `out/annotations/<split>.coco.json` (MPII's 16 keypoints, boxes from
    centre and scale, each person's head size for PCKh; see `posedata.mpii`), then to
    TFRecords as `convert_coco_dataset` does; returns the converted splits by split folder name."""
    from posedata.mpii import mpii_to_coco

    for path, what in ((annotations, "annotation file"), (head_boxes, "head boxes file")):
        if path is not None and not path.is_file():
            raise InputFileError(f"{what} '{path}': no such file")
    if not images.is_dir():
        raise InputFileError(f"image folder '{images}': no such folder")
    coco_file = out / MPII_FOLDER / f"{split}.coco.json"
    conversion = mpii_to_coco(annotations, images, coco_file, head_boxes=head_boxes)
    log.info(
        "%s: %d people on %d images as COCO keypoints (head size: %s)",
        coco_file,
        conversion.annotations,
        conversion.images,
        conversion.head_size,
    )
    return convert_coco_dataset(
        annotations=coco_file,
        images=images,
        out=out,
        split=split,
        detections=detections,
        shard_size=shard_size,
        overwrite=overwrite,
        keypoints="mpii",
    )


def write_synthetic_dataset(
    out: Path,
    *,
    train_images: int,
    val_images: int,
    image_size: tuple[int, int] | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> dict[str, posedata.ConvertedSplit]:
    """Writes posedata's synthetic people as COCO files into `out/coco` and converts them into
    `out/train`, `out/val` and `out/val-dets`; returns the converted splits by split. On failure the
    folder is removed again."""
    out = Path(out)
    if train_images < 1 or val_images < 1:
        raise InputFileError(
            f"train_images ({train_images}) and val_images ({val_images}) must be at least 1 each"
        )
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise InputFileError(
                f"'{out}' exists and is not empty; pass overwrite=True to replace it"
            )
        atomic.remove_path(out)
    sizes = {} if image_size is None else {"image_size": tuple(image_size)}
    try:
        raw = posedata.make_synthetic_coco(
            out / RAW_FOLDER,
            num_train_images=train_images,
            num_val_images=val_images,
            seed=seed,
            **sizes,
        )
        jobs = (
            (TRAIN, raw.train_annotations, raw.train_images, None),
            (VAL, raw.val_annotations, raw.val_images, None),
            (VAL_DETECTIONS, raw.val_annotations, raw.val_images, raw.val_detections),
        )
        manifests = {}
        for split, annotations, images, detections in jobs:
            with _ProgressBar(split) as progress:
                manifest = posedata.convert_coco(
                    annotations, images, out, split=split, detections=detections, progress=progress
                )
            manifests[split] = posedata.ConvertedSplit.from_manifest(manifest, str(out / split))
    except BaseException:
        atomic.remove_path(out)
        raise
    return manifests


def _warn_skipped(split: posedata.ConvertedSplit) -> None:
    skipped = split.counts.skipped_images
    if skipped:
        reasons = ", ".join(
            f"{image.file_name} ({image.reason})" for image in split.skipped_images[:5]
        )
        more = skipped - min(5, skipped)
        log.warning(
            "%s: %d images skipped: %s%s",
            split.folder,
            skipped,
            reasons,
            f" and {more} more" if more else "",
        )


class _ProgressBar:
    """A tqdm bar over shards, as posedata's progress callback."""

    def __init__(self, label: str):
        self.label = label
        self.bar = None

    def __enter__(self):
        return self

    def __call__(self, done: int, total: int) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, desc=self.label, unit="shard", leave=True)
        self.bar.n = done
        self.bar.refresh()

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()
