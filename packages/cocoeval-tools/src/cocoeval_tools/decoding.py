"""Heatmap decoding and the flip test, vectorised over a batch (NHWK arrays, numpy only).

The decoding half of the heatmap codec; posedata encodes training targets by the same contract
(peak 255, sigma, centre rounding, output stride: the repository README's "Contracts between
packages", SPEC.md sections 3 and 6).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cocoeval_tools._checks import first_bad_index, is_integer, numeric_array, positive_number
from cocoeval_tools.errors import InvalidInputError

QUARTER_PIXEL = 0.25
"""Distance the argmax moves toward its higher neighbour on each axis."""


def decode_heatmaps(
    heatmaps: np.ndarray,
    *,
    score_scale: float = 255.0,
    input_size: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints and scores from NHWK heatmaps: argmax + quarter-pixel shift, score = peak / scale.

    Returns ``coords`` (N, K, 2) as (x, y) in heatmap pixels, or in input pixels when
    ``input_size=(height, width)`` is given, and ``scores`` (N, K).
    """
    maps = numeric_array("heatmaps", heatmaps, ndim=4, shape_doc="(N, H, W, K)")
    scale = positive_number("score_scale", score_scale)
    n, height, width, k = maps.shape
    if height == 0 or width == 0:
        raise InvalidInputError(f"heatmaps must have H, W >= 1, got shape {maps.shape}")
    maps = np.ascontiguousarray(maps)  # the reshapes below are then views
    column_peaks = maps.reshape(n, height, width * k).max(axis=1).reshape(n, width, k)
    peaks = column_peaks.max(axis=1)  # (N, K); NaN wherever a map holds one
    if not np.isfinite(peaks).all():
        where = first_bad_index(~np.isfinite(peaks))
        raise InvalidInputError(
            f"heatmaps[{where[0]}, :, :, {where[1]}] holds NaN or infinite values"
        )
    peak_index = _first_peak_index(maps, column_peaks, peaks)
    flat = maps.reshape(n, height * width, k)
    y, x = np.divmod(peak_index, width)
    # The shift applies on an axis only where both neighbours exist (inside the map border).
    dx = _toward_higher_neighbour(flat, peak_index, x, step=1, size=width)
    dy = _toward_higher_neighbour(flat, peak_index, y, step=width, size=height)
    coords = np.stack([x + dx, y + dy], axis=-1)
    if input_size is not None:
        coords *= _heatmap_to_input_ratio(input_size, height, width)
    return coords, peaks.astype(np.float64) / scale


