"""Synthetic data end to end: synth -> convert -> train a tiny network -> eval (clearly non-zero
AP) -> predict (annotated picture) -> export (reloaded, matching outputs)."""

import csv
import json

import cv2
import keras
import numpy as np
import pytest
import yaml

from evopose.cli import main
from evopose.config import load_config


def test_synth_writes_every_split_with_a_manifest(synthetic_root):
    for split in ("train", "val", "val-dets"):
        manifest = json.loads((synthetic_root / split / "manifest.json").read_text())
        assert manifest["counts"]["examples"] > 0
        assert list((synthetic_root / split).glob("*.tfrecord"))
    assert (synthetic_root / "coco" / "val.json").is_file()


def test_training_leaves_a_complete_run_folder(trained_run):
    expected = {
        "config.yaml",
        "history.csv",
        "history.json",
        "loss_curve.png",
        "best.weights.h5",
        "model.keras",
        "best.keras",
        "result.json",
        "tensorboard",
    }
    assert expected <= {p.name for p in trained_run.iterdir()}
    assert not (trained_run / "checkpoint").exists()  # removed once the run finished
    assert not [p for p in trained_run.iterdir() if p.name.startswith(".")]  # no temporaries
    assert any((trained_run / "tensorboard").rglob("events.out.tfevents.*"))
    assert cv2.imread(str(trained_run / "loss_curve.png")) is not None


def test_history_has_one_row_per_epoch_and_the_validation_loss_falls(trained_run):
    config = load_config(trained_run / "config.yaml")
    with open(trained_run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == list(range(1, config.train.epochs + 1))
    history = json.loads((trained_run / "history.json").read_text())
    assert set(history) >= {"loss", "heatmap_loss", "val_loss", "val_heatmap_loss", "learning_rate"}
    assert min(history["val_heatmap_loss"][1:]) < history["val_heatmap_loss"][0]
    result = json.loads((trained_run / "result.json").read_text())
    assert result["best_val_loss"] == min(history["val_heatmap_loss"])
    assert history["val_heatmap_loss"][result["best_epoch"] - 1] == result["best_val_loss"]


def test_saved_config_is_the_effective_config(trained_run, synthetic_root):
    saved = yaml.safe_load((trained_run / "config.yaml").read_text())
    assert saved["data"]["root"] == str(synthetic_root)


def test_best_model_holds_the_best_epoch_weights(trained_run):
    best = keras.saving.load_model(trained_run / "best.keras", compile=False)
    final = keras.saving.load_model(trained_run / "model.keras", compile=False)
    model = keras.saving.load_model(trained_run / "model.keras", compile=False)
    model.load_weights(trained_run / "best.weights.h5")
    for a, b in zip(best.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert best.count_params() == final.count_params()


@pytest.fixture(scope="module")
def evaluation(trained_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "results.json"
    config = str(trained_run / "config.yaml")
    code = main(["eval", config, "--weights", str(trained_run / "best.keras"), "--out", str(out)])
    assert code == 0
    return out


def test_eval_gives_the_ap_of_a_correct_pipeline(evaluation):
    metrics = json.loads(evaluation.with_name("results.metrics.json").read_text())["metrics"]
    # 0.26 AP / 0.75 AP50 after the tiny config's 288 steps with correct crops (BENCHMARKS.md);
    # 0.005 / 0.04 when Grappler miscompiled the crop transform.
    assert metrics["AP"] > 0.2, metrics
    assert metrics["AP50"] > 0.6, metrics


def test_eval_writes_coco_results_for_detector_boxes(evaluation, synthetic_root):
    results = json.loads(evaluation.read_text())
    detections = json.loads((synthetic_root / "coco" / "val_detections.json").read_text())
    assert len(results) == len(detections)
    assert {"image_id", "category_id", "keypoints", "score"} <= set(results[0])
    assert len(results[0]["keypoints"]) == 17 * 3


def test_eval_limit_scores_only_the_first_images(trained_run, tmp_path, capsys):
    out = tmp_path / "limited.json"
    code = main(
        ["eval", str(trained_run / "config.yaml"), "--weights", str(trained_run / "best.keras"),
         "--limit", "2", "--boxes", "ground_truth", "--no-flip", "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    assert "| AP " in capsys.readouterr().out
    summary = json.loads(out.with_name("limited.metrics.json").read_text())
    assert summary["images"] == 2 and summary["boxes"] == "ground_truth" and not summary["flip"]
    assert len({r["image_id"] for r in json.loads(out.read_text())}) == 2


def test_predict_draws_the_poses_on_a_picture(trained_run, synthetic_root, tmp_path, capsys):
    image = sorted((synthetic_root / "coco" / "images" / "val").iterdir())[0]
    annotations = json.loads((synthetic_root / "coco" / "val.json").read_text())
    image_id = next(i["id"] for i in annotations["images"] if i["file_name"] == image.name)
    boxes = {
        image.name: [a["bbox"] for a in annotations["annotations"] if a["image_id"] == image_id]
    }
    (tmp_path / "boxes.json").write_text(json.dumps(boxes))
    out = tmp_path / "out"
    code = main(
        ["predict", "--weights", str(trained_run / "best.keras"), str(image),
         "--boxes", str(tmp_path / "boxes.json"), "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    drawn = cv2.imread(str(out / image.name))
    assert drawn is not None and drawn.shape == cv2.imread(str(image)).shape
    assert np.abs(drawn.astype(int) - cv2.imread(str(image)).astype(int)).max() > 100
    people = json.loads((out / "keypoints.json").read_text())[image.name]
    assert len(people) == len(boxes[image.name])
    assert np.array(people[0]["keypoints"]).shape == (17, 3)


@pytest.mark.parametrize("fmt", ["saved_model", "tflite", "onnx"])
def test_export_reloads_with_matching_outputs(trained_run, tmp_path, capsys, fmt):
    suffix = {"saved_model": "", "tflite": ".tflite", "onnx": ".onnx"}[fmt]
    out = tmp_path / f"exported{suffix}"
    code = main(
        ["export", "--weights", str(trained_run / "best.keras"), "--format", fmt, "--out", str(out)]
    )
    assert code == 0, capsys.readouterr().err
    assert out.exists()
    assert "reloaded outputs differ from Keras by at most" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporaries left
