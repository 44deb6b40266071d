"""`evopose predict --runtime` and `evopose export`: exact fast runtimes (TFLite/XNNPACK with
a static batch, ONNX Runtime with its threads' spinning off) that agree with Keras, one network
call per frame, cached exports, and the export self-check relative to the outputs' scale."""

import importlib.util
import json
import os
import sys
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest

import posedata
from evopose import keypoints, runtimes
from evopose.cli import main
from evopose.errors import ConfigFileError, ExportError
from evopose.export import RELATIVE_TOLERANCE, compare_outputs, export_model
from evopose.prediction import PosePredictor

TINY_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "tiny_synthetic.yaml"


def small_pose_model(scale: float = 1.0) -> keras.Model:
    """A small top-down pose network of EvoPose2D's kinds of layers (strided, depthwise and 1x1
    convolutions, BN, a transposed-convolution head): 64x48 crops in, 17 heatmaps of 16x12
    out (its exports take ~2 s where the tiny EvoPose2D's take ~10 s), the head's weights
    times `scale`."""
    keras.utils.set_random_seed(0)
    image = keras.Input((64, 48, 3), name="image")
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="swish")(image)
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Conv2D(16, 1, activation="swish")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="swish")(x)
    x = keras.layers.Conv2DTranspose(16, 3, strides=2, padding="same", use_bias=False)(x)
    head = keras.layers.Conv2D(17, 1, name="heatmaps")
    model = keras.Model(image, head(x))
    head.set_weights([w * scale for w in head.get_weights()])
    return model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A small pose network saved with COCO's keypoint description, and its runtime cache."""
    folder = tmp_path_factory.mktemp("tiny")
    model = small_pose_model()
    path = folder / "tiny.keras"
    model.save(path)
    keypoints.write_keras(path, posedata.COCO_PERSON)
    return {"model": model, "path": path, "cache": folder / "cache"}


def _relative(actual, expected) -> float:
    return float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))


def test_auto_takes_static_batch_tflite_and_caches_it_by_hash_and_batch(tiny):
    runtime = runtimes.open_runtime(
        "auto", tiny["model"], tiny["path"], threads=1, first_batch=2, cache=tiny["cache"]
    )
    assert runtime.name == "tflite" and "static batch, 1 threads" in runtime.description
    key = runtimes.model_key(tiny["path"])
    assert sorted(p.name for p in tiny["cache"].iterdir()) == [f"{key}-b2.tflite"]
    crops = np.random.default_rng(1).normal(size=(3, 64, 48, 3)).astype(np.float32)
    heatmaps = runtime(crops)  # 3 crops padded to a static batch of 4: one more export
    expected = np.asarray(tiny["model"].predict_on_batch(crops))
    assert heatmaps.shape == expected.shape
    assert _relative(heatmaps, expected) < RELATIVE_TOLERANCE
    names = sorted(p.name for p in tiny["cache"].iterdir())
    assert names == [f"{key}-b2.tflite", f"{key}-b4.tflite"]  # no temporary files
    stamp = (tiny["cache"] / f"{key}-b4.tflite").stat().st_mtime_ns
    again = runtimes.open_runtime("tflite", tiny["model"], tiny["path"], cache=tiny["cache"])
    again(crops)
    assert (tiny["cache"] / f"{key}-b4.tflite").stat().st_mtime_ns == stamp  # reused


def test_onnxruntime_agrees_with_keras(tiny):
    pytest.importorskip("onnxruntime")
    runtime = runtimes.open_runtime(
        "onnxruntime", tiny["model"], tiny["path"], threads=1, cache=tiny["cache"]
    )
    assert "spinning off" in runtime.description
    crops = np.random.default_rng(2).normal(size=(5, 64, 48, 3)).astype(np.float32)
    expected = np.asarray(tiny["model"].predict_on_batch(crops))
    assert _relative(runtime(crops), expected) < RELATIVE_TOLERANCE


def test_static_batch_sizes_are_powers_of_two():
    assert [runtimes.static_batch_size(n) for n in (1, 2, 3, 4, 5, 9, 16, 17)] == [
        1, 2, 4, 4, 8, 16, 16, 32
    ]  # fmt: skip


def test_all_people_of_a_frame_go_through_the_network_in_one_call(tiny):
    runtime = runtimes.open_runtime(
        "tflite", tiny["model"], tiny["path"], threads=1, first_batch=2, cache=tiny["cache"]
    )
    predictor = PosePredictor(tiny["model"], posedata.COCO_PERSON, runtime=runtime)
    reference = PosePredictor(tiny["model"], posedata.COCO_PERSON)  # Keras
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 255, size=(120, 90, 3), dtype=np.uint8) for _ in range(3)]
    people_per_frame = (1, 2, 1)  # 2 and 4 crops with the mirrored ones
    for frame, count in zip(frames, people_per_frame, strict=True):
        boxes = np.array([[5 + 10 * i, 8, 40, 80] for i in range(count)], np.float32)
        people = predictor(frame, boxes, np.ones(count, np.float32))
        expected = reference(frame, boxes, np.ones(count, np.float32))
        assert len(people) == count
        for person, keras_person in zip(people, expected, strict=True):
            scores, keras_scores = person.keypoints[:, 2], keras_person.keypoints[:, 2]
            assert np.allclose(scores, keras_scores, rtol=1e-3, atol=1e-3 * keras_scores.max())
    assert runtime.calls == len(frames)  # crops and mirrored crops together, once per frame
    assert reference.runtime.calls == len(frames)


