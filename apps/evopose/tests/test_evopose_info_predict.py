"""`evopose info` and the pieces of `evopose predict`: boxes files, HOG detector, drawing."""

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

import posedata
from evopose.cli import main
from evopose.errors import InputFileError
from evopose.models import describe_model
from evopose.prediction import HogPeopleDetector, Person, draw_poses, read_boxes

TINY = Path(__file__).resolve().parents[1] / "configs" / "tiny_synthetic.yaml"


def test_info_of_a_config_reports_parameters_gflops_and_output_shape():
    info = describe_model(str(TINY))
    assert info["input"] == "64x48x3"
    assert info["output"] == "32x24x17"
    assert info["output stride"] == "2"
    assert float(info["GFLOPs"]) > 0
    assert int(info["parameters"].split()[0].replace(",", "")) > 1000


def test_info_of_a_paper_config_gives_table_3_sizes():
    info = describe_model(str(TINY.with_name("evopose2d_s.yaml")))
    assert info["parameters"].endswith("(2.53M)")
    assert float(info["GFLOPs"]) == pytest.approx(1.088, abs=0.005)  # SPEC: TF 2.21 profiler
    assert info["output"] == "128x96x17"


def test_info_of_a_saved_model_matches_its_config(trained_run, capsys):
    assert main(["info", str(trained_run / "best.keras")]) == 0
    out = capsys.readouterr().out
    assert "32x24x17" in out and "GFLOPs" in out


def test_info_of_an_unknown_model_name_is_a_user_error(capsys):
    assert main(["info", "no_such_net"]) == 2
    assert "unknown model 'no_such_net'" in capsys.readouterr().err


def test_boxes_file_by_file_name_and_coco_results_list(tmp_path):
    by_name = tmp_path / "a.json"
    by_name.write_text(json.dumps({"x.jpg": [[1, 2, 30, 40], [5, 5, 10, 10, 0.5]]}))
    assert read_boxes(by_name) == {"x.jpg": [[1, 2, 30, 40], [5, 5, 10, 10, 0.5]]}
    listed = tmp_path / "b.json"
    listed.write_text(json.dumps([{"file_name": "y.jpg", "bbox": [1, 2, 3, 4], "score": 0.9}]))
    assert read_boxes(listed) == {"y.jpg": [[1, 2, 3, 4, 0.9]]}


@pytest.mark.parametrize(
    "content, message",
    [
        ("{", "not readable JSON"),
        ('{"x.jpg": [[1, 2, 3]]}', "must be a list of [x, y, w, h]"),
        ('{"x.jpg": [[1, 2, 0, 4]]}', "box of zero size"),
        ('[{"bbox": [1, 2, 3, 4]}]', "has no 'file_name', 'frame' or 'image_id'"),
    ],
)
def test_bad_boxes_file_is_a_clear_error(tmp_path, content, message):
    path = tmp_path / "boxes.json"
    path.write_text(content)
    with pytest.raises(InputFileError, match=message.replace("[", r"\[")):
        read_boxes(path)


def test_drawing_marks_confident_keypoints_and_limbs_only():
    image = np.zeros((100, 80, 3), np.uint8)
    keypoints = np.zeros((17, 3))
    keypoints[:, :2] = [40, 50]
    keypoints[5] = [20, 20, 0.9]  # left shoulder
    keypoints[7] = [20, 60, 0.9]  # left elbow: the limb 5-7 is drawn
    keypoints[6] = [60, 20, 0.05]  # right shoulder below the threshold: not drawn
    person = Person((10, 10, 60, 80), 1.0, keypoints)
    drawn = draw_poses(image, [person], posedata.COCO_PERSON, min_score=0.2)
    assert drawn[40, 20].any()  # on the limb between (20, 20) and (20, 60)
    assert not drawn[20, 60].any()
    assert not image.any()  # the input is left untouched


def test_hog_detector_finds_people_in_a_real_photo():
    location = os.environ.get("EVOPOSE_COCO_MINI")
    if not location:
        pytest.skip("EVOPOSE_COCO_MINI is not set: the real COCO sample is not available")
    image = cv2.imread(str(Path(location) / "000000196141.jpg"))
    boxes, scores = HogPeopleDetector()(image)
    assert boxes.shape[1:] == (4,) and scores.shape == (len(boxes),)
    assert np.all((scores > 0) & (scores < 1))


def test_predict_without_boxes_uses_the_hog_detector_on_a_folder(trained_run, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.jpg", "b.png"):
        cv2.imwrite(str(folder / name), rng.integers(0, 255, (120, 90, 3), dtype=np.uint8))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    out = tmp_path / "out"
    code = main(
        ["predict", "--weights", str(trained_run / "best.keras"), str(folder), "--out", str(out)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "broken.jpg: skipped, not a readable image" in printed
    assert sorted(p.name for p in out.iterdir()) == ["a.jpg", "b.png", "keypoints.json"]
    keypoints = json.loads((out / "keypoints.json").read_text())
    assert set(keypoints) == {"a.jpg", "b.png"}


def test_predict_on_a_corrupt_image_is_one_line_and_writes_nothing(trained_run, tmp_path, capsys):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    out = tmp_path / "out"
    code = main(
        ["predict", "--weights", str(trained_run / "best.keras"), str(broken), "--out", str(out)]
    )
    assert code == 2
    assert capsys.readouterr().err == (
        f"evopose: error: INPUT: '{broken}' is a truncated JPEG (no end-of-image marker); "
        "copy or export it again\n"
    )
    assert not out.exists()


def test_predict_on_a_video_writes_an_annotated_video(trained_run, tmp_path, capsys):
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (96, 128))
    rng = np.random.default_rng(1)
    for _ in range(3):
        writer.write(rng.integers(0, 255, (128, 96, 3), dtype=np.uint8))
    writer.release()
    out = tmp_path / "out"
    code = main(
        ["predict", "--weights", str(trained_run / "best.keras"), str(video), "--out", str(out)]
    )
    assert code == 0
    capture = cv2.VideoCapture(str(out / "clip_poses.mp4"))
    frames = 0
    while capture.read()[0]:
        frames += 1
    assert frames == 3
    assert set(json.loads((out / "keypoints.json").read_text())["clip.avi"]) == {"0", "1", "2"}


def test_wt_config_transfers_efficientnet_b0_weights_into_evopose2d(tmp_path):
    import keras

    from evopose.config import load_config
    from evopose.models import build_model

    source = tmp_path / "efficientnet_b0.keras"
    keras.applications.EfficientNetB0(
        weights=None, include_top=False, input_shape=(256, 192, 3)
    ).save(source)
    config = load_config(TINY.with_name("evopose2d_xs_wt.yaml"), [f"model.transfer_from={source}"])
    model = build_model(config.model)
    parent = keras.saving.load_model(source, compile=False)
    np.testing.assert_array_equal(
        model.get_layer("stem_conv").get_weights()[0],
        parent.get_layer("stem_conv").get_weights()[0],
    )
