"""Instance rescoring: box score x mean of the keypoint scores above the threshold."""

from __future__ import annotations

import numpy as np
import pytest

from cocoeval_tools import InvalidInputError, rescore


def test_the_instance_score_is_box_score_times_mean_confident_keypoint_score():
    keypoint_scores = np.array([[0.9, 0.5, 0.1, 0.2], [0.3, 0.3, 0.3, 0.3]])
    scores = rescore(np.array([0.8, 0.5]), keypoint_scores)
    np.testing.assert_allclose(scores, [0.8 * 0.7, 0.5 * 0.3])


def test_keypoints_exactly_at_the_threshold_do_not_count():
    scores = rescore(np.array([1.0]), np.array([[0.2, 0.6]]))
    np.testing.assert_allclose(scores, [0.6])


def test_an_instance_without_confident_keypoints_scores_zero():
    np.testing.assert_array_equal(rescore(np.array([0.9]), np.array([[0.1, 0.05]])), [0.0])


def test_the_threshold_is_configurable():
    np.testing.assert_allclose(rescore(np.array([1.0]), np.array([[0.1, 0.3]]), 0.0), [0.2])


def test_mismatched_counts_are_refused():
    with pytest.raises(InvalidInputError, match="3 instances but box_scores 2"):
        rescore(np.ones(2), np.ones((3, 17)))
    with pytest.raises(InvalidInputError, match="finite"):
        rescore(np.array([np.nan]), np.ones((1, 17)))
