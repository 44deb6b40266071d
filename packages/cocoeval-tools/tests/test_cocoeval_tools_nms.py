"""OKS-NMS and soft OKS-NMS of poses."""

from __future__ import annotations

import numpy as np
import pytest

from cocoeval_tools import COCO_SIGMAS, InvalidInputError, oks_nms, soft_oks_nms


def people(centres: list[tuple[float, float]], seed: int = 0) -> np.ndarray:
    """One 17-keypoint pose (x, y, score) spread over about 60x160 pixels around each centre."""
    layout = np.random.default_rng(seed).uniform([-30, -80], [30, 80], size=(17, 2))
    poses = np.array([layout + centre for centre in centres])
    return np.concatenate([poses, np.full((len(centres), 17, 1), 0.9)], axis=2)


def duplicated_crowd() -> tuple[np.ndarray, np.ndarray]:
    """Three distinct people, each found three times with a pixel of jitter."""
    distinct = people([(100, 200), (400, 200), (250, 600)])
    jitter = np.random.default_rng(1).normal(0, 1.0, (9, 17, 2))
    poses = np.repeat(distinct, 3, axis=0)
    poses[:, :, :2] += jitter
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.95, 0.5, 0.3, 0.2, 0.4])
    return poses, scores


def test_oks_nms_removes_duplicates_and_keeps_distinct_people():
    poses, scores = duplicated_crowd()
    assert oks_nms(poses, scores).tolist() == [0, 4, 8]


def test_oks_nms_only_suppresses_within_one_image():
    poses = np.repeat(people([(100, 200)]), 2, axis=0)
    scores = np.array([0.9, 0.8])
    assert oks_nms(poses, scores).tolist() == [0]
    assert oks_nms(poses, scores, image_ids=[7, 8]).tolist() == [0, 1]
    assert oks_nms(poses, scores, image_ids=[7, 7]).tolist() == [0]


def test_oks_nms_threshold_decides_how_close_is_a_duplicate():
    poses = np.repeat(people([(100, 200)]), 2, axis=0)
    poses[1, :, 0] += 12.0  # OKS about 0.5 with the first
    scores = np.array([0.9, 0.8])
    assert oks_nms(poses, scores, threshold=0.9).tolist() == [0, 1]
    assert oks_nms(poses, scores, threshold=0.3).tolist() == [0]


def test_visibility_threshold_counts_only_keypoints_confident_in_both_poses():
    poses = np.repeat(people([(100, 200)]), 2, axis=0)
    poses[1, 5:, 0] += 300.0  # far apart on keypoints 5..16
    poses[1, 5:, 2] = 0.1  # which the second pose is unsure of
    scores = np.array([0.9, 0.8])
    assert oks_nms(poses, scores).tolist() == [0, 1]
    assert oks_nms(poses, scores, visibility_threshold=0.2).tolist() == [0]


def test_areas_default_to_the_keypoint_extent():
    poses, scores = duplicated_crowd()
    extent = np.ptp(poses[:, :, 0], axis=1) * np.ptp(poses[:, :, 1], axis=1)
    assert oks_nms(poses, scores, areas=extent).tolist() == oks_nms(poses, scores).tolist()
    assert oks_nms(poses, scores, areas=np.full(9, 1e-3)).tolist() == list(range(9))


def test_soft_oks_nms_decays_duplicates_and_leaves_distinct_people_alone():
    poses, scores = duplicated_crowd()
    keep, new_scores = soft_oks_nms(poses, scores)
    assert keep.tolist() == list(range(9))
    by_index = dict(zip(keep.tolist(), new_scores.tolist(), strict=True))
    for best in (0, 4, 8):
        assert by_index[best] == pytest.approx(scores[best])
    for duplicate in (1, 2, 3, 5, 6, 7):
        assert by_index[duplicate] < 0.5 * scores[duplicate]


def test_soft_oks_nms_gaussian_decay_follows_its_formula():
    poses = np.repeat(people([(100, 200)]), 2, axis=0)
    poses[1, :, 0] += 10.0
    area = np.ptp(poses[0, :, 0]) * np.ptp(poses[0, :, 1])
    variances = (2 * np.asarray(COCO_SIGMAS)) ** 2
    oks = np.mean(np.exp(-100.0 / variances / (area + np.spacing(1)) / 2))
    _, new_scores = soft_oks_nms(poses, np.array([0.9, 0.8]), threshold=0.5)
    np.testing.assert_allclose(new_scores, [0.9, 0.8 * np.exp(-(oks**2) / 0.5)])
    _, linear = soft_oks_nms(poses, np.array([0.9, 0.8]), decay="linear", threshold=0.5)
    np.testing.assert_allclose(linear, [0.9, 0.8 * (1 - oks)])


def test_soft_oks_nms_keeps_at_most_max_detections_per_image():
    poses = people([(60 * i, 200) for i in range(30)])
    scores = np.linspace(1.0, 0.1, 30)
    keep, _ = soft_oks_nms(poses, scores, image_ids=[1] * 25 + [2] * 5, max_detections=4)
    assert keep.tolist() == [0, 1, 2, 3, 25, 26, 27, 28]
    assert soft_oks_nms(poses, scores, max_detections=None)[0].size == 30


def test_custom_keypoint_counts_need_their_sigmas():
    poses = people([(100, 200), (100, 201)])[:, :5]
    with pytest.raises(InvalidInputError, match="pass sigmas="):
        oks_nms(poses, np.array([0.9, 0.8]))
    assert oks_nms(poses, np.array([0.9, 0.8]), sigmas=[0.05] * 5).tolist() == [0]


@pytest.mark.parametrize(
    ("keypoints", "scores", "options", "message"),
    [
        (np.zeros((2, 17, 2)), np.ones(2), {}, r"\(N, K, 3\)"),
        (np.zeros((2, 17, 3)), np.ones(3), {}, "3 values for 2 poses"),
        (np.zeros((2, 17, 3)), np.ones(2), {"threshold": 1.5}, r"threshold must be .* \[0, 1\]"),
        (np.zeros((2, 17, 3)), np.ones(2), {"image_ids": [1]}, r"image_ids must have shape"),
        (np.zeros((2, 17, 3)), np.ones(2), {"sigmas": [0.1] * 16}, "16 values"),
    ],
)
def test_bad_nms_inputs_are_refused(keypoints, scores, options, message):
    with pytest.raises(InvalidInputError, match=message):
        oks_nms(keypoints, scores, **options)


def test_bad_soft_nms_options_are_refused():
    poses, scores = duplicated_crowd()
    with pytest.raises(InvalidInputError, match="decay"):
        soft_oks_nms(poses, scores, decay="cubic")
    with pytest.raises(InvalidInputError, match="max_detections"):
        soft_oks_nms(poses, scores, max_detections=0)


def test_no_poses_keep_nothing():
    assert oks_nms(np.zeros((0, 17, 3)), np.zeros(0)).size == 0
    keep, new_scores = soft_oks_nms(np.zeros((0, 17, 3)), np.zeros(0), image_ids=[])
    assert keep.size == 0 and new_scores.size == 0
