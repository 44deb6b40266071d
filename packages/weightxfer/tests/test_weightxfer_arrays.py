"""transfer_array: the rule of SPEC.md section 1, one array at a time."""

import numpy as np
import pytest

from weightxfer import WeightTransferError, default_roles, transfer_array


def parent_and_child(parent_shape, child_shape):
    """A parent of distinct positive values and a child of distinct negative ones."""
    parent = np.arange(1, np.prod(parent_shape) + 1, dtype=np.float32).reshape(parent_shape)
    child = -np.arange(1, np.prod(child_shape) + 1, dtype=np.float32).reshape(child_shape)
    return parent, child


# --- the four cases of the paper's equation (kernel k x k, inputs i, outputs o equal) ---


def test_case_1_fewer_inputs_and_smaller_kernel_takes_centred_window_of_leading_inputs():
    parent, child = parent_and_child((5, 5, 8, 6), (3, 3, 4, 6))
    p = (5 - 3) // 2
    np.testing.assert_array_equal(
        transfer_array(parent, child), parent[p : p + 3, p : p + 3, :4, :]
    )


def test_case_2_more_inputs_and_smaller_kernel_takes_centred_window_of_all_inputs():
    parent, child = parent_and_child((5, 5, 4, 6), (3, 3, 8, 6))
    result = transfer_array(parent, child)
    np.testing.assert_array_equal(result[:, :, :4, :], parent[1:4, 1:4, :, :])
    np.testing.assert_array_equal(result[:, :, 4:, :], child[:, :, 4:, :])


def test_case_3_fewer_inputs_and_larger_kernel_places_leading_inputs_in_the_centre():
    parent, child = parent_and_child((3, 3, 8, 6), (5, 5, 4, 6))
    result = transfer_array(parent, child)
    np.testing.assert_array_equal(result[1:4, 1:4, :, :], parent[:, :, :4, :])
    border = np.ones((5, 5), dtype=bool)
    border[1:4, 1:4] = False
    np.testing.assert_array_equal(result[border], child[border])


def test_case_4_more_inputs_and_larger_kernel_places_the_whole_kernel_in_the_centre():
    parent, child = parent_and_child((3, 3, 4, 6), (5, 5, 8, 6))
    result = transfer_array(parent, child)
    np.testing.assert_array_equal(result[1:4, 1:4, :4, :], parent)
    expected_rest = child.copy()
    expected_rest[1:4, 1:4, :4, :] = 0
    actual_rest = result.copy()
    actual_rest[1:4, 1:4, :4, :] = 0
    np.testing.assert_array_equal(actual_rest, expected_rest)


@pytest.mark.parametrize(("k_parent", "k_child"), [(3, 3), (3, 5), (5, 3)])
def test_equal_channels_fall_in_case_4_or_2_by_kernel_size(k_parent, k_child):
    parent, child = parent_and_child((k_parent, k_parent, 4, 4), (k_child, k_child, 4, 4))
    result = transfer_array(parent, child)
    n, p, c = min(k_parent, k_child), (k_parent - k_child) // 2, (k_child - k_parent) // 2
    p, c = max(p, 0), max(c, 0)
    np.testing.assert_array_equal(result[c : c + n, c : c + n], parent[p : p + n, p : p + n])


# --- kernel size ---


def test_kernel_growth_places_parent_in_the_centre_and_keeps_child_border():
    parent, child = parent_and_child((3, 3, 1, 1), (5, 5, 1, 1))
    result = transfer_array(parent, child)[:, :, 0, 0]
    expected = child[:, :, 0, 0].copy()
    expected[1:4, 1:4] = parent[:, :, 0, 0]
    np.testing.assert_array_equal(result, expected)


def test_kernel_growth_3_to_7_uses_offset_2():
    parent, child = parent_and_child((3, 3, 2, 2), (7, 7, 2, 2))
    np.testing.assert_array_equal(transfer_array(parent, child)[2:5, 2:5], parent)


