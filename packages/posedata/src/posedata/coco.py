"""Reading COCO keypoint annotation and detection files into instances to write.

Filtering and box sanitising live here: crowd instances, instances without labelled keypoints
and boxes of zero area (after clipping to the image) are skipped, each with its reason.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from posedata.errors import DataError
from posedata.info import DatasetInfo

# Why an instance was not written (the manifest's reason codes).
CROWD = "crowd"
NO_KEYPOINTS = "no_keypoints"
ZERO_AREA = "zero_area"
LOW_SCORE = "low_score"
UNKNOWN_IMAGE = "unknown_image"
OTHER_CATEGORY = "other_category"


@dataclass(frozen=True)
class Image:
    """An image entry of the annotation file."""

    image_id: int
    file_name: str
    height: int
    width: int


@dataclass(frozen=True)
class Instance:
    """One example to write: a box (clipped, `[x, y, w, h]`) with keypoints and a score."""

    image: Image
    instance_id: int
    box: tuple[float, float, float, float]
    keypoints: tuple[float, ...]
    score: float


@dataclass(frozen=True)
class Skipped:
    """An instance left out, and why."""

    image_id: int
    instance_id: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"image_id": self.image_id, "instance_id": self.instance_id, "reason": self.reason}


@dataclass(frozen=True)
class CocoKeypoints:
    """A parsed, checked COCO keypoints annotation file (one keypoint category)."""

    path: str
    category: Mapping[str, Any]
    images: Mapping[int, Image]
    annotations: Sequence[Mapping[str, Any]]
    header: Mapping[str, Any] | None = None  # the file's "info" object, when it has one

    @property
    def category_id(self) -> int:
        """The keypoint category's id."""
        return int(self.category["id"])


def load_json(path: str, what: str) -> Any:
    """Read a JSON file; a missing or unparsable file is a `DataError` naming it."""
    try:
        with tf.io.gfile.GFile(path, "r") as f:
            return json.loads(f.read())
    except tf.errors.NotFoundError:
        raise DataError(f"{what} {path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{what} {path}: not valid JSON ({exc})") from None
    except (OSError, UnicodeDecodeError, tf.errors.OpError) as exc:
        raise DataError(f"{what} {path}: cannot be read ({exc})") from None


def load_coco_keypoints(path: str, category_id: int | None = None) -> CocoKeypoints:
    """Load and check an annotation file; `category_id` picks the keypoint category."""
    data = load_json(path, "annotation file")
    where = f"annotation file {path}"
    if not isinstance(data, dict):
        raise DataError(f"{where}: expected a JSON object with images, annotations, categories")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise DataError(f"{where}: no '{key}' list (is it a COCO keypoints file?)")
    category = _pick_category(data["categories"], category_id, where)
    images: dict[int, Image] = {}
    for i, entry in enumerate(data["images"]):
        image = _parse_image(entry, f"{where}: images[{i}]")
        if image.image_id in images:
            raise DataError(f"{where}: images[{i}]: image id {image.image_id} appears twice")
        images[image.image_id] = image
    cid = int(category["id"])
    annotations = [
        a for a in data["annotations"] if isinstance(a, dict) and a.get("category_id") == cid
    ]
    header = data.get("info") if isinstance(data.get("info"), dict) else None
    return CocoKeypoints(
        path=path, category=category, images=images, annotations=annotations, header=header
    )


def ground_truth_instances(
    coco: CocoKeypoints, info: DatasetInfo
) -> tuple[list[Instance], list[Skipped]]:
    """Instances from the annotations' ground-truth boxes, and those skipped with reasons."""
    keep: list[Instance] = []
    skipped: list[Skipped] = []
    k = info.num_keypoints
    for i, ann in enumerate(coco.annotations):
        where = f"annotation file {coco.path}: annotation {i} (id {ann.get('id')!r})"
        ann_id = _integer(ann.get("id"), f"{where}: 'id'")
        image = _image_of(coco, ann.get("image_id"), where)
        keypoints = _numbers(ann.get("keypoints"), 3 * k, f"{where}: 'keypoints'")
        bbox = _numbers(ann.get("bbox"), 4, f"{where}: 'bbox'")
        if ann.get("iscrowd", 0):
            reason = CROWD
        elif not any(v > 0 for v in keypoints[2::3]):
            reason = NO_KEYPOINTS
        elif (box := sanitize_box(bbox, image.width, image.height)) is None:
            reason = ZERO_AREA
        else:
            keep.append(Instance(image, ann_id, box, keypoints, 1.0))
            continue
        skipped.append(Skipped(image.image_id, ann_id, reason))
    return keep, skipped


