"""EvoPose2D: layer names, compound scaling, drop-connect, heatmap sizes at any input size."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

import posenets
from posenets import (
    ANCESTOR,
    EVOPOSE2D_S,
    EVOPOSE2D_XS,
    EvoPose2D,
    InvalidGenotypeError,
    InvalidModelArgumentError,
)


def weighted_layers(model: keras.Model) -> dict[str, list[tuple[int, ...]]]:
    return {
        layer.name: [tuple(w.shape) for w in layer.weights]
        for layer in model.layers
        if layer.weights
    }


def blocks_per_module(model: keras.Model) -> list[int]:
    names = [layer.name for layer in model.layers if layer.name.endswith("_dwconv")]
    return [sum(name.startswith(f"block{module}") for name in names) for module in range(1, 8)]


def test_backbone_layers_match_efficientnet_b0_names_and_shapes():
    """The ancestor at phi = 0 has EfficientNet-B0's stem and blocks: ImageNet weights fit."""
    ours = weighted_layers(EvoPose2D(ANCESTOR, (256, 192)))
    b0 = keras.applications.EfficientNetB0(
        include_top=False, weights=None, input_shape=(256, 192, 3)
    )
    b0_backbone = {
        name: shapes
        for name, shapes in weighted_layers(b0).items()
        if name.startswith(("stem_", "block"))
    }
    assert len(b0_backbone) == 2 + 6 + 15 * 8  # stem; block 1a: 6 layers, 15 blocks: 8
    assert {name: ours.get(name) for name in b0_backbone} == b0_backbone


def test_head_and_final_layer_names():
    names = [layer.name for layer in EvoPose2D(EVOPOSE2D_S, (64, 48)).layers]
    assert names[-10:] == [
        "head_block1_conv", "head_block1_bn", "head_block1_activation",
        "head_block2_conv", "head_block2_bn", "head_block2_activation",
        "head_block3_conv", "head_block3_bn", "head_block3_activation",
        "final_conv",
    ]  # fmt: skip


def test_blocks_are_named_by_module_and_letter(built_model):
    model = built_model("evopose2d_s")
    assert blocks_per_module(model) == [gene.repeats for gene in EVOPOSE2D_S]
    names = {layer.name for layer in model.layers}
    assert {"block4a_expand_conv", "block4d_project_bn", "block6d_se_reduce"} <= names
    assert "block4e_dwconv" not in names


def test_module_1_does_not_expand():
    names = {layer.name for layer in EvoPose2D(EVOPOSE2D_S, (64, 48)).layers}
    assert "block1a_expand_conv" not in names
    assert "block2a_expand_conv" in names


def test_compound_scaling_deepens_and_widens_evopose2d_m(built_model):
    model = built_model("evopose2d_m")
    depth = posenets.compound_scaling(384, 288).depth
    assert blocks_per_module(model) == [math.ceil(depth * gene.repeats) for gene in EVOPOSE2D_S]
    assert model.get_layer("stem_conv").filters == 40  # 32 x 1.318
    assert model.get_layer("head_block1_conv").filters == 168  # 128 x 1.318
    assert model.get_layer("block7a_project_conv").filters == 104  # 80 x 1.318


def test_drop_connect_grows_linearly_with_block_depth(built_model):
    model = built_model("evopose2d_s")
    blocks = [
        layer.name[: -len("dwconv")] for layer in model.layers if layer.name.endswith("dwconv")
    ]
    for index, block in enumerate(blocks):
        if f"{block}drop" in {layer.name for layer in model.layers}:
            rate = model.get_layer(f"{block}drop").rate
            assert rate == pytest.approx(0.2 * index / len(blocks))


def test_scaling_size_keeps_the_searched_network_at_a_small_input(built_model):
    small = EvoPose2D(EVOPOSE2D_S, (64, 48), scaling_size=(256, 192))
    assert small.count_params() == built_model("evopose2d_s").count_params()
    assert EvoPose2D(EVOPOSE2D_S, (64, 48)).count_params() < small.count_params() / 4


def test_a_genotype_is_built_as_written_at_its_search_resolution(built_model):
    searched_small = EvoPose2D(EVOPOSE2D_S, (64, 48), search_resolution=(64, 48))
    assert weighted_layers(searched_small) == weighted_layers(built_model("evopose2d_s"))
    assert searched_small.get_config()["search_resolution"] == [64, 48]


def test_a_larger_input_than_the_search_resolution_scales_up():
    searched_small = EvoPose2D(EVOPOSE2D_S, (64, 48), search_resolution=(64, 48))
    doubled = EvoPose2D(EVOPOSE2D_S, (128, 96), search_resolution=(64, 48))
    assert blocks_per_module(doubled) == [
        math.ceil(1.2 ** (math.log(2) / math.log(1.15)) * gene.repeats) for gene in EVOPOSE2D_S
    ]
    assert doubled.count_params() > 2 * searched_small.count_params()


@pytest.mark.parametrize(
    ("input_size", "search_resolution"), [((64, 48), (256, 192)), ((128, 96), (64, 48))]
)
def test_the_network_structure_is_what_the_builder_builds(input_size, search_resolution):
    model = EvoPose2D(ANCESTOR, input_size, search_resolution=search_resolution)
    structure = posenets.network_structure(ANCESTOR, input_size, search_resolution)
    built = []
    for block in structure.blocks:
        dwconv = model.get_layer(block.name + "dwconv")
        project = model.get_layer(block.name + "project_conv")
        built.append(
            (
                block.kernel,
                block.stride,
                project.kernel.shape[-1],
                dwconv.kernel.shape[-2] // block.expand_ratio,
                dwconv.strides[0],
                dwconv.kernel.shape[0],
            )
        )
    assert built == [
        (b.kernel, b.stride, b.filters_out, b.filters_in, b.stride, b.kernel)
        for b in structure.blocks
    ]
    assert len(structure.blocks) == sum(blocks_per_module(model))
    assert model.get_layer("stem_conv").kernel.shape[-1] == structure.stem_channels
    assert model.get_layer("head_block1_conv").kernel.shape[-2] == structure.head_channels


