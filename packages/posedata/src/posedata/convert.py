"""COCO keypoints to TFRecord shards plus a manifest per split; resumable, images checked.

Layout: `out_dir/<split>/<split>-00000-of-00012.tfrecord` and `out_dir/<split>/manifest.json`.
Instances are sorted by (image id, instance id) and cut into consecutive shards of
`shard_size`; an instance whose image is missing or broken is left out of its shard (so that
shard is short) and listed in the manifest. Each shard is written under a temporary name and
renamed when complete; a progress file records finished shards, so a rerun after an
interruption writes only what is missing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from posedata import __version__
from posedata._writing import PARTIAL, remove, write_json, written
from posedata.coco import (
    CocoKeypoints,
    Image,
    Instance,
    Skipped,
    detection_instances,
    ground_truth_instances,
    load_coco_keypoints,
)
from posedata.converted import (
    GROUND_TRUTH_NAME,
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    read_manifest_data,
)
from posedata.errors import DataError
from posedata.info import DatasetInfo
from posedata.records import SHARD_SUFFIX, serialize_example

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "val-dets")
"""Split folders: ground-truth boxes for training and validation loss, detector boxes for AP."""
EVALUATED_SPLITS = ("val", "val-dets")
"""The splits whose folder also holds their COCO ground truth (`GROUND_TRUTH_NAME`)."""
_PROGRESS_NAME = ".progress.json"
_RESUME = "and rerun the same conversion to resume"

# Why an image could not be used (reason codes, as in the manifest).
IMAGE_MISSING = "image_missing"
IMAGE_UNREADABLE = "image_unreadable"
IMAGE_NOT_JPEG = "image_not_jpeg"
IMAGE_TRUNCATED = "image_truncated"
IMAGE_CORRUPT = "image_corrupt"
IMAGE_SIZE_MISMATCH = "image_size_mismatch"

ProgressCallback = Callable[[int, int], None]
"""Called as `progress(shards_done, shards_total)` at the start and after every shard."""


@dataclass(frozen=True)
class _ImageProblem:
    reason: str
    detail: str


def convert_coco(
    annotation_file: str | os.PathLike,
    image_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    split: str,
    detections: str | os.PathLike | None = None,
    det_score_threshold: float = 0.0,
    category_id: int | None = None,
    dataset_info: DatasetInfo | None = None,
    shard_size: int = 1024,
    workers: int | None = None,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Write `out_dir/<split>/*.tfrecord` and `manifest.json`; return the manifest.

    `split` is "train" or "val" (ground-truth boxes) or "val-dets" (boxes and scores from
    `detections`, those below `det_score_threshold` skipped). `dataset_info` defaults to the
    annotation file's keypoint category. Rerunning finishes an interrupted conversion and
    returns at once when it is complete; `overwrite` replaces a conversion of other input.
    """
    if split not in SPLITS:
        raise DataError(f"split {split!r}: must be one of {', '.join(SPLITS)}")
    if (split == "val-dets") != (detections is not None):
        raise DataError(f"split {split!r}: detections must be given for 'val-dets' and only for it")
    if shard_size < 1:
        raise DataError(f"shard_size {shard_size}: must be at least 1")
    annotation_file, image_dir = os.fspath(annotation_file), os.fspath(image_dir)
    coco = load_coco_keypoints(annotation_file, category_id)
    info = dataset_info or DatasetInfo.from_coco_category(
        coco.category, source=f"annotation file {annotation_file}"
    )
    if info.num_keypoints != len(coco.category["keypoints"]):
        raise DataError(
            f"annotation file {annotation_file}: its category has "
            f"{len(coco.category['keypoints'])} keypoints, dataset_info {info.name!r} has "
            f"{info.num_keypoints}"
        )
    no_area = sum(1 for a in coco.annotations if not isinstance(a.get("area"), int | float))
    if no_area:
        logger.warning(
            "annotation file %s: %d of %d annotations have no 'area'; evaluation derives it "
            "from the box (width x height), as CrowdPose's tools do",
            annotation_file,
            no_area,
            len(coco.annotations),
        )
    if detections is None:
        instances, skipped = ground_truth_instances(coco, info)
    else:
        detections = os.fspath(detections)
        instances, skipped = detection_instances(coco, detections, info, det_score_threshold)
    instances.sort(key=lambda inst: (inst.image.image_id, inst.instance_id))

    split_dir = os.path.join(os.fspath(out_dir), split)
    shards = [instances[i : i + shard_size] for i in range(0, len(instances), shard_size)]
    names = [f"{split}-{i:05d}-of-{len(shards):05d}{SHARD_SUFFIX}" for i in range(len(shards))]
    fingerprint = _fingerprint(split, shard_size, info, instances)
    manifest_path = os.path.join(split_dir, MANIFEST_NAME)
    progress_path = os.path.join(split_dir, _PROGRESS_NAME)

    complete, finished = _resume_state(
        split_dir, manifest_path, progress_path, fingerprint, overwrite
    )
    if complete is not None:
        logger.info("%s: already converted, nothing to do", split_dir)
        return complete
    tf.io.gfile.makedirs(split_dir)
    if progress:
        progress(len(finished), len(shards))
    checked: dict[str, _ImageProblem | None] = {}
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        for index, (name, shard) in enumerate(zip(names, shards, strict=True)):
            path = os.path.join(split_dir, name)
            if str(index) in finished and tf.io.gfile.exists(path):
                continue
            finished[str(index)] = _write_shard(path, shard, image_dir, checked, pool)
            write_json(
                progress_path,
                {"fingerprint": fingerprint, "finished": finished},
                indent=1,
                hint=_RESUME,
            )
            logger.info("%s: wrote %s (%d/%d)", split_dir, name, len(finished), len(shards))
            if progress:
                progress(len(finished), len(shards))

    ground_truth = None
    if split in EVALUATED_SPLITS:
        ground_truth = GROUND_TRUTH_NAME
        write_json(os.path.join(split_dir, ground_truth), _ground_truth(coco), hint=_RESUME)
    manifest = _manifest(
        split=split,
        ground_truth=ground_truth,
        info=info,
        sources={
            "annotation_file": _absolute(annotation_file),
            "image_dir": _absolute(image_dir),
            "detections": _absolute(detections) if detections else None,
        },
        options={
            "shard_size": shard_size,
            "category_id": coco.category_id,
            "det_score_threshold": det_score_threshold if detections else None,
        },
        names=names,
        finished=finished,
        filtered=skipped,
        fingerprint=fingerprint,
    )
    if not instances:
        logger.warning("%s: no instances to write; the split is empty", split_dir)
    write_json(manifest_path, manifest, indent=1, hint=_RESUME)
    remove(progress_path)
    for stray in tf.io.gfile.glob(os.path.join(split_dir, ".*" + PARTIAL)):
        remove(stray)
    return manifest


