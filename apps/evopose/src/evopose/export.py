"""Deployment exports (TF SavedModel, TFLite, ONNX), each checked by reloading the export and
comparing its outputs with the Keras model's on the same inputs, relative to their scale."""

import logging
import warnings
from collections.abc import Callable
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
# An export may differ from Keras by this fraction of the output's scale (max |output|):
# float32 exports that only reorder sums agree to ~1e-6.
RELATIVE_TOLERANCE = 1e-4


@dataclass(frozen=True)
class ExportReport:
    """Where an export went and how closely its reloaded outputs match the Keras model:
    `max_abs_diff`, and `relative_diff` = max_abs_diff / `output_scale` (max |Keras output|),
    which must be at most `tolerance`."""

    path: Path
    format: str
    max_abs_diff: float
    tolerance: float
    keypoints: str | None = None  # the keypoint description the export carries (its summary)
    output_scale: float = 1.0
    batch: int | None = None  # the fixed batch size of a static-batch export

    @property
    def relative_diff(self) -> float:
        return self.max_abs_diff / self.output_scale if self.output_scale > 0 else 0.0


def export_model(
    weights: str | Path,
    format: str,
    out: str | Path | None = None,
    *,
    seed: int = 0,
    batch: int | None = None,
) -> ExportReport:
    """Exports the `.keras` model in `weights` as `format` to `out` (default: beside it), reloads
    the export and checks that its heatmaps match the Keras model's (`compare_outputs`).

    `batch` fixes the batch size (TFLite only: its transposed convolutions then run inside
    XNNPACK, 1.3-1.4x faster); the model's keypoint description goes into the export."""
    if format not in FORMATS:
        raise ExportError(f"export format {format!r}: must be one of {', '.join(FORMATS)}")
    _check_batch_option(format, batch)
    if format == "onnx":
        _require_onnx()
    from evopose.models import load_model

    model = load_model(weights)
    weights = Path(weights)
    if out is None:
        stem = weights.name.split(".")[0] + (f"_b{batch}" if batch else "")
        out = weights.with_name(stem + _SUFFIXES[format])
    carried = []

    def carry(tmp: Path) -> None:
        carried.append(_carry_keypoints(weights, tmp, format))

    report = export_keras_model(model, format, out, seed=seed, batch=batch, before_commit=carry)
    summary = carried[0].summary() if carried and carried[0] is not None else None
    return ExportReport(
        report.path,
        format,
        report.max_abs_diff,
        report.tolerance,
        summary,
        report.output_scale,
        batch,
    )


def export_keras_model(
    model: keras.Model,
    format: str,
    out: str | Path,
    *,
    seed: int = 0,
    batch: int | None = None,
    before_commit: Callable[[Path], None] | None = None,
) -> ExportReport:
    """Exports `model` as `format` to `out` (atomically: nothing is written when the check
    fails), after checking the reloaded export against the model on random inputs.
    `before_commit(tmp)` may add to the export before it is renamed into place."""
    _check_batch_option(format, batch)
    if format == "onnx":
        _require_onnx()
    out = Path(out)
    shape = (batch or _CHECK_BATCH, *model.input_shape[1:])
    inputs = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    expected = np.asarray(model.predict_on_batch(inputs), dtype=np.float32)
    exporter = {"saved_model": _saved_model, "tflite": _tflite, "onnx": _onnx}[format]
    with atomic.atomic_path(
        out, suffix=_SUFFIXES[format] if format != "saved_model" else ""
    ) as tmp:
        actual = exporter(model, tmp, inputs, batch)
        diff, scale = compare_outputs(expected, actual, f"the reloaded {format} export")
        if before_commit is not None:
            before_commit(tmp)
    log.info("exported %s to %s (max abs diff %.3g of output scale %.3g)", format, out, diff, scale)
    return ExportReport(out, format, diff, RELATIVE_TOLERANCE, None, scale, batch)


def compare_outputs(expected: np.ndarray, actual: np.ndarray, what: str) -> tuple[float, float]:
    """(max abs difference, output scale = max |expected|); an ExportError naming `what` when
    the shapes differ, or the difference exceeds RELATIVE_TOLERANCE of the scale (an absolute
    tolerance would pass any export of a model whose outputs are ~1e-4)."""
    expected = np.asarray(expected, np.float32)
    actual = np.asarray(actual, np.float32)
    if expected.shape != actual.shape:
        raise ExportError(
            f"{what} gives outputs of shape {actual.shape}, the Keras model {expected.shape}; "
            "nothing written"
        )
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    diff = float(np.max(np.abs(actual - expected))) if expected.size else 0.0
    relative = diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf"))
    if not relative <= RELATIVE_TOLERANCE:  # also catches NaN
        raise ExportError(
            f"{what} differs from the Keras model by {diff:.3g}, {relative:.3g} of the "
            f"outputs' scale {scale:.3g} (tolerance {RELATIVE_TOLERANCE:g}); nothing written"
        )
    return diff, scale