def test_networks_differ_in_structure_exactly_when_their_layers_differ():
    small = ((64, 48), (256, 192))  # the paper's scaling shrinks this to one block per module
    first = [list(gene) for gene in ANCESTOR]
    second = [list(gene) for gene in ANCESTOR]
    second[4][1] = 2  # module 5: 3 -> 2 blocks, both round to 1 at 64x48
    assert posenets.network_structure(first, *small) == posenets.network_structure(second, *small)
    assert weighted_layers(EvoPose2D(first, small[0])) == weighted_layers(
        EvoPose2D(second, small[0])
    )
    assert posenets.network_structure(first) != posenets.network_structure(second)


@pytest.mark.parametrize(
    ("genotype", "input_shape", "heatmaps"),
    [
        (EVOPOSE2D_S, (64, 48), (32, 24)),
        (EVOPOSE2D_XS, (64, 48), (16, 12)),
        (ANCESTOR, (72, 40), (18, 10)),
        (EVOPOSE2D_S, (50, 30), (25, 15)),
    ],
)
def test_heatmaps_are_the_input_over_the_output_stride_rounded_up(genotype, input_shape, heatmaps):
    model = EvoPose2D(genotype, input_shape, num_keypoints=5)
    assert posenets.heatmap_size(genotype, *input_shape) == heatmaps
    assert model.output_shape == (None, *heatmaps, 5)
    outputs = model(np.ones((2, *input_shape, 3), "float32"), training=False)
    assert outputs.shape == (2, *heatmaps, 5)
    assert np.isfinite(keras.ops.convert_to_numpy(outputs)).all()


def test_output_stride_is_2_for_s_and_4_for_xs():
    assert posenets.output_stride(EVOPOSE2D_S) == 2
    assert posenets.output_stride(EVOPOSE2D_XS) == 4
    assert posenets.backbone_stride(ANCESTOR) == 32


def test_the_head_crops_only_when_the_input_is_not_a_multiple_of_the_stride():
    divisible = {layer.name for layer in EvoPose2D(EVOPOSE2D_XS, (64, 64)).layers}
    cropped = {layer.name for layer in EvoPose2D(EVOPOSE2D_XS, (64, 48)).layers}
    assert not any(name.endswith("_crop") for name in divisible)
    assert "head_block1_crop" in cropped


def test_the_model_keeps_its_genotype_and_arguments():
    model = EvoPose2D([list(gene) for gene in EVOPOSE2D_XS], (64, 48, 3), num_keypoints=14)
    assert model.genotype == EVOPOSE2D_XS
    assert model.get_config() | {"name": None} == {
        "name": None,
        "trainable": True,
        "genotype": [list(gene) for gene in EVOPOSE2D_XS],
        "input_shape": [64, 48, 3],
        "num_keypoints": 14,
        "scaling_size": [64, 48],
        "search_resolution": [256, 192],
        "head_channels": 128,
    }


def test_the_head_width_is_a_constructor_argument_scaled_like_every_width():
    slim = EvoPose2D(ANCESTOR, (64, 48), search_resolution=(64, 48), head_channels=48)
    for level in (1, 2, 3):
        assert slim.get_layer(f"head_block{level}_conv").kernel.shape[-2] == 48  # (k, k, out, in)
    assert posenets.network_structure(ANCESTOR, (64, 48), (64, 48), 48).head_channels == 48
    scaled = posenets.network_structure(ANCESTOR, (128, 96), (64, 48), head_channels=48)
    assert scaled.head_channels == posenets.compound_scaling(128, 96, (64, 48)).channels(48) > 48
    paper = posenets.network_structure(ANCESTOR, (64, 48), (64, 48))
    assert paper.head_channels == 128
    assert paper.blocks == posenets.network_structure(ANCESTOR, (64, 48), (64, 48), 48).blocks
    assert posenets.count_flops(slim) < posenets.count_flops(
        EvoPose2D(ANCESTOR, (64, 48), search_resolution=(64, 48))
    )
    rebuilt = EvoPose2D.from_config(slim.get_config())
    assert rebuilt.head_channels == 48 and rebuilt.count_params() == slim.count_params()


@pytest.mark.parametrize("bad", [0, -8, 1.5, True, "48"])
def test_an_impossible_head_width_is_refused_with_its_name(bad):
    with pytest.raises(InvalidModelArgumentError, match="head_channels must be a whole number"):
        EvoPose2D(ANCESTOR, (64, 48), head_channels=bad)
    with pytest.raises(InvalidModelArgumentError, match="head_channels"):
        posenets.network_structure(ANCESTOR, head_channels=bad)


def test_an_invalid_genotype_is_refused_before_building():
    genes = [list(gene) for gene in EVOPOSE2D_S]
    genes[2][0] = 4
    with pytest.raises(InvalidGenotypeError, match="module 3: kernel 4 is not allowed"):
        EvoPose2D(genes, (64, 48))


def test_layers_of_the_same_shape_start_from_different_weights():
    model = EvoPose2D(EVOPOSE2D_S, (64, 48), scaling_size=(256, 192))
    first, second = (model.get_layer(f"block4{b}_expand_conv").get_weights()[0] for b in "bc")
    assert first.shape == second.shape
    assert not np.allclose(first, second)
