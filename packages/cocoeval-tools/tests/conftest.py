"""Shared fixtures: the real COCO sample (through EVOPOSE_COCO_MINI) and its ground truth."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def coco_mini() -> Path:
    """The coco-mini sample folder; tests using it skip when EVOPOSE_COCO_MINI is unset."""
    location = os.environ.get("EVOPOSE_COCO_MINI")
    if not location:
        pytest.skip("EVOPOSE_COCO_MINI is unset: it must name the coco-mini sample folder")
    folder = Path(location)
    if not (folder / "test_coco.json").is_file():
        pytest.skip(f"EVOPOSE_COCO_MINI={location} holds no test_coco.json")
    return folder


@pytest.fixture(scope="session")
def ground_truth_path(coco_mini: Path) -> Path:
    """Path of the sample's keypoint annotations (4 images, 14 people)."""
    return coco_mini / "test_coco.json"


@pytest.fixture
def ground_truth(ground_truth_path: Path) -> dict:
    """A fresh copy of the sample's annotations as a dict."""
    return json.loads(ground_truth_path.read_text())


@pytest.fixture
def ground_truth_as_results(ground_truth: dict) -> list[dict]:
    """Every labelled person of the sample submitted as a prediction with score 1."""
    return [
        {
            "image_id": annotation["image_id"],
            "category_id": annotation["category_id"],
            "keypoints": list(annotation["keypoints"]),
            "score": 1.0,
        }
        for annotation in ground_truth["annotations"]
        if annotation["num_keypoints"] > 0 and not annotation["iscrowd"]
    ]
