"""Compound scaling from the input size and the channel / depth rounding."""

from __future__ import annotations

import math

import pytest

from posenets import compound_scaling, round_channels, round_repeats


def test_phi_is_zero_at_the_search_resolution():
    scaling = compound_scaling(256, 192)
    assert scaling.phi == 0
    assert scaling.depth == scaling.width == 1
    assert scaling.drop_connect_rate == 0.2


@pytest.mark.parametrize(("height", "width", "mean_side"), [(384, 288, 336), (512, 384, 448)])
def test_coefficients_follow_the_compound_scaling_formula(height, width, mean_side):
    scaling = compound_scaling(height, width)
    phi = (math.log(mean_side) - math.log(224)) / math.log(1.15)
    assert scaling.phi == pytest.approx(phi)
    assert scaling.depth == pytest.approx(1.2**phi)
    assert scaling.width == pytest.approx(1.1**phi)


@pytest.mark.parametrize("resolution", [(64, 48), (128, 96), (256, 192)])
def test_phi_is_zero_at_any_search_resolution(resolution):
    scaling = compound_scaling(*resolution, search_resolution=resolution)
    assert scaling.phi == 0 and scaling.depth == scaling.width == 1


def test_phi_is_measured_from_the_search_resolution():
    # Eq. 3 with r_s = 56 (a 64x48 search): 128x96 is twice the search size.
    scaling = compound_scaling(128, 96, search_resolution=(64, 48))
    assert scaling.phi == pytest.approx(math.log(2) / math.log(1.15))
    assert scaling.phi == pytest.approx(compound_scaling(512, 384).phi)


@pytest.mark.parametrize(
    ("height", "width", "rate"),
    [
        (256, 192, 0.2),
        (64, 48, 0.2),
        (280, 200, 0.2),
        (300, 300, 0.3),
        (384, 288, 0.4),
        (512, 384, 0.4),
        (640, 480, 0.5),
    ],
)
def test_drop_connect_rate_grows_with_the_mean_input_side(height, width, rate):
    assert compound_scaling(height, width).drop_connect_rate == rate


def test_channels_round_to_the_nearest_multiple_of_8():
    assert round_channels(32, 1.0) == 32
    assert round_channels(32, 1.318) == 40  # 42.2 -> 40
    assert round_channels(16, 1.318) == 24  # 21.1 -> 24
    assert round_channels(128, 1.605) == 208  # 205.4 -> 208


def test_channels_never_round_below_90_percent():
    # 17 * 0.7 = 11.9 rounds to 8, below 90% (10.7): one divisor is added back.
    assert round_channels(17, 0.7) == 16


def test_channels_are_at_least_one_divisor():
    assert round_channels(16, 0.1) == 8


def test_repeats_round_up():
    assert round_repeats(4, 1.0) == 4
    assert round_repeats(2, 1.697) == 4
    assert round_repeats(1, 0.2) == 1


def test_scaling_object_applies_the_same_rounding():
    scaling = compound_scaling(384, 288)
    assert scaling.channels(112) == round_channels(112, scaling.width)
    assert scaling.repeats(3) == round_repeats(3, scaling.depth)
