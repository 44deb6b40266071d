"""transfer_layers: model-level transfer on plain data (layer name -> list of arrays)."""

import numpy as np
import pytest

from weightxfer import WeightTransferError, last_block_fallback, transfer_layers


def conv(k, c_in, c_out, fill):
    """A conv layer's arrays (kernel, bias) filled with one value."""
    return [np.full((k, k, c_in, c_out), fill, np.float32), np.full((c_out,), fill, np.float32)]


def batch_norm(n, gamma, beta, mean, variance):
    return [np.full((n,), value, np.float32) for value in (gamma, beta, mean, variance)]


def test_layers_match_by_name_and_equal_layers_copy_fully():
    parent = {"stem": conv(3, 3, 8, 1.0), "head": conv(1, 8, 4, 2.0)}
    child = {"head": conv(1, 8, 4, -1.0), "stem": conv(3, 3, 8, -1.0)}
    arrays, report = transfer_layers(parent, child)
    assert list(arrays) == ["head", "stem"]  # the child's order
    for name in parent:
        for new, old in zip(arrays[name], parent[name], strict=True):
            np.testing.assert_array_equal(new, old)
    assert [layer.status for layer in report.layers] == ["full", "full"]
    assert report.inherited_fraction == 1.0


def test_a_grown_layer_is_partial_with_the_fraction_it_inherited():
    parent = {"conv": conv(3, 4, 4, 1.0)}
    child = {"conv": conv(5, 4, 8, -1.0)}
    arrays, report = transfer_layers(parent, child)
    entry = report["conv"]
    assert entry.status == "partial"
    assert entry.inherited_params == 3 * 3 * 4 * 4 + 4
    assert entry.total_params == 5 * 5 * 4 * 8 + 8
    assert entry.inherited_fraction == pytest.approx((144 + 4) / (800 + 8))
    assert entry.parent_shapes == ((3, 3, 4, 4), (4,))
    assert entry.child_shapes == ((5, 5, 4, 8), (8,))
    np.testing.assert_array_equal(arrays["conv"][1], [1, 1, 1, 1, -1, -1, -1, -1])


def test_a_shrunk_layer_is_partial_yet_inherits_every_parameter():
    _, report = transfer_layers({"dense": [np.ones((8, 8))]}, {"dense": [np.zeros((4, 2))]})
    assert report["dense"].status == "partial"
    assert report["dense"].inherited_fraction == 1.0


def test_a_layer_without_parent_twin_keeps_its_own_values_and_is_none():
    child = {"stem": conv(3, 3, 8, -1.0), "extra": conv(1, 8, 8, -5.0)}
    arrays, report = transfer_layers({"stem": conv(3, 3, 8, 1.0)}, child)
    np.testing.assert_array_equal(arrays["extra"][0], child["extra"][0])
    assert arrays["extra"][0] is not child["extra"][0]
    assert report["extra"].status == "none"
    assert report["extra"].source is None
    assert report["extra"].inherited_params == 0


def test_layers_without_arrays_are_kept_but_not_reported():
    arrays, report = transfer_layers({"relu": []}, {"relu": [], "dense": [np.zeros((2, 2))]})
    assert arrays["relu"] == []
    assert [layer.name for layer in report.layers] == ["dense"]


def test_inputs_are_not_modified():
    parent, child = {"conv": conv(3, 4, 4, 1.0)}, {"conv": conv(5, 6, 6, -1.0)}
    arrays, _ = transfer_layers(parent, child)
    assert np.all(child["conv"][0] == -1.0) and np.all(parent["conv"][0] == 1.0)
    assert not np.shares_memory(arrays["conv"][0], child["conv"][0])


def test_parent_layers_nothing_inherited_from_are_listed():
    parent = {"stem": conv(3, 3, 8, 1.0), "removed": conv(3, 8, 8, 1.0), "relu": []}
    _, report = transfer_layers(parent, {"stem": conv(3, 3, 8, 0.0)})
    assert report.unused_parent_layers == ("removed",)


# --- repeated-block fallback ---


def test_a_new_block_inherits_from_the_parents_last_block_of_its_module():
    parent = {
        "block2a_expand_conv": conv(1, 16, 96, 1.0),
        "block2b_expand_conv": conv(1, 24, 144, 2.0),
        "block3a_expand_conv": conv(1, 24, 144, 3.0),
    }
    child = {**{name: [np.zeros_like(a) for a in arrs] for name, arrs in parent.items()}}
    child["block2c_expand_conv"] = conv(1, 24, 144, -1.0)
    arrays, report = transfer_layers(parent, child)
    entry = report["block2c_expand_conv"]
    assert entry.source == "block2b_expand_conv"
    assert entry.by_fallback
    assert entry.status == "full"
    np.testing.assert_array_equal(
        arrays["block2c_expand_conv"][0], parent["block2b_expand_conv"][0]
    )
    assert not report["block2b_expand_conv"].by_fallback


def test_last_block_fallback_maps_names():
    parents = ["stem_conv", "block1a_dwconv", "block2a_dwconv", "block2b_dwconv", "block2b_bn"]
    assert last_block_fallback("block2c_dwconv", parents) == "block2b_dwconv"
    assert last_block_fallback("block2d_bn", parents) == "block2b_bn"
    assert last_block_fallback("block1b_se_reduce", parents) == "block1a_se_reduce"


