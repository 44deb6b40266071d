"""Keypoint datasets other than COCO end to end (issue 14): the app README's CrowdPose example
run on a small CrowdPose-style dataset, models that carry their keypoint description, and the
command line's checks before TensorFlow loads."""

import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

import posedata
from evopose import keypoints
from evopose.cli import KEYPOINT_SETS, main, native_logs_filtered
from evopose.errors import InputFileError

APP = Path(__file__).resolve().parents[1]
README = APP / "README.md"
TINY = APP / "configs" / "tiny_synthetic.yaml"
TINY_GENOTYPE = [  # tiny_synthetic.yaml's
    [3, 1, 1, 1], [3, 1, 1, 2], [3, 1, 2, 2], [3, 1, 2, 2], [3, 1, 3, 1], [3, 1, 4, 1],
    [3, 1, 4, 1],
]  # fmt: skip

# CrowdPose's 14 keypoints from COCO's 17: shoulders .. ankles, then head (COCO's nose) and
# neck (between the shoulders).
_BODY = list(range(5, 17))


def _to_crowdpose(keypoints17: list[float]) -> list[float]:
    points = np.asarray(keypoints17, dtype=float).reshape(17, 3)
    neck = (points[5] + points[6]) / 2
    neck[2] = 2 if points[5, 2] > 0 and points[6, 2] > 0 else 0
    rows = [*points[_BODY], points[0], neck]
    return [round(float(v), 2) for row in rows for v in row]


def _crowdpose_file(coco_json: Path, out: Path, names: dict[int, str]) -> None:
    """A CrowdPose-style annotation file: CrowdPose's category as its own files have it (with
    COCO's skeleton, which does not fit 14 keypoints) and no 'area' (CrowdPose has none)."""
    data = json.loads(coco_json.read_text())
    category = {
        "id": data["categories"][0]["id"],
        "name": "person",
        "supercategory": "person",
        "keypoints": list(posedata.CROWDPOSE.keypoint_names),
        "skeleton": data["categories"][0]["skeleton"],  # COCO's: limbs up to keypoint 17
    }
    assert max(max(limb) for limb in category["skeleton"]) > 14
    for image in data["images"]:
        image["file_name"] = names[image["id"]]
    for annotation in data["annotations"]:
        annotation.pop("area", None)
        annotation["keypoints"] = _to_crowdpose(annotation["keypoints"])
        annotation["num_keypoints"] = sum(1 for v in annotation["keypoints"][2::3] if v > 0)
    data["categories"] = [category]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data))


@pytest.fixture(scope="module")
def crowdpose_workdir(tmp_path_factory) -> Path:
    """A folder laid out as the README's example expects: crowdpose/images, crowdpose/json
    (CrowdPose-style files made from synthetic people), val detections, and the app's configs
    at apps/evopose/configs."""
    work = tmp_path_factory.mktemp("crowdpose-example")
    raw = posedata.make_synthetic_coco(
        work / "synthetic", num_train_images=40, num_val_images=4, image_size=(128, 96), seed=3
    )
    images = work / "crowdpose" / "images"
    images.mkdir(parents=True)
    for split, folder, annotations, first in (
        ("train", raw.train_images, raw.train_annotations, 100000),
        ("val", raw.val_images, raw.val_annotations, 106000),
    ):
        entries = json.loads(annotations.read_text())["images"]
        names = {entry["id"]: f"{first + k}.jpg" for k, entry in enumerate(entries)}
        for entry in entries:
            shutil.copy(folder / entry["file_name"], images / names[entry["id"]])
        _crowdpose_file(annotations, work / "crowdpose" / "json" / f"crowdpose_{split}.json", names)
    shutil.copy(raw.val_detections, work / "crowdpose" / "val_detections.json")
    (work / "apps" / "evopose").mkdir(parents=True)
    (work / "apps" / "evopose" / "configs").symlink_to(APP / "configs")
    shutil.rmtree(work / "synthetic")
    return work


def _readme_example() -> list[str]:
    """The `evopose` lines of the README's CrowdPose example."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Other keypoint datasets", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.startswith("evopose ")]


@pytest.fixture(scope="module")
def crowdpose_example(crowdpose_workdir) -> dict[str, str]:
    """Runs the README's example in the work folder; the output of each command by name."""
    outputs = {}
    cwd = os.getcwd()
    os.chdir(crowdpose_workdir)
    try:
        for line in _readme_example():
            args = shlex.split(line)[1:]
            buffer = io.StringIO()
            with redirect_stdout(buffer):
                code = main(args)
            assert code == 0, f"{line} -> exit {code}"
            name = args[0] if args[0] != "data" else f"convert-{args[3]}"
            outputs[name] = buffer.getvalue()
    finally:
        os.chdir(cwd)
    return outputs


