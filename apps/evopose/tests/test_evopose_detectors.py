"""`evopose predict`'s person detectors: an external ONNX detector in the documented format
(the app README), run by onnxruntime, and OpenCV's HOG detector on a downscaled frame."""

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from evopose.cli import main
from evopose.errors import InputFileError
from evopose.prediction import HogPeopleDetector, OnnxPeopleDetector

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

# The boxes the test detectors find, as fractions of the input's width / height:
# x1, y1, x2, y2, score, class (class 2 is not a person).
FRACTIONS = [[0.25, 0.1, 0.75, 0.9, 0.9, 0], [0.0, 0.0, 0.5, 0.5, 0.8, 2]]


def _detector_from_input_shape(path: Path, *, columns: int = 6) -> Path:
    """An ONNX detector (NCHW float input, free height and width) whose boxes are fixed
    fractions of its input's width and height: Shape -> [W, H, W, H] x fractions."""
    rows = np.asarray(FRACTIONS, np.float32)[:, :columns]
    corners = helper.make_tensor("corners", TensorProto.FLOAT, [2, 4], rows[:, :4].ravel())
    rest = helper.make_tensor("rest", TensorProto.FLOAT, [2, columns - 4], rows[:, 4:].ravel())
    order = helper.make_tensor("order", TensorProto.INT64, [4], [3, 2, 3, 2])
    nodes = [
        helper.make_node("Shape", ["image"], ["shape"]),
        helper.make_node("Gather", ["shape", "order"], ["whwh_int"]),
        helper.make_node("Cast", ["whwh_int"], ["whwh"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["corners", "whwh"], ["xyxy"]),
        helper.make_node("Concat", ["xyxy", "rest"], ["boxes"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "fixed_fraction_detector",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "H", "W"])],
        [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["N", columns])],
        initializer=[corners, rest, order],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _constant_detector(path: Path, input_shape, output) -> Path:
    """An ONNX model of the given input shape whose output is the constant `output`."""
    value = np.asarray(output, np.float32)
    constant = helper.make_tensor("value", TensorProto.FLOAT, value.shape, value.ravel())
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMax", ["image"], ["unused"], keepdims=0),
            helper.make_node("Identity", ["value"], ["boxes"]),
        ],
        "constant_detector",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, input_shape)],
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, list(value.shape)),
            helper.make_tensor_value_info("unused", TensorProto.FLOAT, []),
        ],
        initializer=[constant],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_onnx_detector_boxes_are_people_in_image_pixels(tmp_path):
    detector = OnnxPeopleDetector(_detector_from_input_shape(tmp_path / "d.onnx"))
    boxes, scores = detector(np.zeros((120, 90, 3), np.uint8))
    np.testing.assert_allclose(boxes, [[22.5, 12.0, 45.0, 96.0]], rtol=1e-6)  # class 2 dropped
    np.testing.assert_allclose(scores, [0.9], rtol=1e-6)


def test_onnx_detector_of_a_fixed_input_size_gets_a_resized_frame_and_maps_boxes_back(tmp_path):
    path = _constant_detector(tmp_path / "d.onnx", [1, 32, 32, 3], [[[8, 4, 24, 28, 0.7]]])
    detector = OnnxPeopleDetector(path)
    assert not detector.channels_first and detector.size == (32, 32)
    boxes, scores = detector(np.zeros((128, 64, 3), np.uint8))  # x * 2, y * 4
    np.testing.assert_allclose(boxes, [[16, 16, 32, 96]])
    np.testing.assert_allclose(scores, [0.7])


def test_predict_with_an_onnx_detector(tmp_path, capsys):
    import keras

    image_input = keras.Input((64, 48, 3))
    x = keras.layers.Conv2D(8, 3, strides=4, padding="same", activation="relu")(image_input)
    weights = tmp_path / "m.keras"
    keras.Model(image_input, keras.layers.Conv2D(17, 1)(x)).save(weights)  # 16x12 heatmaps
    image = tmp_path / "street.png"
    cv2.imwrite(str(image), np.full((120, 90, 3), 90, np.uint8))
    detector = _detector_from_input_shape(tmp_path / "people.onnx")
    out = tmp_path / "out"
    args = ["predict", "--weights", str(weights), str(image), "--detector", str(detector)]
    assert main([*args, "--out", str(out), "--runtime", "keras"]) == 0
    assert "street.png: 1 people" in capsys.readouterr().out
    (person,) = json.loads((out / "keypoints.json").read_text())["street.png"]
    assert person["box"] == [22.5, 12.0, 45.0, 96.0] and person["box_score"] == 0.9


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda p: _constant_detector(p, [1, 3, 32, 32], [[1, 2, 3, 4]]),
            r"gave an output of shape \[1, 4\]; expected boxes \[N, 5\] or \[N, 6\]",
        ),
        (
            lambda p: _constant_detector(p, [1, 32, 32], [[1, 2, 3, 4, 0.5]]),
            r"takes input 'image' of shape \[1, 32, 32\]; expected an image",
        ),
        (
            lambda p: p.write_text("not a model") and p,
            "is not an ONNX model onnxruntime can load",
        ),
    ],
)
def test_a_detector_of_another_format_is_one_line(tmp_path, make, message):
    path = make(tmp_path / "wrong.onnx")
    with pytest.raises(InputFileError, match=message):
        OnnxPeopleDetector(path)


def test_predict_refuses_a_wrong_detector_before_loading_the_model(tmp_path, capsys):
    wrong = tmp_path / "wrong.onnx"
    wrong.write_text("not a model")
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), np.zeros((32, 32, 3), np.uint8))
    weights = tmp_path / "never_read.keras"
    weights.write_bytes(b"not read: the detector is checked first")
    assert main(["predict", "--weights", str(weights), str(image), "--detector", str(wrong)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("evopose: error: --detector:") and err.count("\n") == 1


def test_hog_detector_runs_on_a_downscaled_frame_and_maps_boxes_back():
    location = os.environ.get("EVOPOSE_COCO_MINI")
    if not location or not (Path(location) / "000000196141.jpg").is_file():
        pytest.skip("EVOPOSE_COCO_MINI is not set: the real COCO sample is not available")
    photo = cv2.imread(str(Path(location) / "000000196141.jpg"))  # 640x429
    height, width = photo.shape[:2]
    big = cv2.resize(photo, (width * 3, height * 3), interpolation=cv2.INTER_CUBIC)
    detector = HogPeopleDetector()  # longest side 640: the photo's own size
    small_boxes, small_scores = detector(photo)
    boxes, scores = detector(big)  # downscaled 3x, back to about the photo
    assert len(boxes) == len(small_boxes) > 0
    # In the big frame's pixels: a third of them is the photo's box, to the resampling's pixels.
    np.testing.assert_allclose(boxes / 3, small_boxes, atol=6)
    np.testing.assert_allclose(scores, small_scores, atol=0.05)
