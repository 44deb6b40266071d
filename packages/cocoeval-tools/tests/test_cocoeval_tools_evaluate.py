"""COCO keypoint evaluation: the official numbers, both backends, and the pycocotools traps."""

from __future__ import annotations

import copy
import json
import logging
import subprocess
import sys
import warnings

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval, Params

from cocoeval_tools import (
    COCO_SIGMAS,
    STAT_NAMES,
    BackendUnavailableError,
    CocoStats,
    EmptyResultsWarning,
    GroundTruthError,
    InvalidInputError,
    evaluate,
    synthetic_keypoint_dataset,
)

RECALL_POINTS = 101  # pycocotools interpolates precision at recall 0, 0.01, ..., 1


def perturbed(results: list[dict], noise: float, seed: int = 0) -> list[dict]:
    """Copies of ``results`` with every keypoint moved by ``noise`` x a fixed random offset
    (pixels) and distinct scores."""
    rng = np.random.default_rng(seed)
    moved = copy.deepcopy(results)
    for position, result in enumerate(moved):
        points = np.asarray(result["keypoints"], dtype=np.float64).reshape(-1, 3)
        points[:, :2] += noise * rng.normal(size=(len(points), 2))
        result["keypoints"] = points.ravel().tolist()
        result["score"] = 1.0 - 0.01 * position
    return moved


def direct_pycocotools(ground_truth_path, results, image_ids=None, sigmas=None) -> list[float]:
    """The textbook pycocotools run, for comparison."""
    ground_truth = COCO(str(ground_truth_path))
    evaluator = COCOeval(ground_truth, ground_truth.loadRes(copy.deepcopy(results)), "keypoints")
    if image_ids is not None:
        evaluator.params.imgIds = image_ids
    if sigmas is not None:
        evaluator.params.kpt_oks_sigmas = np.asarray(sigmas)
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    return evaluator.stats.tolist()


def offset_for_oks(annotation: dict, target: float) -> float:
    """Horizontal shift of all keypoints that gives ``annotation`` an OKS of ``target``."""
    visible = np.asarray(annotation["keypoints"][2::3]) > 0
    variances = (2 * np.asarray(COCO_SIGMAS)[visible]) ** 2
    area = annotation["area"] + np.spacing(1)
    low, high = 0.0, 1e4
    for _ in range(200):
        middle = (low + high) / 2
        oks = np.mean(np.exp(-(middle**2) / variances / area / 2))
        low, high = (middle, high) if oks > target else (low, middle)
    return (low + high) / 2


# --- the official numbers -------------------------------------------------------------------


def test_ground_truth_submitted_as_predictions_scores_one(
    ground_truth_path, ground_truth_as_results
):
    result = evaluate(ground_truth_path, ground_truth_as_results)
    assert isinstance(result, CocoStats) and isinstance(result, dict)
    assert list(result) == list(STAT_NAMES)
    for name in ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL"):
        assert result[name] == 1.0, name


def test_one_pose_at_oks_072_fails_exactly_the_five_strictest_thresholds(
    ground_truth, ground_truth_path, ground_truth_as_results
):
    counted = [
        a for a in ground_truth["annotations"] if a["num_keypoints"] > 0 and not a["iscrowd"]
    ]
    target = max(counted, key=lambda annotation: annotation["area"])
    results = copy.deepcopy(ground_truth_as_results)
    moved = next(r for r in results if r["keypoints"] == target["keypoints"])
    shift = offset_for_oks(target, 0.72)
    moved["keypoints"] = [v + shift if i % 3 == 0 else v for i, v in enumerate(moved["keypoints"])]
    moved["score"] = 0.5  # ranked last: at OKS >= 0.75 it is the only false positive
    result = evaluate(ground_truth_path, results)
    people = len(counted)
    reached = sum(point / 100 <= (people - 1) / people for point in range(RECALL_POINTS))
    assert result["AP50"] == 1.0
    assert result["AP75"] == pytest.approx(reached / RECALL_POINTS)
    assert result["AP"] == pytest.approx((5 + 5 * reached / RECALL_POINTS) / 10)
    assert result["AR"] == pytest.approx((5 + 5 * (people - 1) / people) / 10)


def test_more_keypoint_noise_gives_lower_ap(ground_truth_path, ground_truth_as_results):
    scores = [
        evaluate(ground_truth_path, perturbed(ground_truth_as_results, noise))["AP"]
        for noise in (0.0, 2.0, 6.0, 18.0)
    ]
    assert scores[0] == 1.0
    assert scores[0] > scores[1] > scores[2] > scores[3]


