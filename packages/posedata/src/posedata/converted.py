"""A converted split as one typed, frozen object: its manifest read and checked once.

`ConvertedSplit.open(folder)` reads `folder/manifest.json` (local, `gs://`, `ram://`: through
`tf.io.gfile`), checks every field it exposes and resolves the shard paths; a missing or
wrongly-typed field is one `DataError` line naming the file and the key. The pipeline's entry
points take it where they take a split folder, so an application reads the manifest once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from posedata.errors import DataError
from posedata.info import DatasetInfo

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "posedata-shards/1"
GROUND_TRUTH_NAME = "ground_truth.json"
"""Beside the shards of "val" and "val-dets": the split's COCO ground truth for evaluation."""


@dataclass(frozen=True)
class ShardFile:
    """One TFRecord shard of a split: its full path and how many examples it holds."""

    path: str
    examples: int


@dataclass(frozen=True)
class SkippedImage:
    """An image conversion left out, and why (a reason code, and the detail)."""

    image_id: int
    file_name: str
    reason: str
    detail: str


@dataclass(frozen=True)
class SplitCounts:
    """What conversion wrote and left out."""

    examples: int
    instances_considered: int
    skipped_instances: int
    skipped_images: int
    skipped_by_reason: Mapping[str, int]


@dataclass(frozen=True)
class ConvertedSplit:
    """A split folder written by `convert_coco`: shards, keypoints, counts and sources.

    `annotation_file`, `image_dir` and `detections` are where the split was converted from (as
    stored then: absolute local paths or URLs; they may be gone since). `ground_truth` is the
    path of the split's COCO ground truth beside the shards (only that split's images, its
    keypoint category and that category's annotations), or None for "train" and for folders
    converted by posedata before 0.4.
    """

    folder: str
    split: str
    dataset_info: DatasetInfo
    shards: tuple[ShardFile, ...]
    counts: SplitCounts
    category_id: int
    annotation_file: str
    image_dir: str
    detections: str | None
    ground_truth: str | None
    skipped_images: tuple[SkippedImage, ...]
    written_by: str
    fingerprint: str

    @property
    def examples(self) -> int:
        """Examples in all shards."""
        return self.counts.examples

    @property
    def num_keypoints(self) -> int:
        """Keypoints per example."""
        return self.dataset_info.num_keypoints

    @property
    def shard_paths(self) -> tuple[str, ...]:
        """The shards' full paths, in order."""
        return tuple(shard.path for shard in self.shards)

    @property
    def manifest_path(self) -> str:
        """Where the manifest is."""
        return join(self.folder, MANIFEST_NAME)

    @classmethod
    def open(cls, folder: str | os.PathLike) -> ConvertedSplit:
        """Reads and checks `folder/manifest.json` (or the manifest file itself)."""
        folder = os.fspath(folder)
        if os.path.basename(folder) == MANIFEST_NAME and not tf.io.gfile.isdir(folder):
            folder = os.path.dirname(folder)
        folder = folder.rstrip("/") or folder
        return cls.from_manifest(read_manifest_data(join(folder, MANIFEST_NAME)), folder)

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any], folder: str) -> ConvertedSplit:
        """The split of manifest data (as `convert_coco` returns it) written in `folder`."""
        path = join(folder, MANIFEST_NAME)
        field = _Fields(manifest, path)
        info_data = field.get("dataset_info", dict)
        try:
            info = DatasetInfo.from_dict(info_data, source=f"manifest {path}: dataset_info")
        except DataError:
            raise
        except (KeyError, TypeError, ValueError) as error:
            raise DataError(f"manifest {path}: 'dataset_info' is not valid ({error})") from None
        num_keypoints = field.get("num_keypoints", int)
        if num_keypoints != info.num_keypoints:
            raise DataError(
                f"manifest {path}: 'num_keypoints' is {num_keypoints} but 'dataset_info' has "
                f"{info.num_keypoints} keypoints"
            )
        counts = field.get("counts", dict)
        count = _Fields(counts, path, "counts.")
        sources = _Fields(field.get("sources", dict), path, "sources.")
        options = _Fields(field.get("options", dict), path, "options.")
        shards = []
        for i, entry in enumerate(field.get("shards", list)):
            shard = _Fields(entry, path, f"shards[{i}].", expect=dict)
            shards.append(
                ShardFile(join(folder, shard.get("file", str)), shard.get("examples", int))
            )
        skipped = []
        for i, entry in enumerate(field.get("skipped_images", list)):
            image = _Fields(entry, path, f"skipped_images[{i}].", expect=dict)
            skipped.append(
                SkippedImage(
                    image.get("image_id", int),
                    image.get("file_name", str),
                    image.get("reason", str),
                    image.get("detail", str),
                )
            )
        by_reason = count.get("skipped_by_reason", dict)
        for reason, number in by_reason.items():
            if not isinstance(number, int) or isinstance(number, bool):
                raise DataError(
                    f"manifest {path}: 'counts.skipped_by_reason.{reason}' must be an integer"
                )
        ground_truth = field.get("ground_truth", str, optional=True)
        return cls(
            folder=folder,
            split=field.get("split", str),
            dataset_info=info,
            shards=tuple(shards),
            counts=SplitCounts(
                examples=count.get("examples", int),
                instances_considered=count.get("instances_considered", int),
                skipped_instances=count.get("skipped_instances", int),
                skipped_images=count.get("skipped_images", int),
                skipped_by_reason=dict(by_reason),
            ),
            category_id=options.get("category_id", int),
            annotation_file=sources.get("annotation_file", str),
            image_dir=sources.get("image_dir", str),
            detections=sources.get("detections", str, optional=True),
            ground_truth=None if ground_truth is None else join(folder, ground_truth),
            skipped_images=tuple(skipped),
            written_by=field.get("written_by", str),
            fingerprint=field.get("fingerprint", str),
        )


