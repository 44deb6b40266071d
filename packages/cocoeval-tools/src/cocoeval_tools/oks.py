"""Object keypoint similarity (OKS): COCO's per-keypoint sigmas and the pairwise OKS of poses."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cocoeval_tools._checks import numeric_array
from cocoeval_tools.errors import InvalidInputError

COCO_SIGMAS: tuple[float, ...] = tuple(
    value / 10.0  # written as pycocotools writes them, so that the floats match bit for bit
    for value in (0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07,
                  0.87, 0.87, 0.89, 0.89)
)  # fmt: skip
"""OKS sigmas of COCO's 17 person keypoints (nose, eyes, ears, shoulders, elbows, wrists,
hips, knees, ankles): pycocotools' own values."""


def resolve_sigmas(sigmas: Sequence[float] | np.ndarray | None, num_keypoints: int) -> np.ndarray:
    """Per-keypoint OKS sigmas as a float64 array: ``sigmas``, or COCO's when None and K is 17."""
    if sigmas is None:
        if num_keypoints != len(COCO_SIGMAS):
            raise InvalidInputError(
                f"poses have {num_keypoints} keypoints, not COCO's {len(COCO_SIGMAS)}: "
                f"pass sigmas= with one OKS sigma per keypoint"
            )
        return np.asarray(COCO_SIGMAS, dtype=np.float64)
    values = numeric_array("sigmas", sigmas, ndim=1, shape_doc="(K,)").astype(np.float64)
    if values.shape[0] != num_keypoints:
        raise InvalidInputError(
            f"sigmas holds {values.shape[0]} values but the poses have {num_keypoints} keypoints"
        )
    if not (np.isfinite(values).all() and (values > 0).all()):
        raise InvalidInputError(f"sigmas must be finite and > 0, got {values.tolist()}")
    return values


def oks_to_others(
    pose: np.ndarray,
    area: float,
    others: np.ndarray,
    other_areas: np.ndarray,
    sigmas: np.ndarray,
    *,
    visibility_threshold: float | None = None,
) -> np.ndarray:
    """OKS of one pose (K, 3) against others (M, K, 3), scaled by each pair's mean area -> (M,).

    With ``visibility_threshold``, only keypoints whose scores (third column) exceed it in both
    poses count; a pair with none counted has OKS 0.
    """
    squared_distance = ((others[:, :, :2] - pose[None, :, :2]) ** 2).sum(axis=-1)  # (M, K)
    mean_area = (area + other_areas) / 2 + np.spacing(1)
    variances = (2 * sigmas) ** 2
    similarity = np.exp(-squared_distance / variances / mean_area[:, None] / 2)
    if visibility_threshold is None:
        return similarity.mean(axis=-1)
    counted = (others[:, :, 2] > visibility_threshold) & (pose[None, :, 2] > visibility_threshold)
    count = counted.sum(axis=-1)
    total = np.where(counted, similarity, 0.0).sum(axis=-1)
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


def keypoint_extent_areas(keypoints: np.ndarray) -> np.ndarray:
    """Area of each pose's keypoint bounding box, (N, K, >=2) -> (N,): the rule pycocotools
    applies to keypoint results."""
    x, y = keypoints[:, :, 0], keypoints[:, :, 1]
    return (x.max(axis=1) - x.min(axis=1)) * (y.max(axis=1) - y.min(axis=1))