def test_last_block_fallback_orders_multi_letter_blocks_after_single_letters():
    parents = ["block4z_conv", "block4aa_conv", "block4b_conv"]
    assert last_block_fallback("block4ab_conv", parents) == "block4aa_conv"


def test_last_block_fallback_gives_nothing_for_other_names_modules_or_existing_blocks():
    parents = ["block2a_dwconv", "block2a_bn", "block12a_dwconv"]
    assert last_block_fallback("top_conv", parents) is None
    assert last_block_fallback("block3a_dwconv", parents) is None  # module the parent lacks
    assert last_block_fallback("block1a_dwconv", parents) is None  # module 1 is not module 12
    assert last_block_fallback("block2a_expand_conv", parents) is None  # block 2a exists


def test_a_fallback_naming_a_layer_the_parent_lacks_gives_none():
    parent = {"block2a_dwconv": [np.ones((3, 3, 8, 1))]}
    _, report = transfer_layers(parent, {"block2b_se_reduce": [np.zeros((1, 1, 8, 2))]})
    assert report["block2b_se_reduce"].status == "none"


def test_a_custom_fallback_is_used():
    parent = {"old_dense": [np.ones((2, 2))]}
    arrays, report = transfer_layers(
        parent,
        {"new_dense": [np.zeros((2, 3))]},
        fallback=lambda name, parent_names: name.replace("new_", "old_"),
    )
    assert report["new_dense"].source == "old_dense"
    np.testing.assert_array_equal(arrays["new_dense"][0], [[1, 1, 0], [1, 1, 0]])


def test_no_fallback_leaves_new_blocks_untouched():
    parent = {"block2a_conv": [np.ones((2, 2))]}
    _, report = transfer_layers(parent, {"block2b_conv": [np.zeros((2, 2))]}, fallback=None)
    assert report["block2b_conv"].status == "none"


# --- batch-norm fill policy ---


def test_batch_norm_growth_keeps_the_child_init_by_default():
    parent = {"bn": batch_norm(2, 3.0, 4.0, 5.0, 6.0)}
    arrays, _ = transfer_layers(parent, {"bn": batch_norm(4, 1.0, 0.0, 0.0, 1.0)})
    np.testing.assert_array_equal(arrays["bn"][0], [3, 3, 1, 1])
    np.testing.assert_array_equal(arrays["bn"][3], [6, 6, 1, 1])


def test_batch_norm_growth_can_fill_with_the_parents_mean():
    parent = {"bn": [np.array([1.0, 3.0], np.float32), np.array([2.0, 6.0], np.float32)]}
    child = {"bn": [np.zeros(4, np.float32), np.zeros(4, np.float32)]}
    arrays, _ = transfer_layers(parent, child, batch_norm_fill="parent_mean")
    np.testing.assert_array_equal(arrays["bn"][0], [1, 3, 2, 2])
    np.testing.assert_array_equal(arrays["bn"][1], [2, 6, 4, 4])


def test_parent_mean_fill_touches_only_the_named_batch_norm_layers_and_only_vectors():
    parent = {"conv": conv(1, 2, 2, 1.0), "bn": batch_norm(2, 2.0, 2.0, 2.0, 2.0)}
    child = {"conv": conv(1, 2, 4, 0.0), "bn": batch_norm(4, 0.0, 0.0, 0.0, 0.0)}
    arrays, _ = transfer_layers(
        parent, child, batch_norm_fill="parent_mean", batch_norm_layers=["bn"]
    )
    np.testing.assert_array_equal(arrays["bn"][2], [2, 2, 2, 2])
    np.testing.assert_array_equal(arrays["conv"][1], [1, 1, 0, 0])  # a bias: child's init
    np.testing.assert_array_equal(arrays["conv"][0][..., 2:], 0)  # a kernel: child's init


# --- errors ---


def test_layers_with_different_array_counts_raise_naming_the_layer():
    with pytest.raises(WeightTransferError, match=r"layer 'conv'.*2 arrays.*child 1"):
        transfer_layers({"conv": conv(3, 2, 2, 1.0)}, {"conv": conv(3, 2, 2, 0.0)[:1]})


def test_arrays_of_different_rank_raise_naming_layer_array_and_shapes():
    with pytest.raises(
        WeightTransferError, match=r"layer 'head', array 0: .*\(4, 4\).*\(1, 1, 4, 4\)"
    ):
        transfer_layers({"head": [np.ones((4, 4))]}, {"head": [np.ones((1, 1, 4, 4))]})


def test_a_failing_fallback_layer_names_the_parent_layer_too():
    parent = {"block2a_conv": [np.ones((4, 4))]}
    with pytest.raises(
        WeightTransferError, match=r"'block2b_conv' \(from parent layer 'block2a_conv'\)"
    ):
        transfer_layers(parent, {"block2b_conv": [np.ones((4,))]})


def test_unknown_batch_norm_fill_raises():
    with pytest.raises(WeightTransferError, match="batch_norm_fill='zeros'"):
        transfer_layers({}, {}, batch_norm_fill="zeros")


def test_batch_norm_layers_the_child_lacks_raise():
    with pytest.raises(WeightTransferError, match=r"\['bn9'\]"):
        transfer_layers({}, {"bn": []}, batch_norm_layers=["bn", "bn9"])


def test_a_parent_that_is_not_a_mapping_raises():
    with pytest.raises(WeightTransferError, match=r"parent must be a mapping.*list"):
        transfer_layers([np.ones(2)], {})
