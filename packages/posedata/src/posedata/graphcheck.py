"""A tripwire for TensorFlow graph rewrites that compute posedata's geometry wrongly.

TensorFlow 2.21's Grappler remapper, on by default wherever oneDNN is (x86 CPUs with
AVX512_VNNI, AVX512_BF16 or AMX), has fused `Maximum(a, Mul(b, c))` into a LeakyRelu even
when `a` and `b` were different outputs of one `Unpack` node, and then read the wrong one
(the class of tensorflow issue 60941). Eager code was right; `tf.function` and `tf.data`
were not, so every crop of the pipeline was mis-scaled. posedata's geometry is written so that
no such fusion applies (see `posedata.transform`); `check_graph_geometry` proves it on the
running TensorFlow, CPU and settings by sending known crops through the same graph code, in a
`tf.data` map as the pipeline does and in a `tf.function`, and comparing them with a float64
NumPy reference. `posedata.make_dataset` runs it once per process.
"""

from __future__ import annotations

import functools
import math
import os

import numpy as np
import tensorflow as tf

from posedata import heatmaps as _heatmaps
from posedata import transform as _transform
from posedata.errors import DataError

TOLERANCE_PX = 0.01
"""Largest difference (input or image pixels) between the graph and the float64 reference."""

_INPUT_SIZE = (64, 48)
_HEATMAP_SIZE = (32, 24)
# Boxes at very different x positions (the miscompiled transform scaled crops by x), squat
# and tall (both sides of the aspect-ratio widening), with scale, rotation and flip.
_BOXES = np.array(
    [
        [12.3, 5.7, 340.6, 132.8],
        [300.0, 40.0, 60.0, 200.0],
        [0.5, 0.5, 10.0, 30.0],
        [120.0, 80.0, 90.0, 90.0],
        [640.0, 10.0, 33.0, 21.0],
        [5.0, 300.0, 150.0, 420.0],
    ],
    np.float32,
)
_SCALES = np.array([1.0, 1.3, 0.7, 1.0, 1.15, 0.85], np.float32)
_ROTATIONS = np.array([0.0, 30.0, -75.0, 180.0, 12.5, -40.0], np.float32)
_FLIPS = np.array([False, True, False, True, True, False])
_PADDINGS = np.array([1.25, 1.25, 1.5, 1.25, 1.25, 1.5], np.float32)


class GraphMiscompileError(DataError):
    """TensorFlow's graph mode computed posedata's crop geometry wrongly on this machine."""


def reference_crop_transform(
    box: np.ndarray,
    input_size: tuple[int, int],
    *,
    scale: float = 1.0,
    rotation: float = 0.0,
    flip: bool = False,
    padding: float = _transform.BOX_PADDING,
) -> np.ndarray:
    """`posedata.crop_transform` for one box, in float64 NumPy, built as a product of steps:
    move the box centre to the origin, zoom, rotate, move to the input centre, mirror."""
    height, width = (float(s) for s in input_size)
    x, y, w, h = (float(v) for v in box)
    crop_width = max(w, h * width / height) * padding * scale
    zoom = width / max(crop_width, 1e-6)
    theta = math.radians(rotation)
    to_origin = _affine(np.eye(2), [-(x + w / 2), -(y + h / 2)])
    zoomed = _affine(zoom * np.eye(2), [0, 0])
    turned = _affine([[math.cos(theta), math.sin(theta)], [-math.sin(theta), math.cos(theta)]])
    to_centre = _affine(np.eye(2), [(width - 1) / 2, (height - 1) / 2])
    mirrored = _affine([[-1, 0], [0, 1]], [width - 1, 0]) if flip else np.eye(3)
    return (mirrored @ to_centre @ turned @ zoomed @ to_origin)[:2]


