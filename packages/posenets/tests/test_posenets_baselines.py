"""SimpleBaseline and HRNet: the structure SPEC.md describes (their sizes: test_posenets_sizes)."""

from __future__ import annotations

import keras

from posenets.hrnet import hrnet_stages


def test_simple_baseline_head_is_three_4x4_stride_2_deconvolutions(built_model):
    model = built_model("simple_baseline_r50")
    for level in (1, 2, 3):
        layer = model.get_layer(f"head_block{level}_conv")
        assert isinstance(layer, keras.layers.Conv2DTranspose)
        assert (layer.filters, layer.kernel_size, layer.strides) == (256, (4, 4), (2, 2))
        assert not layer.use_bias
    assert model.get_layer("conv5_block3_out").output.shape == (None, 8, 6, 2048)


def test_hrnet_stages_have_1_1_4_3_modules_and_doubling_widths():
    stages = hrnet_stages(32)
    assert [stage.modules for stage in stages] == [1, 1, 4, 3]
    assert [stage.block for stage in stages] == ["bottleneck", "basic", "basic", "basic"]
    assert stages[-1].channels == (32, 64, 128, 256)


def test_hrnet_branches_run_at_a_quarter_to_a_thirty_second_of_the_input(built_model):
    model = built_model("hrnet_w32")
    shapes = [
        model.get_layer(f"stage4_m1_branch{branch}_block4_out").output.shape
        for branch in (1, 2, 3, 4)
    ]
    assert shapes == [
        (None, 64, 48, 32),
        (None, 32, 24, 64),
        (None, 16, 12, 128),
        (None, 8, 6, 256),
    ]


def test_hrnet_fuses_upwards_with_strided_1x1_transposed_convolutions(built_model):
    model = built_model("hrnet_w32")
    up = model.get_layer("stage4_m1_fuse14_conv")  # branch 4 (1/32) into branch 1 (1/4)
    assert isinstance(up, keras.layers.Conv2DTranspose)
    assert (up.kernel_size, up.strides, up.filters) == ((1, 1), (8, 8), 32)
    down = [model.get_layer(f"stage4_m1_fuse41_{step}_conv") for step in (1, 2, 3)]
    assert [layer.strides for layer in down] == [(2, 2)] * 3
    assert [layer.filters for layer in down] == [32, 32, 256]


def test_hrnets_last_module_keeps_only_the_high_resolution_branch(built_model):
    names = {layer.name for layer in built_model("hrnet_w32").layers}
    assert "stage4_m3_fuse1_add" in names
    assert "stage4_m3_fuse2_add" not in names
