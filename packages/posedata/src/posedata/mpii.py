"""MPII's own JSON annotations to a COCO keypoints file (then `convert_coco` as for any dataset).

The input is the MPII format HRNet and mmpose distribute (`mpii_train.json`, `mpii_val.json`,
made from `mpii_human_pose_v1_u12_2`): a list with one entry per person,
`{"image": "015601864.jpg", "center": [x, y], "scale": s, "joints": [[x, y] x 16],
"joints_vis": [0/1 x 16]}`, in MATLAB's 1-based pixel coordinates, `scale` in units of 200
pixels. As those tools read it, the person's centre is moved down by `15 x scale` pixels and
both centre and joints are shifted to 0-based pixels; the box is the square of side
`200 x scale` around that centre (posedata's crop widens it by 1.25 as for every dataset), and
its area (clipped to the image) is the annotation's `area`.

PCKh, MPII's metric, needs each person's head size: MPII's official evaluation takes
`0.6 x` the diagonal of the annotated head box, and the JSON files do not hold the head boxes.
They come with `head_boxes` (the `gt_valid.mat` / `mpii_gt_val.mat` file of HRNet and mmpose,
whose `headboxes_src` lists one box per entry of the JSON file, in its order, read with scipy;
or a JSON list of `[x1, y1, x2, y2]` in that order);
without it the head size is the head segment, `head_top` to `upper_neck` (PCKh's definition in
the MPII paper, close to but not the official number). Each COCO annotation stores its
`head_size` and the file's `info.head_size` says which rule gave it, so evaluation needs
nothing but the converted file.
"""

from __future__ import annotations

import logging
import math
import os
import re
import struct
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from posedata._writing import write_json
from posedata.coco import _numbers, is_inside_image_folder, load_json
from posedata.errors import DataError
from posedata.info import MPII

logger = logging.getLogger(__name__)

PIXEL_STD = 200.0
"""MPII's `scale` is the person's height in units of this many pixels."""
CENTER_SHIFT = 15.0
"""The centre is moved down by this x `scale` pixels (HRNet's and mmpose's reading)."""
HEAD_BOX_FACTOR = 0.6
"""The official head size: this x the head box's diagonal."""
HEAD_FROM_BOXES = "0.6 x head box diagonal"
HEAD_FROM_SEGMENT = "head segment (head_top to upper_neck)"
_HEAD_TOP = MPII.keypoint_names.index("head_top")
_UPPER_NECK = MPII.keypoint_names.index("upper_neck")


@dataclass(frozen=True)
class MpiiConversion:
    """What `mpii_to_coco` wrote: the COCO file, how many people and images went in, the
    images left out (missing or unreadable) and the rule that gave the head sizes."""

    path: str
    annotations: int
    images: int
    skipped_images: tuple[str, ...]
    head_size: str


