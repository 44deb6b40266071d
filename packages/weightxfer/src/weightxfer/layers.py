"""Model-level transfer on plain data: ordered mappings from layer name to a list of arrays.

A child layer inherits from the parent layer of the same name; one with no twin asks the
fallback for a parent layer to try (by default the same layer of the parent's last block of the
module, for a block the child grew). Every array then goes through ``transfer_array``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from weightxfer.arrays import inherited_count, overlap, transfer_array
from weightxfer.errors import WeightTransferError
from weightxfer.transfer_report import LayerTransfer, TransferReport

log = logging.getLogger(__name__)

LayerArrays = Mapping[str, Sequence[ArrayLike]]
Fallback = Callable[[str, Sequence[str]], str | None]
BatchNormFill = Literal["child", "parent_mean"]
BATCH_NORM_FILLS: tuple[BatchNormFill, ...] = ("child", "parent_mean")

_BLOCK_NAME = re.compile(r"^block(?P<module>\d+)(?P<block>[a-z]+)_(?P<rest>.+)$")


def last_block_fallback(child_name: str, parent_names: Sequence[str]) -> str | None:
    """For a layer of a block the parent lacks, ``block{m}{x}_rest``: the parent's last block of m.

    Names follow EfficientNet / EvoPose2D (``block2c_expand_conv``); blocks order by letter
    (``a`` < ``z`` < ``aa``). ``None`` for other names, or when the parent has the block already
    or no block of that module.
    """
    match = _BLOCK_NAME.match(child_name)
    if match is None:
        return None
    module, block = match["module"], match["block"]
    parent_blocks = set()
    for name in parent_names:
        parent_match = _BLOCK_NAME.match(name)
        if parent_match is not None and parent_match["module"] == module:
            parent_blocks.add(parent_match["block"])
    if not parent_blocks or block in parent_blocks:
        return None
    last = max(parent_blocks, key=lambda letters: (len(letters), letters))
    return f"block{module}{last}_{match['rest']}"


def transfer_layers(
    parent: LayerArrays,
    child: LayerArrays,
    *,
    fallback: Fallback | None = last_block_fallback,
    batch_norm_fill: BatchNormFill = "child",
    batch_norm_layers: Collection[str] | None = None,
) -> tuple[dict[str, list[np.ndarray]], TransferReport]:
    """New arrays for every child layer (child's order) holding what it inherits, and a report.

    ``fallback(child_name, parent_names)`` names the parent layer to try for a child layer with
    no twin (``None``: no fallback). ``batch_norm_fill="parent_mean"`` fills the entries of 1-d
    arrays the parent could not give with the mean of the parent's array (the authors' code)
    instead of keeping the child's init; it applies to the layers in ``batch_norm_layers``, or to
    every layer when that is ``None``. Inputs are not modified.
    """
    for role, layers in (("parent", parent), ("child", child)):
        if not isinstance(layers, Mapping):
            raise WeightTransferError(
                f"{role} must be a mapping from layer name to a list of arrays, "
                f"got {type(layers).__name__}"
            )
    if batch_norm_fill not in BATCH_NORM_FILLS:
        raise WeightTransferError(
            f"batch_norm_fill={batch_norm_fill!r} is not one of {BATCH_NORM_FILLS}"
        )
    if batch_norm_layers is not None:
        unknown = sorted(set(batch_norm_layers) - set(child))
        if unknown:
            raise WeightTransferError(f"batch_norm_layers names layers the child lacks: {unknown}")

    parent_names = list(parent)
    arrays: dict[str, list[np.ndarray]] = {}
    entries: list[LayerTransfer] = []
    used: set[str] = set()
    for name, child_arrays in child.items():
        child_arrays = [np.asarray(array) for array in child_arrays]
        source = _source(name, parent, parent_names, fallback)
        fill_mean = batch_norm_fill == "parent_mean" and (
            batch_norm_layers is None or name in batch_norm_layers
        )
        if source is None:
            arrays[name] = [np.array(array, copy=True) for array in child_arrays]
            entry = _no_transfer(name, child_arrays)
        else:
            used.add(source)
            parent_arrays = [np.asarray(array) for array in parent[source]]
            arrays[name], entry = _transfer_layer(
                name, source, parent_arrays, child_arrays, fill_mean
            )
        if entry.total_params:
            entries.append(entry)
            log.debug("%s <- %s: %s %.3f", name, source, entry.status, entry.inherited_fraction)
    unused = tuple(
        name for name in parent_names if name not in used and any(np.size(a) for a in parent[name])
    )
    return arrays, TransferReport(layers=tuple(entries), unused_parent_layers=unused)


def _source(
    name: str, parent: LayerArrays, parent_names: Sequence[str], fallback: Fallback | None
) -> str | None:
    """The parent layer the child layer ``name`` inherits from, or ``None``."""
    if name in parent:
        return name
    if fallback is None:
        return None
    source = fallback(name, parent_names)
    if source is not None and source not in parent:
        log.debug("%s: fallback named %r, which the parent lacks", name, source)
        return None
    return source


def _no_transfer(name: str, child_arrays: list[np.ndarray]) -> LayerTransfer:
    """The report entry of a child layer that inherits nothing."""
    return LayerTransfer(
        name=name,
        source=None,
        status="none",
        inherited_params=0,
        total_params=sum(array.size for array in child_arrays),
        child_shapes=tuple(array.shape for array in child_arrays),
    )


def _transfer_layer(
    name: str,
    source: str,
    parent_arrays: list[np.ndarray],
    child_arrays: list[np.ndarray],
    fill_mean: bool,
) -> tuple[list[np.ndarray], LayerTransfer]:
    """Transfer one layer's arrays in order; the new arrays and the layer's report entry."""
    where = f"layer {name!r}" + ("" if source == name else f" (from parent layer {source!r})")
    if len(parent_arrays) != len(child_arrays):
        raise WeightTransferError(
            f"{where}: the parent has {len(parent_arrays)} arrays, the child "
            f"{len(child_arrays)}; the layers differ in kind (e.g. a bias on one side only)"
        )
    new_arrays, inherited = [], 0
    for i, (parent_array, child_array) in enumerate(zip(parent_arrays, child_arrays, strict=True)):
        try:
            new_array = transfer_array(parent_array, child_array)
            inherited += inherited_count(parent_array.shape, child_array.shape)
        except WeightTransferError as error:
            raise WeightTransferError(f"{where}, array {i}: {error}") from None
        if fill_mean and new_array.ndim == 1 and parent_array.size:
            _fill_with_mean(new_array, parent_array)
        new_arrays.append(new_array)
    parent_shapes = tuple(array.shape for array in parent_arrays)
    child_shapes = tuple(array.shape for array in child_arrays)
    entry = LayerTransfer(
        name=name,
        source=source,
        status="full" if parent_shapes == child_shapes else "partial",
        inherited_params=inherited,
        total_params=sum(array.size for array in child_arrays),
        parent_shapes=parent_shapes,
        child_shapes=child_shapes,
    )
    return new_arrays, entry


def _fill_with_mean(new_array: np.ndarray, parent_array: np.ndarray) -> None:
    """Set the entries of a 1-d array not inherited from the parent to the parent's mean."""
    _, child_index = overlap(parent_array.shape, new_array.shape)
    inherited = np.zeros(new_array.shape, dtype=bool)
    inherited[child_index] = True
    new_array[~inherited] = parent_array.mean()
