"""Compound scaling from the input size (SPEC.md section 2), and the rounding helpers."""

from __future__ import annotations

import math
from dataclasses import dataclass

PAPER_SEARCH_RESOLUTION = (256, 192)  # search E3's input (height, width): r_s = 224
DEPTH_BASE = 1.2
WIDTH_BASE = 1.1
RESOLUTION_BASE = 1.15
CHANNEL_DIVISOR = 8
# (largest mean input side, drop-connect rate), first match wins.
_DROP_CONNECT_BY_SIZE = ((240, 0.2), (300, 0.3), (456, 0.4), (math.inf, 0.5))


@dataclass(frozen=True)
class CompoundScaling:
    """Coefficients for one input size: `depth` multiplies repeats, `width` channels."""

    phi: float
    depth: float
    width: float
    drop_connect_rate: float

    def channels(self, channels: int) -> int:
        """Scaled channel count (see `round_channels`)."""
        return round_channels(channels, self.width)

    def repeats(self, repeats: int) -> int:
        """Scaled block count (see `round_repeats`)."""
        return round_repeats(repeats, self.depth)


def compound_scaling(
    height: int, width: int, search_resolution: tuple[int, int] = PAPER_SEARCH_RESOLUTION
) -> CompoundScaling:
    """The scaling coefficients for an input of `height` x `width` pixels (Eq. 3).

    `search_resolution` `(h, w)` is where the genotype was searched: phi = 0 there, so a
    genotype is built as written at its own search's resolution (default: the paper's 256x192).
    """
    size = (height + width) / 2
    search_size = (search_resolution[0] + search_resolution[1]) / 2
    phi = (math.log(size) - math.log(search_size)) / math.log(RESOLUTION_BASE)
    rate = next(rate for limit, rate in _DROP_CONNECT_BY_SIZE if size <= limit)
    return CompoundScaling(phi, DEPTH_BASE**phi, WIDTH_BASE**phi, rate)


def round_channels(channels: int, width: float, divisor: int = CHANNEL_DIVISOR) -> int:
    """`channels * width` rounded to a multiple of `divisor`, never below 90% of the product."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return int(rounded)


def round_repeats(repeats: int, depth: float) -> int:
    """`repeats * depth` rounded up."""
    return math.ceil(depth * repeats)