def test_readme_example_has_every_step():
    commands = [shlex.split(line)[1] for line in _readme_example()]
    assert commands == ["data", "data", "train", "eval", "predict", "info", "export"]


def test_crowdpose_files_convert_as_crowdpose(crowdpose_example, crowdpose_workdir):
    manifest = posedata.read_manifest(str(crowdpose_workdir / "data" / "crowdpose" / "train"))
    info = posedata.DatasetInfo.from_dict(manifest["dataset_info"])
    assert info == posedata.CROWDPOSE  # the official sigmas, flip pairs; skeleton repaired
    assert manifest["counts"]["examples"] > 0


def test_trained_model_carries_crowdpose_keypoints(crowdpose_example, crowdpose_workdir):
    run = crowdpose_workdir / "runs" / "crowdpose"
    for model in ("best.keras", "model.keras"):
        assert keypoints.read_keras(run / model) == posedata.CROWDPOSE
    assert "keypoints: crowdpose (14: left_shoulder" in crowdpose_example["info"]


def test_eval_and_predict_use_the_model_keypoints(crowdpose_example, crowdpose_workdir):
    assert "AP" in crowdpose_example["eval"]  # CrowdPose files have no 'area': derived
    results = crowdpose_workdir / "runs" / "crowdpose" / "best.crowdpose.val-dets.results.json"
    assert f"results: {results.relative_to(crowdpose_workdir)}" in crowdpose_example["eval"]
    assert results.stat().st_mode & 0o040  # readable by the group, like other outputs
    out = crowdpose_workdir / "crowdpose" / "images" / "106000_poses"
    predicted = json.loads((out / "keypoints.json").read_text())
    people = predicted["106000.jpg"]
    assert people and all(len(person["keypoints"]) == 14 for person in people)
    assert (out / "106000.jpg").is_file()


def test_export_carries_the_keypoints(crowdpose_example, crowdpose_workdir):
    export = crowdpose_workdir / "runs" / "crowdpose" / "best_saved_model"
    assert keypoints.read_export(export, "saved_model") == posedata.CROWDPOSE
    assert "keypoints: crowdpose" in crowdpose_example["export"]


def test_eval_refuses_a_model_of_other_keypoints(crowdpose_example, crowdpose_workdir, capsys):
    model = _tiny_model(17)
    path = crowdpose_workdir / "coco17.keras"
    model.save(path)
    config = crowdpose_workdir / "runs" / "crowdpose" / "config.yaml"
    data_root = f"data.root={crowdpose_workdir / 'data' / 'crowdpose'}"
    assert main(["eval", str(config), "--weights", str(path), "--set", data_root]) == 2
    assert "predicts 17 keypoints" in capsys.readouterr().err


# --- models carry their description -------------------------------------------------------


def _tiny_model(num_keypoints: int):
    import posenets

    return posenets.create_model(
        "evopose2d", genotype=TINY_GENOTYPE, input_shape=(64, 48), num_keypoints=num_keypoints
    )


def test_a_14_keypoint_model_without_description_asks_for_keypoints(tmp_path):
    path = tmp_path / "m.keras"
    _tiny_model(14).save(path)
    with pytest.raises(
        InputFileError, match="carries no keypoint description; name its keypoint set"
    ):
        keypoints.model_keypoints(path, 14)
    assert keypoints.model_keypoints(path, 14, "crowdpose") == posedata.CROWDPOSE
    assert keypoints.model_keypoints(path, 14, "aic") == posedata.AIC
    with pytest.raises(InputFileError, match="has 16"):
        keypoints.model_keypoints(path, 14, "mpii")


def test_posetrack_model_is_flip_tested_with_its_own_pairs(tmp_path):
    from evopose.prediction import PosePredictor

    model = _tiny_model(17)
    path = tmp_path / "posetrack.keras"
    model.save(path)
    keypoints.write_keras(path, posedata.POSETRACK18)
    info = keypoints.model_keypoints(path, 17)
    assert info == posedata.POSETRACK18
    predictor = PosePredictor(model, info)
    assert (1, 2) not in predictor.info.flip_pairs  # head_bottom and head_top never swap
    assert predictor.info.flip_pairs != posedata.COCO_PERSON.flip_pairs
    # Older 17-keypoint files without a description are taken as COCO's.
    plain = tmp_path / "plain.keras"
    model.save(plain)
    assert keypoints.model_keypoints(plain, 17) is posedata.COCO_PERSON


def test_tflite_and_onnx_exports_carry_the_description(tmp_path):
    pytest.importorskip("onnx")
    from evopose.export import export_model

    path = tmp_path / "aic.keras"
    _tiny_model(14).save(path)
    keypoints.write_keras(path, posedata.AIC)
    for format, suffix in (("tflite", ".tflite"), ("onnx", ".onnx")):
        report = export_model(path, format, tmp_path / f"aic{suffix}")
        assert report.keypoints.startswith("aic (14:")
        assert keypoints.read_export(report.path, format) == posedata.AIC


