"""A trained model's keypoint description (names, flip pairs, skeleton, OKS sigmas) carried
inside its files, so `predict`, `eval`, `export` and `info` use the model's own keypoints.

Where it lives:
- a `.keras` file (a zip archive): the member `evopose_keypoints.json` next to Keras's own
  (Keras ignores members it does not know);
- a SavedModel folder: `assets.extra/evopose_keypoints.json` (TensorFlow's place for files
  that serving ignores);
- an ONNX file: the model metadata entry `evopose.keypoints` (`metadata_props`);
- a TFLite file: the flatbuffer metadata entry `evopose.keypoints`.

Each holds `posedata.DatasetInfo.to_dict()` as JSON. This module imports neither TensorFlow
nor Keras at import time.
"""

import json
import logging
import zipfile
from pathlib import Path

import posedata
from evopose.errors import InputFileError

log = logging.getLogger(__name__)

MEMBER = "evopose_keypoints.json"
METADATA_KEY = "evopose.keypoints"
_SAVED_MODEL_FILE = Path("assets.extra") / MEMBER


def write_keras(path: str | Path, info: posedata.DatasetInfo) -> None:
    """Adds `info` to the `.keras` archive at `path` (write it before renaming into place)."""
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        if MEMBER in archive.namelist():
            raise InputFileError(f"{path}: already holds a keypoint description")
        archive.writestr(MEMBER, _encode(info))


def read_keras(path: str | Path) -> posedata.DatasetInfo | None:
    """The keypoint description inside the `.keras` file at `path`, or None when it has none
    (a model trained before descriptions were stored, or made outside evopose)."""
    try:
        with zipfile.ZipFile(path) as archive:
            if MEMBER not in archive.namelist():
                return None
            text = archive.read(MEMBER).decode("utf-8")
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError):
        return None
    return _decode(text, f"{path}: {MEMBER}")


def write_export(path: str | Path, format: str, info: posedata.DatasetInfo) -> None:
    """Stores `info` in the export at `path` of `format` (saved_model, tflite, onnx)."""
    path = Path(path)
    if format == "saved_model":
        target = path / _SAVED_MODEL_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_encode(info), encoding="utf-8")
    elif format == "onnx":
        import onnx

        model = onnx.load(str(path))
        entry = model.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, _encode(info)
        onnx.save(model, str(path))
    elif format == "tflite":
        from tensorflow.lite.python import schema_py_generated as schema
        from tensorflow.lite.tools import flatbuffer_utils

        model = flatbuffer_utils.read_model_from_bytearray(bytearray(path.read_bytes()))
        buffer = schema.BufferT()
        buffer.data = list(_encode(info).encode("utf-8"))
        model.buffers.append(buffer)
        metadata = schema.MetadataT()
        metadata.name = METADATA_KEY
        metadata.buffer = len(model.buffers) - 1
        model.metadata = [*(model.metadata or []), metadata]
        path.write_bytes(bytes(flatbuffer_utils.convert_object_to_bytearray(model)))
    else:
        raise InputFileError(f"no keypoint description for export format {format!r}")


def read_export(path: str | Path, format: str) -> posedata.DatasetInfo | None:
    """The keypoint description stored in an export (see `write_export`), or None."""
    path = Path(path)
    where = f"{path}: {METADATA_KEY}"
    if format == "saved_model":
        target = path / _SAVED_MODEL_FILE
        return _decode(target.read_text(encoding="utf-8"), where) if target.is_file() else None
    if format == "onnx":
        import onnx

        model = onnx.load(str(path), load_external_data=False)
        for entry in model.metadata_props:
            if entry.key == METADATA_KEY:
                return _decode(entry.value, where)
        return None
    if format == "tflite":
        from tensorflow.lite.tools import flatbuffer_utils

        model = flatbuffer_utils.read_model_from_bytearray(bytearray(path.read_bytes()))
        for metadata in model.metadata or []:
            name = metadata.name.decode() if isinstance(metadata.name, bytes) else metadata.name
            if name == METADATA_KEY:
                data = model.buffers[metadata.buffer].data
                return _decode(bytes(bytearray(data)).decode("utf-8"), where)
        return None
    raise InputFileError(f"no keypoint description for export format {format!r}")


def model_keypoints(
    weights: str | Path, num_keypoints: int, keypoints: str | None = None
) -> posedata.DatasetInfo:
    """The keypoint description to use with the model in `weights` that predicts
    `num_keypoints` heatmaps: `--keypoints NAME` when given, else the one stored in the
    model, else COCO's for a 17-keypoint model (with a notice); otherwise a InputFileError saying
    to pass `--keypoints`."""
    stored = read_keras(weights) if str(weights).lower().endswith(".keras") else None
    if keypoints is not None:
        info = posedata.keypoint_set(keypoints)
        if stored is not None and stored.keypoint_names != info.keypoint_names:
            log.warning(
                "%s carries the keypoint description %s; --keypoints %s overrides it",
                weights,
                stored.name,
                keypoints,
            )
    elif stored is not None:
        info = stored
    elif num_keypoints == posedata.COCO_PERSON.num_keypoints:
        log.info("%s carries no keypoint description; taking COCO's 17 keypoints", weights)
        info = posedata.COCO_PERSON
    else:
        raise InputFileError(
            f"weights file '{weights}' predicts {num_keypoints} keypoints and carries no keypoint "
            f"description; name its keypoint set ({', '.join(posedata.KEYPOINT_SETS)})"
        )
    if info.num_keypoints != num_keypoints:
        raise InputFileError(
            f"weights file '{weights}' predicts {num_keypoints} keypoints but the keypoint set "
            f"{info.name!r} has {info.num_keypoints}"
        )
    return info


def _encode(info: posedata.DatasetInfo) -> str:
    return json.dumps(info.to_dict())


def _decode(text: str, where: str) -> posedata.DatasetInfo:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputFileError(f"{where}: the keypoint description is not JSON ({error})") from None
    if not isinstance(data, dict):
        raise InputFileError(f"{where}: the keypoint description must be a JSON object")
    return posedata.DatasetInfo.from_dict(data, source=where)
