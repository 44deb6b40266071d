"""PCKh, MPII's metric: the share of keypoints predicted within a fraction of the head size.

A keypoint counts as correct when its distance to the ground truth is at most `threshold` x the
instance's head size (PCKh@0.5: half the head size). MPII's official evaluation (evalMPII, and
HRNet's and mmpose's ports of it) takes the head size as 0.6 x the length of the diagonal of the
annotated head box (`head_sizes_from_boxes`); only labelled keypoints count. Results are in
percent, as MPII reports them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cocoeval_tools._checks import numeric_array, require_finite
from cocoeval_tools.errors import InvalidInputError

HEAD_BOX_FACTOR = 0.6
"""MPII's head size is this factor x the head box's diagonal (evalMPII's `SC_BIAS`)."""
MPII_MEAN_EXCLUDED = ("pelvis", "thorax")
"""Keypoints MPII's mean PCKh leaves out (its published tables do)."""


@dataclass(frozen=True)
class PCKhResult:
    """PCKh per keypoint (percent; NaN where no keypoint was labelled), the labelled keypoints
    counted per keypoint, and their count-weighted mean over the keypoints not excluded."""

    threshold: float
    per_keypoint: np.ndarray  # (K,) percent
    counts: np.ndarray  # (K,) labelled keypoints
    mean: float  # percent; NaN when nothing was counted
    excluded: tuple[int, ...] = ()

    def by_part(self, keypoint_names: Sequence[str]) -> dict[str, float]:
        """PCKh per body part, as MPII's tables give it: a `left_x` / `right_x` pair becomes
        `X`, the plain mean of its two sides; other keypoints keep their names; excluded
        keypoints are left out; last the count-weighted `Mean`."""
        names = list(keypoint_names)
        if len(names) != len(self.per_keypoint):
            raise InvalidInputError(
                f"keypoint_names holds {len(names)} names for {len(self.per_keypoint)} keypoints"
            )
        parts: dict[str, list[float]] = {}
        for index, name in enumerate(names):
            if index in self.excluded:
                continue
            part = name
            for side in ("left_", "right_"):
                if name.startswith(side):
                    part = name[len(side) :]
            parts.setdefault(part.replace("_", " ").capitalize(), []).append(
                float(self.per_keypoint[index])
            )
        table = {part: float(np.mean(values)) for part, values in parts.items()}
        table["Mean"] = self.mean
        return table

    def table(self, keypoint_names: Sequence[str], digits: int = 1) -> str:
        """`by_part` as a two-row markdown table."""
        parts = self.by_part(keypoint_names)
        title = f"PCKh@{self.threshold:g}"
        header = "| " + " | ".join([title, *parts]) + " |"
        rule = "| " + " | ".join("---" for _ in range(len(parts) + 1)) + " |"
        row = "| % | " + " | ".join(f"{v:.{digits}f}" for v in parts.values()) + " |"
        return "\n".join([header, rule, row])


def head_sizes_from_boxes(head_boxes: np.ndarray | Sequence) -> np.ndarray:
    """MPII's head size of each head box: 0.6 x the length of its diagonal.

    `head_boxes` is (N, 4) `x1, y1, x2, y2` or (N, 2, 2) `[[x1, y1], [x2, y2]]`; returns (N,).
    """
    boxes = np.asarray(head_boxes, dtype=np.float64)
    if boxes.ndim == 2 and boxes.shape[1] == 4:
        boxes = boxes.reshape(-1, 2, 2)
    boxes = numeric_array("head_boxes", boxes, ndim=3, shape_doc="(N, 4) or (N, 2, 2)")
    if boxes.shape[1:] != (2, 2):
        raise InvalidInputError(
            f"head_boxes must have shape (N, 4) or (N, 2, 2), got {np.shape(head_boxes)}"
        )
    require_finite("head_boxes", boxes)
    return HEAD_BOX_FACTOR * np.linalg.norm(boxes[:, 1] - boxes[:, 0], axis=-1)


def pckh(
    predictions: np.ndarray | Sequence,
    ground_truth: np.ndarray | Sequence,
    head_sizes: np.ndarray | Sequence,
    *,
    threshold: float = 0.5,
    exclude: Sequence[int] = (),
) -> PCKhResult:
    """PCKh of N predicted poses against their ground truth, pose i against pose i.

    `predictions` (N, K, >=2) and `ground_truth` (N, K, 3) hold `x, y` in the same pixels; a
    ground-truth keypoint counts when its third value (visibility) is > 0. A keypoint is
    correct when its distance to the ground truth is <= `threshold` x `head_sizes[i]` (as
    evalMPII compares). `exclude` lists keypoint indices left out of the mean (MPII: pelvis
    and thorax, `MPII_MEAN_EXCLUDED`).
    """
    pred = numeric_array("predictions", predictions, ndim=3, shape_doc="(N, K, >=2)")
    truth = numeric_array("ground_truth", ground_truth, ndim=3, shape_doc="(N, K, 3)")
    sizes = numeric_array("head_sizes", head_sizes, ndim=1, shape_doc="(N,)").astype(np.float64)
    if truth.shape[2] != 3 or pred.shape[2] < 2:
        raise InvalidInputError(
            f"predictions must be (N, K, >=2) and ground_truth (N, K, 3), got {pred.shape} "
            f"and {truth.shape}"
        )
    if pred.shape[:2] != truth.shape[:2] or sizes.shape[0] != pred.shape[0]:
        raise InvalidInputError(
            f"predictions {pred.shape[:2]}, ground_truth {truth.shape[:2]} and head_sizes "
            f"({sizes.shape[0]},) must agree on N poses of K keypoints"
        )
    if not (isinstance(threshold, int | float) and threshold > 0):
        raise InvalidInputError(f"threshold must be a positive number, got {threshold!r}")
    k = pred.shape[1]
    excluded = tuple(sorted({int(i) for i in exclude}))
    if any(not 0 <= i < k for i in excluded):
        raise InvalidInputError(f"exclude {list(excluded)}: indices must be in [0, {k})")
    require_finite("head_sizes", sizes)
    visible = truth[:, :, 2] > 0
    if (sizes[visible.any(axis=1)] <= 0).any():
        raise InvalidInputError("head_sizes must be > 0 for every pose with a labelled keypoint")
    distance = np.linalg.norm(pred[:, :, :2].astype(np.float64) - truth[:, :, :2], axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = distance / sizes[:, None]
    correct = (scaled <= threshold) & visible
    counts = visible.sum(axis=0)
    hits = correct.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_keypoint = np.where(counts > 0, 100.0 * hits / counts, np.nan)
    kept = np.array([i not in excluded for i in range(k)])
    total = counts[kept].sum()
    mean = float(100.0 * hits[kept].sum() / total) if total else float("nan")
    return PCKhResult(float(threshold), per_keypoint, counts, mean, excluded)
