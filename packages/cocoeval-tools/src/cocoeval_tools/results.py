"""Keypoint results in the COCO results format: building, checking, reading and writing them."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from cocoeval_tools._checks import is_integer, numeric_array, require_finite
from cocoeval_tools.errors import InvalidInputError, ResultsFormatError

REQUIRED_KEYS = ("image_id", "category_id", "keypoints", "score")
"""Keys every keypoint result must hold."""


def to_coco_results(
    image_ids: Sequence[int] | np.ndarray,
    keypoints: np.ndarray,
    scores: Sequence[float] | np.ndarray,
    category_id: int = 1,
) -> list[dict]:
    """COCO keypoint results, one dict per instance, with plain Python numbers.

    ``keypoints`` is (N, K, 3) holding x, y, keypoint score, or (N, K, 2) (the third value
    is then written as 1); ``image_ids`` and ``scores`` are (N,).
    """
    points = numeric_array("keypoints", keypoints, ndim=3, shape_doc="(N, K, 2 or 3)")
    if points.shape[2] not in (2, 3):
        raise InvalidInputError(f"keypoints must have shape (N, K, 2 or 3), got {points.shape}")
    points = points.astype(np.float64)
    require_finite("keypoints", points)
    count = points.shape[0]
    if points.shape[2] == 2:
        points = np.concatenate([points, np.ones((*points.shape[:2], 1))], axis=2)
    ids = np.asarray(image_ids)
    if ids.shape != (count,) or not (count == 0 or np.issubdtype(ids.dtype, np.integer)):
        raise InvalidInputError(f"image_ids must be {count} integers, got shape {ids.shape}")
    instance_scores = numeric_array("scores", scores, ndim=1, shape_doc="(N,)")
    instance_scores = instance_scores.astype(np.float64)
    require_finite("scores", instance_scores)
    if instance_scores.shape[0] != count:
        raise InvalidInputError(f"scores holds {instance_scores.shape[0]} values for {count} poses")
    if not is_integer(category_id):
        raise InvalidInputError(f"category_id must be an integer, got {category_id!r}")
    rows = points.reshape(count, -1).tolist()
    return [
        {"image_id": image_id, "category_id": int(category_id), "keypoints": row, "score": score}
        for image_id, row, score in zip(ids.tolist(), rows, instance_scores.tolist(), strict=True)
    ]


def check_results(results: Sequence[Mapping]) -> list[dict]:
    """Checked copies of keypoint results with plain Python numbers; raises naming the first
    bad entry. The copies can be handed to pycocotools, which mutates what it loads."""
    if isinstance(results, str | bytes | Mapping) or not isinstance(results, Sequence):
        raise ResultsFormatError(
            f"results must be a list of dicts (COCO keypoint results), got {type(results).__name__}"
        )
    for position, result in enumerate(results):
        if not isinstance(result, Mapping):
            raise ResultsFormatError(
                f"results[{position}] is a {type(result).__name__}, not a dict"
            )
        missing = [key for key in REQUIRED_KEYS if key not in result]
        if missing:
            raise ResultsFormatError(f"results[{position}] lacks {', '.join(map(repr, missing))}")
        for key in ("image_id", "category_id"):
            if not is_integer(result[key]):
                raise ResultsFormatError(
                    f"results[{position}]['{key}'] must be an integer, got {result[key]!r}"
                )
        score = result["score"]
        if isinstance(score, bool) or not isinstance(score, int | float | np.integer | np.floating):
            raise ResultsFormatError(
                f"results[{position}]['score'] must be a number, got {score!r}"
            )
    if not results:
        return []
    keypoints = _keypoint_rows(results)
    scores = np.array([result["score"] for result in results], dtype=np.float64)
    for name, values in (("keypoints", keypoints), ("score", scores)):
        bad = ~np.isfinite(values)
        if bad.any():
            position = int(np.argwhere(bad)[0][0])
            raise ResultsFormatError(f"results[{position}]['{name}'] holds NaN or infinite values")
    rows = keypoints.tolist()
    return [
        {
            **result,
            "image_id": int(result["image_id"]),
            "category_id": int(result["category_id"]),
            "keypoints": row,
            "score": score,
        }
        for result, row, score in zip(results, rows, scores.tolist(), strict=True)
    ]


def _keypoint_rows(results: Sequence[Mapping]) -> np.ndarray:
    """The results' keypoints as one (N, 3K) float array; raises naming the first bad entry."""
    try:
        keypoints = np.array([result["keypoints"] for result in results], dtype=np.float64)
        keypoints = keypoints.reshape(len(results), -1)
    except (TypeError, ValueError):
        keypoints = None  # ragged or non-numeric: find the culprit below
    if keypoints is not None and keypoints.shape[1] > 0 and keypoints.shape[1] % 3 == 0:
        return keypoints
    expected = None
    for position, result in enumerate(results):
        try:
            size = np.asarray(result["keypoints"], dtype=np.float64).size
        except (TypeError, ValueError):
            raise ResultsFormatError(
                f"results[{position}]['keypoints'] is not a list of numbers"
            ) from None
        expected = size if expected is None else expected
        if size != expected or size % 3 or size == 0:
            raise ResultsFormatError(
                f"results[{position}]['keypoints'] holds {size} values; every result needs the "
                f"same 3 x K values (x, y, score per keypoint), results[0] holds {expected}"
            )
    raise ResultsFormatError("results' keypoints cannot be read as one (N, 3 x K) array")


def read_results(path: str | os.PathLike) -> list[dict]:
    """Checked keypoint results from a COCO results JSON file."""
    file = Path(path)
    try:
        with file.open() as stream:
            loaded = json.load(stream)
    except FileNotFoundError:
        raise ResultsFormatError(f"results file not found: {file}") from None
    except json.JSONDecodeError as error:
        raise ResultsFormatError(f"results file {file} is not valid JSON: {error}") from None
    if not isinstance(loaded, list):
        raise ResultsFormatError(
            f"results file {file} must hold a JSON list, got {type(loaded).__name__}"
        )
    return check_results(loaded)


def write_results(path: str | os.PathLike, results: Sequence[Mapping]) -> Path:
    """Check ``results`` and write them as COCO results JSON, atomically; returns the path."""
    checked = check_results(results)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        os.chmod(temporary, _default_file_mode())  # mkstemp's 0600 would hide it from the group
        with os.fdopen(descriptor, "w") as stream:
            json.dump(checked, stream)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def _default_file_mode() -> int:
    """The mode a plainly created file gets here: 0666 less the process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