def mpii_to_coco(
    annotation_file: str | os.PathLike,
    image_dir: str | os.PathLike,
    out_file: str | os.PathLike,
    *,
    head_boxes: str | os.PathLike | None = None,
    workers: int | None = None,
) -> MpiiConversion:
    """Writes MPII's JSON annotations (see the module) as a COCO keypoints file at `out_file`
    (atomically) with MPII's 16 keypoints (`posedata.MPII`), a box and area per person and
    its `head_size`; `head_boxes` names the `.mat` file of head boxes (else the head segment
    gives the head size). Image sizes are read from the images' headers; an image that is
    missing or unreadable is left out with a warning."""
    annotation_file, image_dir = os.fspath(annotation_file), os.fspath(image_dir)
    where = f"MPII annotation file {annotation_file}"
    data = load_json(annotation_file, "MPII annotation file")
    if not isinstance(data, list):
        hint = (
            " (it looks like a COCO file: convert it without --format mpii)"
            if (isinstance(data, dict) and "annotations" in data)
            else ""
        )
        raise DataError(
            f"{where}: expected a JSON list of people with image, center, scale, joints and "
            f"joints_vis{hint}"
        )
    people = [_parse_person(entry, f"{where}: entry {i}") for i, entry in enumerate(data)]
    if head_boxes is not None:
        boxes = read_head_boxes(head_boxes)
        if len(boxes) != len(people):
            raise DataError(
                f"head boxes {os.fspath(head_boxes)}: {len(boxes)} boxes for the {len(people)} "
                f"people of {annotation_file}; give the head boxes of this split"
            )
        sizes = [HEAD_BOX_FACTOR * math.dist(a, b) for a, b in boxes]
        rule = HEAD_FROM_BOXES
    else:
        sizes = [_head_segment(person) for person in people]
        rule = HEAD_FROM_SEGMENT
        logger.warning(
            "%s: no head boxes given; PCKh's head size is the head segment (head_top to "
            "upper_neck), not MPII's official 0.6 x head box diagonal (give the head boxes, "
            "HRNet's and mmpose's gt_valid.mat, for the official number)",
            where,
        )

    names = sorted({person.image for person in people})
    with ThreadPoolExecutor(max_workers=workers or min(16, os.cpu_count() or 1)) as pool:
        shapes = dict(zip(names, pool.map(lambda n: _image_size(image_dir, n), names), strict=True))
    skipped = tuple(name for name in names if shapes[name] is None)
    ids = _image_ids([name for name in names if shapes[name] is not None])
    if skipped:
        shown = ", ".join(skipped[:5]) + (
            f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        )
        logger.warning(
            "%s: %d images missing or unreadable in %s, their people left out: %s",
            where,
            len(skipped),
            image_dir,
            shown,
        )
    images = [
        {"id": ids[name], "file_name": name, "height": shapes[name][0], "width": shapes[name][1]}
        for name in names
        if shapes[name] is not None
    ]
    annotations = []
    for index, (person, head_size) in enumerate(zip(people, sizes, strict=True)):
        shape = shapes[person.image]
        if shape is None:
            continue
        box = _box(person, *shape)
        annotations.append(
            {
                "id": index + 1,
                "image_id": ids[person.image],
                "category_id": 1,
                "iscrowd": 0,
                "bbox": [round(v, 3) for v in box],
                "area": round(box[2] * box[3], 3),
                "keypoints": person.keypoints,
                "num_keypoints": sum(1 for v in person.keypoints[2::3] if v > 0),
                "head_size": round(head_size, 4),
                "mpii_entry": index,
            }
        )
    coco = {
        "info": {
            "description": f"MPII human pose, converted from {os.path.basename(annotation_file)}",
            "head_size": rule,
        },
        "images": images,
        "annotations": annotations,
        "categories": [
            {
                "id": 1,
                "name": "person",
                "supercategory": "person",
                "keypoints": list(MPII.keypoint_names),
                "skeleton": [[a + 1, b + 1] for a, b in MPII.skeleton],
            }
        ],
    }
    out_file = os.fspath(out_file)
    write_json(out_file, coco)
    logger.info("%s: %d people on %d images -> %s", where, len(annotations), len(images), out_file)
    return MpiiConversion(out_file, len(annotations), len(images), skipped, rule)


def read_head_boxes(
    path: str | os.PathLike,
) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """The head boxes `((x1, y1), (x2, y2))` of a MATLAB file holding `headboxes_src` of shape
    (2, 2, N), as HRNet's `gt_valid.mat` and mmpose's `mpii_gt_val.mat` do (read with scipy),
    or of a JSON file listing `[x1, y1, x2, y2]` per person."""
    path = os.fspath(path)
    if path.lower().endswith(".json"):
        data = load_json(path, "head boxes")
        if not isinstance(data, list):
            raise DataError(f"head boxes {path}: expected a JSON list of [x1, y1, x2, y2] boxes")
        boxes = [_numbers(box, 4, f"head boxes {path}: entry {i}") for i, box in enumerate(data)]
        return [((x1, y1), (x2, y2)) for x1, y1, x2, y2 in boxes]
    try:
        from scipy.io import loadmat
    except ImportError:
        raise DataError(
            f"head boxes {path}: reading a .mat file needs scipy (pip install scipy)"
        ) from None
    try:
        content = loadmat(path)
    except (OSError, ValueError, TypeError) as error:
        raise DataError(f"head boxes {path}: cannot be read as a MATLAB file ({error})") from None
    boxes = content.get("headboxes_src")
    if boxes is None or boxes.ndim != 3 or boxes.shape[:2] != (2, 2):
        raise DataError(
            f"head boxes {path}: no 'headboxes_src' of shape (2, 2, N) (is it MPII's gt_valid.mat?)"
        )
    return [
        (
            (float(boxes[0, 0, i]), float(boxes[0, 1, i])),
            (float(boxes[1, 0, i]), float(boxes[1, 1, i])),
        )
        for i in range(boxes.shape[2])
    ]


@dataclass(frozen=True)
class _Person:
    image: str
    center: tuple[float, float]  # 0-based pixels, moved down as HRNet and mmpose do
    side: float  # the box's side, pixels
    keypoints: list[float]  # 16 x (x, y, v), 0-based pixels


