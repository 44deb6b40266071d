"""PCKh (MPII's metric): a hand-computed case, and the formula of MPII's evaluation as HRNet's
and mmpose's ports write it (head boxes, 0.6 x diagonal, <= threshold, pelvis and thorax out
of the mean)."""

from __future__ import annotations

import numpy as np
import pytest

from cocoeval_tools import (
    HEAD_BOX_FACTOR,
    MPII_MEAN_EXCLUDED,
    InvalidInputError,
    head_sizes_from_boxes,
    pckh,
)

MPII_NAMES = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis",
    "thorax", "upper_neck", "head_top", "right_wrist", "right_elbow", "right_shoulder",
    "left_shoulder", "left_elbow", "left_wrist",
)  # fmt: skip


def test_head_size_is_six_tenths_of_the_head_box_diagonal():
    sizes = head_sizes_from_boxes([[10, 20, 40, 60], [0, 0, 6, 8]])  # diagonals 50 and 10
    np.testing.assert_allclose(sizes, [30.0, 6.0])
    np.testing.assert_allclose(head_sizes_from_boxes([[[0, 0], [6, 8]]]), [6.0])
    assert HEAD_BOX_FACTOR == 0.6


def test_a_hand_computed_case():
    # Two poses of 3 keypoints; head sizes 10 and 20, so PCKh@0.5 accepts 5 and 10 pixels.
    truth = np.array(
        [
            [[0, 0, 2], [10, 10, 2], [50, 50, 0]],  # the third keypoint is not labelled
            [[0, 0, 1], [0, 0, 2], [0, 0, 2]],
        ],
        dtype=float,
    )
    pred = np.array(
        [
            [[3, 4, 0.9], [16, 10, 0.9], [0, 0, 0.9]],  # 5 px (correct: <= 5), 6 px (wrong)
            [[0, 10, 0.9], [10.5, 0, 0.9], [0, 0, 0.9]],  # 10 px (correct), 10.5 (wrong), 0
        ]
    )
    result = pckh(pred, truth, [10.0, 20.0])
    np.testing.assert_array_equal(result.counts, [2, 2, 1])
    np.testing.assert_allclose(result.per_keypoint, [100.0, 0.0, 100.0])
    assert result.mean == pytest.approx(100 * 3 / 5)
    excluded = pckh(pred, truth, [10.0, 20.0], exclude=[2])
    assert excluded.mean == pytest.approx(100 * 2 / 4)
    assert pckh(pred, truth, [10.0, 20.0], threshold=0.55).per_keypoint[1] == 50.0  # 5.5 and 11 px


def _hrnet_pckh(preds, pos_gt_src, jnt_missing, headboxes_src, threshold=0.5):
    """MPII's PCKh as HRNet's lib/dataset/mpii.py computes it (their array layouts: pos_gt_src
    (K, 2, N), jnt_missing (K, N), headboxes_src (2, 2, N); preds (N, K, 2), mean without
    pelvis and thorax)."""
    pos_pred_src = np.transpose(preds, [1, 2, 0])
    jnt_visible = 1 - jnt_missing
    uv_err = np.linalg.norm(pos_pred_src - pos_gt_src, axis=1)
    headsizes = np.linalg.norm(headboxes_src[1, :, :] - headboxes_src[0, :, :], axis=0) * 0.6
    scale = np.multiply(headsizes, np.ones((len(uv_err), 1)))
    scaled_uv_err = np.multiply(np.divide(uv_err, scale), jnt_visible)
    jnt_count = np.sum(jnt_visible, axis=1)
    less_than_threshold = np.multiply(scaled_uv_err <= threshold, jnt_visible)
    per_joint = np.divide(100.0 * np.sum(less_than_threshold, axis=1), jnt_count)
    masked = np.ma.array(per_joint, mask=False)
    masked.mask[6:8] = True
    count = np.ma.array(jnt_count, mask=False)
    count.mask[6:8] = True
    return per_joint, float(np.sum(masked * (count / np.sum(count).astype(np.float64))))


def test_matches_mpii_evaluation_as_hrnet_computes_it():
    rng = np.random.default_rng(0)
    n, k = 300, 16
    truth_xy = rng.uniform(0, 500, (n, k, 2))
    missing = (rng.uniform(size=(n, k)) < 0.15).astype(float)
    corner = rng.uniform(0, 400, (n, 2))
    boxes = np.stack([corner, corner + rng.uniform(20, 80, (n, 2))], axis=1)  # (N, 2, 2)
    sizes = head_sizes_from_boxes(boxes)
    # Errors around the threshold, some exactly on it (<= counts as correct).
    angle = rng.uniform(0, 2 * np.pi, (n, k))
    radius = rng.uniform(0, 1.0, (n, k)) * sizes[:, None]
    radius[:, 3] = 0.5 * sizes
    pred = truth_xy + np.stack([np.cos(angle), np.sin(angle)], -1) * radius[..., None]
    truth = np.concatenate([truth_xy, 2 * (1 - missing)[..., None]], axis=-1)

    exclude = [MPII_NAMES.index(name) for name in MPII_MEAN_EXCLUDED]
    result = pckh(pred, truth, sizes, exclude=exclude)
    expected_per_joint, expected_mean = _hrnet_pckh(
        pred, np.transpose(truth_xy, [1, 2, 0]), missing.T, np.transpose(boxes, [1, 2, 0])
    )
    np.testing.assert_allclose(result.per_keypoint, expected_per_joint, rtol=1e-12)
    assert result.mean == pytest.approx(expected_mean, rel=1e-12)
    assert 20 < result.mean < 80  # a case that tells right from wrong


def test_table_by_body_part_as_mpii_reports_it():
    truth = np.zeros((1, 16, 3))
    truth[..., 2] = 2
    pred = np.zeros((1, 16, 2))
    pred[0, MPII_NAMES.index("left_wrist")] = [100, 0]  # only the left wrist is wrong
    exclude = [MPII_NAMES.index(name) for name in MPII_MEAN_EXCLUDED]
    result = pckh(pred, truth, [10.0], exclude=exclude)
    parts = result.by_part(MPII_NAMES)
    assert list(parts) == [
        "Ankle", "Knee", "Hip", "Upper neck", "Head top", "Wrist", "Elbow", "Shoulder", "Mean",
    ]  # fmt: skip
    assert parts["Wrist"] == 50.0 and parts["Ankle"] == 100.0
    assert parts["Mean"] == pytest.approx(100 * 13 / 14)
    assert "| PCKh@0.5 | Ankle |" in result.table(MPII_NAMES)


def test_unlabelled_keypoints_give_nan_and_bad_input_is_named():
    result = pckh(np.zeros((1, 2, 2)), np.zeros((1, 2, 3)), [1.0])
    assert np.isnan(result.per_keypoint).all() and np.isnan(result.mean)
    with pytest.raises(InvalidInputError, match="agree on N poses"):
        pckh(np.zeros((2, 16, 2)), np.zeros((1, 16, 3)), [1.0])
    with pytest.raises(InvalidInputError, match="head_sizes must be > 0"):
        pckh(np.zeros((1, 2, 2)), np.ones((1, 2, 3)), [0.0])
    with pytest.raises(InvalidInputError, match="head_boxes"):
        head_sizes_from_boxes(np.zeros((2, 3)))
