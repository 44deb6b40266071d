"""posenets: the EvoPose2D networks and search space, SimpleBaseline and HRNet in Keras 3,
with exact parameter and multiply-add counts."""

from posenets.errors import (
    GenotypeStringError,
    InvalidGenotypeError,
    InvalidModelArgumentError,
    LegacyImportError,
    PosenetsError,
    SearchSpaceExhaustedError,
    UnknownModelError,
    UnsupportedLayerError,
)
from posenets.evopose2d import (
    BlockSpec,
    EvoPose2D,
    NetworkStructure,
    backbone_stride,
    heatmap_size,
    network_structure,
    output_stride,
)
from posenets.flops import count_flops, count_params
from posenets.hrnet import HRNet
from posenets.legacy_import import ImportedEvoPose2D, ImportReport, import_legacy_h5
from posenets.registry import MODELS, ModelEntry, create_model, list_models, model_entry
from posenets.scaling import (
    PAPER_SEARCH_RESOLUTION,
    CompoundScaling,
    compound_scaling,
    round_channels,
    round_repeats,
)
from posenets.search_space import (
    ANCESTOR,
    EVOPOSE2D_S,
    EVOPOSE2D_XS,
    Gene,
    Genotype,
    SearchSpace,
)
from posenets.simple_baseline import SimpleBaseline

__version__ = "0.4.0"

__all__ = [
    "ANCESTOR",
    "EVOPOSE2D_S",
    "EVOPOSE2D_XS",
    "MODELS",
    "PAPER_SEARCH_RESOLUTION",
    "BlockSpec",
    "CompoundScaling",
    "EvoPose2D",
    "Gene",
    "Genotype",
    "GenotypeStringError",
    "HRNet",
    "ImportReport",
    "ImportedEvoPose2D",
    "InvalidGenotypeError",
    "InvalidModelArgumentError",
    "LegacyImportError",
    "ModelEntry",
    "NetworkStructure",
    "PosenetsError",
    "SearchSpace",
    "SearchSpaceExhaustedError",
    "SimpleBaseline",
    "UnknownModelError",
    "UnsupportedLayerError",
    "backbone_stride",
    "compound_scaling",
    "count_flops",
    "count_params",
    "create_model",
    "heatmap_size",
    "import_legacy_h5",
    "list_models",
    "model_entry",
    "network_structure",
    "output_stride",
    "round_channels",
    "round_repeats",
]
