"""weightxfer: layer-wise weight transfer between networks of different shapes (EvoPose2D).

The numpy core is framework-free; ``weightxfer.keras`` adapts it to Keras 3 models.
"""

from weightxfer.arrays import Role, default_roles, transfer_array
from weightxfer.errors import WeightTransferError
from weightxfer.layers import BatchNormFill, Fallback, last_block_fallback, transfer_layers
from weightxfer.transfer_report import LayerTransfer, TransferReport, TransferStatus

__version__ = "0.2.0"

__all__ = [
    "BatchNormFill",
    "Fallback",
    "LayerTransfer",
    "Role",
    "TransferReport",
    "TransferStatus",
    "WeightTransferError",
    "__version__",
    "default_roles",
    "last_block_fallback",
    "transfer_array",
    "transfer_layers",
]