def test_cli_keypoint_set_names_are_posedata_ones():
    assert tuple(posedata.KEYPOINT_SETS) == KEYPOINT_SETS


# --- arguments before TensorFlow (point 9) ------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["predict", "--weights", "missing.keras", "."], "--weights: no such file"),
        (["predict", "--weights", "missing.keras", "nowhere.jpg"], "INPUT: no such file"),
        (["export", "--weights", "missing.keras", "--format", "onnx"], "--weights: no such"),
        (["info", "missing.keras"], "MODEL: no such file"),
        (
            ["data", "convert", "--split", "val", "--annotations", "a.json", "--images", "."],
            None,  # argparse: --out is required
        ),
        (
            [
                "data",
                "convert",
                "--split",
                "val",
                "--annotations",
                "a.json",
                "--images",
                ".",
                "--out",
                "o",
            ],
            "--annotations: no such file",
        ),
        (["eval", "missing.yaml", "--weights", "w.keras"], "config file not found"),
        (["eval", str(TINY), "--weights", "w.keras"], "--weights: no such file 'w.keras'"),
        (["train", "missing.yaml"], "config file not found: missing.yaml"),
        (["train", str(TINY), "--set", "data.root=nowhere"], "data.root: no such folder"),
    ],
)
def test_wrong_paths_are_reported_before_tensorflow_loads(tmp_path, args, message):
    script = (
        "import sys\n"
        "from evopose.cli import main\n"
        "try:\n"
        f"    code = main({args!r})\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        "print('EXIT', code, 'tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.stdout.strip().splitlines()[-1] == "EXIT 2 False False", result.stderr
    if message is not None:
        assert result.stderr.startswith("evopose: error: ") and message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_native_log_lines_are_dropped_and_other_output_kept(capfd):
    with native_logs_filtered():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are "
                    b"written to STDERR\n")  # fmt: skip
        os.write(2, b"I0000 00:00:1796303737.602682    6079 cudart_stub.cc:31] no cuda\n")
        os.write(2, b"E0000 00:00:1796303766.053022    6079 cuda_platform.cc:52] cuInit\n")
        os.write(2, b"a line of a library that is not a log line\n")
    err = capfd.readouterr().err
    assert "cudart_stub" not in err and "cuInit" not in err and "absl" not in err
    assert "a line of a library that is not a log line" in err


# --- outputs of other datasets, conversion conflicts, info on a search config (5, 11) -------


def test_eval_refuses_to_overwrite_another_datasets_results(
    crowdpose_example, crowdpose_workdir, tmp_path, capsys
):
    run = crowdpose_workdir / "runs" / "crowdpose"
    out = tmp_path / "results.json"
    common = ["eval", str(run / "config.yaml"), "--weights", str(run / "best.keras")]
    data = crowdpose_workdir / "data" / "crowdpose"
    assert main([*common, "--out", str(out), "--set", f"data.root={data}"]) == 0
    other = tmp_path / "other"
    shutil.copytree(data, other)
    capsys.readouterr()
    assert main([*common, "--out", str(out), "--set", f"data.root={other}"]) == 2
    err = capsys.readouterr().err
    assert "holds the results of another dataset" in err and "--out" in err


def test_conversion_conflict_names_the_command_line_flag(
    crowdpose_example, crowdpose_workdir, capsys
):
    work = crowdpose_workdir
    args = ["data", "convert", "--split", "train", "--images", str(work / "crowdpose" / "images"),
            "--out", str(work / "data" / "crowdpose"), "--annotations"]  # fmt: skip
    assert main([*args, str(work / "crowdpose" / "json" / "crowdpose_val.json")]) == 2
    err = capsys.readouterr().err
    assert "pass --overwrite" in err and "overwrite=True" not in err


def test_info_on_a_search_config(capsys):
    assert main(["info", str(APP / "configs" / "search-cpu.yaml")]) == 0
    assert "GFLOPs" in capsys.readouterr().out


# --- predict --boxes: COCO detection results, --box-score, NMS (point 6) --------------------


def _write(path: Path, data) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_detection_results_by_image_id_with_annotations_score_and_nms(tmp_path):
    from evopose.prediction import boxes_for, read_boxes

    annotations = _write(
        tmp_path / "ann.json",
        {"images": [{"id": 7, "file_name": "val/street.jpg"}], "annotations": [], "categories": []},
    )
    detections = _write(
        tmp_path / "dets.json",
        [
            {"image_id": 7, "category_id": 1, "bbox": [10, 10, 50, 100], "score": 0.9},
            {"image_id": 7, "category_id": 1, "bbox": [12, 11, 50, 100], "score": 0.8},  # overlap
            {"image_id": 7, "category_id": 1, "bbox": [100, 10, 40, 90], "score": 0.5},
            {"image_id": 7, "category_id": 1, "bbox": [200, 10, 40, 90], "score": 0.1},  # low
        ],
    )
    boxes = read_boxes(detections, annotations=annotations, min_score=0.3, nms_iou=0.6)
    assert boxes == {"street.jpg": [[10, 10, 50, 100, 0.9], [100, 10, 40, 90, 0.5]]}
    everything = read_boxes(detections, annotations=annotations)
    assert len(everything["street.jpg"]) == 4
    by_id = read_boxes(detections, min_score=0.3, nms_iou=0.6)  # no annotation file
    assert boxes_for(by_id, "000000000007.jpg") == boxes["street.jpg"]
    assert boxes_for(by_id, "other.jpg") == []


def test_unknown_image_id_and_annotation_file_as_boxes_are_one_line(tmp_path):
    from evopose.prediction import read_boxes

    coco = {"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [], "categories": []}
    annotations = _write(tmp_path / "ann.json", coco)
    with pytest.raises(InputFileError, match=r"is a COCO annotation file .* not person boxes"):
        read_boxes(annotations)
    detections = _write(tmp_path / "d.json", [{"image_id": 2, "bbox": [1, 1, 5, 5], "score": 1}])
    with pytest.raises(InputFileError, match="image_id 2 is not in annotation file"):
        read_boxes(detections, annotations=annotations)


# --- predict: speed, hidden keypoints, visible drawing on large images (point 7) ------------


def test_predict_reports_speed_and_hidden_keypoints_on_folders_and_videos(tmp_path):
    import cv2

    from evopose.prediction import predict_path

    weights = tmp_path / "m.keras"
    _tiny_model(17).save(weights)  # random weights: low keypoint scores
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (96, 80, 3), dtype=np.uint8) for _ in range(3)]
    for index, frame in enumerate(frames[:2]):
        cv2.imwrite(str(folder / f"{index}.png"), frame)
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (80, 96))
    for frame in frames:
        writer.write(frame)
    writer.release()
    box = [[10, 10, 50, 70, 0.9]]
    boxes = _write(tmp_path / "b.json", {"0.png": box, "1.png": box, "0": box, "1": box})
    lines = predict_path(folder, weights, boxes=boxes, out_dir=tmp_path / "out", min_score=0.99)
    assert re.fullmatch(r"2 images in [\d.]+ s \([\d.]+ images/s\)", lines[-2])
    assert re.fullmatch(r"\d+ of 34 keypoints scored below --min-score 0.99 .*", lines[-1])
    lines = predict_path(video, weights, boxes=boxes, out_dir=tmp_path / "v", min_score=0.99)
    assert lines[0].startswith("runtime: ")  # the runtime predict chose (--runtime)
    assert lines[1].endswith(": 3 frames")
    assert re.fullmatch(r"3 frames in [\d.]+ s \([\d.]+ frames/s\)", lines[2])
    assert "of 34 keypoints scored below" in lines[3]  # frames 0 and 1 have a box


