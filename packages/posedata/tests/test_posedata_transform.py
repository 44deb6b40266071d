"""The crop transform and the heatmap targets (pure tensor maths, no files)."""

import math

import numpy as np
import pytest

from posedata import (
    apply_transform,
    crop_transform,
    encode_heatmaps,
    heatmap_centres,
    heatmap_sigma,
    invert_transform,
    mirror_transform,
)

INPUT = (256, 192)
BOX = [100.0, 50.0, 60.0, 200.0]  # taller than the input aspect: widened to 150 x 200


def _map(transform, points):
    return apply_transform(transform, np.asarray(points, np.float32)).numpy()


def test_box_centre_maps_to_the_input_centre():
    transform = crop_transform(BOX, INPUT, rotation=33.0, scale=1.2)
    centre = _map(transform, [[130.0, 150.0]])[0]
    np.testing.assert_allclose(centre, [95.5, 127.5], atol=1e-4)


def test_box_height_times_1_25_fills_the_input_height():
    transform = crop_transform(BOX, INPUT).numpy()
    top, bottom = _map(transform, [[130.0, 150.0 - 125.0], [130.0, 150.0 + 125.0]])
    np.testing.assert_allclose([top[1], bottom[1]], [-0.5, 255.5], atol=1e-3)


def test_wide_box_is_widened_to_the_input_aspect_on_the_short_side():
    transform = crop_transform([0.0, 0.0, 300.0, 100.0], INPUT).numpy()
    left, right = _map(transform, [[150.0 - 187.5, 50.0], [150.0 + 187.5, 50.0]])
    np.testing.assert_allclose([left[0], right[0]], [-0.5, 191.5], atol=1e-3)


def test_keypoint_mapped_into_the_crop_and_back_lands_where_it_started():
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 400, (17, 2)).astype(np.float32)
    for rotation, scale, flip in [(0.0, 1.0, False), (-71.0, 0.7, True), (45.0, 1.3, False)]:
        transform = crop_transform(BOX, INPUT, rotation=rotation, scale=scale, flip=flip)
        back = _map(invert_transform(transform), _map(transform, points))
        assert np.abs(back - points).max() < 0.5
        np.testing.assert_allclose(back, points, atol=1e-3)


def test_rotation_is_counter_clockwise_on_screen():
    transform = crop_transform(BOX, INPUT, rotation=90.0)
    right_of_centre = _map(transform, [[140.0, 150.0]])[0]
    assert right_of_centre[1] < 127.5 - 5  # moved up
    assert right_of_centre[0] == pytest.approx(95.5, abs=1e-3)


def test_flip_mirrors_about_the_input_centre_line():
    plain = crop_transform(BOX, INPUT, rotation=20.0)
    flipped = crop_transform(BOX, INPUT, rotation=20.0, flip=True)
    points = [[110.0, 70.0], [150.0, 220.0]]
    u_plain, u_flip = _map(plain, points), _map(flipped, points)
    np.testing.assert_allclose(u_flip[:, 0], 191.0 - u_plain[:, 0], atol=1e-4)
    np.testing.assert_allclose(u_flip[:, 1], u_plain[:, 1], atol=1e-4)
    np.testing.assert_allclose(mirror_transform(plain, INPUT[1]), flipped, atol=1e-5)


def test_transforms_are_batched():
    boxes = np.array([BOX, [0.0, 0.0, 50.0, 50.0]], np.float32)
    batched = crop_transform(boxes, INPUT, rotation=[0.0, 10.0], flip=[True, False]).numpy()
    assert batched.shape == (2, 2, 3)
    np.testing.assert_allclose(batched[1], crop_transform(boxes[1], INPUT, rotation=10.0))


def test_heatmap_sigma_is_2_on_a_64_high_map():
    assert heatmap_sigma(64) == 2.0
    assert heatmap_sigma(32) == 1.0


def test_heatmap_centre_is_floor_of_scaled_coordinate_plus_half():
    cells = heatmap_centres([[3.9, 6.1], [5.99, 1.0]], (256, 192), (64, 48)).numpy()
    np.testing.assert_array_equal(cells, [[1, 2], [1, 0]])


def test_heatmap_peaks_255_at_the_keypoint_with_spec_sigma():
    keypoints = np.array([[[40.0, 100.0], [120.0, 9.0]]], np.float32)
    maps, valid = encode_heatmaps(keypoints, [[True, True]], INPUT, (64, 48))
    maps = maps.numpy()
    assert maps.shape == (1, 64, 48, 2)
    for k, (x, y) in enumerate(keypoints[0]):
        cx, cy = math.floor(x / 4 + 0.5), math.floor(y / 4 + 0.5)
        assert np.unravel_index(maps[0, :, :, k].argmax(), (64, 48)) == (cy, cx)
        assert maps[0, cy, cx, k] == pytest.approx(255.0)
        assert maps[0, cy, cx + 1, k] == pytest.approx(255.0 * math.exp(-1 / 8), rel=1e-5)
    np.testing.assert_array_equal(valid, [[1.0, 1.0]])


def test_keypoints_outside_the_crop_and_invisible_ones_get_empty_maps_and_no_weight():
    keypoints = np.array([[[-3.0, 50.0], [50.0, 254.5], [60.0, 60.0], [60.0, 60.0]]], np.float32)
    maps, valid = encode_heatmaps(keypoints, [[True, True, False, True]], INPUT, (64, 48))
    np.testing.assert_array_equal(valid, [[0.0, 0.0, 0.0, 1.0]])
    assert not maps.numpy()[..., :3].any()
    assert maps.numpy()[..., 3].max() == pytest.approx(255.0)
