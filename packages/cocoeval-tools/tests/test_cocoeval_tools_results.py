"""COCO keypoint results: building, checking, writing and reading them back."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cocoeval_tools import (
    InvalidInputError,
    ResultsFormatError,
    check_results,
    read_results,
    to_coco_results,
    write_results,
)


def test_results_hold_plain_python_numbers_in_the_coco_layout():
    keypoints = np.arange(2 * 17 * 3, dtype=np.float32).reshape(2, 17, 3)
    results = to_coco_results(np.array([785, 40083]), keypoints, np.array([0.5, 0.25]))
    assert [sorted(result) for result in results] == [
        ["category_id", "image_id", "keypoints", "score"]
    ] * 2
    assert results[1]["image_id"] == 40083 and type(results[1]["image_id"]) is int
    assert results[0]["category_id"] == 1 and results[1]["score"] == 0.25
    assert results[0]["keypoints"] == keypoints[0].ravel().tolist()
    assert all(type(value) is float for value in results[0]["keypoints"])
    json.dumps(results)


def test_two_column_keypoints_get_visibility_one():
    results = to_coco_results([1], np.full((1, 2, 2), 7.0), [0.5], category_id=3)
    assert results == [
        {"image_id": 1, "category_id": 3, "keypoints": [7, 7, 1, 7, 7, 1], "score": 0.5}
    ]


@pytest.mark.parametrize(
    ("image_ids", "keypoints", "scores", "message"),
    [
        ([1, 2], np.zeros((2, 17, 4)), [1, 1], r"\(N, K, 2 or 3\)"),
        ([1], np.zeros((2, 17, 3)), [1, 1], "2 integers"),
        ([1.5, 2], np.zeros((2, 17, 3)), [1, 1], "2 integers"),
        ([1, 2], np.zeros((2, 17, 3)), [1], "1 values for 2 poses"),
        ([1, 2], np.full((2, 17, 3), np.inf), [1, 1], "finite"),
    ],
)
def test_malformed_predictions_are_refused(image_ids, keypoints, scores, message):
    with pytest.raises(InvalidInputError, match=message):
        to_coco_results(image_ids, keypoints, scores)


def test_written_results_read_back_equal(tmp_path):
    results = to_coco_results([5, 6], np.random.default_rng(0).uniform(size=(2, 17, 3)), [0.9, 0.1])
    path = write_results(tmp_path / "out" / "results.json", results)
    assert path == tmp_path / "out" / "results.json"
    assert json.loads(path.read_text()) == results
    assert read_results(path) == results
    assert sorted(p.name for p in path.parent.iterdir()) == ["results.json"]


def test_a_failed_write_leaves_no_file_behind(tmp_path):
    unserialisable = [
        {"image_id": 1, "category_id": 1, "keypoints": [0, 0, 1], "score": 1, "x": {1j}}
    ]
    with pytest.raises(TypeError):
        write_results(tmp_path / "results.json", unserialisable)
    assert list(tmp_path.iterdir()) == []


def test_checked_results_are_copies_with_python_numbers():
    original = [
        {
            "image_id": np.int64(3),
            "category_id": 1,
            "keypoints": np.ones(6),
            "score": np.float32(0.5),
        }
    ]
    checked = check_results(original)
    assert checked == [{"image_id": 3, "category_id": 1, "keypoints": [1.0] * 6, "score": 0.5}]
    checked[0]["area"] = 1.0
    assert "area" not in original[0]


@pytest.mark.parametrize(
    ("results", "message"),
    [
        ({"image_id": 1}, "must be a list"),
        ([[1, 2]], r"results\[0\] is a list"),
        (
            [{"image_id": 1, "category_id": 1, "keypoints": [0, 0, 1]}],
            r"results\[0\] lacks 'score'",
        ),
        (
            [{"image_id": "a", "category_id": 1, "keypoints": [0, 0, 1], "score": 1}],
            r"results\[0\]\['image_id'\] must be an integer",
        ),
        (
            [
                {"image_id": 1, "category_id": 1, "keypoints": [0, 0, 1], "score": 1},
                {"image_id": 1, "category_id": 1, "keypoints": [0, 0, 1, 0], "score": 1},
            ],
            r"results\[1\]\['keypoints'\] holds 4 values",
        ),
        (
            [{"image_id": 1, "category_id": 1, "keypoints": [0, np.nan, 1], "score": 1}],
            r"results\[0\]\['keypoints'\] holds NaN",
        ),
        (
            [{"image_id": 1, "category_id": 1, "keypoints": [[0, 0], [1]], "score": 1}],
            r"results\[0\]\['keypoints'\] is not a list of numbers",
        ),
        (
            [{"image_id": 1, "category_id": 1, "keypoints": [0, 0, 1], "score": None}],
            r"results\[0\]\['score'\] must be a number",
        ),
        (
            [
                {"image_id": 1, "category_id": 1, "keypoints": [0, 0, 1], "score": 1},
                {"image_id": 1, "category_id": 1, "keypoints": [0, "a", 1], "score": 1},
            ],
            r"results\[1\]\['keypoints'\] is not a list of numbers",
        ),
    ],
)
def test_malformed_results_are_refused_naming_the_entry(results, message):
    with pytest.raises(ResultsFormatError, match=message):
        check_results(results)


def test_unreadable_results_files_are_refused(tmp_path):
    with pytest.raises(ResultsFormatError, match="not found"):
        read_results(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ResultsFormatError, match="not valid JSON"):
        read_results(tmp_path / "bad.json")
    (tmp_path / "dict.json").write_text("{}")
    with pytest.raises(ResultsFormatError, match="JSON list"):
        read_results(tmp_path / "dict.json")


def test_written_results_get_the_mode_of_other_new_files(tmp_path):
    import os
    import stat

    from cocoeval_tools.results import write_results as write

    old = os.umask(0o022)
    try:
        result = {"image_id": 1, "category_id": 1, "keypoints": [1.0, 2.0, 1.0], "score": 0.5}
        path = write(tmp_path / "r.json", [result])
        plain = tmp_path / "plain.json"
        plain.write_text("[]")
    finally:
        os.umask(old)
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode == stat.S_IMODE(plain.stat().st_mode) == 0o644