def test_a_runtime_that_is_not_installed_is_one_line(tiny, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now fails
    with pytest.raises(ExportError, match=r"^runtime 'onnxruntime': .*needs onnxruntime.*pip"):
        runtimes.open_runtime("onnxruntime", tiny["model"], tiny["path"], cache=tiny["cache"])


def test_predict_prints_the_runtime_it_chose(tiny, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EVOPOSE_CACHE_DIR", str(tiny["cache"]))
    image = tmp_path / "person.png"
    cv2.imwrite(str(image), np.full((96, 72, 3), 128, np.uint8))
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"person.png": [[4, 4, 60, 80, 0.9]]}))
    for runtime, expected in (("keras", "runtime: keras"), ("auto", "runtime: tflite")):
        out = tmp_path / runtime
        args = ["predict", "--weights", str(tiny["path"]), str(image), "--boxes", str(boxes)]
        assert main([*args, "--out", str(out), "--runtime", runtime, "--threads", "1"]) == 0
        printed = capsys.readouterr().out
        assert printed.splitlines()[0].startswith(expected), printed
        assert json.loads((out / "keypoints.json").read_text())["person.png"]


# --- export ---------------------------------------------------------------------------------


def test_export_static_batch_tflite(tiny, tmp_path, capsys):
    out = tmp_path / "tiny_b4.tflite"
    args = ["export", "--weights", str(tiny["path"]), "--format", "tflite", "--batch", "4"]
    assert main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "(static batch 4)" in printed and "of the outputs' scale" in printed
    runtime = runtimes.TFLiteRuntime.from_file(out, threads=1)
    crops = np.random.default_rng(4).normal(size=(6, 64, 48, 3)).astype(np.float32)
    assert _relative(runtime(crops), tiny["model"].predict_on_batch(crops)) < RELATIVE_TOLERANCE
    assert keypoints.read_export(out, "tflite") == posedata.COCO_PERSON
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def test_a_dynamic_batch_tflite_export_runs_any_batch(tiny, tmp_path):
    from evopose.export import export_keras_model

    path = export_keras_model(tiny["model"], "tflite", tmp_path / "dynamic.tflite").path
    runtime = runtimes.TFLiteRuntime.from_file(path, threads=1)
    for count in (1, 3, 1):  # its default batch first, then resized, then back
        crops = np.random.default_rng(count).normal(size=(count, 64, 48, 3)).astype(np.float32)
        expected = tiny["model"].predict_on_batch(crops)
        assert _relative(runtime(crops), expected) < RELATIVE_TOLERANCE


def test_export_batch_is_for_tflite_only(tiny, capsys):
    args = ["export", "--weights", str(tiny["path"]), "--format", "onnx", "--batch", "4"]
    assert main(args) == 2
    assert "--batch: a fixed batch size is for --format tflite" in capsys.readouterr().err


def test_export_check_is_relative_to_the_outputs_scale(tmp_path):
    expected = np.random.default_rng(5).uniform(0, 1e-4, size=(2, 16, 12, 3)).astype(np.float32)
    # 5e-6 off: far below an absolute 1e-3, yet 5% of outputs of scale 1e-4.
    with pytest.raises(ExportError, match="of the outputs' scale"):
        compare_outputs(expected, expected + 5e-6, "the reloaded tflite export")
    diff, scale = compare_outputs(expected, expected + 1e-10, "the reloaded tflite export")
    assert diff <= 1.1e-10 and scale == pytest.approx(float(expected.max()))
    with pytest.raises(ExportError, match="shape"):
        compare_outputs(expected, expected[:1], "the reloaded onnx export")
    # A real model whose heatmaps are ~1e-4 exports and is checked against that scale.
    path = tmp_path / "small.keras"
    small_pose_model(scale=1e-4).save(path)
    report = export_model(path, "tflite", tmp_path / "small.tflite")
    assert 1e-6 < report.output_scale < 1e-3
    assert report.relative_diff <= RELATIVE_TOLERANCE


def _hrnet_fuse_model() -> keras.Model:
    """The smallest network with HRNet's fuse layers (posenets.hrnet's own): four branches at
    1/1 .. 1/8 brought up by 1x1 transposed convolutions of stride 2, 4 and 8."""
    from posenets.hrnet import _fuse

    image = keras.Input((32, 24, 3))
    branches = [keras.layers.Conv2D(4, 3, padding="same")(image)]
    for _ in range(3):
        branches.append(keras.layers.Conv2D(4, 3, strides=2, padding="same")(branches[-1]))
    (fused,) = _fuse(branches, 1, "fuse")
    return keras.Model(image, keras.layers.Conv2D(3, 1)(fused))


