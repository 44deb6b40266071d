"""The real COCO sample end to end: convert with detections, train a few steps, evaluate with
detector boxes and the flip test. Reaches the sample only through EVOPOSE_COCO_MINI."""

import json
import os
from pathlib import Path

import keras
import pytest

from evopose.cli import main

TINY = Path(__file__).resolve().parents[1] / "configs" / "tiny_synthetic.yaml"


@pytest.fixture(scope="module")
def coco_mini() -> Path:
    location = os.environ.get("EVOPOSE_COCO_MINI")
    if not location:
        pytest.skip("EVOPOSE_COCO_MINI is not set: the real COCO sample is not available")
    path = Path(location)
    if not (path / "test_coco.json").is_file():
        pytest.skip(f"EVOPOSE_COCO_MINI={location} holds no test_coco.json")
    return path


@pytest.fixture(scope="module")
def converted(coco_mini, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("coco") / "data"
    common = ["--annotations", str(coco_mini / "test_coco.json"), "--images", str(coco_mini)]
    assert main(["data", "convert", "--split", "train", *common, "--out", str(out)]) == 0
    detections = str(coco_mini / "test_coco_det_AP_H_56.json")
    assert main(["data", "convert", "--split", "val", *common, "--detections", detections,
                 "--out", str(out)]) == 0  # fmt: skip
    return out


def test_convert_writes_ground_truth_and_detector_splits(converted, coco_mini):
    train = json.loads((converted / "train" / "manifest.json").read_text())
    dets = json.loads((converted / "val-dets" / "manifest.json").read_text())
    assert 0 < train["counts"]["examples"] <= 14  # the sample's 14 people, minus unusable ones
    assert dets["counts"]["examples"] == len(
        json.loads((coco_mini / "test_coco_det_AP_H_56.json").read_text())
    )


def test_train_a_few_steps_then_evaluate_with_detector_boxes_and_flip(converted, tmp_path, capsys):
    run = tmp_path / "run"
    overrides = [
        f"data.root={converted}",
        "train.epochs=1",
        "train.batch_size=4",
        "train.val_batch_size=4",
        "train.steps_per_epoch=2",
        "train.warmup_epochs=0",
        "train.precision=mixed_bfloat16",  # the TPU recipe's precision, on the CPU
    ]
    sets = [arg for item in overrides for arg in ("--set", item)]
    assert main(["train", str(TINY), "--run-dir", str(run), *sets]) == 0
    saved = keras.saving.load_model(run / "best.keras", compile=False)
    assert {layer.dtype_policy.name for layer in saved.layers} == {"float32"}  # deployable
    results = tmp_path / "results.json"
    code = main(
        ["eval", str(run / "config.yaml"), "--weights", str(run / "best.keras"),
         "--boxes", "detections", "--out", str(results)]
    )  # fmt: skip
    assert code == 0
    assert "| AP " in capsys.readouterr().out
    summary = json.loads(results.with_name("results.metrics.json").read_text())
    assert summary["boxes"] == "detections" and summary["flip"] is True
    assert summary["images"] == 4 and summary["instances"] == 118
    assert set(summary["metrics"]) >= {"AP", "AP50", "AP75", "APM", "APL", "AR"}
    assert all(-1.0 <= v <= 1.0 for v in summary["metrics"].values())
    assert len(json.loads(results.read_text())) == 118


def test_the_ground_truth_kept_beside_the_shards_scores_as_the_annotation_file(
    converted, coco_mini
):
    """The compact ground truth `data convert` keeps beside the val shards (so a dataset copied
    to gs:// evaluates without its annotation file) gives the annotation file's AP, to the bit,
    on the real sample's people (crowds and unlabelled people included)."""
    import numpy as np

    import cocoeval_tools

    original = json.loads((coco_mini / "test_coco.json").read_text())
    rng = np.random.default_rng(0)
    results = []
    for annotation in original["annotations"]:
        if annotation.get("num_keypoints", 0) == 0:
            continue
        keypoints = np.array(annotation["keypoints"], dtype=np.float64).reshape(-1, 3)
        keypoints[:, :2] += rng.normal(0, 4, size=(len(keypoints), 2))
        keypoints[:, 2] = 1.0
        results.append(
            {
                "image_id": annotation["image_id"],
                "category_id": annotation["category_id"],
                "keypoints": keypoints.ravel().round(2).tolist(),
                "score": float(rng.uniform(0.5, 1.0)),
            }
        )
    expected = dict(cocoeval_tools.evaluate(coco_mini / "test_coco.json", results))
    assert 0.2 < expected["AP"] < 1.0
    for split in ("val", "val-dets"):
        kept = converted / split / "ground_truth.json"
        assert kept.stat().st_size < (coco_mini / "test_coco.json").stat().st_size
        assert dict(cocoeval_tools.evaluate(kept, results)) == expected
