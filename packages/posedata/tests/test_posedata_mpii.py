"""mpii_to_coco: MPII's JSON annotations (HRNet's and mmpose's format) to a COCO keypoints file
that converts as MPII's 16 keypoints; boxes from centre and scale, head sizes for PCKh."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import posedata
from posedata import DataError
from posedata.mpii import HEAD_FROM_BOXES, HEAD_FROM_SEGMENT, mpii_to_coco, read_head_boxes

NAMES = posedata.MPII.keypoint_names


def _person(image: str, center, scale: float, offset=(0.0, 0.0)) -> dict:
    """An MPII entry (1-based pixels): joints on a vertical line through the centre."""
    joints = [
        [center[0] + offset[0] + 3 * j, center[1] + offset[1] - 80 * scale + 10 * j * scale]
        for j in range(16)
    ]
    joints[NAMES.index("head_top")] = [center[0], center[1] - 90 * scale]
    joints[NAMES.index("upper_neck")] = [center[0], center[1] - 60 * scale]  # 30 x scale px apart
    visible = [1] * 16
    visible[NAMES.index("left_ankle")] = 0
    joints[NAMES.index("left_ankle")] = [-1, -1]
    return {"image": image, "center": list(center), "scale": scale, "joints": joints,
            "joints_vis": visible}  # fmt: skip


@pytest.fixture
def mpii(tmp_path) -> tuple[Path, Path]:
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    cv2.imwrite(str(images / "015601864.jpg"), pixels)
    cv2.imwrite(  # a progressive JPEG: its size is in another start-of-frame marker
        str(images / "000003072.jpg"), pixels[:200, :300], [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]
    )
    people = [
        _person("015601864.jpg", (161.0, 121.0), 0.8),
        _person("015601864.jpg", (300.0, 100.0), 0.5),
        _person("000003072.jpg", (150.0, 100.0), 0.6),
        _person("missing.jpg", (100.0, 100.0), 0.5),
    ]
    annotations = tmp_path / "mpii_train.json"
    annotations.write_text(json.dumps(people))
    return annotations, images


def test_people_become_coco_annotations_with_mpii_keypoints(mpii, tmp_path, caplog):
    annotations, images = mpii
    out = tmp_path / "coco" / "mpii_train.json"
    report = mpii_to_coco(annotations, images, out)
    coco = json.loads(out.read_text())
    assert report.annotations == 3 and report.images == 2
    assert report.skipped_images == ("missing.jpg",) and "missing.jpg" in caplog.text
    assert report.head_size == HEAD_FROM_SEGMENT == coco["info"]["head_size"]
    sizes = {im["file_name"]: (im["height"], im["width"], im["id"]) for im in coco["images"]}
    assert sizes == {"015601864.jpg": (240, 320, 15601864), "000003072.jpg": (200, 300, 3072)}
    first = coco["annotations"][0]
    # Centre moved down 15 x scale px, both to 0-based pixels; a square of 200 x scale.
    cx, cy, side = 161.0 - 1, 121.0 + 15 * 0.8 - 1, 200 * 0.8
    assert first["bbox"] == pytest.approx([cx - side / 2, cy - side / 2, side, side])
    assert first["area"] == pytest.approx(side * side)
    assert first["head_size"] == pytest.approx(30 * 0.8)  # head_top to upper_neck
    points = np.array(first["keypoints"]).reshape(16, 3)
    entry = json.loads(annotations.read_text())[0]
    np.testing.assert_allclose(points[:, :2][points[:, 2] > 0], np.array(entry["joints"])[
        np.array(entry["joints_vis"]) > 0] - 1)  # fmt: skip
    assert points[NAMES.index("left_ankle")].tolist() == [0, 0, 0]
    assert first["num_keypoints"] == 15
    second = coco["annotations"][1]  # its box reaches past the image's right edge: clipped
    assert second["bbox"][0] + second["bbox"][2] == pytest.approx(319.0)
    assert second["area"] == pytest.approx(second["bbox"][2] * second["bbox"][3])


def test_the_coco_file_converts_as_mpii(mpii, tmp_path):
    annotations, images = mpii
    out = tmp_path / "mpii_train.coco.json"
    mpii_to_coco(annotations, images, out)
    manifest = posedata.convert_coco(out, images, tmp_path / "data", split="train")
    assert posedata.DatasetInfo.from_dict(manifest["dataset_info"]) == posedata.MPII
    assert manifest["counts"]["examples"] == 3


_CORNERS = np.array([[[10, 20], [40, 60]], [[0, 0], [6, 8]], [[5, 5], [35, 45]], [[0, 0], [3, 4]]])


def test_head_boxes_give_the_official_head_size(mpii, tmp_path):
    annotations, images = mpii
    boxes = tmp_path / "head_boxes.json"
    boxes.write_text(json.dumps(_CORNERS.reshape(4, 4).tolist()))
    out = tmp_path / "val.json"
    report = mpii_to_coco(annotations, images, out, head_boxes=boxes)
    coco = json.loads(out.read_text())
    assert report.head_size == HEAD_FROM_BOXES == coco["info"]["head_size"]
    # 0.6 x the diagonals 50, 10 and 50; the fourth person's image is missing.
    assert [a["head_size"] for a in coco["annotations"]] == pytest.approx([30.0, 6.0, 30.0])
    boxes.write_text(json.dumps(_CORNERS[:2].reshape(2, 4).tolist()))
    with pytest.raises(DataError, match="2 boxes for the 4 people"):
        mpii_to_coco(annotations, images, out, head_boxes=boxes)


def test_head_boxes_are_read_from_mpii_gt_valid_mat(tmp_path):
    scipy_io = pytest.importorskip("scipy.io")
    mat = tmp_path / "gt_valid.mat"
    scipy_io.savemat(mat, {"headboxes_src": np.transpose(_CORNERS, [1, 2, 0]).astype(float)})
    assert read_head_boxes(mat)[:2] == [((10.0, 20.0), (40.0, 60.0)), ((0.0, 0.0), (6.0, 8.0))]
    scipy_io.savemat(mat, {"pos_gt_src": np.zeros((16, 2, 3))})
    with pytest.raises(DataError, match="no 'headboxes_src'"):
        read_head_boxes(mat)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"images": [], "annotations": []}, "looks like a COCO file"),
        ([{"image": "a.jpg", "center": [1, 2], "scale": 1.0, "joints": [[0, 0]] * 15,
           "joints_vis": [1] * 16}], r"entry 0: 'joints' must be a list of 16"),
        ([{"image": "../a.jpg", "center": [1, 2], "scale": 1.0}], "entry 0: 'image'"),
        ([{"image": "a.jpg", "center": [1, 2], "scale": -1.0}], "'scale' must be positive"),
    ],
)  # fmt: skip
def test_bad_files_are_one_line_naming_file_and_field(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(content))
    with pytest.raises(DataError, match=message) as error:
        mpii_to_coco(path, tmp_path, tmp_path / "out.json")
    assert str(path) in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "out.json").exists()


def test_progressive_and_baseline_jpeg_sizes_are_read_from_the_header(mpii):
    from posedata.mpii import _image_size

    _, images = mpii
    assert _image_size(str(images), "000003072.jpg") == (200, 300)
    assert _image_size(str(images), "015601864.jpg") == (240, 320)
    assert _image_size(str(images), "missing.jpg") is None