def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """Read a split's manifest as plain JSON data, given the file or its split folder
    (`ConvertedSplit.open` reads it as a checked, typed object)."""
    path = os.fspath(path)
    if tf.io.gfile.isdir(path):
        path = os.path.join(path, MANIFEST_NAME)
    return read_manifest_data(path)


def check_jpeg(data: bytes, height: int, width: int) -> tuple[str, str] | None:
    """Why these bytes are not a usable JPEG of the given size: `(reason, detail)`, or None."""
    if not data.startswith(b"\xff\xd8"):
        return IMAGE_NOT_JPEG, "does not start with the JPEG marker"
    try:
        shape = tf.io.decode_jpeg(data, channels=3).shape
    except tf.errors.InvalidArgumentError as exc:
        message = exc.message.split("}}")[-1].split("[Op:")[0].strip()
        # A complete JPEG ends with the end-of-image marker (allowing a little trailing padding).
        if b"\xff\xd9" not in data[-32:]:
            return IMAGE_TRUNCATED, f"ends early, no end-of-image marker ({message})"
        return IMAGE_CORRUPT, f"cannot be decoded ({message})"
    if (shape[0], shape[1]) != (height, width):
        return IMAGE_SIZE_MISMATCH, (
            f"is {shape[0]}x{shape[1]}, the annotation file says {height}x{width}"
        )
    return None


def _read_and_check(
    path: str, image: Image, check: bool
) -> tuple[bytes | None, _ImageProblem | None]:
    """The file's bytes, or None and the problem (decoding is skipped when `check` is off)."""
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            data = f.read()
    except tf.errors.NotFoundError:
        return None, _ImageProblem(IMAGE_MISSING, "no such file")
    except (tf.errors.OpError, OSError) as exc:
        return None, _ImageProblem(IMAGE_UNREADABLE, str(exc))
    problem = check_jpeg(data, image.height, image.width) if check else None
    return (None, _ImageProblem(*problem)) if problem else (data, None)


def _write_shard(
    path: str,
    shard: list[Instance],
    image_dir: str,
    checked: dict[str, _ImageProblem | None],
    pool: ThreadPoolExecutor,
) -> dict[str, Any]:
    """Check the shard's images in parallel, write its examples, rename it into place."""
    images = {inst.image.file_name: inst.image for inst in shard}

    def load(file_name: str) -> tuple[bytes | None, _ImageProblem | None]:
        path = os.path.join(image_dir, file_name)
        return _read_and_check(path, images[file_name], check=file_name not in checked)

    results = dict(zip(images, pool.map(load, images), strict=True))
    for file_name, (_, problem) in results.items():
        checked.setdefault(file_name, problem)
    bad_images: list[dict[str, Any]] = []
    bad_instances: list[dict[str, Any]] = []
    count = 0
    with written(path, _RESUME) as partial, tf.io.TFRecordWriter(partial) as writer:
        for inst in shard:
            data, problem = results[inst.image.file_name]
            problem = problem or checked[inst.image.file_name]
            if problem is not None:
                bad_instances.append(
                    Skipped(inst.image.image_id, inst.instance_id, problem.reason).to_dict()
                )
                continue
            writer.write(
                serialize_example(
                    jpeg=data,
                    image_id=inst.image.image_id,
                    height=inst.image.height,
                    width=inst.image.width,
                    instance_id=inst.instance_id,
                    box=inst.box,
                    keypoints=inst.keypoints,
                    score=inst.score,
                )
            )
            count += 1
    for file_name, (_, problem) in results.items():
        if problem is not None:
            image = images[file_name]
            logger.warning(
                "image %s (id %d) skipped: %s", file_name, image.image_id, problem.detail
            )
            bad_images.append(
                {
                    "image_id": image.image_id,
                    "file_name": file_name,
                    "reason": problem.reason,
                    "detail": problem.detail,
                }
            )
    return {"examples": count, "skipped_images": bad_images, "skipped_instances": bad_instances}


