"""Deployment exports (TF SavedModel, TFLite, ONNX), each checked by reloading the export and
comparing its outputs with the Keras model's on the same inputs."""

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from evopose import atomic
from evopose.errors import ExportError

log = logging.getLogger(__name__)

FORMATS = ("saved_model", "tflite", "onnx")
_SUFFIXES = {"saved_model": "_saved_model", "tflite": ".tflite", "onnx": ".onnx"}
_CHECK_BATCH = 2


@dataclass(frozen=True)
class ExportReport:
    """Where an export went and how closely its reloaded outputs match the Keras model."""

    path: Path
    format: str
    max_abs_diff: float
    tolerance: float
    keypoints: str | None = None  # the keypoint description the export carries (its summary)


def export_model(
    weights: str | Path, format: str, out: str | Path | None = None, *, seed: int = 0
) -> ExportReport:
    """Exports the `.keras` model in `weights` as `format` to `out` (default: beside it), reloads
    the export and checks that its heatmaps match the Keras model's within tolerance."""
    if format not in FORMATS:
        raise ExportError(f"--format {format!r}: must be one of {', '.join(FORMATS)}")
    from evopose.models import load_model

    model = load_model(weights)
    weights = Path(weights)
    if out is None:
        out = weights.with_name(weights.name.split(".")[0] + _SUFFIXES[format])
    out = Path(out)
    if format == "onnx":
        _require_onnx()
    shape = (_CHECK_BATCH, *model.input_shape[1:])
    inputs = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    expected = np.asarray(model.predict_on_batch(inputs), dtype=np.float32)
    exporter = {"saved_model": _saved_model, "tflite": _tflite, "onnx": _onnx}[format]
    with atomic.atomic_path(
        out, suffix=_SUFFIXES[format] if format != "saved_model" else ""
    ) as tmp:
        actual = exporter(model, tmp, inputs)
        keypoint_info = _carry_keypoints(weights, tmp, format)
        diff = float(np.max(np.abs(actual - expected)))
        tolerance = 1e-3 * max(1.0, float(np.max(np.abs(expected))))
        if not diff <= tolerance:
            raise ExportError(
                f"the reloaded {format} export differs from the Keras model by {diff:.3g} "
                f"(tolerance {tolerance:.3g}); nothing written"
            )
    log.info("exported %s to %s (max abs diff %.3g)", format, out, diff)
    summary = keypoint_info.summary() if keypoint_info is not None else None
    return ExportReport(out, format, diff, tolerance, summary)


def _carry_keypoints(weights: Path, export: Path, format: str):
    """Stores the model's keypoint description (if it has one) in the export and checks that
    it reads back; returns it (a `posedata.DatasetInfo`) or None."""
    from evopose import keypoints

    info = keypoints.read_keras(weights) if weights.name.lower().endswith(".keras") else None
    if info is None:
        log.warning("%s carries no keypoint description; the export carries none either", weights)
        return None
    keypoints.write_export(export, format, info)
    if keypoints.read_export(export, format) != info:
        raise ExportError(f"the {format} export did not keep the keypoint description")
    return info


def _saved_model(model: keras.Model, path: Path, inputs: np.ndarray) -> np.ndarray:
    model.export(str(path), format="tf_saved_model", verbose=False)
    reloaded = tf.saved_model.load(str(path))
    return np.asarray(reloaded.serve(tf.constant(inputs)), dtype=np.float32)


def _tflite(model: keras.Model, path: Path, inputs: np.ndarray) -> np.ndarray:
    staging = path.with_name(path.name + ".saved_model")
    try:
        model.export(str(staging), format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(staging))
        path.write_bytes(converter.convert())
    finally:
        atomic.remove_path(staging)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's move-to-LiteRT notice
        interpreter = tf.lite.Interpreter(model_path=str(path))
    input_index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(input_index, list(inputs.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(input_index, inputs)
    interpreter.invoke()
    output_index = interpreter.get_output_details()[0]["index"]
    return np.asarray(interpreter.get_tensor(output_index), dtype=np.float32)


def _onnx(model: keras.Model, path: Path, inputs: np.ndarray) -> np.ndarray:
    import onnxruntime

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # tf2onnx probes np.object
        model.export(str(path), format="onnx", verbose=False)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.asarray(session.run(None, {name: inputs})[0], dtype=np.float32)


def _require_onnx() -> None:
    missing = []
    for module in ("tf2onnx", "onnx", "onnxruntime"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise ExportError(
            f"ONNX export needs {', '.join(missing)}: pip install 'evopose[onnx]' "
            "(tf2onnx, onnx, onnxruntime)"
        )