def test_a_missed_person_lowers_recall_and_a_false_positive_lowers_only_precision(
    ground_truth_path, ground_truth_as_results
):
    people = len(ground_truth_as_results)
    missed = evaluate(ground_truth_path, ground_truth_as_results[1:])
    assert missed["AR"] == pytest.approx((people - 1) / people)
    impostor = copy.deepcopy(ground_truth_as_results[0])
    impostor["keypoints"] = [
        v + 300.0 if i % 3 != 2 else v for i, v in enumerate(impostor["keypoints"])
    ]
    with_impostor = evaluate(ground_truth_path, [impostor, *ground_truth_as_results])
    assert with_impostor["AR"] == 1.0 and with_impostor["AP"] < 1.0


def test_evaluate_agrees_exactly_with_a_direct_pycocotools_run(
    ground_truth_path, ground_truth_as_results
):
    results = perturbed(ground_truth_as_results, 4.0)[:-2]
    assert (
        list(evaluate(ground_truth_path, results).values())
        == direct_pycocotools(ground_truth_path, results)[: len(STAT_NAMES)]
    )


def test_ground_truth_and_results_can_be_paths_dicts_or_coco_objects(
    tmp_path, ground_truth, ground_truth_path, ground_truth_as_results
):
    results = perturbed(ground_truth_as_results, 3.0)
    results_path = tmp_path / "results.json"
    results_path.write_text(json.dumps(results))
    expected = evaluate(ground_truth_path, results)
    assert evaluate(str(ground_truth_path), str(results_path)) == expected
    assert evaluate(ground_truth, results_path) == expected
    assert evaluate(COCO(str(ground_truth_path)), results) == expected


def test_coco_sigmas_are_pycocotools_own_to_the_bit():
    assert list(COCO_SIGMAS) == Params(iouType="keypoints").kpt_oks_sigmas.tolist()


def test_evaluation_leaves_the_results_untouched(ground_truth_path, ground_truth_as_results):
    before = copy.deepcopy(ground_truth_as_results)
    evaluate(ground_truth_path, ground_truth_as_results)
    assert ground_truth_as_results == before


def test_evaluation_prints_nothing_and_logs_the_backend_output_at_debug_level(
    capsys, caplog, ground_truth_path, ground_truth_as_results
):
    with caplog.at_level(logging.DEBUG, logger="cocoeval_tools"):
        evaluate(ground_truth_path, ground_truth_as_results)
        evaluate(ground_truth_path, ground_truth_as_results, backend="faster-coco-eval")
    assert capsys.readouterr().out == ""
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any("Accumulating evaluation results" in message for message in debug)


def test_the_result_prints_as_a_table():
    stats = np.linspace(0.1, 1.0, 12)  # pycocotools' stats may run longer than the 10 names
    result = CocoStats.from_stats(stats)
    lines = str(result).splitlines()
    assert lines[0].split("|")[1:-1] == [f" {name.ljust(5)} " for name in STAT_NAMES]
    assert lines[2].split("|")[1].strip() == "0.100"
    assert list(result.values()) == stats[:10].tolist()
    assert result.table(digits=1).splitlines()[2].split("|")[2].strip() == "0.2"


# --- the faster backend ---------------------------------------------------------------------


def assert_same_stats(first: dict, second: dict) -> None:
    assert list(first) == list(second)
    for name in first:
        assert abs(first[name] - second[name]) <= 1e-6, name


def test_both_backends_agree_on_the_real_sample(ground_truth_path, ground_truth_as_results):
    for noise in (0.0, 3.0, 10.0):
        results = perturbed(ground_truth_as_results, noise, seed=int(noise))
        assert_same_stats(
            evaluate(ground_truth_path, results),
            evaluate(ground_truth_path, results, backend="faster-coco-eval"),
        )


@pytest.mark.parametrize("seed", [0, 1])
def test_both_backends_agree_on_a_synthetic_set(seed):
    ground_truth, results = synthetic_keypoint_dataset(150, seed=seed)
    reference = evaluate(ground_truth, results)
    assert 0.3 < reference["AP"] < 0.95
    assert_same_stats(reference, evaluate(ground_truth, results, backend="faster-coco-eval"))
    subset = list(range(1, 150, 3))
    assert_same_stats(
        evaluate(ground_truth, results, image_ids=subset),
        evaluate(ground_truth, results, image_ids=subset, backend="faster-coco-eval"),
    )


def test_a_missing_faster_backend_is_named_with_its_install_line(monkeypatch, ground_truth_path):
    monkeypatch.setitem(sys.modules, "faster_coco_eval", None)  # makes the import fail
    with pytest.raises(BackendUnavailableError, match=r"pip install 'cocoeval-tools\[fast\]'"):
        evaluate(ground_truth_path, [], backend="faster-coco-eval")