def _first_peak_index(maps: np.ndarray, column_peaks: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Flat index y * W + x of each map's first maximum in row-major order (``np.argmax``'s),
    (N, K). Faster than an argmax across the strided H*W axis: the column maxima come from one
    contiguous reduction; then only the column holding the peak is searched for its row."""
    n, height, width, k = maps.shape
    holds_peak = column_peaks == peaks[:, None, :]  # (N, W, K)
    x = holds_peak.argmax(axis=1)
    top = np.arange(n)[:, None] * (height * width * k) + x * k + np.arange(k)[None, :]
    column = maps.reshape(-1)[top[:, :, None] + np.arange(height) * (width * k)]  # (N, K, H)
    index = (column == peaks[:, :, None]).argmax(axis=2) * width + x
    # Where the peak value recurs in another column, the first one in row-major order may lie
    # in a later column but an earlier row: search those maps whole.
    tied = np.nonzero(holds_peak.sum(axis=1) > 1)
    if tied[0].size:
        index[tied] = maps[tied[0], :, :, tied[1]].reshape(tied[0].size, -1).argmax(axis=1)
    return index


def _gather(flat: np.ndarray, index: np.ndarray) -> np.ndarray:
    """flat[n, index[n, k], k] for every n, k."""
    return np.take_along_axis(flat, index[:, None, :], axis=1)[:, 0, :]


def _toward_higher_neighbour(
    flat: np.ndarray, peak_index: np.ndarray, position: np.ndarray, *, step: int, size: int
) -> np.ndarray:
    """+-0.25 toward the higher of the two neighbours along one axis, 0 at the border or a tie."""
    inside = (position > 0) & (position < size - 1)
    before = _gather(flat, np.where(inside, peak_index - step, peak_index))
    after = _gather(flat, np.where(inside, peak_index + step, peak_index))
    direction = np.sign(after.astype(np.float64) - before.astype(np.float64))
    return QUARTER_PIXEL * direction


def _heatmap_to_input_ratio(input_size: tuple[float, float], height: int, width: int) -> np.ndarray:
    """(x, y) factors from heatmap to input pixels: input / heatmap size per axis."""
    if not isinstance(input_size, Sequence) or len(input_size) != 2:
        raise InvalidInputError(f"input_size must be (height, width), got {input_size!r}")
    input_height = positive_number("input_size[0] (height)", input_size[0])
    input_width = positive_number("input_size[1] (width)", input_size[1])
    return np.array([input_width / width, input_height / height])


def flip_indices(flip_pairs: Sequence[Sequence[int]], num_keypoints: int) -> np.ndarray:
    """Channel permutation that swaps each (left, right) pair and keeps the other keypoints."""
    permutation = np.arange(num_keypoints)
    seen: set[int] = set()
    for position, pair in enumerate(flip_pairs):
        if isinstance(pair, str | bytes) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise InvalidInputError(f"flip_pairs[{position}] must be a (left, right) pair")
        left, right = pair
        for index in (left, right):
            if not is_integer(index) or not 0 <= index < num_keypoints:
                raise InvalidInputError(
                    f"flip_pairs[{position}] = {tuple(pair)}: {index!r} is not a keypoint index "
                    f"in 0..{num_keypoints - 1}"
                )
            if index in seen:
                raise InvalidInputError(
                    f"flip_pairs[{position}] = {tuple(pair)}: keypoint {index} is in two pairs"
                )
        if left == right:
            raise InvalidInputError(f"flip_pairs[{position}] pairs keypoint {left} with itself")
        seen.update((int(left), int(right)))
        permutation[left], permutation[right] = right, left
    return permutation


def flip_merge(
    heatmaps: np.ndarray,
    flipped_heatmaps: np.ndarray,
    flip_pairs: Sequence[Sequence[int]],
    *,
    shift: int = 1,
) -> np.ndarray:
    """Average heatmaps with those of the mirrored crops (flipped back, pairs swapped, shifted).

    ``shift`` moves the flipped-back maps that many pixels right (negative: left); the columns
    it uncovers keep their unshifted values, as in the reference implementation.
    """
    maps = numeric_array("heatmaps", heatmaps, ndim=4, shape_doc="(N, H, W, K)")
    mirrored = numeric_array("flipped_heatmaps", flipped_heatmaps, ndim=4, shape_doc="(N, H, W, K)")
    if maps.shape != mirrored.shape:
        raise InvalidInputError(
            f"flipped_heatmaps has shape {mirrored.shape}, heatmaps {maps.shape}; they must match"
        )
    width = maps.shape[2]
    if not is_integer(shift) or abs(shift) >= max(width, 1):
        raise InvalidInputError(f"shift must be an integer in (-{width}, {width}), got {shift!r}")
    flipped_back = mirrored[:, :, ::-1, flip_indices(flip_pairs, maps.shape[3])]
    if shift > 0:
        flipped_back[:, :, shift:] = flipped_back[:, :, :-shift].copy()
    elif shift < 0:
        flipped_back[:, :, :shift] = flipped_back[:, :, -shift:].copy()
    dtype = np.result_type(maps.dtype, flipped_back.dtype, np.float32)
    return (maps.astype(dtype, copy=False) + flipped_back.astype(dtype, copy=False)) / 2
