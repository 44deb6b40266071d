"""Heatmap decoding (argmax + quarter-pixel shift) and the flip test merge."""

from __future__ import annotations

import numpy as np
import pytest

from cocoeval_tools import InvalidInputError, decode_heatmaps, flip_indices, flip_merge

COCO_FLIP_PAIRS = [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)]


def render_gaussians(
    centres: np.ndarray, height: int, width: int, sigma: float = 2.0
) -> np.ndarray:
    """NHWK maps peaking at 255 on the (x, y) centres (N, K, 2), cut to 0 beyond 3 sigma."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    dx = xs[None, :, :, None] - centres[:, None, None, :, 0]
    dy = ys[None, :, :, None] - centres[:, None, None, :, 1]
    squared = dx**2 + dy**2
    maps = 255.0 * np.exp(-squared / (2 * sigma**2))
    return np.where(squared <= (3 * sigma) ** 2, maps, 0.0).astype(np.float32)


def decode_one_by_one(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rule of SPEC section 6 written plainly, one keypoint at a time (the oracle)."""
    n, height, width, k = heatmaps.shape
    coords, scores = np.zeros((n, k, 2)), np.zeros((n, k))
    for i in range(n):
        for j in range(k):
            heatmap = heatmaps[i, :, :, j].astype(np.float64)
            y, x = np.unravel_index(np.argmax(heatmap), heatmap.shape)
            fx, fy = float(x), float(y)
            if 0 < x < width - 1:
                fx += 0.25 * np.sign(heatmap[y, x + 1] - heatmap[y, x - 1])
            if 0 < y < height - 1:
                fy += 0.25 * np.sign(heatmap[y + 1, x] - heatmap[y - 1, x])
            coords[i, j] = fx, fy
            scores[i, j] = heatmap[y, x] / 255.0
    return coords, scores


def test_decoding_a_subpixel_gaussian_recovers_it_within_a_quarter_pixel():
    rng = np.random.default_rng(0)
    centres = rng.uniform([2.0, 2.0], [45.0, 61.0], size=(64, 17, 2))
    coords, scores = decode_heatmaps(render_gaussians(centres, 64, 48))
    assert coords.shape == (64, 17, 2) and scores.shape == (64, 17)
    assert np.abs(coords - centres).max() <= 0.25 + 1e-9
    nearest_squared = ((np.floor(centres + 0.5) - centres) ** 2).sum(axis=-1)
    np.testing.assert_allclose(scores, np.exp(-nearest_squared / 8), atol=1e-6)


def test_decoding_a_gaussian_on_a_pixel_centre_is_exact():
    centres = np.array([[[10.0, 20.0], [30.0, 5.0]]])
    coords, scores = decode_heatmaps(render_gaussians(centres, 64, 48))
    np.testing.assert_array_equal(coords, centres)
    np.testing.assert_allclose(scores, 1.0)


def test_decoding_matches_the_keypoint_by_keypoint_rule():
    heatmaps = np.random.default_rng(1).uniform(0, 255, size=(5, 16, 12, 4)).astype(np.float32)
    coords, scores = decode_heatmaps(heatmaps)
    expected_coords, expected_scores = decode_one_by_one(heatmaps)
    np.testing.assert_array_equal(coords, expected_coords)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-6)


def test_ties_resolve_to_the_first_maximum_in_row_major_order_like_argmax():
    # coarse values (as from bfloat16 outputs) make equal maxima in many maps
    heatmaps = np.random.default_rng(4).integers(0, 6, size=(40, 9, 7, 5)).astype(np.float32)
    coords, scores = decode_heatmaps(heatmaps)
    expected_coords, expected_scores = decode_one_by_one(heatmaps)
    np.testing.assert_array_equal(coords, expected_coords)
    np.testing.assert_array_equal(scores, expected_scores)


def test_a_peak_in_a_later_column_but_an_earlier_row_comes_first():
    heatmaps = np.zeros((1, 6, 6, 1), np.float32)
    heatmaps[0, 4, 1, 0] = heatmaps[0, 2, 4, 0] = 7.0
    coords, _ = decode_heatmaps(heatmaps)
    np.testing.assert_array_equal(coords[0, 0], [4.0, 2.0])


