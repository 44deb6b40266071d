"""OKS-based non-maximum suppression of poses: hard (greedy) and soft (score decay)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from cocoeval_tools._checks import is_integer, numeric_array, positive_number, require_finite
from cocoeval_tools.errors import InvalidInputError
from cocoeval_tools.oks import keypoint_extent_areas, oks_to_others, resolve_sigmas


@dataclass(frozen=True)
class _Poses:
    """Checked NMS inputs: keypoints (N, K, 3), scores (N,), areas (N,), sigmas (K,)."""

    keypoints: np.ndarray
    scores: np.ndarray
    areas: np.ndarray
    sigmas: np.ndarray
    groups: list[np.ndarray]  # indices of the poses of each image, by descending score

    def oks(self, index: int, others: np.ndarray, visibility_threshold: float | None) -> np.ndarray:
        return oks_to_others(
            self.keypoints[index],
            self.areas[index],
            self.keypoints[others],
            self.areas[others],
            self.sigmas,
            visibility_threshold=visibility_threshold,
        )


def oks_nms(
    keypoints: np.ndarray,
    scores: np.ndarray,
    *,
    areas: np.ndarray | None = None,
    image_ids: np.ndarray | Sequence[int] | None = None,
    threshold: float = 0.9,
    sigmas: Sequence[float] | np.ndarray | None = None,
    visibility_threshold: float | None = None,
) -> np.ndarray:
    """Greedy OKS-NMS: indices (ascending) of the poses kept; a pose is dropped when its OKS with
    a higher-scored kept pose of the same image exceeds ``threshold``.

    ``keypoints`` (N, K, 3) holds x, y, score; ``areas`` defaults to each pose's keypoint
    bounding-box area; ``image_ids`` (N,) limits suppression to poses of one image.
    """
    poses = _check_poses(keypoints, scores, areas, image_ids, sigmas, visibility_threshold)
    _check_unit_interval("threshold", threshold)
    keep: list[int] = []
    for group in poses.groups:
        remaining = group
        while remaining.size:
            best, remaining = remaining[0], remaining[1:]
            keep.append(int(best))
            overlap = poses.oks(best, remaining, visibility_threshold)
            remaining = remaining[overlap <= threshold]
    return np.sort(np.asarray(keep, dtype=np.int64))


def soft_oks_nms(
    keypoints: np.ndarray,
    scores: np.ndarray,
    *,
    areas: np.ndarray | None = None,
    image_ids: np.ndarray | Sequence[int] | None = None,
    threshold: float = 0.9,
    decay: Literal["gaussian", "linear"] = "gaussian",
    max_detections: int | None = 20,
    sigmas: Sequence[float] | np.ndarray | None = None,
    visibility_threshold: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Soft OKS-NMS: ``(kept indices ascending, their decayed scores)``, at most
    ``max_detections`` per image.

    Each pick decays the scores of the rest of its image by its OKS with them: ``gaussian``
    multiplies by exp(-oks^2 / threshold), ``linear`` by (1 - oks) where oks >= threshold.
    """
    poses = _check_poses(keypoints, scores, areas, image_ids, sigmas, visibility_threshold)
    if decay == "gaussian":
        positive_number("threshold (gaussian decay)", threshold)
    elif decay == "linear":
        _check_unit_interval("threshold", threshold)
    else:
        raise InvalidInputError(f"decay must be 'gaussian' or 'linear', got {decay!r}")
    if max_detections is not None and (not is_integer(max_detections) or max_detections < 1):
        raise InvalidInputError(
            f"max_detections must be a positive integer or None, got {max_detections!r}"
        )
    limit = max_detections if max_detections is not None else np.inf
    keep: list[int] = []
    kept_scores: list[float] = []
    for group in poses.groups:
        remaining = group
        current = poses.scores[group].astype(np.float64)
        picked = 0
        while remaining.size and picked < limit:
            position = int(np.argmax(current))  # the first of equal scores
            best = remaining[position]
            keep.append(int(best))
            kept_scores.append(float(current[position]))
            picked += 1
            remaining = np.delete(remaining, position)
            current = np.delete(current, position)
            overlap = poses.oks(best, remaining, visibility_threshold)
            if decay == "gaussian":
                current = current * np.exp(-(overlap**2) / threshold)
            else:
                current = np.where(overlap >= threshold, current * (1 - overlap), current)
    kept = np.asarray(keep, dtype=np.int64)
    order = np.argsort(kept)
    return kept[order], np.asarray(kept_scores, dtype=np.float64)[order]


def _check_unit_interval(name: str, value: object) -> None:
    if isinstance(value, bool) or not (
        isinstance(value, int | float | np.number) and 0 <= value <= 1
    ):
        raise InvalidInputError(f"{name} must be a number in [0, 1], got {value!r}")


def _check_poses(
    keypoints: np.ndarray,
    scores: np.ndarray,
    areas: np.ndarray | None,
    image_ids: np.ndarray | Sequence[int] | None,
    sigmas: Sequence[float] | np.ndarray | None,
    visibility_threshold: float | None,
) -> _Poses:
    """Validate NMS inputs and sort each image's poses by descending score."""
    poses = numeric_array("keypoints", keypoints, ndim=3, shape_doc="(N, K, 3)")
    if poses.shape[2] != 3:
        raise InvalidInputError(
            f"keypoints must have shape (N, K, 3) holding x, y, score; got {poses.shape}"
        )
    poses = poses.astype(np.float64)
    require_finite("keypoints", poses)
    count = poses.shape[0]
    pose_scores = numeric_array("scores", scores, ndim=1, shape_doc="(N,)").astype(np.float64)
    require_finite("scores", pose_scores)
    if pose_scores.shape[0] != count:
        raise InvalidInputError(f"scores holds {pose_scores.shape[0]} values for {count} poses")
    if areas is None:
        pose_areas = keypoint_extent_areas(poses)
    else:
        pose_areas = numeric_array("areas", areas, ndim=1, shape_doc="(N,)").astype(np.float64)
        require_finite("areas", pose_areas)
        if pose_areas.shape[0] != count or (pose_areas < 0).any():
            raise InvalidInputError(f"areas must hold {count} values >= 0, got {pose_areas.shape}")
    if visibility_threshold is not None and (
        isinstance(visibility_threshold, bool)
        or not isinstance(visibility_threshold, int | float | np.number)
    ):
        raise InvalidInputError(
            f"visibility_threshold must be a number or None, got {visibility_threshold!r}"
        )
    by_score = np.argsort(-pose_scores, kind="stable")
    if image_ids is None:
        groups = [by_score] if count else []
    else:
        ids = np.asarray(image_ids)
        if ids.shape != (count,):
            raise InvalidInputError(f"image_ids must have shape ({count},), got {ids.shape}")
        _, image_of = np.unique(ids, return_inverse=True)
        grouped = by_score[np.argsort(image_of[by_score], kind="stable")]
        boundaries = np.flatnonzero(np.diff(image_of[grouped])) + 1
        groups = np.split(grouped, boundaries) if count else []
    return _Poses(poses, pose_scores, pose_areas, resolve_sigmas(sigmas, poses.shape[1]), groups)
