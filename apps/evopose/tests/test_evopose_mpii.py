"""MPII end to end (issue 14, point 4): MPII's own JSON annotations convert with
`evopose data convert --format mpii`, and `evopose eval` reports PCKh@0.5 next to OKS AP."""

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

import cocoeval_tools
import posedata
from evopose import keypoints
from evopose.cli import main

APP = Path(__file__).resolve().parents[1]
TINY = APP / "configs" / "tiny_synthetic.yaml"
TINY_GENOTYPE = [  # tiny_synthetic.yaml's
    [3, 1, 1, 1], [3, 1, 1, 2], [3, 1, 2, 2], [3, 1, 2, 2], [3, 1, 3, 1], [3, 1, 4, 1],
    [3, 1, 4, 1],
]  # fmt: skip
# MPII's 16 keypoints from COCO's 17 (pelvis, thorax, upper neck and head top made up).
_FROM_COCO = {
    "right_ankle": 16, "right_knee": 14, "right_hip": 12, "left_hip": 11, "left_knee": 13,
    "left_ankle": 15, "right_wrist": 10, "right_elbow": 8, "right_shoulder": 6,
    "left_shoulder": 5, "left_elbow": 7, "left_wrist": 9,
}  # fmt: skip


def _mpii_entry(annotation: dict, file_name: str) -> tuple[dict, list[float]]:
    """An MPII JSON entry (1-based pixels, scale in 200 px) and its head box."""
    points = np.asarray(annotation["keypoints"], dtype=float).reshape(17, 3)
    made = {
        "pelvis": (points[11] + points[12]) / 2,
        "thorax": (points[5] + points[6]) / 2,
        "upper_neck": (points[0] + (points[5] + points[6]) / 2) / 2,
        "head_top": points[0] - [0, 6, 0],
    }
    joints, visible = [], []
    for name in posedata.MPII.keypoint_names:
        point = made[name] if name in made else points[_FROM_COCO[name]]
        seen = point[2] > 0 and (name not in made or all(points[[0, 5, 6, 11, 12], 2] > 0))
        joints.append([round(float(point[0]) + 1, 2), round(float(point[1]) + 1, 2)])
        visible.append(int(seen))
    x, y, w, h = annotation["bbox"]
    scale = max(w, h) / 200
    center = [x + w / 2 + 1, y + h / 2 - 15 * scale + 1]  # as MPII's files place it
    nose = points[0]
    head_box = [nose[0] - 8 + 1, nose[1] - 10 + 1, nose[0] + 8 + 1, nose[1] + 10 + 1]
    entry = {"image": file_name, "center": center, "scale": scale, "joints": joints,
             "joints_vis": visible}  # fmt: skip
    return entry, head_box


@pytest.fixture(scope="module")
def mpii_dataset(tmp_path_factory) -> Path:
    """MPII-format files made from synthetic people, converted with `--format mpii`."""
    work = tmp_path_factory.mktemp("mpii")
    raw = posedata.make_synthetic_coco(
        work / "synthetic", num_train_images=0, num_val_images=6, image_size=(128, 96), seed=5
    )
    coco = json.loads(raw.val_annotations.read_text())
    names = {image["id"]: image["file_name"] for image in coco["images"]}
    labelled = [a for a in coco["annotations"] if any(v > 0 for v in a["keypoints"][2::3])]
    entries, boxes = zip(*(_mpii_entry(a, names[a["image_id"]]) for a in labelled), strict=True)
    (work / "mpii_val.json").write_text(json.dumps(list(entries)))
    (work / "head_boxes.json").write_text(json.dumps(list(boxes)))
    args = ["data", "convert", "--format", "mpii", "--split", "val"]
    args += ["--annotations", str(work / "mpii_val.json"), "--images", str(raw.val_images)]
    args += ["--head-boxes", str(work / "head_boxes.json"), "--out", str(work / "data")]
    assert main(args) == 0
    return work