def test_kernel_shrink_takes_the_centred_window():
    parent, child = parent_and_child((7, 7, 2, 2), (3, 3, 2, 2))
    np.testing.assert_array_equal(transfer_array(parent, child), parent[2:5, 2:5])


def test_kernel_sizes_of_different_parity_round_the_offset_down():
    parent, child = parent_and_child((4, 4, 1, 1), (3, 3, 1, 1))
    np.testing.assert_array_equal(transfer_array(parent, child), parent[0:3, 0:3])
    parent, child = parent_and_child((3, 3, 1, 1), (6, 6, 1, 1))
    np.testing.assert_array_equal(transfer_array(parent, child)[1:4, 1:4], parent)


def test_non_square_kernel_grows_each_spatial_axis_on_its_own():
    parent, child = parent_and_child((1, 3, 2, 2), (3, 5, 2, 2))
    result = transfer_array(parent, child)
    np.testing.assert_array_equal(result[1:2, 1:4], parent)
    assert np.all(result[0] < 0) and np.all(result[2] < 0)


# --- channels, on each axis ---


@pytest.mark.parametrize("axis", [2, 3])
def test_channel_growth_inherits_leading_channels_and_keeps_child_init_after(axis):
    parent_shape, child_shape = [3, 3, 4, 4], [3, 3, 4, 4]
    child_shape[axis] = 7
    parent, child = parent_and_child(tuple(parent_shape), tuple(child_shape))
    result = transfer_array(parent, child)
    np.testing.assert_array_equal(np.take(result, range(4), axis=axis), parent)
    np.testing.assert_array_equal(
        np.take(result, range(4, 7), axis=axis), np.take(child, range(4, 7), axis=axis)
    )


@pytest.mark.parametrize("axis", [2, 3])
def test_channel_shrink_keeps_leading_channels(axis):
    parent_shape, child_shape = [3, 3, 6, 6], [3, 3, 6, 6]
    child_shape[axis] = 2
    parent, child = parent_and_child(tuple(parent_shape), tuple(child_shape))
    np.testing.assert_array_equal(
        transfer_array(parent, child), np.take(parent, range(2), axis=axis)
    )


def test_channels_grow_on_one_axis_and_shrink_on_the_other():
    parent, child = parent_and_child((3, 3, 4, 8), (3, 3, 6, 5))
    result = transfer_array(parent, child)
    np.testing.assert_array_equal(result[:, :, :4, :], parent[:, :, :, :5])
    np.testing.assert_array_equal(result[:, :, 4:, :], child[:, :, 4:, :])


# --- layer kinds ---


def test_depthwise_kernel_follows_the_rule_with_channel_and_multiplier_axes():
    parent, child = parent_and_child((3, 3, 16, 1), (5, 5, 8, 2))  # (k1, k2, in, multiplier)
    result = transfer_array(parent, child)
    np.testing.assert_array_equal(result[1:4, 1:4, :, :1], parent[:, :, :8, :])
    np.testing.assert_array_equal(result[:, :, :, 1:], child[:, :, :, 1:])


def test_transposed_kernel_inherits_leading_outputs_and_inputs():
    parent, child = parent_and_child((3, 3, 8, 4), (3, 3, 6, 10))  # (k1, k2, out, in)
    result = transfer_array(parent, child)
    np.testing.assert_array_equal(result[:, :, :6, :4], parent[:, :, :6, :])
    np.testing.assert_array_equal(result[:, :, :, 4:], child[:, :, :, 4:])


def test_dense_kernel_inherits_leading_rows_and_columns():
    parent, child = parent_and_child((5, 3), (4, 6))
    result = transfer_array(parent, child)
    np.testing.assert_array_equal(result[:, :3], parent[:4, :])
    np.testing.assert_array_equal(result[:, 3:], child[:, 3:])