def test_boxes_are_drawn_visibly_on_720p_images():
    from evopose.prediction import Person, draw_poses

    canvas = np.zeros((720, 1280, 3), np.uint8)
    person = Person((100, 100, 300, 500), 1.0, np.zeros((17, 3)))
    drawn = draw_poses(canvas, [person], posedata.COCO_PERSON)
    row = drawn[350, 90:112].max(axis=-1)  # across the box's left edge, mid-height
    assert int((row > 0).sum()) >= 3


# --- eval progress, the loss curve (point 10) -----------------------------------------------


def test_eval_shows_progress(crowdpose_example, crowdpose_workdir, tmp_path, capsys):
    run = crowdpose_workdir / "runs" / "crowdpose"
    data = f"data.root={crowdpose_workdir / 'data' / 'crowdpose'}"
    args = ["eval", str(run / "config.yaml"), "--weights", str(run / "best.keras"), "--set", data]
    assert main([*args, "--out", str(tmp_path / "r.json")]) == 0
    assert re.search(r"eval: 100%.*1/1 \[", capsys.readouterr().err)


def test_loss_curve_marks_the_best_epoch_with_whole_epoch_ticks():
    from evopose.runfiles import loss_curve_figure

    history = {"heatmap_loss": [3.0, 2.0, 1.5, 1.2], "val_heatmap_loss": [3.1, 1.9, 2.2, 2.0]}
    figure = loss_curve_figure("run", history)
    axes = figure.axes[0]
    labels = [text.get_text() for text in axes.get_legend().get_texts()]
    assert labels == ["train", "validation", "best: epoch 2"]
    figure.canvas.draw()
    ticks = [t for t in axes.get_xticks() if 1 <= t <= 4]
    assert ticks and all(float(t).is_integer() for t in ticks)
