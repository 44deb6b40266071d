"""One crop path: `evopose predict` and `evopose eval` give the same keypoints for the same image,
box and model, and the commands stop before any work where TensorFlow miscomputes the crops."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from evopose.cli import main
from posedata.records import parse_example

TINY_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "tiny_synthetic.yaml"


@pytest.fixture(scope="module")
def ground_truth_eval(trained_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("gt-eval") / "results.json"
    code = main(
        ["eval", str(trained_run / "config.yaml"), "--weights", str(trained_run / "best.keras"),
         "--boxes", "ground_truth", "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    return json.loads(out.read_text())


def test_predict_and_eval_agree_on_the_same_images_boxes_and_model(
    trained_run, synthetic_root, ground_truth_eval, tmp_path
):
    annotations = json.loads((synthetic_root / "coco" / "val.json").read_text())
    images = sorted(annotations["images"], key=lambda i: i["id"])[:3]
    # The boxes as converted (clipped to the image), which is what eval crops.
    shard_boxes: dict[int, list] = {}
    for record in tf.data.TFRecordDataset(
        sorted(map(str, (synthetic_root / "val").glob("*.tfrecord")))
    ):
        example = parse_example(record, 17)
        shard_boxes.setdefault(int(example["image_id"]), []).append(example["box"].numpy().tolist())
    folder = tmp_path / "images"
    folder.mkdir()
    boxes = {}
    for image in images:
        (folder / image["file_name"]).symlink_to(
            synthetic_root / "coco" / "images" / "val" / image["file_name"]
        )
        boxes[image["file_name"]] = shard_boxes[image["id"]]
    (tmp_path / "boxes.json").write_text(json.dumps(boxes))
    out = tmp_path / "out"
    code = main(
        ["predict", "--weights", str(trained_run / "best.keras"), str(folder),
         "--boxes", str(tmp_path / "boxes.json"), "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    predicted = json.loads((out / "keypoints.json").read_text())
    compared = 0
    for image in images:
        evaluated = [
            np.reshape(r["keypoints"], (-1, 3))[:, :2]
            for r in ground_truth_eval
            if r["image_id"] == image["id"]
        ]
        assert len(evaluated) == len(predicted[image["file_name"]]) > 0
        for person in predicted[image["file_name"]]:
            keypoints = np.asarray(person["keypoints"])[:, :2]
            # The same person among eval's results: the closest one, within rounding (0.01 px).
            distance = min(np.abs(keypoints - other).max() for other in evaluated)
            assert distance < 0.02, (image["file_name"], distance)
            compared += 1
    assert compared >= 3


def test_train_stops_with_one_line_where_tensorflow_miscompiles_the_crops(synthetic_root, tmp_path):
    """The tripwire, driven by a miscompiled geometry: the pre-fix `crop_transform` (whose
    `tf.unstack` + `tf.maximum` Grappler's remapper fused wrongly with oneDNN on)."""
    script = textwrap.dedent(
        f"""
        import math, sys
        import tensorflow as tf
        from posedata import transform

        def f(box):
            _, _, w, h = tf.unstack(box)
            return tf.maximum(w, h * 0.75) * 1.25
        box = tf.constant([12.3, 5.7, 340.6, 132.8])
        if abs(float(tf.function(f)(box)) - float(f(box))) < 1e-3:
            print("NO-BUG"); sys.exit(0)

        def old(box, input_size, *, scale=1.0, rotation=0.0, flip=False, padding=1.25):
            box = tf.convert_to_tensor(box, tf.float32)
            height, width = (float(s) for s in input_size)
            x, y, w, h = tf.unstack(box, axis=-1)
            zoom = width / (tf.maximum(w, h * (width / height)) * padding * scale)
            cx, cy = x + 0.5 * w, y + 0.5 * h
            theta = tf.convert_to_tensor(rotation, tf.float32) * (math.pi / 180.0)
            cos, sin = zoom * tf.cos(theta), zoom * tf.sin(theta)
            cos, sin, cx, cy = transform._broadcast(cos, sin, cx, cy)
            tx = 0.5 * (width - 1.0) - (cos * cx + sin * cy)
            ty = 0.5 * (height - 1.0) - (-sin * cx + cos * cy)
            return tf.stack([tf.stack([cos, sin, tx], -1), tf.stack([-sin, cos, ty], -1)], -2)

        transform.crop_transform = old
        from evopose.cli import main
        sys.exit(main(["train", {str(TINY_CONFIG)!r}, "--set", "data.root={synthetic_root}",
                       "--run-dir", {str(tmp_path / "run")!r}]))
        """
    )
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    if done.stdout.strip() == "NO-BUG":
        pytest.skip("this TensorFlow/CPU does not miscompile the pre-fix geometry")
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("evopose: error: TensorFlow") and "TF_ENABLE_ONEDNN_OPTS=0" in line
    assert not (tmp_path / "run").exists()  # stopped before any work


def _with_exif_orientation(jpeg: bytes, orientation: int, byte_order: str) -> bytes:
    """The JPEG with an APP1 EXIF segment holding one IFD0 entry: the orientation tag."""
    order = "little" if byte_order == "II" else "big"
    tiff = byte_order.encode() + (42).to_bytes(2, order) + (8).to_bytes(4, order)
    tiff += (1).to_bytes(2, order)  # one entry
    tiff += (0x0112).to_bytes(2, order) + (3).to_bytes(2, order) + (1).to_bytes(4, order)
    tiff += orientation.to_bytes(2, order) + b"\0\0" + (0).to_bytes(4, order)
    segment = b"Exif\0\0" + tiff
    return jpeg[:2] + b"\xff\xe1" + (len(segment) + 2).to_bytes(2, "big") + segment + jpeg[2:]


@pytest.mark.parametrize("byte_order", ["II", "MM"])
def test_predict_crops_turned_jpegs_from_the_pixels_opencv_shows(tmp_path, byte_order):
    import cv2

    from evopose.prediction import _jpeg_bytes

    ok, encoded = cv2.imencode(".jpg", np.full((40, 30, 3), 128, np.uint8))
    assert ok
    upright, turned = tmp_path / "upright.jpg", tmp_path / "turned.jpg"
    upright.write_bytes(_with_exif_orientation(encoded.tobytes(), 1, byte_order))
    turned.write_bytes(_with_exif_orientation(encoded.tobytes(), 6, byte_order))
    assert _jpeg_bytes(upright) == upright.read_bytes()  # the pipeline's JPEG path
    assert _jpeg_bytes(turned) is None  # OpenCV turned it: crop its pixels instead
    assert cv2.imread(str(turned)).shape[:2] == (30, 40)