def test_no_shift_is_applied_on_the_map_border():
    heatmaps = np.zeros((1, 8, 6, 2), np.float32)
    heatmaps[0, 0, 0, 0], heatmaps[0, 0, 1, 0], heatmaps[0, 1, 0, 0] = 9, 5, 5
    heatmaps[0, 7, 5, 1], heatmaps[0, 6, 5, 1] = 9, 5
    coords, _ = decode_heatmaps(heatmaps)
    np.testing.assert_array_equal(coords[0], [[0.0, 0.0], [5.0, 7.0]])


def test_the_shift_applies_per_axis_inside_the_border():
    heatmaps = np.zeros((1, 8, 6, 1), np.float32)
    heatmaps[0, 0, 3, 0], heatmaps[0, 0, 4, 0], heatmaps[0, 1, 3, 0] = 9, 5, 5
    coords, _ = decode_heatmaps(heatmaps)
    np.testing.assert_array_equal(coords[0, 0], [3.25, 0.0])


def test_equal_neighbours_give_no_shift():
    heatmaps = np.zeros((1, 5, 5, 1), np.float32)
    heatmaps[0, 2, 2, 0] = 1.0
    coords, _ = decode_heatmaps(heatmaps)
    np.testing.assert_array_equal(coords[0, 0], [2.0, 2.0])


def test_strided_views_decode_like_their_copies():
    heatmaps = np.random.default_rng(5).uniform(0, 255, size=(3, 12, 10, 4)).astype(np.float32)
    view = heatmaps.transpose(0, 2, 1, 3)  # (N, W, H, K) read as a 10 x 12 map
    np.testing.assert_array_equal(decode_heatmaps(view)[0], decode_heatmaps(view.copy())[0])


def test_an_empty_batch_decodes_to_empty_arrays():
    coords, scores = decode_heatmaps(np.zeros((0, 64, 48, 17), np.float32))
    assert coords.shape == (0, 17, 2) and scores.shape == (0, 17)


def test_input_size_scales_each_axis_by_its_own_ratio():
    heatmaps = render_gaussians(np.array([[[10.0, 20.0]]]), 64, 48)
    coords, _ = decode_heatmaps(heatmaps, input_size=(256, 192))
    np.testing.assert_array_equal(coords[0, 0], [40.0, 80.0])
    coords, _ = decode_heatmaps(heatmaps, input_size=(128, 192))
    np.testing.assert_array_equal(coords[0, 0], [40.0, 40.0])


def test_score_scale_divides_the_peak():
    heatmaps = np.zeros((1, 4, 4, 1), np.float32)
    heatmaps[0, 1, 2, 0] = 0.8
    _, scores = decode_heatmaps(heatmaps, score_scale=1.0)
    np.testing.assert_allclose(scores, [[0.8]], rtol=1e-6)


def test_integer_heatmaps_decode_without_overflow():
    heatmaps = np.zeros((1, 5, 5, 1), np.uint8)
    heatmaps[0, 2, 2, 0], heatmaps[0, 2, 1, 0], heatmaps[0, 2, 3, 0] = 200, 10, 0
    coords, scores = decode_heatmaps(heatmaps)
    np.testing.assert_array_equal(coords[0, 0], [1.75, 2.0])
    np.testing.assert_allclose(scores, [[200 / 255]])


@pytest.mark.parametrize(
    ("heatmaps", "message"),
    [
        (np.zeros((4, 4, 2)), r"shape \(N, H, W, K\)"),
        (np.zeros((1, 0, 4, 2)), "H, W >= 1"),
        (np.array([[[["a"]]]]), "numbers"),
    ],
)
def test_malformed_heatmaps_are_refused(heatmaps, message):
    with pytest.raises(InvalidInputError, match=message):
        decode_heatmaps(heatmaps)


def test_non_finite_heatmaps_are_refused_naming_instance_and_keypoint():
    heatmaps = np.zeros((3, 4, 4, 2), np.float32)
    heatmaps[2, 1, 1, 1] = np.nan
    with pytest.raises(InvalidInputError, match=r"heatmaps\[2, :, :, 1\]"):
        decode_heatmaps(heatmaps)