def test_hrnet_transposed_convolutions_export_to_valid_onnx(tmp_path):
    onnx = pytest.importorskip("onnx")
    path = tmp_path / "hrnet_fuse.keras"
    _hrnet_fuse_model().save(path)
    report = export_model(path, "onnx", tmp_path / "hrnet_fuse.onnx")
    assert report.relative_diff < 1e-5
    graph = onnx.load(str(report.path)).graph
    transposed = [n for n in graph.node if n.op_type == "ConvTranspose"]
    assert len(transposed) == 3
    for node in transposed:
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert attributes["pads"] == [0, 0, 0, 0]
        assert attributes["output_padding"] == [s - 1 for s in attributes["strides"]]


def test_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("EVOPOSE_CACHE_DIR", str(tmp_path / "c"))
    assert runtimes.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("EVOPOSE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert runtimes.cache_dir() == tmp_path / "x" / "evopose"
    assert runtimes.default_threads() == len(os.sched_getaffinity(0))


# --- eval -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_val(tmp_path_factory):
    """A few synthetic val images (19 detector boxes: batches of 4 end with a padded one) and
    the tiny config pointing at them."""
    root = tmp_path_factory.mktemp("eval-synth") / "data"
    args = ["data", "synth", "--out", str(root), "--train", "2", "--val", "8"]
    assert main([*args, "--image-size", "128", "160"]) == 0
    overrides = [f"data.root={root}", "eval.batch_size=4"]
    return {"root": root, "overrides": overrides}


def _results(path) -> list[dict]:
    return sorted(json.loads(path.read_text()), key=lambda r: (r["image_id"], r["score"]))


def test_eval_runs_on_the_fast_runtimes_with_keras_figures(tiny, small_val, tmp_path, capsys):
    """The same results (every keypoint and score, hence every metric) from TFLite (and ONNX
    Runtime when installed) as from Keras. The untrained network's AP is 0: the keypoints and
    scores, which AP is computed from, are what the comparison rests on."""
    from evopose.config import load_config
    from evopose.evaluation import evaluate_model

    config = load_config(TINY_CONFIG, small_val["overrides"])
    keras_report = evaluate_model(config, tiny["path"], results_path=tmp_path / "k.results.json")
    assert keras_report.runtime.startswith("keras")
    reports = {}
    args = ["eval", str(TINY_CONFIG), "--weights", str(tiny["path"]), "--threads", "1"]
    args += [x for o in small_val["overrides"] for x in ("--set", o)]
    out = tmp_path / "t.results.json"
    assert main([*args, "--runtime", "tflite", "--out", str(out)]) == 0  # flip test on
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].startswith("runtime: tflite (XNNPACK, static batch, 1 threads")
    key = runtimes.model_key(tiny["path"])
    assert (Path(os.environ["EVOPOSE_CACHE_DIR"]) / f"{key}-b4.tflite").is_file()
    reports["tflite"] = json.loads(out.with_name("t.metrics.json").read_text())["metrics"]
    if importlib.util.find_spec("onnxruntime") is not None:
        report = evaluate_model(
            config, tiny["path"], results_path=tmp_path / "o.results.json", runtime="onnxruntime"
        )
        assert report.runtime.startswith("onnxruntime")
        reports["onnxruntime"] = dict(report.metrics)
    expected = _results(keras_report.results_path)
    assert len(expected) == 19
    for name, metrics in reports.items():
        for metric, value in dict(keras_report.metrics).items():
            assert metrics[metric] == pytest.approx(value, abs=1e-6), (name, metric)
        actual = _results(tmp_path / f"{name[0]}.results.json")
        assert [r["image_id"] for r in actual] == [r["image_id"] for r in expected]
        got = np.array([r["keypoints"] for r in actual])
        want = np.array([r["keypoints"] for r in expected])
        assert np.allclose(got, want, rtol=1e-4, atol=1e-4), name  # same argmax, same scores
        assert np.allclose([r["score"] for r in actual], [r["score"] for r in expected], 1e-4)


def test_eval_refuses_a_bad_runtime_in_one_line(tiny, small_val, capsys):
    from evopose.config import load_config
    from evopose.evaluation import evaluate_model

    args = ["eval", str(TINY_CONFIG), "--weights", str(tiny["path"]), "--runtime", "tpu"]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert "argument --runtime: invalid choice: 'tpu'" in capsys.readouterr().err
    config = load_config(TINY_CONFIG, small_val["overrides"])
    with pytest.raises(ConfigFileError, match=r"^runtime 'tpu': must be one of auto, keras, tflit"):
        evaluate_model(config, tiny["path"], runtime="tpu")
    args = ["eval", str(TINY_CONFIG), "--weights", str(tiny["path"]), "--threads", "0"]
    assert main([*args, *(x for o in small_val["overrides"] for x in ("--set", o))]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "evopose: error: --threads 0: must be at least 1"
    ]