def _check_batch_option(format: str, batch: int | None) -> None:
    if batch is None:
        return
    if format != "tflite":
        raise ExportError(f"batch size {batch}: a fixed batch size is for tflite, not {format}")
    if batch < 1:
        raise ExportError(f"batch size {batch}: must be at least 1")


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


def _saved_model(model: keras.Model, path: Path, inputs: np.ndarray, batch: None) -> np.ndarray:
    model.export(str(path), format="tf_saved_model", verbose=False)
    reloaded = tf.saved_model.load(str(path))
    return np.asarray(reloaded.serve(tf.constant(inputs)), dtype=np.float32)


def _tflite(model: keras.Model, path: Path, inputs: np.ndarray, batch: int | None) -> np.ndarray:
    from evopose.engines import TFLiteRuntime

    staging = path.with_name(path.name + ".saved_model")
    signature = None
    if batch is not None:  # a constant batch makes every shape static
        signature = [tf.TensorSpec((batch, *model.input_shape[1:]), tf.float32)]
    try:
        model.export(
            str(staging), format="tf_saved_model", verbose=False, input_signature=signature
        )
        converter = tf.lite.TFLiteConverter.from_saved_model(str(staging))
        path.write_bytes(converter.convert())
    finally:
        atomic.remove_path(staging)
    return TFLiteRuntime.from_file(path, threads=1)(inputs)


def _onnx(model: keras.Model, path: Path, inputs: np.ndarray, batch: None) -> np.ndarray:
    from evopose.engines import OnnxRuntime

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # tf2onnx probes np.object
        model.export(str(path), format="onnx", verbose=False)
    fixed = fix_transposed_conv_pads(path)
    if fixed:
        log.info("%s: %d transposed convolutions' negative pads rewritten", path, fixed)
    return OnnxRuntime(path, threads=1)(inputs)


def fix_transposed_conv_pads(path: str | Path) -> int:
    """Rewrites the ConvTranspose nodes that tf2onnx writes with negative pads (Keras's
    'valid' transposed convolutions whose stride exceeds their kernel, as HRNet's 1x1 ones of
    stride 2, 4, 8), which ONNX forbids, to the equivalent `pads = 0, output_padding =
    stride - kernel`; returns how many it rewrote (the file is rewritten only then)."""
    import onnx

    model = onnx.load(str(path))
    fixed = 0
    for node in model.graph.node:
        if node.op_type != "ConvTranspose":
            continue
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        pads = list(attributes.get("pads", []))
        if not any(p < 0 for p in pads):
            continue
        kernel, strides = attributes.get("kernel_shape"), attributes.get("strides")
        rank = len(pads) // 2
        dilations = attributes.get("dilations", [1] * rank)
        extensions = [-(pads[i] + pads[i + rank]) for i in range(rank)]
        if (
            kernel is None
            or strides is None
            or any(d != 1 for d in dilations)
            or "output_shape" in attributes
            or any(p > 0 for p in pads)
            or extensions != [max(s - k, 0) for s, k in zip(strides, kernel, strict=True)]
        ):
            raise ExportError(
                f"{path}: ConvTranspose node '{node.name}' has negative pads {pads} that are "
                "not a 'valid' transposed convolution's (kernel "
                f"{kernel}, strides {strides}); cannot repair the ONNX export"
            )
        padding = list(attributes.get("output_padding", [0] * rank))
        for index in reversed(range(len(node.attribute))):
            if node.attribute[index].name in ("pads", "output_padding"):
                del node.attribute[index]
        node.attribute.extend(
            [
                onnx.helper.make_attribute("pads", [0] * (2 * rank)),
                onnx.helper.make_attribute(
                    "output_padding", [p + e for p, e in zip(padding, extensions, strict=True)]
                ),
            ]
        )
        fixed += 1
    if fixed:
        onnx.checker.check_model(model)
        onnx.save(model, str(path))
    return fixed


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
