"""The exceptions posenets raises; each message names the bad value and what is allowed."""


class PosenetsError(ValueError):
    """Base class of every error posenets raises for bad input."""


class InvalidGenotypeError(PosenetsError):
    """A genotype is outside the EvoPose2D search space or badly formed."""


class GenotypeStringError(InvalidGenotypeError):
    """A genotype string cannot be parsed."""


class NoNewMutantError(PosenetsError):
    """Mutation found no unseen neighbour of a genotype."""


class UnknownModelError(PosenetsError):
    """A model name is not in the registry."""


class InvalidModelArgumentError(PosenetsError):
    """A model argument (input shape, keypoints, genotype use) is not allowed."""


class UnsupportedLayerError(PosenetsError):
    """count_flops met a layer it has no formula for."""


class LegacyImportError(PosenetsError):
    """A legacy Keras 2 HDF5 model file cannot be imported (unreadable, not an EvoPose2D, or a
    layer, weight or shape that does not match the network it describes)."""
