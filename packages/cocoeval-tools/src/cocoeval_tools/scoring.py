"""Instance rescoring: box score x mean of the confident keypoint scores."""

from __future__ import annotations

import numpy as np

from cocoeval_tools._checks import numeric_array, require_finite
from cocoeval_tools.errors import InvalidInputError


def rescore(
    box_scores: np.ndarray, keypoint_scores: np.ndarray, threshold: float = 0.2
) -> np.ndarray:
    """Instance scores (N,): box score x mean of the keypoint scores above ``threshold``
    (0 when none is above it)."""
    boxes = numeric_array("box_scores", box_scores, ndim=1, shape_doc="(N,)").astype(np.float64)
    keypoints = numeric_array("keypoint_scores", keypoint_scores, ndim=2, shape_doc="(N, K)")
    keypoints = keypoints.astype(np.float64)
    if keypoints.shape[0] != boxes.shape[0]:
        raise InvalidInputError(
            f"keypoint_scores holds {keypoints.shape[0]} instances but box_scores {boxes.shape[0]}"
        )
    require_finite("box_scores", boxes)
    require_finite("keypoint_scores", keypoints)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float | np.number):
        raise InvalidInputError(f"threshold must be a number, got {threshold!r}")
    confident = keypoints > threshold
    count = confident.sum(axis=1)
    total = np.where(confident, keypoints, 0.0).sum(axis=1)
    return boxes * np.where(count > 0, total / np.maximum(count, 1), 0.0)