def read_manifest_data(path: str) -> dict[str, Any]:
    """The manifest file's JSON object (checked for its format, not its fields)."""
    try:
        with tf.io.gfile.GFile(path, "r") as f:
            manifest = json.loads(f.read())
    except tf.errors.NotFoundError:
        raise DataError(f"manifest {path}: no such file (was the split converted?)") from None
    except (json.JSONDecodeError, UnicodeDecodeError, tf.errors.OpError, OSError) as exc:
        raise DataError(f"manifest {path}: cannot be read ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise DataError(f"manifest {path}: not a {MANIFEST_FORMAT} manifest")
    return manifest


def join(folder: str, name: str) -> str:
    """`folder/name` for local paths and URLs alike."""
    return f"{folder.rstrip('/')}/{name}" if "://" in folder else os.path.join(folder, name)


_TYPE_NAMES = {int: "an integer", str: "a string", dict: "an object", list: "a list"}


class _Fields:
    """Typed reads of one JSON object of a manifest; errors name the file and the key."""

    def __init__(self, data: Any, path: str, prefix: str = "", expect: type | None = None):
        if expect is not None and not isinstance(data, expect):
            raise DataError(
                f"manifest {path}: '{prefix.rstrip('.')}' must be {_TYPE_NAMES[expect]}"
            )
        self.data, self.path, self.prefix = data, path, prefix

    def get(self, key: str, kind: type, *, optional: bool = False) -> Any:
        if key not in self.data and optional:
            return None
        if key not in self.data:
            raise DataError(f"manifest {self.path}: no '{self.prefix}{key}' key")
        value = self.data[key]
        if value is None and optional:
            return None
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise DataError(
                f"manifest {self.path}: '{self.prefix}{key}' must be {_TYPE_NAMES[kind]}"
                + (" or null" if optional else "")
                + f", not {json.dumps(value)[:40]}"
            )
        return value
