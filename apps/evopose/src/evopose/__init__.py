"""evopose: the application that trains, evaluates and deploys EvoPose2D pose networks.

The command is `evopose` (see `evopose.cli`); from Python, `load_config` and `train` are the
entry points. TensorFlow loads on first use of `train`.
"""

__version__ = "0.2.0"

from evopose.config import Config, config_from_dict, load_config
from evopose.errors import ConfigFileError, EvoposeError, ExportError, InputFileError, TrainingError

__all__ = [
    "Config",
    "ConfigFileError",
    "EvoposeError",
    "ExportError",
    "InputFileError",
    "TrainResult",
    "TrainingError",
    "__version__",
    "config_from_dict",
    "load_config",
    "train",
]


def __getattr__(name: str):
    """`train` and `TrainResult` import TensorFlow: loaded on first access."""
    if name in ("train", "TrainResult"):
        from evopose import training

        return getattr(training, name)
    raise AttributeError(f"module 'evopose' has no attribute {name!r}")