def _parse_person(entry: Any, where: str) -> _Person:
    if not isinstance(entry, dict):
        raise DataError(
            f"{where}: expected an object with image, center, scale, joints, joints_vis"
        )
    image = entry.get("image")
    if not isinstance(image, str) or not image or not is_inside_image_folder(image):
        raise DataError(
            f"{where}: 'image' must be a file name inside the image folder, got {image!r}"
        )
    center = _numbers(entry.get("center"), 2, f"{where}: 'center'")
    scale = _numbers([entry.get("scale")], 1, f"{where}: 'scale'")[0]
    if scale <= 0:
        raise DataError(f"{where}: 'scale' must be positive, got {scale}")
    k = MPII.num_keypoints
    joints = entry.get("joints")
    if not isinstance(joints, list) or len(joints) != k:
        raise DataError(f"{where}: 'joints' must be a list of {k} [x, y] pairs")
    visible = _numbers(entry.get("joints_vis"), k, f"{where}: 'joints_vis'")
    keypoints: list[float] = []
    for j, joint in enumerate(joints):
        x, y = _numbers(joint, 2, f"{where}: 'joints'[{j}]")
        if visible[j] > 0:
            keypoints += [round(x - 1.0, 3), round(y - 1.0, 3), 2.0]
        else:
            keypoints += [0.0, 0.0, 0.0]
    cx, cy = center
    if cx != -1:
        cy += CENTER_SHIFT * scale
    return _Person(image, (cx - 1.0, cy - 1.0), PIXEL_STD * scale, keypoints)


def _head_segment(person: _Person) -> float:
    """The head_top to upper_neck distance (0 when either is not labelled)."""
    points = person.keypoints
    top, neck = (
        points[3 * _HEAD_TOP : 3 * _HEAD_TOP + 3],
        points[3 * _UPPER_NECK : 3 * _UPPER_NECK + 3],
    )
    if top[2] <= 0 or neck[2] <= 0:
        return 0.0
    return math.dist(top[:2], neck[:2])


def _box(person: _Person, height: int, width: int) -> tuple[float, float, float, float]:
    """The square of side `person.side` around the centre, clipped to the image."""
    cx, cy = person.center
    half = person.side / 2
    x0, y0 = max(0.0, cx - half), max(0.0, cy - half)
    x1, y1 = min(width - 1.0, cx + half), min(height - 1.0, cy + half)
    return (x0, y0, max(0.0, x1 - x0), max(0.0, y1 - y0))


def _image_ids(names: Sequence[str]) -> dict[str, int]:
    """MPII's image names are numbers (`015601864.jpg` -> 15601864), as mmpose takes them;
    other names are numbered 1, 2, ... in sorted order."""
    stems = [os.path.splitext(os.path.basename(n))[0] for n in names]
    if all(re.fullmatch(r"\d{1,18}", s) for s in stems) and len(set(map(int, stems))) == len(names):
        return {name: int(stem) for name, stem in zip(names, stems, strict=True)}
    return {name: i + 1 for i, name in enumerate(names)}


def _image_size(image_dir: str, name: str) -> tuple[int, int] | None:
    """(height, width) from the JPEG header (or from decoding a non-JPEG); None when the
    image is missing or unreadable."""
    path = os.path.join(image_dir, name)
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            size = _jpeg_header_size(f)
            if size is not None:
                return size
            f.seek(0)
            shape = tf.image.decode_image(f.read(), channels=3, expand_animations=False).shape
            return int(shape[0]), int(shape[1])
    except (tf.errors.OpError, OSError, ValueError):
        return None


_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_header_size(f: Any) -> tuple[int, int] | None:
    """(height, width) from a JPEG's start-of-frame segment, reading only the header; None
    when the file is not a JPEG or its header cannot be followed."""
    if f.read(2) != b"\xff\xd8":
        return None
    while True:
        byte = f.read(1)
        while byte == b"\xff":  # fill bytes before the marker
            byte = f.read(1)
        if not byte:
            return None
        marker = byte[0]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            continue  # markers without a length
        length_bytes = f.read(2)
        if len(length_bytes) != 2:
            return None
        (length,) = struct.unpack(">H", length_bytes)
        if marker in _SOF_MARKERS:
            segment = f.read(5)
            if len(segment) != 5:
                return None
            height, width = struct.unpack(">HH", segment[1:5])
            return (height, width) if height and width else None
        if length < 2:
            return None
        f.seek(f.tell() + length - 2)