def test_mpii_files_convert_as_mpii_with_head_sizes(mpii_dataset):
    manifest = posedata.read_manifest(str(mpii_dataset / "data" / "val"))
    assert posedata.DatasetInfo.from_dict(manifest["dataset_info"]) == posedata.MPII
    coco = json.loads((mpii_dataset / "data" / "annotations" / "val.coco.json").read_text())
    assert coco["info"]["head_size"] == "0.6 x head box diagonal"
    assert all(a["head_size"] == pytest.approx(0.6 * np.hypot(16, 20), abs=1e-3)
               for a in coco["annotations"])  # fmt: skip
    assert manifest["counts"]["examples"] == len(coco["annotations"]) > 0


def test_eval_reports_pckh_next_to_oks_ap(mpii_dataset, tmp_path):
    import posenets

    model = posenets.create_model(
        "evopose2d", genotype=TINY_GENOTYPE, input_shape=(64, 48), num_keypoints=16
    )
    weights = tmp_path / "mpii.keras"
    model.save(weights)
    keypoints.write_keras(weights, posedata.MPII)
    out = io.StringIO()
    args = ["eval", str(TINY), "--weights", str(weights), "--boxes", "ground_truth"]
    with redirect_stdout(out):
        code = main([*args, "--set", f"data.root={mpii_dataset / 'data'}"])
    assert code == 0
    runtime, text = out.getvalue().split("\n", 1)
    assert runtime == "runtime: keras (predict_on_batch)"  # eval's default runtime
    assert text.startswith("| AP ")  # OKS AP first, then PCKh by body part
    assert "| PCKh@0.5 | Ankle | Knee | Hip |" in text

    metrics_file = next(tmp_path.glob("mpii.*.metrics.json"))
    record = json.loads(metrics_file.read_text())["pckh"]
    assert record["head_size"] == "0.6 x head box diagonal"
    assert record["excluded_from_mean"] == ["pelvis", "thorax"]
    # The same PCKh from the results file and the converted annotations: each result is one
    # annotation's pose, in the split's order (image id, annotation id).
    coco = json.loads((mpii_dataset / "data" / "annotations" / "val.coco.json").read_text())
    truth = sorted(coco["annotations"], key=lambda a: (a["image_id"], a["id"]))
    results = json.loads(next(tmp_path.glob("mpii.*.results.json")).read_text())
    assert [r["image_id"] for r in results] == [a["image_id"] for a in truth]
    expected = cocoeval_tools.pckh(
        np.array([r["keypoints"] for r in results]).reshape(-1, 16, 3),
        np.array([a["keypoints"] for a in truth]).reshape(-1, 16, 3),
        [a["head_size"] for a in truth],
        exclude=[6, 7],
    )
    assert record["mean"] == pytest.approx(expected.mean, abs=1e-6)
    assert record["counts"]["left_wrist"] == int(expected.counts[15]) > 0


def test_eval_without_detector_boxes_points_to_ground_truth_boxes(mpii_dataset, capsys):
    args = [
        "eval",
        str(TINY),
        "--weights",
        str(TINY),
        "--set",
        f"data.root={mpii_dataset / 'data'}",
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "no converted 'val-dets' split" in err and "--boxes ground_truth" in err


def test_pckh_needs_ground_truth_boxes_and_says_so(mpii_dataset, tmp_path, caplog):
    from evopose.config import load_config
    from evopose.evaluation import _pckh

    info = posedata.MPII
    coco = {"annotations": [{"id": 1, "head_size": 10.0, "keypoints": [0] * 48}]}
    assert _pckh(coco, None, info, "detections", Path("a.json")) is None
    assert "--boxes ground_truth" in caplog.text
    assert _pckh({"annotations": [{"id": 1}]}, None, info, "ground_truth", Path("a.json")) is None
    assert "--format mpii" in caplog.text
    assert load_config(TINY).eval.boxes == "detections"


def test_format_mpii_refuses_other_keypoints_and_head_boxes_need_it(tmp_path, capsys):
    (tmp_path / "a.json").write_text("[]")
    base = ["data", "convert", "--split", "val", "--annotations", str(tmp_path / "a.json")]
    base += ["--images", str(tmp_path), "--out", str(tmp_path / "out")]
    assert main([*base, "--format", "mpii", "--keypoints", "coco"]) == 2
    assert "--format mpii has MPII's keypoints" in capsys.readouterr().err
    assert main([*base, "--head-boxes", str(tmp_path / "a.json")]) == 2
    assert "--head-boxes belongs to --format mpii" in capsys.readouterr().err
