"""A random COCO keypoints set with noisy predictions, for tests and benchmarks of evaluation."""

from __future__ import annotations

import numpy as np

from cocoeval_tools._checks import is_integer
from cocoeval_tools.errors import InvalidInputError

IMAGE_SIZE = (480, 640)  # height, width of every synthetic image


def synthetic_keypoint_dataset(
    num_images: int,
    *,
    people_per_image: float = 2.2,
    num_keypoints: int = 17,
    false_positives_per_image: float = 0.5,
    noise: float = 0.03,
    seed: int = 0,
) -> tuple[dict, list[dict]]:
    """``(ground_truth, results)``: a COCO keypoints dataset of random people and keypoint
    results for it: 95% of the people found, keypoints off by about ``noise`` x sqrt(area)
    (the default gives AP near 0.72), and false positives.
    """
    for name, value in (("num_images", num_images), ("num_keypoints", num_keypoints)):
        if not is_integer(value) or value < 1:
            raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
    for name, value in (
        ("people_per_image", people_per_image),
        ("false_positives_per_image", false_positives_per_image),
        ("noise", noise),
    ):
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise InvalidInputError(f"{name} must be a number >= 0, got {value!r}")
    rng = np.random.default_rng(seed)
    height, width = IMAGE_SIZE
    image_ids = np.arange(1, num_images + 1)
    people_image = np.repeat(image_ids, rng.poisson(people_per_image, num_images))
    boxes, keypoints = _random_people(rng, people_image.size, num_keypoints)
    visibility = rng.choice([0, 1, 2], p=[0.15, 0.1, 0.75], size=keypoints.shape[:2])
    crowd = rng.random(people_image.size) < 0.01
    visibility[crowd] = 0
    areas = boxes[:, 2] * boxes[:, 3] * rng.uniform(0.4, 0.7, people_image.size)
    labelled = np.where(visibility[:, :, None] > 0, keypoints, 0.0)
    annotations = [
        {
            "id": index + 1,
            "image_id": int(people_image[index]),
            "category_id": 1,
            "iscrowd": int(crowd[index]),
            "area": float(areas[index]),
            "bbox": boxes[index].tolist(),
            "num_keypoints": int((visibility[index] > 0).sum()),
            "keypoints": np.concatenate([labelled[index], visibility[index, :, None]], axis=1)
            .ravel()
            .tolist(),
        }
        for index in range(people_image.size)
    ]
    ground_truth = {
        "images": [
            {"id": int(i), "width": width, "height": height, "file_name": f"{i:012d}.jpg"}
            for i in image_ids
        ],
        "annotations": annotations,
        "categories": [
            {
                "id": 1,
                "name": "person",
                "supercategory": "person",
                "keypoints": [f"keypoint_{k}" for k in range(num_keypoints)],
                "skeleton": [],
            }
        ],
    }
    # Predictions: 95% of the labelled people, each with its own error level, plus impostors.
    found = ~crowd & (visibility.sum(axis=1) > 0) & (rng.random(people_image.size) < 0.95)
    spread = noise * np.sqrt(areas[found]) * rng.uniform(0.3, 1.7, found.sum())
    predicted = keypoints[found] + rng.normal(size=keypoints[found].shape) * spread[:, None, None]
    fake_image = np.repeat(image_ids, rng.poisson(false_positives_per_image, num_images))
    _, fake = _random_people(rng, fake_image.size, num_keypoints)
    poses = np.concatenate([predicted, fake])
    keypoint_scores = rng.uniform(0.0, 1.0, poses.shape[:2])
    scores = np.concatenate(
        [rng.uniform(0.2, 1.0, predicted.shape[0]), rng.uniform(0.0, 0.7, fake.shape[0])]
    )
    rows = np.concatenate([poses, keypoint_scores[:, :, None]], axis=2).reshape(len(poses), -1)
    results = [
        {"image_id": int(image_id), "category_id": 1, "keypoints": row, "score": score}
        for image_id, row, score in zip(
            np.concatenate([people_image[found], fake_image]).tolist(),
            rows.tolist(),
            scores.tolist(),
            strict=True,
        )
    ]
    return ground_truth, results


def _random_people(
    rng: np.random.Generator, count: int, num_keypoints: int
) -> tuple[np.ndarray, np.ndarray]:
    """Random person boxes [x, y, w, h] (count, 4) inside the image and keypoints inside them."""
    height, width = IMAGE_SIZE
    box_width = rng.uniform(16.0, 320.0, count)
    box_height = np.minimum(box_width * rng.uniform(1.2, 2.4, count), height - 1.0)
    left = rng.uniform(0.0, 1.0, count) * (width - 1.0 - box_width)
    top = rng.uniform(0.0, 1.0, count) * (height - 1.0 - box_height)
    boxes = np.stack([left, top, box_width, box_height], axis=1)
    relative = rng.uniform(0.0, 1.0, (count, num_keypoints, 2))
    keypoints = boxes[:, None, :2] + relative * boxes[:, None, 2:]
    return boxes, keypoints
