"""What a transfer did, per layer and in total: plain data, an aligned table, plain dicts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal, get_args

TransferStatus = Literal["full", "partial", "none"]
TRANSFER_STATUSES: tuple[TransferStatus, ...] = get_args(TransferStatus)


@dataclass(frozen=True)
class LayerTransfer:
    """One child layer: where it inherited from and how much.

    ``status``: ``"full"`` (every array copied exactly, shapes equal), ``"partial"`` (some shape
    differs; a shrunk layer inherits all its parameters yet is partial) or ``"none"``.
    """

    name: str
    source: str | None
    status: TransferStatus
    inherited_params: int
    total_params: int
    parent_shapes: tuple[tuple[int, ...], ...] = ()
    child_shapes: tuple[tuple[int, ...], ...] = ()

    @property
    def inherited_fraction(self) -> float:
        """The fraction of this layer's parameters inherited from the parent."""
        return self.inherited_params / self.total_params if self.total_params else 0.0

    @property
    def by_fallback(self) -> bool:
        """Whether the layer inherited from a parent layer of another name (a new block)."""
        return self.source is not None and self.source != self.name

    def as_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready)."""
        return {
            "name": self.name,
            "source": self.source,
            "status": self.status,
            "inherited_params": self.inherited_params,
            "total_params": self.total_params,
            "inherited_fraction": self.inherited_fraction,
            "parent_shapes": [list(shape) for shape in self.parent_shapes],
            "child_shapes": [list(shape) for shape in self.child_shapes],
        }


@dataclass(frozen=True)
class TransferReport:
    """Every child layer that holds parameters, in the child's order, and the parent's leftovers."""

    layers: tuple[LayerTransfer, ...]
    unused_parent_layers: tuple[str, ...] = ()

    @property
    def inherited_params(self) -> int:
        """Parameters of the child inherited from the parent."""
        return sum(layer.inherited_params for layer in self.layers)

    @property
    def total_params(self) -> int:
        """Parameters of the child (every array of every layer, trainable or not)."""
        return sum(layer.total_params for layer in self.layers)

    @property
    def inherited_fraction(self) -> float:
        """The fraction of the child's parameters inherited from the parent."""
        return self.inherited_params / self.total_params if self.total_params else 0.0

    @property
    def counts(self) -> dict[TransferStatus, int]:
        """How many layers were transferred fully, partially and not at all."""
        counted = Counter(layer.status for layer in self.layers)
        return {status: counted[status] for status in TRANSFER_STATUSES}

    def __getitem__(self, name: str) -> LayerTransfer:
        """The entry of the child layer ``name``."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no child layer {name!r} in this transfer report")

    def totals(self) -> dict[str, Any]:
        """The totals as plain data."""
        return {
            "layers": len(self.layers),
            **self.counts,
            "inherited_params": self.inherited_params,
            "total_params": self.total_params,
            "inherited_fraction": self.inherited_fraction,
        }

    def as_dict(self) -> dict[str, Any]:
        """The whole report as plain data (JSON-ready)."""
        return {
            "layers": [layer.as_dict() for layer in self.layers],
            "unused_parent_layers": list(self.unused_parent_layers),
            "totals": self.totals(),
        }

    def table(self) -> str:
        """The report as an aligned text table, one row per layer, then the totals."""
        header = ("layer", "inherited from", "status", "inherited", "params", "fraction", "shape")
        rows = [
            (
                layer.name,
                "-" if layer.source is None else layer.source,
                layer.status,
                f"{layer.inherited_params:,}",
                f"{layer.total_params:,}",
                f"{layer.inherited_fraction:.1%}",
                _shape_change(layer),
            )
            for layer in self.layers
        ]
        total = (
            "total",
            "",
            "",
            f"{self.inherited_params:,}",
            f"{self.total_params:,}",
            f"{self.inherited_fraction:.1%}",
            "",
        )
        widths = [max(len(row[i]) for row in (header, *rows, total)) for i in range(len(header))]
        right = {3, 4, 5}  # numbers align right

        def line(row: tuple[str, ...]) -> str:
            cells = [
                cell.rjust(width) if i in right else cell.ljust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            ]
            return "  ".join(cells).rstrip()

        rule = "  ".join("-" * width for width in widths)
        counts = ", ".join(f"{n} {status}" for status, n in self.counts.items())
        lines = [line(header), rule, *(line(row) for row in rows), rule, line(total)]
        lines.append(f"{len(self.layers)} layers: {counts}")
        if self.unused_parent_layers:
            unused = ", ".join(self.unused_parent_layers)
            lines.append(f"parent layers nothing inherited from: {unused}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _shape_change(layer: LayerTransfer) -> str:
    """The first array whose shape changed, as ``3x3x16x32 -> 5x5x16x24``; empty if none did."""
    for parent, child in zip(layer.parent_shapes, layer.child_shapes, strict=False):
        if parent != child:
            return f"{_dims(parent)} -> {_dims(child)}"
    return ""


def _dims(shape: tuple[int, ...]) -> str:
    return "x".join(str(n) for n in shape) if shape else "scalar"
