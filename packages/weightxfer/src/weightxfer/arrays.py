"""The transfer rule for one array (SPEC.md section 1): the only place it is written.

Every axis has a role. A ``"spatial"`` axis (a kernel's window) inherits the centred window
``p = (k_parent - k_child) // 2`` when the child is smaller, or receives the whole parent window
placed at ``(k_child - k_parent) // 2`` when it is larger. A ``"channel"`` axis inherits its
leading ``min(parent, child)`` entries. Every entry outside the inherited block keeps the child's
own value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from weightxfer.errors import WeightTransferError

Role = Literal["spatial", "channel"]
ROLES: tuple[Role, ...] = ("spatial", "channel")


def default_roles(rank: int) -> tuple[Role, ...]:
    """Axis roles for a rank: rank >= 3 is a kernel ``(k1, ..., kN, in, out)``, else all channel."""
    if rank >= 3:
        return ("spatial",) * (rank - 2) + ("channel", "channel")
    return ("channel",) * rank


def transfer_array(
    parent: ArrayLike, child: ArrayLike, roles: Sequence[Role] | None = None
) -> np.ndarray:
    """A new array shaped like ``child``: what it inherits from ``parent``, the child's elsewhere.

    ``roles`` gives each axis its role (default: ``default_roles(rank)``); inputs are not modified.
    """
    parent, child = np.asarray(parent), np.asarray(child)
    parent_index, child_index = overlap(parent.shape, child.shape, roles)
    if parent.shape == child.shape:  # everything inherited: one copy, not two
        return parent.astype(child.dtype, copy=True)
    result = child.copy()
    result[child_index] = parent[parent_index]
    return result


def inherited_count(
    parent_shape: Sequence[int], child_shape: Sequence[int], roles: Sequence[Role] | None = None
) -> int:
    """How many of the child's entries ``transfer_array`` takes from the parent."""
    _check(parent_shape, child_shape, roles)
    return math.prod(min(p, c) for p, c in zip(parent_shape, child_shape, strict=True))


def overlap(
    parent_shape: Sequence[int], child_shape: Sequence[int], roles: Sequence[Role] | None = None
) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """The index into the parent and the index into the child of the inherited block."""
    roles = _check(parent_shape, child_shape, roles)
    parent_index, child_index = [], []
    for p, c, role in zip(parent_shape, child_shape, roles, strict=True):
        n = min(p, c)
        # spatial: centred window (crop) or centred placement; channel: the leading entries.
        parent_start = (p - n) // 2 if role == "spatial" else 0
        child_start = (c - n) // 2 if role == "spatial" else 0
        parent_index.append(slice(parent_start, parent_start + n))
        child_index.append(slice(child_start, child_start + n))
    return tuple(parent_index), tuple(child_index)


def _check(
    parent_shape: Sequence[int], child_shape: Sequence[int], roles: Sequence[Role] | None
) -> tuple[Role, ...]:
    """Validate the shapes and roles; return the roles to use."""
    parent_shape, child_shape = tuple(parent_shape), tuple(child_shape)
    if len(parent_shape) != len(child_shape):
        raise WeightTransferError(
            f"cannot transfer parent shape {parent_shape} into child shape {child_shape}: "
            f"ranks differ ({len(parent_shape)} vs {len(child_shape)})"
        )
    if roles is None:
        return default_roles(len(child_shape))
    roles = tuple(roles)
    if len(roles) != len(child_shape) or any(role not in ROLES for role in roles):
        raise WeightTransferError(
            f"roles {roles} do not fit parent shape {parent_shape} and child shape "
            f"{child_shape}: give one of {ROLES} per axis ({len(child_shape)} axes)"
        )
    return roles
