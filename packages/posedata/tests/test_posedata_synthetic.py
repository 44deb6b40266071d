"""The synthetic COCO dataset: valid COCO files, exact keypoints, varied and deterministic."""

import json

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from posedata import COCO_PERSON, DataError
from posedata.synthetic import make_synthetic_coco


def _annotations(path):
    return json.loads(path.read_text())


def test_files_load_with_pycocotools(synthetic):
    for path in (synthetic.train_annotations, synthetic.val_annotations):
        coco = COCO(str(path))
        assert coco.loadCats(1)[0]["keypoints"] == list(COCO_PERSON.keypoint_names)
        assert len(coco.getImgIds()) == (10 if path == synthetic.train_annotations else 6)
        assert len(coco.getAnnIds()) >= len(coco.getImgIds())
    detections = COCO(str(synthetic.val_annotations)).loadRes(str(synthetic.val_detections))
    assert len(detections.getAnnIds()) > 0


def test_images_exist_with_the_annotated_size(synthetic):
    for folder, path in (
        (synthetic.train_images, synthetic.train_annotations),
        (synthetic.val_images, synthetic.val_annotations),
    ):
        for image in _annotations(path)["images"]:
            pixels = cv2.imread(str(folder / image["file_name"]))
            assert pixels.shape == (image["height"], image["width"], 3)


def test_keypoints_follow_coco_visibility_rules(synthetic):
    coco = _annotations(synthetic.train_annotations)
    for ann in coco["annotations"]:
        kp = np.array(ann["keypoints"]).reshape(17, 3)
        assert set(kp[:, 2]) <= {0, 1, 2}
        assert (kp[kp[:, 2] == 0, :2] == 0).all()
        inside = kp[kp[:, 2] > 0, :2]
        assert (inside >= -0.5).all() and (inside[:, 0] < 160 - 0.5).all()
        assert ann["num_keypoints"] == int((kp[:, 2] > 0).sum())
        x, y, w, h = ann["bbox"]
        assert w > 0 and h > 0 and ann["area"] <= w * h
        assert (inside[:, 0] >= x - 1).all() and (inside[:, 0] <= x + w + 1).all()
        assert (inside[:, 1] >= y - 1).all() and (inside[:, 1] <= y + h + 1).all()


def test_dataset_has_occlusion_truncation_and_several_people(tmp_path):
    paths = make_synthetic_coco(tmp_path, num_train_images=40, num_val_images=0, seed=1)
    coco = _annotations(paths.train_annotations)
    visibility = np.concatenate([np.array(a["keypoints"])[2::3] for a in coco["annotations"]])
    assert (visibility == 2).mean() > 0.6
    assert (visibility == 1).sum() > 0  # occluded
    assert (visibility == 0).sum() > 0  # outside the image
    per_image = np.bincount([a["image_id"] for a in coco["annotations"]])
    assert per_image.max() >= 3
    heights = [a["bbox"][3] for a in coco["annotations"]]
    assert max(heights) > 2 * min(heights)


def test_left_side_is_on_the_image_right_for_upright_figures(synthetic):
    coco = _annotations(synthetic.train_annotations)
    pairs = [(5, 6), (11, 12), (1, 2)]  # shoulders, hips, eyes
    right_of = total = 0
    for ann in coco["annotations"]:
        kp = np.array(ann["keypoints"]).reshape(17, 3)
        for left, right in pairs:
            if kp[left, 2] and kp[right, 2]:
                total += 1
                right_of += kp[left, 0] > kp[right, 0]
    assert total > 20 and right_of == total


def test_detections_jitter_the_people_and_add_low_scored_false_boxes(synthetic):
    detections = _annotations(synthetic.val_detections)
    coco = _annotations(synthetic.val_annotations)
    ids = {im["id"] for im in coco["images"]}
    assert {d["image_id"] for d in detections} <= ids
    assert all(d["category_id"] == 1 and 0 < d["score"] <= 1 for d in detections)
    assert sum(d["score"] >= 0.6 for d in detections) == len(coco["annotations"])
    boxes = {tuple(a["bbox"]) for a in coco["annotations"]}
    assert not boxes & {tuple(d["bbox"]) for d in detections}


def test_same_seed_same_files_and_image_i_does_not_depend_on_the_count(tmp_path):
    a = make_synthetic_coco(tmp_path / "a", num_train_images=3, num_val_images=1, seed=4)
    b = make_synthetic_coco(tmp_path / "b", num_train_images=5, num_val_images=1, seed=4)
    c = make_synthetic_coco(tmp_path / "c", num_train_images=3, num_val_images=1, seed=5)
    name = "000000000002.jpg"
    assert (a.train_images / name).read_bytes() == (b.train_images / name).read_bytes()
    assert (a.train_images / name).read_bytes() != (c.train_images / name).read_bytes()
    assert a.val_annotations.read_text() == b.val_annotations.read_text()


def test_bad_arguments_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="image_size"):
        make_synthetic_coco(tmp_path, num_train_images=1, num_val_images=0, image_size=(8, 8))
    with pytest.raises(DataError, match="people_per_image"):
        make_synthetic_coco(tmp_path, num_train_images=1, num_val_images=0, people_per_image=(3, 1))
