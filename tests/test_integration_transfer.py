"""posenets meets weightxfer: a mutated EvoPose2D child inherits its parent's weights.

Children come from `posenets.SearchSpace`'s mutation rule and are built at 64x48 with the
widths and depths of 256x192 (`scaling_size`), so every gene shows in the layers' shapes.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import posenets
from posenets import ANCESTOR, EVOPOSE2D_S, SearchSpace

weightxfer_keras = pytest.importorskip("weightxfer.keras")

SPACE = SearchSpace()
INPUT_SHAPE = (64, 48)


def build(genotype) -> keras.Model:
    return posenets.create_model(
        "evopose2d", genotype=genotype, input_shape=INPUT_SHAPE, scaling_size=(256, 192)
    )


def mutant(parent, module: int, **change):
    """`parent` with one gene of `module` (1-based) changed; checked to be a legal mutation."""
    genes = list(parent)
    genes[module - 1] = genes[module - 1]._replace(**change)
    child = SPACE.validate(genes)
    assert child in SPACE.neighbours(parent)
    return child


def heatmaps(model: keras.Model) -> np.ndarray:
    images = np.random.default_rng(0).normal(size=(1, *INPUT_SHAPE, 3)).astype("float32")
    return keras.ops.convert_to_numpy(model(images, training=False))


@pytest.fixture(scope="module")
def ancestor() -> keras.Model:
    return build(ANCESTOR)


def test_an_identical_child_inherits_everything_and_the_function(ancestor):
    child = build(ANCESTOR)
    report = weightxfer_keras.transfer_model(ancestor, child)
    assert report.inherited_fraction == 1.0
    assert report.counts == {"full": len(report.layers), "partial": 0, "none": 0}
    np.testing.assert_allclose(heatmaps(child), heatmaps(ancestor), rtol=1e-5, atol=1e-6)


def test_a_stride_mutation_changes_no_weight_shape(ancestor):
    child = build(mutant(ANCESTOR, 6, stride=1))
    report = weightxfer_keras.transfer_model(ancestor, child)
    assert report.inherited_fraction == 1.0
    assert report.counts["full"] == len(report.layers)


def test_a_larger_kernel_inherits_the_parents_window(ancestor):
    child = build(mutant(ANCESTOR, 2, kernel=5))
    report = weightxfer_keras.transfer_model(ancestor, child)
    partial = [layer.name for layer in report.layers if layer.status == "partial"]
    assert partial == ["block2a_dwconv", "block2b_dwconv"]
    # 3x3 of 5x5 taps over 96 and 144 expanded channels: 16 taps per channel are new.
    assert report.total_params - report.inherited_params == 16 * (96 + 144)
    centre = child.get_layer("block2a_dwconv").get_weights()[0][1:4, 1:4]
    np.testing.assert_array_equal(centre, ancestor.get_layer("block2a_dwconv").get_weights()[0])


def test_a_new_block_inherits_from_the_modules_last_block(ancestor):
    child = build(mutant(ANCESTOR, 4, repeats=4))
    report = weightxfer_keras.transfer_model(ancestor, child)
    assert report["block4d_expand_conv"].source == "block4c_expand_conv"
    assert report["block4d_project_bn"].status == "full"
    assert report.inherited_fraction == 1.0


def test_a_wider_module_inherits_its_leading_channels():
    parent = build(EVOPOSE2D_S)
    child = build(mutant(EVOPOSE2D_S, 6, channels_div8=24))  # 128 -> 192 channels
    report = weightxfer_keras.transfer_model(parent, child)
    assert report["block6a_project_conv"].status == "partial"
    assert report["block7a_expand_conv"].status == "partial"
    assert report["stem_conv"].status == "full"
    assert 0.5 < report.inherited_fraction < 1.0
    kernel = child.get_layer("block6a_project_conv").get_weights()[0]
    np.testing.assert_array_equal(
        kernel[..., :128], parent.get_layer("block6a_project_conv").get_weights()[0]
    )


def test_random_children_report_a_sensible_inherited_fraction(ancestor):
    rng = np.random.default_rng(2021)
    seen = {ANCESTOR}
    before = [w.copy() for w in ancestor.get_weights()]
    for _ in range(4):
        genotype = SPACE.mutate(ANCESTOR, rng, seen=seen)
        seen.add(genotype)
        child = build(genotype)
        report = weightxfer_keras.transfer_model(ancestor, child)
        assert report.total_params == posenets.count_params(child)
        assert 0.3 < report.inherited_fraction <= 1.0, SPACE.to_string(genotype)
        assert report.counts["none"] == 0
        assert np.isfinite(heatmaps(child)).all()
    assert all(np.array_equal(a, b) for a, b in zip(before, ancestor.get_weights(), strict=True))


def test_efficientnet_b0_weights_fill_the_ancestors_backbone(ancestor):
    """The paper's WT variants: ImageNet weights from a local EfficientNet-B0 file."""
    b0 = keras.applications.EfficientNetB0(
        include_top=False, weights=None, input_shape=(224, 224, 3)
    )
    report = weightxfer_keras.transfer_model(b0, build(ANCESTOR))
    backbone = [layer for layer in report.layers if layer.name.startswith(("stem_", "block"))]
    head = [layer for layer in report.layers if not layer.name.startswith(("stem_", "block"))]
    assert {layer.status for layer in backbone} == {"full"}
    assert {layer.status for layer in head} == {"none"}
    backbone_params = sum(layer.total_params for layer in backbone)
    assert report.inherited_fraction == pytest.approx(backbone_params / report.total_params)