def check_graph_geometry() -> float:
    """Raise `GraphMiscompileError` unless posedata's geometry is right in graph mode here.

    Known crops go through `crop_transform`, `apply_transform`, `invert_transform`,
    `mirror_transform` and `heatmap_centres` inside a `tf.data` map and a `tf.function`; the
    results must match the float64 reference within `TOLERANCE_PX`. Returns the largest
    difference seen (pixels). The answer is computed once per process.
    """
    with tf.init_scope():  # eagerly, also when called while a tf.function is being traced
        error, where = _graph_error()
    if error > TOLERANCE_PX:
        setting = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset (TensorFlow's default)")
        raise GraphMiscompileError(
            f"TensorFlow {tf.__version__} computes posedata's crop geometry wrongly in graph "
            f"mode on this machine ({where} off by {error:.3g} px; TF_ENABLE_ONEDNN_OPTS="
            f"{setting}): its Grappler remapper miscompiles the graph (tensorflow issue "
            "60941's class). Training on these crops would be wrong. Work around: set "
            "TF_ENABLE_ONEDNN_OPTS=0 in the environment before starting, or call "
            "tf.config.optimizer.set_experimental_options({'remapping': False}) first"
        )
    return error


@functools.cache
def _graph_error() -> tuple[float, str]:
    expected = _reference_outputs()
    dataset = tf.data.Dataset.from_tensor_slices(
        (_BOXES, _SCALES, _ROTATIONS, _FLIPS, _PADDINGS)
    ).map(_geometry)
    graph_runs = {
        "tf.data": {key: np.stack([row[key].numpy() for row in dataset]) for key in expected},
        "tf.function": {
            key: value.numpy()
            for key, value in tf.function(_geometry)(
                _BOXES, _SCALES, _ROTATIONS, _FLIPS, _PADDINGS
            ).items()
        },
    }
    worst, where = 0.0, "nothing"
    for mode, outputs in graph_runs.items():
        for key, value in expected.items():
            error = float(np.max(np.abs(outputs[key].astype(np.float64) - value)))
            if not np.isfinite(error) or error > worst:
                worst, where = (math.inf if not np.isfinite(error) else error), f"{mode} {key}"
    return worst, where


def _geometry(box, scale, rotation, flip, padding) -> dict[str, tf.Tensor]:
    """The graph side: the geometry of one example (in `tf.data`, as the pipeline's map
    function computes it) or of all boxes at once (in a `tf.function`, as prediction does)."""
    transform = _transform.crop_transform(
        box, _INPUT_SIZE, scale=scale, rotation=rotation, flip=flip, padding=padding
    )
    points = _probe_points(box)
    mapped = _transform.apply_transform(transform, points)
    inverse = _transform.invert_transform(transform)
    mirrored = _transform.mirror_transform(transform, _INPUT_SIZE[1])
    return {
        "crop points": mapped,
        "inverse points": _transform.apply_transform(inverse, mapped),
        "mirrored points": _transform.apply_transform(mirrored, points),
        "heatmap cells": tf.cast(
            _heatmaps.heatmap_centres(mapped, _INPUT_SIZE, _HEATMAP_SIZE), tf.float32
        ),
    }


def _probe_points(box: tf.Tensor) -> tf.Tensor:
    """The box's corners and centre, `(..., 5, 2)`."""
    box = tf.convert_to_tensor(box, tf.float32)
    corner = box[..., None, 0:2]
    size = box[..., None, 2:4]
    fractions = tf.constant([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 0.5]])
    return corner + fractions * size


def _reference_outputs() -> dict[str, np.ndarray]:
    crop, inverse, mirrored, cells = [], [], [], []
    for box, scale, rotation, flip, padding in zip(
        _BOXES, _SCALES, _ROTATIONS, _FLIPS, _PADDINGS, strict=True
    ):
        matrix = reference_crop_transform(
            box, _INPUT_SIZE, scale=scale, rotation=rotation, flip=flip, padding=padding
        )
        x, y, w, h = box.astype(np.float64)
        points = np.array([[x, y], [x + w, y], [x, y + h], [x + w, y + h], [x + w / 2, y + h / 2]])
        mapped = points @ matrix[:, :2].T + matrix[:, 2]
        crop.append(mapped)
        inverse.append(points)
        mirror = reference_crop_transform(
            box, _INPUT_SIZE, scale=scale, rotation=rotation, flip=not flip, padding=padding
        )
        mirrored.append(points @ mirror[:, :2].T + mirror[:, 2])
        ratio = np.array([_HEATMAP_SIZE[1] / _INPUT_SIZE[1], _HEATMAP_SIZE[0] / _INPUT_SIZE[0]])
        # (No probe lies within float32 rounding of a cell boundary; a test holds that.)
        cells.append(np.floor(mapped * ratio + 0.5))
    return {
        "crop points": np.stack(crop),
        "inverse points": np.stack(inverse),
        "mirrored points": np.stack(mirrored),
        "heatmap cells": np.stack(cells),
    }


def _affine(linear, offset=(0.0, 0.0)) -> np.ndarray:
    matrix = np.eye(3)
    matrix[:2, :2] = np.asarray(linear, np.float64)
    matrix[:2, 2] = offset
    return matrix