def detection_instances(
    coco: CocoKeypoints, detections_path: str, info: DatasetInfo, score_threshold: float
) -> tuple[list[Instance], list[Skipped]]:
    """Instances from a detections file (COCO results format); the id is the entry's index."""
    data = load_json(detections_path, "detections file")
    where = f"detections file {detections_path}"
    if not isinstance(data, list):
        raise DataError(f"{where}: expected a JSON list of {{image_id, bbox, score}} results")
    keep: list[Instance] = []
    skipped: list[Skipped] = []
    no_keypoints = (0.0,) * (3 * info.num_keypoints)
    for i, det in enumerate(data):
        at = f"{where}: entry {i}"
        if not isinstance(det, dict):
            raise DataError(f"{at}: expected an object with image_id, bbox and score")
        image_id = _integer(det.get("image_id"), f"{at}: 'image_id'")
        bbox = _numbers(det.get("bbox"), 4, f"{at}: 'bbox'")
        score = _numbers([det.get("score")], 1, f"{at}: 'score'")[0]
        image = coco.images.get(image_id)
        if det.get("category_id", coco.category_id) != coco.category_id:
            reason = OTHER_CATEGORY
        elif image is None:
            reason = UNKNOWN_IMAGE
        elif score < score_threshold:
            reason = LOW_SCORE
        elif (box := sanitize_box(bbox, image.width, image.height)) is None:
            reason = ZERO_AREA
        else:
            keep.append(Instance(image, i, box, no_keypoints, score))
            continue
        skipped.append(Skipped(image_id, i, reason))
    if data and not keep and all(s.reason == UNKNOWN_IMAGE for s in skipped):
        raise DataError(
            f"{where}: none of its image ids is in annotation file {coco.path}; "
            "are they from the same split?"
        )
    return keep, skipped


def sanitize_box(
    bbox: Sequence[float], width: int, height: int
) -> tuple[float, float, float, float] | None:
    """Clip `[x, y, w, h]` to the image (pixel centres 0..W-1); None if no area is left."""
    x, y, w, h = bbox
    x0, y0 = max(0.0, x), max(0.0, y)
    x1, y1 = min(width - 1.0, x + max(0.0, w)), min(height - 1.0, y + max(0.0, h))
    if not (x1 > x0 and y1 > y0):
        return None
    return (x0, y0, x1 - x0, y1 - y0)


def _pick_category(categories: list[Any], category_id: int | None, where: str) -> dict:
    with_keypoints = [c for c in categories if isinstance(c, dict) and c.get("keypoints")]
    if category_id is not None:
        for c in with_keypoints:
            if c.get("id") == category_id:
                return c
        raise DataError(f"{where}: no keypoint category with id {category_id}")
    if len(with_keypoints) != 1:
        ids = [c.get("id") for c in with_keypoints]
        raise DataError(
            f"{where}: expected one category with 'keypoints', found {len(ids)} "
            f"(ids {ids}); pass category_id"
        )
    return with_keypoints[0]


def is_inside_image_folder(file_name: str) -> bool:
    """True when an annotation's `file_name` names a file inside the image folder: a relative
    path (either slash) with no `..` part and no drive."""
    parts = file_name.replace("\\", "/").split("/")
    return not (
        file_name.startswith(("/", "\\"))
        or os.path.isabs(file_name)
        or ".." in parts
        or (len(parts[0]) == 2 and parts[0][1] == ":")  # a Windows drive, C:
    )


def _parse_image(entry: Any, where: str) -> Image:
    if not isinstance(entry, dict):
        raise DataError(f"{where}: expected an object with id, file_name, height, width")
    file_name = entry.get("file_name")
    if not isinstance(file_name, str) or not file_name:
        raise DataError(f"{where}: 'file_name' must be a non-empty string")
    if not is_inside_image_folder(file_name):
        raise DataError(
            f"{where}: 'file_name' {file_name!r} points outside the image folder; file names "
            "must be relative paths inside it (no '..', no absolute path)"
        )
    image = Image(
        image_id=_integer(entry.get("id"), f"{where}: 'id'"),
        file_name=file_name,
        height=_integer(entry.get("height"), f"{where}: 'height'"),
        width=_integer(entry.get("width"), f"{where}: 'width'"),
    )
    if image.height <= 0 or image.width <= 0:
        raise DataError(f"{where}: height and width must be positive")
    return image


def _image_of(coco: CocoKeypoints, image_id: Any, where: str) -> Image:
    image = coco.images.get(_integer(image_id, f"{where}: 'image_id'"))
    if image is None:
        raise DataError(f"{where}: image_id {image_id} is not in the file's 'images'")
    return image


def _integer(value: Any, where: str) -> int:
    integral = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not integral:
        raise DataError(f"{where} must be an integer, got {value!r}")
    return int(value)


def _numbers(values: Any, count: int, where: str) -> tuple[float, ...]:
    if not isinstance(values, list | tuple) or len(values) != count:
        size = len(values) if isinstance(values, list | tuple) else type(values).__name__
        raise DataError(f"{where} must be a list of {count} numbers, got {size}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise DataError(f"{where} must hold finite numbers, got {v!r}")
        out.append(float(v))
    return tuple(out)
