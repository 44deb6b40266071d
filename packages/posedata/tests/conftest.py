"""Shared fixtures: a tiny synthetic dataset, its shards, a dots dataset, the real COCO sample."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

import posedata
from posedata.synthetic import make_synthetic_coco

# The dots image: coloured Gaussian blobs at exact sub-pixel keypoints (COCO indices).
DOTS = {
    0: ((95.3, 40.6), (40, 220, 40)),  # nose: green
    9: ((60.4, 120.7), (230, 30, 30)),  # left wrist: red
    10: ((131.6, 115.2), (30, 30, 230)),  # right wrist: blue
}
DOTS_BOX = [40.0, 25.0, 110.0, 130.0]
DOTS_SIZE = (180, 220)  # height, width


@pytest.fixture(scope="session")
def coco_mini() -> Path:
    """The real COCO sample, reached only through EVOPOSE_COCO_MINI."""
    root = os.environ.get("EVOPOSE_COCO_MINI")
    if not root:
        pytest.skip("EVOPOSE_COCO_MINI is not set: the real COCO sample is not available")
    path = Path(root)
    if not (path / "test_coco.json").is_file():
        pytest.skip(f"EVOPOSE_COCO_MINI={root} does not hold test_coco.json")
    return path


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> posedata.synthetic.SyntheticCoco:
    """A small synthetic dataset (read-only: copy before changing it)."""
    return make_synthetic_coco(
        tmp_path_factory.mktemp("synthetic"),
        num_train_images=10,
        num_val_images=6,
        image_size=(120, 160),
        seed=7,
    )


@pytest.fixture(scope="session")
def synthetic_shards(
    synthetic: posedata.synthetic.SyntheticCoco, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The synthetic dataset converted: train (shards of 8), val and val-dets."""
    out = tmp_path_factory.mktemp("shards")
    common = {"out_dir": out, "workers": 2}
    posedata.convert_coco(
        synthetic.train_annotations, synthetic.train_images, split="train", shard_size=8, **common
    )
    posedata.convert_coco(synthetic.val_annotations, synthetic.val_images, split="val", **common)
    posedata.convert_coco(
        synthetic.val_annotations,
        synthetic.val_images,
        split="val-dets",
        detections=synthetic.val_detections,
        det_score_threshold=0.3,
        **common,
    )
    return out


@dataclass(frozen=True)
class Dots:
    """One image with coloured blobs at known keypoints, its annotation file and shards."""

    annotations: Path
    images: Path
    shards: Path
    keypoints: dict[int, tuple[tuple[float, float], tuple[int, int, int]]]
    box: list[float]


@pytest.fixture(scope="session")
def dots(tmp_path_factory: pytest.TempPathFactory) -> Dots:
    """The dots image (blobs at sub-pixel keypoints), converted to a train split."""
    root = tmp_path_factory.mktemp("dots")
    height, width = DOTS_SIZE
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    image = np.full((height, width, 3), 20.0)
    keypoints = [0.0] * 51
    for index, ((x, y), colour) in DOTS.items():
        blob = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 2.0**2))
        image += blob[..., None] * (np.array(colour, np.float64) - 20.0)
        keypoints[3 * index : 3 * index + 3] = [x, y, 2]
    images = root / "images"
    images.mkdir(parents=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, 100]
    params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    bgr = cv2.cvtColor(np.clip(image, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(images / "dots.jpg"), bgr, params)
    annotations = coco_file(
        images=[{"id": 1, "file_name": "dots.jpg", "height": height, "width": width}],
        annotations=[annotation(1, 1, DOTS_BOX, keypoints)],
    )
    path = root / "dots.json"
    path.write_text(json.dumps(annotations))
    posedata.convert_coco(path, images, root / "shards", split="train")
    return Dots(path, images, root / "shards" / "train", DOTS, DOTS_BOX)


@pytest.fixture
def make_coco():
    """Builders of COCO keypoint files: `make_coco.file(...)`, `make_coco.annotation(...)`."""
    return SimpleNamespace(file=coco_file, annotation=annotation)


@pytest.fixture
def blob():
    """`blob.centre(image, colour)` and `blob.denormalize(images)`."""
    return SimpleNamespace(centre=blob_centre, denormalize=denormalize)


def coco_file(images: list[dict], annotations: list[dict]) -> dict:
    """A COCO keypoints file with COCO's person category."""
    info = posedata.COCO_PERSON
    category = {
        "id": 1,
        "name": "person",
        "keypoints": list(info.keypoint_names),
        "skeleton": [[a + 1, b + 1] for a, b in info.skeleton],
    }
    return {"images": images, "annotations": annotations, "categories": [category]}


def annotation(ann_id: int, image_id: int, bbox: list[float], keypoints: list[float]) -> dict:
    """A person annotation."""
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": 1,
        "iscrowd": 0,
        "bbox": bbox,
        "keypoints": keypoints,
        "num_keypoints": sum(1 for v in keypoints[2::3] if v > 0),
    }


def blob_centre(image: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """Intensity-weighted centre (x, y) of the blob of a colour in an RGB image [0, 255]."""
    direction = np.array(colour, np.float64) - 20.0
    direction /= np.linalg.norm(direction)
    response = (image.astype(np.float64) - 20.0) @ direction
    weight = np.clip(response - 0.5 * response.max(), 0.0, None)
    ys, xs = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    return np.array([(weight * xs).sum(), (weight * ys).sum()]) / weight.sum()


def denormalize(images: np.ndarray) -> np.ndarray:
    """Undo the ImageNet normalisation: RGB in [0, 255]."""
    mean = np.array(posedata.IMAGENET_MEAN)
    std = np.array(posedata.IMAGENET_STD)
    return (np.asarray(images, np.float64) * std + mean) * 255.0