@pytest.mark.parametrize(("n_parent", "n_child"), [(4, 7), (7, 4), (5, 5)])
def test_vector_inherits_leading_entries(n_parent, n_child):
    parent, child = parent_and_child((n_parent,), (n_child,))  # bias, gamma, beta, mean, variance
    result = transfer_array(parent, child)
    n = min(n_parent, n_child)
    np.testing.assert_array_equal(result[:n], parent[:n])
    np.testing.assert_array_equal(result[n:], child[n:])


def test_scalar_is_copied():
    assert transfer_array(np.float32(3.0), np.float32(-1.0)) == 3.0


def test_conv1d_kernel_grows_on_its_one_spatial_axis():
    parent, child = parent_and_child((3, 4, 5), (5, 6, 5))  # (k, in, out)
    result = transfer_array(parent, child)
    np.testing.assert_array_equal(result[1:4, :4, :], parent)
    assert np.all(result[[0, 4]] < 0) and np.all(result[:, 4:] < 0)


def test_conv3d_kernel_shrinks_on_its_three_spatial_axes():
    parent, child = parent_and_child((5, 5, 5, 2, 3), (3, 3, 3, 2, 2))  # (k1, k2, k3, in, out)
    np.testing.assert_array_equal(transfer_array(parent, child), parent[1:4, 1:4, 1:4, :, :2])


def test_explicit_roles_handle_a_channels_first_layout():
    parent, child = parent_and_child((8, 4, 3, 3), (6, 4, 5, 5))  # PyTorch (out, in, k1, k2)
    result = transfer_array(parent, child, roles=("channel", "channel", "spatial", "spatial"))
    np.testing.assert_array_equal(result[:, :, 1:4, 1:4], parent[:6])


def test_default_roles_by_rank():
    assert default_roles(0) == ()
    assert default_roles(1) == ("channel",)
    assert default_roles(2) == ("channel", "channel")
    assert default_roles(3) == ("spatial", "channel", "channel")
    assert default_roles(5) == ("spatial", "spatial", "spatial", "channel", "channel")


# --- exactness and purity ---


def test_equal_shapes_copy_the_parent_exactly(rng):
    parent = rng.standard_normal((3, 3, 16, 32)).astype(np.float32)
    child = rng.standard_normal((3, 3, 16, 32)).astype(np.float32)
    result = transfer_array(parent, child)
    np.testing.assert_array_equal(result, parent)
    assert result is not parent and not np.shares_memory(result, parent)


def test_inputs_are_not_modified(rng):
    parent, child = rng.standard_normal((3, 3, 4, 8)), rng.standard_normal((5, 5, 6, 4))
    parent_before, child_before = parent.copy(), child.copy()
    transfer_array(parent, child)
    np.testing.assert_array_equal(parent, parent_before)
    np.testing.assert_array_equal(child, child_before)


def test_result_keeps_the_child_dtype():
    parent = np.full((2, 2), 1.5, dtype=np.float64)
    child = np.zeros((3, 3), dtype=np.float16)
    assert transfer_array(parent, child).dtype == np.float16


# --- errors ---


def test_ranks_that_differ_raise_naming_both_shapes():
    with pytest.raises(WeightTransferError, match=r"\(3, 3, 8, 16\).*\(8, 16\).*ranks differ"):
        transfer_array(np.zeros((3, 3, 8, 16)), np.zeros((8, 16)))


def test_roles_of_the_wrong_length_raise():
    with pytest.raises(WeightTransferError, match=r"roles \('channel',\) do not fit.*\(3, 4\)"):
        transfer_array(np.zeros((3, 4)), np.zeros((3, 4)), roles=("channel",))


def test_unknown_role_raises():
    with pytest.raises(WeightTransferError, match="'depth'"):
        transfer_array(np.zeros((3, 4)), np.zeros((3, 4)), roles=("depth", "channel"))


def test_weight_transfer_error_is_a_value_error():
    assert issubclass(WeightTransferError, ValueError)