def test_bad_input_size_and_score_scale_are_refused():
    heatmaps = np.zeros((1, 4, 4, 1), np.float32)
    with pytest.raises(InvalidInputError, match="input_size"):
        decode_heatmaps(heatmaps, input_size=(256,))
    with pytest.raises(InvalidInputError, match="height"):
        decode_heatmaps(heatmaps, input_size=(0, 192))
    with pytest.raises(InvalidInputError, match="score_scale"):
        decode_heatmaps(heatmaps, score_scale=0)


def test_flip_indices_swap_each_pair_and_keep_the_rest():
    expected = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    assert flip_indices(COCO_FLIP_PAIRS, 17).tolist() == expected


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ([(1, 17)], "not a keypoint index in 0..16"),
        ([(1, 2), (2, 3)], "in two pairs"),
        ([(3, 3)], "itself"),
        ([(1, 2, 3)], "pair"),
        ([(1.0, 2)], "not a keypoint index"),
    ],
)
def test_bad_flip_pairs_are_refused(pairs, message):
    with pytest.raises(InvalidInputError, match=message):
        flip_indices(pairs, 17)


def mirrored_network_output(heatmaps: np.ndarray, pairs) -> np.ndarray:
    """What an exactly mirror-equivariant network gives for the mirrored crops: the maps
    mirrored, left/right swapped, one pixel to the right (the flip's pixel misalignment)."""
    mirrored = heatmaps[:, :, ::-1, flip_indices(pairs, heatmaps.shape[3])]
    shifted = np.zeros_like(mirrored)
    shifted[:, :, 1:] = mirrored[:, :, :-1]
    return shifted


def test_flip_merge_of_a_symmetric_case_is_exact():
    rng = np.random.default_rng(2)
    centres = rng.uniform([8.0, 8.0], [40.0, 56.0], size=(3, 17, 2))
    heatmaps = render_gaussians(centres, 64, 48)
    merged = flip_merge(
        heatmaps, mirrored_network_output(heatmaps, COCO_FLIP_PAIRS), COCO_FLIP_PAIRS
    )
    np.testing.assert_array_equal(merged, heatmaps)
    np.testing.assert_array_equal(decode_heatmaps(merged)[0], decode_heatmaps(heatmaps)[0])


def test_flip_merge_swaps_left_and_right_channels():
    heatmaps = np.zeros((1, 6, 6, 3), np.float32)
    flipped = np.zeros_like(heatmaps)
    flipped[0, 2, 4, 1] = 8.0  # "left" in the mirrored crop at column 4
    merged = flip_merge(heatmaps, flipped, [(1, 2)])
    assert merged[0, 2, 2, 2] == 4.0  # mirrored to column 1, shifted to 2, now "right"
    assert np.count_nonzero(merged) == 1


def test_flip_merge_shift_leaves_the_uncovered_column_unshifted():
    heatmaps = np.zeros((1, 1, 4, 1), np.float32)
    flipped = np.array([1.0, 2.0, 3.0, 4.0], np.float32).reshape(1, 1, 4, 1)
    # flipped back: [4, 3, 2, 1]; shifted right one pixel: [4, 4, 3, 2]
    np.testing.assert_array_equal(flip_merge(heatmaps, flipped, []).ravel(), [2, 2, 1.5, 1])
    np.testing.assert_array_equal(
        flip_merge(heatmaps, flipped, [], shift=0).ravel(), [2, 1.5, 1, 0.5]
    )
    np.testing.assert_array_equal(
        flip_merge(heatmaps, flipped, [], shift=-1).ravel(), [1.5, 1, 0.5, 0.5]
    )


def test_flip_merge_refuses_mismatched_shapes_and_shifts():
    heatmaps = np.zeros((2, 4, 4, 3), np.float32)
    with pytest.raises(InvalidInputError, match="must match"):
        flip_merge(heatmaps, heatmaps[:1], [])
    with pytest.raises(InvalidInputError, match="shift"):
        flip_merge(heatmaps, heatmaps, [], shift=4)