def _resume_state(
    split_dir: str, manifest_path: str, progress_path: str, fingerprint: str, overwrite: bool
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(the finished manifest of this input, or None; the shards an interrupted run finished)."""
    for path in (manifest_path, progress_path):
        if not tf.io.gfile.exists(path):
            continue
        with tf.io.gfile.GFile(path, "r") as f:
            try:
                state = json.loads(f.read())
            except json.JSONDecodeError:
                state = {}
        if state.get("fingerprint") == fingerprint and not overwrite:
            return (state, {}) if path == manifest_path else (None, state["finished"])
        if not overwrite:
            raise DataError(
                f"{split_dir} holds a conversion of other input or options; "
                "pass overwrite=True or remove the folder"
            )
        _clear(split_dir)
        return None, {}
    if tf.io.gfile.glob(os.path.join(split_dir, "*" + SHARD_SUFFIX)):
        if not overwrite:
            raise DataError(
                f"{split_dir} holds shards but no manifest or progress file; "
                "pass overwrite=True or remove the folder"
            )
        _clear(split_dir)
    return None, {}


def _clear(split_dir: str) -> None:
    patterns = ("*" + SHARD_SUFFIX, MANIFEST_NAME, GROUND_TRUTH_NAME, _PROGRESS_NAME)
    for pattern in (*patterns, ".*" + PARTIAL):
        for path in tf.io.gfile.glob(os.path.join(split_dir, pattern)):
            remove(path)


def _manifest(
    *,
    split: str,
    info: DatasetInfo,
    sources: dict[str, Any],
    options: dict[str, Any],
    names: list[str],
    finished: dict[str, Any],
    filtered: list[Skipped],
    fingerprint: str,
    ground_truth: str | None,
) -> dict[str, Any]:
    shards = [finished[str(i)] for i in range(len(names))]
    skipped_instances = [s.to_dict() for s in filtered]
    skipped_instances += [s for shard in shards for s in shard["skipped_instances"]]
    skipped_instances.sort(key=lambda s: (s["image_id"], s["instance_id"]))
    skipped_images = _unique(s for shard in shards for s in shard["skipped_images"])
    examples = sum(shard["examples"] for shard in shards)
    return {
        "format": MANIFEST_FORMAT,
        "split": split,
        "written_by": f"posedata {__version__}",
        "num_keypoints": info.num_keypoints,
        "keypoint_names": list(info.keypoint_names),
        "flip_pairs": [list(p) for p in info.flip_pairs],
        "dataset_info": info.to_dict(),
        "sources": sources,
        "options": options,
        "counts": {
            "examples": examples,
            "instances_considered": examples + len(skipped_instances),
            "skipped_instances": len(skipped_instances),
            "skipped_images": len(skipped_images),
            "skipped_by_reason": dict(
                sorted(Counter(s["reason"] for s in skipped_instances).items())
            ),
        },
        "shards": [
            {"file": name, "examples": shard["examples"]}
            for name, shard in zip(names, shards, strict=True)
        ],
        "skipped_images": skipped_images,
        "skipped_instances": skipped_instances,
        "fingerprint": fingerprint,
        "ground_truth": ground_truth,
    }


def _ground_truth(coco: CocoKeypoints) -> dict[str, Any]:
    """The split's COCO ground truth, compact: its images, its keypoint category and that
    category's annotations (all of them, crowds included: evaluation ignores those) without
    their segmentation masks; the file's "info" object when it has one."""
    data: dict[str, Any] = {} if coco.header is None else {"info": dict(coco.header)}
    data["images"] = [
        {"id": i.image_id, "file_name": i.file_name, "height": i.height, "width": i.width}
        for i in coco.images.values()
    ]
    data["annotations"] = [
        {k: v for k, v in a.items() if k != "segmentation"} for a in coco.annotations
    ]
    data["categories"] = [dict(coco.category)]
    return data


def _unique(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[int, dict[str, Any]] = {}
    for entry in entries:
        seen.setdefault(entry["image_id"], entry)
    return [seen[k] for k in sorted(seen)]


def _fingerprint(split: str, shard_size: int, info: DatasetInfo, instances: list[Instance]) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([split, shard_size, info.to_dict()]).encode())
    for inst in instances:
        row = [inst.image.image_id, inst.image.file_name, inst.instance_id, inst.box]
        digest.update(json.dumps([*row, inst.keypoints, inst.score]).encode())
    return digest.hexdigest()


def _absolute(path: str) -> str:
    return path if "://" in path else os.path.abspath(path)
