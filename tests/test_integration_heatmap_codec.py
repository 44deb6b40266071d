"""The heatmap codec is one contract (root README, "The heatmap codec"; SPEC.md sections 3 and 6):
posedata encodes targets in TensorFlow, cocoeval-tools decodes predictions in NumPy, and neither
imports the other. An encode -> decode round trip over random keypoints, input sizes and output
strides 2 and 4 holds them together: peak, sigma, centre rounding and stride."""

import inspect

import numpy as np
import pytest

import cocoeval_tools
from posedata.heatmaps import HEATMAP_PEAK, encode_heatmaps, heatmap_sigma

# (input height, input width): small and odd ratios too, so that x and y scale differently.
INPUT_SIZES = ((64, 48), (96, 72), (128, 96), (80, 64))


def _random_keypoints(rng, input_size, stride, n=6, k=5):
    """Input-pixel keypoints whose centre cells lie inside the heatmap (anywhere up to its
    border: within half a cell of the outer cells' centres)."""
    height, width = input_size
    low = -0.49 * stride
    high = np.array([width, height]) - 0.51 * stride
    xy = rng.uniform([low, low], high, (n, k, 2)).astype(np.float32)
    return xy, np.ones((n, k), np.float32)


def _encode(xy, valid, input_size, stride):
    heatmap_size = (input_size[0] // stride, input_size[1] // stride)
    heatmaps, valid = encode_heatmaps(xy, valid, input_size, heatmap_size)
    return heatmaps.numpy(), valid.numpy(), heatmap_size


def _gaussian(centre_x, centre_y, heatmap_size):
    """The contract's target shape, centred anywhere (not only on a cell)."""
    height, width = heatmap_size
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    sigma = heatmap_sigma(height)
    return HEATMAP_PEAK * np.exp(-((x - centre_x) ** 2 + (y - centre_y) ** 2) / (2 * sigma**2))


def test_the_decoders_score_scale_is_the_encoders_peak():
    default = inspect.signature(cocoeval_tools.decode_heatmaps).parameters["score_scale"].default
    assert default == HEATMAP_PEAK


@pytest.mark.parametrize("stride", [2, 4])
@pytest.mark.parametrize("input_size", INPUT_SIZES)
def test_an_encoded_target_decodes_to_its_keypoint_within_the_centre_rounding(input_size, stride):
    rng = np.random.default_rng(stride * 1000 + input_size[0])
    xy, valid = _random_keypoints(rng, input_size, stride)
    heatmaps, valid, heatmap_size = _encode(xy, valid, input_size, stride)
    assert valid.all()  # the keypoints lie inside the map
    coords, scores = cocoeval_tools.decode_heatmaps(heatmaps, input_size=input_size)
    ratio = np.array([heatmap_size[1] / input_size[1], heatmap_size[0] / input_size[0]])
    # In heatmap pixels: exactly the centre cell floor(c * out / in + 0.5) (the target is
    # symmetric about it, so the quarter offset does not move it), at most half a pixel from
    # the keypoint; the score is the peak over the peak.
    in_heatmap = coords * ratio
    np.testing.assert_allclose(in_heatmap, np.floor(xy * ratio + 0.5), atol=1e-9)
    assert np.abs(in_heatmap - xy * ratio).max() <= 0.5 + 1e-5
    np.testing.assert_allclose(scores, 1.0, rtol=1e-6)


@pytest.mark.parametrize("stride", [2, 4])
def test_the_encoders_target_is_the_contracts_gaussian(stride):
    rng = np.random.default_rng(stride)
    input_size = (96, 72)
    xy, valid = _random_keypoints(rng, input_size, stride, n=2, k=3)
    heatmaps, _, heatmap_size = _encode(xy, valid, input_size, stride)
    ratio = np.array([heatmap_size[1] / input_size[1], heatmap_size[0] / input_size[0]])
    cells = np.floor(xy * ratio + 0.5)
    for b in range(2):
        for j in range(3):
            expected = _gaussian(cells[b, j, 0], cells[b, j, 1], heatmap_size)
            np.testing.assert_allclose(heatmaps[b, :, :, j], expected, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("stride", [2, 4])
@pytest.mark.parametrize("input_size", INPUT_SIZES)
def test_a_gaussian_between_cells_decodes_within_a_quarter_pixel_after_the_quarter_offset(
    input_size, stride
):
    # What a network predicts for a keypoint between cells: the contract's Gaussian centred
    # there. The argmax is the nearest cell; the quarter offset toward the higher neighbour
    # brings the error from up to half a heatmap pixel down to at most a quarter.
    rng = np.random.default_rng(7 * stride + input_size[1])
    heatmap_size = (input_size[0] // stride, input_size[1] // stride)
    height, width = heatmap_size
    n = 40
    centres = rng.uniform([1.0, 1.0], [width - 2.0, height - 2.0], (n, 2))
    maps = np.stack([_gaussian(x, y, heatmap_size) for x, y in centres])[..., None]
    coords, _ = cocoeval_tools.decode_heatmaps(maps)
    error = np.abs(coords[:, 0] - centres)
    assert error.max() <= 0.25 + 1e-9
    rounding_only = np.abs(np.floor(centres + 0.5) - centres)
    assert error.mean() < rounding_only.mean()  # the offset helps on average
    # In input pixels (stride s): the same quarter heatmap pixel is s / 4 input pixels.
    in_input, _ = cocoeval_tools.decode_heatmaps(maps, input_size=input_size)
    scale = np.array([input_size[1] / width, input_size[0] / height])
    assert np.abs(in_input[:, 0] - centres * scale).max() <= 0.25 * stride + 1e-9


@pytest.mark.parametrize("stride", [2, 4])
def test_a_keypoint_whose_cell_leaves_the_map_has_no_target(stride):
    input_size = (64, 48)
    xy = np.array([[[-0.6 * stride, 10.0], [10.0, 64.0]]], np.float32)  # cell -1, cell Ho
    heatmaps, valid, _ = _encode(xy, np.ones((1, 2), np.float32), input_size, stride)
    assert valid.tolist() == [[0.0, 0.0]]
    assert not heatmaps.any()
