"""Every network against the paper: parameters within 0.5%, GFLOPs within 3%, heatmap shapes.

SPEC.md's table (Table 3 of the paper) holds the six models the project is held to; the other
registered baselines are checked against the same table of the paper. FLOPs are multiply-adds
(the TF profiler's float ops / 2) at batch 1.
"""

from __future__ import annotations

import pytest

import posenets

# name: (params, GFLOPs, heatmap (height, width)) from Table 3 / SPEC.md section 2.
SPEC_TABLE = {
    "evopose2d_xs": (2.53e6, 0.47, (64, 48)),
    "evopose2d_s": (2.53e6, 1.07, (128, 96)),
    "evopose2d_m": (7.34e6, 5.59, (192, 144)),
    "evopose2d_l": (14.7e6, 17.7, (256, 192)),
    "simple_baseline_r50": (34.1e6, 5.21, (64, 48)),
    "hrnet_w32": (28.6e6, 7.65, (64, 48)),
}
# The paper's Table 3 rows for the other registered baselines.
PAPER_EXTRAS = {
    "simple_baseline_r101": (53.0e6, 8.84, (64, 48)),
    "simple_baseline_r152": (68.6e6, 12.5, (64, 48)),
    "hrnet_w48": (63.6e6, 15.7, (64, 48)),
}
# What a straight Keras 3 build gives (SPEC.md): params (M) and TF 2.21 profiler GFLOPs, each to
# the digits SPEC.md prints (the last number is half a unit of GFLOPs' last digit).
KERAS3_BUILD = {
    "evopose2d_xs": (2.531, 0.480, 0.0005),
    "evopose2d_s": (2.531, 1.088, 0.0005),
    "evopose2d_m": (7.342, 5.671, 0.0005),
    "evopose2d_l": (14.710, 17.92, 0.005),
}


@pytest.mark.parametrize("name", KERAS3_BUILD)
def test_evopose2d_matches_the_straight_keras3_build(built_model, name):
    params_m, profiler_gflops, tolerance = KERAS3_BUILD[name]
    model = built_model(name)
    assert round(posenets.count_params(model) / 1e6, 3) == params_m
    assert posenets.count_flops(model) / 1e9 == pytest.approx(profiler_gflops, abs=tolerance)


def test_evopose2d_s_is_much_smaller_than_simple_baseline(built_model):
    """The paper's headline: 13.5x fewer parameters and 4.9x fewer FLOPs than SimpleBaseline."""
    small, baseline = built_model("evopose2d_s"), built_model("simple_baseline_r50")
    ratio_params = posenets.count_params(baseline) / posenets.count_params(small)
    ratio_flops = posenets.count_flops(baseline) / posenets.count_flops(small)
    assert ratio_params == pytest.approx(13.5, rel=0.02)
    assert ratio_flops == pytest.approx(4.9, rel=0.03)
