"""Mapping keypoints back to image pixels through the inverse crop transforms."""

from __future__ import annotations

import numpy as np
import pytest

from cocoeval_tools import InvalidInputError, invert_transforms, to_image_coords


def crop_transforms(count: int, seed: int = 0) -> np.ndarray:
    """Random image->input 2x3 transforms: scale, rotation, optional mirror, translation."""
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.2, 3.0, count)
    angle = np.deg2rad(rng.uniform(-80, 80, count))
    mirror = np.where(rng.random(count) < 0.5, -1.0, 1.0)
    cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
    linear = np.stack([np.stack([cos * mirror, -sin], -1), np.stack([sin * mirror, cos], -1)], 1)
    offset = rng.uniform(-500, 500, (count, 2))
    return np.concatenate([linear, offset[:, :, None]], axis=2)


def test_the_inverse_transform_round_trips():
    transforms = crop_transforms(50)
    image_points = np.random.default_rng(1).uniform(0, 640, (50, 17, 2))
    input_points = np.einsum("nij,nkj->nki", transforms[:, :, :2], image_points)
    input_points += transforms[:, None, :, 2]
    np.testing.assert_allclose(to_image_coords(input_points, transforms), image_points, atol=1e-9)


def test_inverting_twice_gives_the_transform_back():
    transforms = crop_transforms(10, seed=3)
    np.testing.assert_allclose(
        invert_transforms(invert_transforms(transforms)), transforms, atol=1e-9
    )


def test_a_scale_and_shift_crop_maps_back_by_hand():
    # crop of the box x in [100, 292), y in [50, 306) resized by 1/2 to a 96x128 input
    transforms = np.array([[[0.5, 0.0, -50.0], [0.0, 0.5, -25.0]]])
    coords = np.array([[[0.0, 0.0], [48.0, 64.0], [95.0, 127.0]]])
    np.testing.assert_allclose(
        to_image_coords(coords, transforms), [[[100, 50], [196, 178], [290, 304]]]
    )


def test_a_singular_transform_is_refused_naming_it():
    transforms = crop_transforms(3)
    transforms[1, :, :2] = [[1.0, 2.0], [2.0, 4.0]]
    with pytest.raises(InvalidInputError, match=r"transforms\[1\].*singular"):
        to_image_coords(np.zeros((3, 17, 2)), transforms)


@pytest.mark.parametrize(
    ("coords", "transforms", "message"),
    [
        (np.zeros((2, 17, 3)), np.zeros((2, 2, 3)), r"coords must have shape \(N, K, 2\)"),
        (np.zeros((2, 17, 2)), np.zeros((2, 3, 3)), r"transforms must have shape \(N, 2, 3\)"),
        (np.zeros((3, 17, 2)), crop_transforms(2), "3 instances but transforms 2"),
        (np.zeros((2, 17, 2)), np.full((2, 2, 3), np.nan), "finite"),
    ],
)
def test_mismatched_inputs_are_refused(coords, transforms, message):
    with pytest.raises(InvalidInputError, match=message):
        to_image_coords(coords, transforms)
