"""create_model / list_models: names, arguments, and errors that say what is allowed."""

from __future__ import annotations

import pytest

import posenets
from posenets import (
    EVOPOSE2D_S,
    InvalidGenotypeError,
    InvalidModelArgumentError,
    UnknownModelError,
    create_model,
    list_models,
)

ALL_MODELS = [
    "evopose2d_xs", "evopose2d_s", "evopose2d_m", "evopose2d_l", "evopose2d",
    "simple_baseline_r50", "simple_baseline_r101", "simple_baseline_r152",
    "hrnet_w32", "hrnet_w48",
]  # fmt: skip


def test_list_models_names_every_network_in_order():
    assert list_models() == ALL_MODELS


def test_list_models_filters_by_shell_pattern():
    assert list_models("evopose2d_*") == ALL_MODELS[:4]
    assert list_models("hrnet*") == ["hrnet_w32", "hrnet_w48"]
    assert list_models("resnet") == []


def test_unknown_names_list_the_available_ones():
    with pytest.raises(
        UnknownModelError, match="unknown model 'evopose2d_xl'; available: evopose2d_xs"
    ):
        create_model("evopose2d_xl")


def test_create_model_builds_evopose2d_from_a_genotype_at_any_size():
    genotype = posenets.SearchSpace().from_string(
        "r1_k3_s1_c16-r2_k5_s2_c24-r2_k5_s2_c40-r3_k3_s2_c80-r3_k5_s1_c112-r4_k5_s1_c192-r1_k3_s2_c320"
    )
    model = create_model("evopose2d", genotype=genotype, input_shape=(128, 96), num_keypoints=14)
    assert model.name == "evopose2d"
    assert model.genotype == genotype
    assert model.output_shape == (None, 32, 24, 14)


def test_create_model_passes_scaling_size_to_evopose2d():
    model = create_model("evopose2d_s", input_shape=(64, 48), scaling_size=(256, 192))
    assert model.scaling_size == (256, 192)


def test_evopose2d_needs_a_genotype():
    with pytest.raises(InvalidModelArgumentError, match="evopose2d: genotype is required"):
        create_model("evopose2d")


def test_fixed_models_refuse_a_genotype():
    with pytest.raises(
        InvalidModelArgumentError,
        match=r"evopose2d_s takes no genotype .*; models that do: evopose2d$",
    ):
        create_model("evopose2d_s", genotype=EVOPOSE2D_S)


def test_only_a_searched_evopose2d_takes_a_head_width():
    model = create_model(
        "evopose2d",
        input_shape=(64, 48),
        genotype=EVOPOSE2D_S,
        search_resolution=(64, 48),
        head_channels=32,
    )
    assert model.get_layer("head_block3_conv").kernel.shape[-2] == 32  # (k, k, out, in)
    with pytest.raises(
        InvalidModelArgumentError,
        match=r"evopose2d_s takes no head_channels .*; models that do: evopose2d$",
    ):
        create_model("evopose2d_s", head_channels=32)


def test_backbone_weights_are_for_simple_baseline_only():
    with pytest.raises(
        InvalidModelArgumentError,
        match=r"hrnet_w32 takes no backbone_weights .*; models that do: simple_baseline_r50, ",
    ):
        create_model("hrnet_w32", backbone_weights="weights.h5")


def test_backbone_weights_must_be_a_local_file(tmp_path):
    missing = tmp_path / "resnet50_notop.h5"
    with pytest.raises(
        InvalidModelArgumentError, match=r"backbone_weights .*resnet50_notop\.h5' is not a file"
    ):
        create_model("simple_baseline_r50", backbone_weights=missing)


def test_invalid_genotypes_are_refused():
    with pytest.raises(InvalidGenotypeError, match="a genotype has 7 genes"):
        create_model("evopose2d", genotype=EVOPOSE2D_S[:3])


@pytest.mark.parametrize(
    ("input_shape", "message"),
    [
        ((64,), r"input_shape must be \(height, width\) or \(height, width, channels\)"),
        ((64, 0), "of positive integers, got"),
        ("64x48", "got '64x48'"),
    ],
)
def test_bad_input_shapes_are_refused(input_shape, message):
    with pytest.raises(InvalidModelArgumentError, match=message):
        create_model("evopose2d_s", input_shape=input_shape)


@pytest.mark.parametrize("name", ["simple_baseline_r50", "hrnet_w32"])
def test_baselines_need_inputs_that_are_multiples_of_32(name):
    with pytest.raises(
        InvalidModelArgumentError,
        match=f"{name}: input height and width must be multiples of 32, got 64x48",
    ):
        create_model(name, input_shape=(64, 48))


def test_num_keypoints_must_be_positive():
    with pytest.raises(
        InvalidModelArgumentError, match="num_keypoints must be a positive integer, got 0"
    ):
        create_model("evopose2d_s", input_shape=(64, 48), num_keypoints=0)


def test_a_bad_resnet_depth_lists_the_depths():
    with pytest.raises(
        InvalidModelArgumentError,
        match=r"ResNet depth 34 is not available; use one of \[50, 101, 152\]",
    ):
        posenets.SimpleBaseline(34)


def test_errors_are_value_errors():
    assert issubclass(posenets.PosenetsError, ValueError)
    assert issubclass(InvalidGenotypeError, posenets.PosenetsError)