def test_the_package_imports_without_faster_coco_eval():
    code = (
        "import sys; sys.modules['faster_coco_eval'] = None\n"
        "import cocoeval_tools\n"
        "print(sorted(m for m in sys.modules if m.startswith('faster_coco_eval')))"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "['faster_coco_eval']"  # only the blocker, never imported


def test_an_unknown_backend_is_refused(ground_truth_path):
    with pytest.raises(InvalidInputError, match="backend must be one of pycocotools"):
        evaluate(ground_truth_path, [], backend="fast")


# --- the pycocotools traps ------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["pycocotools", "faster-coco-eval"])
def test_empty_results_give_zeros_and_a_warning(ground_truth_path, backend):
    with pytest.warns(EmptyResultsWarning, match="no keypoint results"):
        result = evaluate(ground_truth_path, [], backend=backend)
    assert result == dict.fromkeys(STAT_NAMES, 0.0)


def test_empty_results_still_have_their_sigmas_checked(ground_truth_path):
    with pytest.raises(InvalidInputError, match="sigmas holds 3 values"), warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptyResultsWarning)
        evaluate(ground_truth_path, [], sigmas=[0.1] * 3)


def test_results_for_images_missing_from_the_ground_truth_are_named(
    ground_truth_path, ground_truth_as_results
):
    strays = [dict(ground_truth_as_results[0], image_id=image_id) for image_id in (99, 7)]
    with pytest.raises(
        GroundTruthError, match=r"2 image\(s\) missing from the ground truth: 7, 99"
    ):
        evaluate(ground_truth_path, ground_truth_as_results + strays)


def test_a_subset_of_images_restricts_the_ground_truth_to_it(
    ground_truth_path, ground_truth_as_results
):
    only_785 = [r for r in ground_truth_as_results if r["image_id"] == 785]
    assert evaluate(ground_truth_path, only_785)["AR"] < 0.2  # the other images' people missed
    # one person: pycocotools' precision is 1 / (1 + eps), a hair below 1
    assert evaluate(ground_truth_path, only_785, image_ids=[785])["AP"] == pytest.approx(1.0)
    subset = [785, 196141]
    results = perturbed(ground_truth_as_results, 3.0)
    in_subset = [r for r in results if r["image_id"] in subset]
    assert (
        list(evaluate(ground_truth_path, results, image_ids=subset).values())
        == (direct_pycocotools(ground_truth_path, in_subset, image_ids=subset)[: len(STAT_NAMES)])
    )


def test_a_subset_naming_unknown_images_is_refused(ground_truth_path, ground_truth_as_results):
    with pytest.raises(GroundTruthError, match=r"image_ids name 1 image\(s\) missing.*: 12345"):
        evaluate(ground_truth_path, ground_truth_as_results, image_ids=[785, 12345])
    with pytest.raises(InvalidInputError, match="image_ids is empty"):
        evaluate(ground_truth_path, ground_truth_as_results, image_ids=[])


def test_custom_keypoint_counts_work_with_their_sigmas():
    ground_truth, results = synthetic_keypoint_dataset(60, num_keypoints=5, seed=3)
    sigmas = [0.05, 0.06, 0.07, 0.08, 0.09]
    result = evaluate(ground_truth, results, sigmas=sigmas)
    assert 0.2 < result["AP"] < 1.0
    assert_same_stats(
        result, evaluate(ground_truth, results, sigmas=sigmas, backend="faster-coco-eval")
    )
    wider = evaluate(ground_truth, results, sigmas=[2 * s for s in sigmas])
    assert wider["AP"] > result["AP"]  # larger sigmas forgive more error


def test_custom_keypoint_counts_without_sigmas_are_refused():
    ground_truth, results = synthetic_keypoint_dataset(5, num_keypoints=5)
    with pytest.raises(InvalidInputError, match="5 keypoints, not COCO's 17: pass sigmas="):
        evaluate(ground_truth, results)
    with pytest.raises(InvalidInputError, match="sigmas holds 4 values"):
        evaluate(ground_truth, results, sigmas=[0.1] * 4)


def test_results_with_another_keypoint_count_than_the_ground_truth_are_refused(ground_truth_path):
    results = [{"image_id": 785, "category_id": 1, "keypoints": [1.0, 2.0, 1.0] * 5, "score": 1.0}]
    with pytest.raises(GroundTruthError, match="results hold 5 keypoints per pose but"):
        evaluate(ground_truth_path, results, sigmas=[0.1] * 5)


def test_results_in_unknown_categories_are_refused(ground_truth_path, ground_truth_as_results):
    stray = dict(ground_truth_as_results[0], category_id=2)
    with pytest.raises(GroundTruthError, match="category_id 2"):
        evaluate(ground_truth_path, [*ground_truth_as_results, stray])


def test_ground_truth_that_is_not_a_keypoints_file_is_refused(tmp_path, ground_truth):
    del ground_truth["annotations"][3]["num_keypoints"]
    with pytest.raises(GroundTruthError, match=r"lacks 'num_keypoints'.*keypoints file"):
        evaluate(ground_truth, [])
    with pytest.raises(GroundTruthError, match="lacks a 'images' list"):
        evaluate({"annotations": []}, [])
    with pytest.raises(GroundTruthError, match="not found"):
        evaluate(tmp_path / "missing.json", [])
