"""Mapping keypoints from network-input pixels back to image pixels (inverse crop transforms)."""

from __future__ import annotations

import numpy as np

from cocoeval_tools._checks import numeric_array, require_finite
from cocoeval_tools.errors import InvalidInputError


def invert_transforms(transforms: np.ndarray) -> np.ndarray:
    """Inverse of each 2x3 affine matrix (N, 2, 3): input pixels -> image pixels."""
    matrices = numeric_array("transforms", transforms, ndim=3, shape_doc="(N, 2, 3)")
    if matrices.shape[1:] != (2, 3):
        raise InvalidInputError(f"transforms must have shape (N, 2, 3), got {matrices.shape}")
    matrices = matrices.astype(np.float64)
    require_finite("transforms", matrices)
    linear, offset = matrices[:, :, :2], matrices[:, :, 2]
    det = linear[:, 0, 0] * linear[:, 1, 1] - linear[:, 0, 1] * linear[:, 1, 0]
    magnitude = np.abs(linear).max(axis=(1, 2), initial=0.0)
    singular = np.abs(det) <= 1e-12 * np.maximum(magnitude, 1e-300) ** 2
    if singular.any():
        index = int(np.flatnonzero(singular)[0])
        raise InvalidInputError(
            f"transforms[{index}] = {matrices[index].tolist()} is singular and cannot be inverted"
        )
    inverse_linear = np.empty_like(linear)
    inverse_linear[:, 0, 0] = linear[:, 1, 1]
    inverse_linear[:, 0, 1] = -linear[:, 0, 1]
    inverse_linear[:, 1, 0] = -linear[:, 1, 0]
    inverse_linear[:, 1, 1] = linear[:, 0, 0]
    inverse_linear /= det[:, None, None]
    inverse_offset = -np.einsum("nij,nj->ni", inverse_linear, offset)
    return np.concatenate([inverse_linear, inverse_offset[:, :, None]], axis=2)


def to_image_coords(coords: np.ndarray, transforms: np.ndarray) -> np.ndarray:
    """Map (N, K, 2) input-pixel keypoints to image pixels through the inverse of each crop's
    2x3 image->input transform (N, 2, 3); returns (N, K, 2) float64."""
    points = numeric_array("coords", coords, ndim=3, shape_doc="(N, K, 2)")
    if points.shape[2] != 2:
        raise InvalidInputError(f"coords must have shape (N, K, 2), got {points.shape}")
    inverse = invert_transforms(transforms)
    if inverse.shape[0] != points.shape[0]:
        raise InvalidInputError(
            f"coords holds {points.shape[0]} instances but transforms {inverse.shape[0]}"
        )
    return np.einsum("nij,nkj->nki", inverse[:, :, :2], points) + inverse[:, None, :, 2]
