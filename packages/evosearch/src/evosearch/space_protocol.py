"""What evosearch needs from a search space: an ancestor and a mutation."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from evosearch.genotype import GenotypeSet, JsonGenotype


@runtime_checkable
class SearchSpaceProtocol(Protocol):
    """A space of genotypes; posenets' search space and `evosearch.toy.IntVectorSpace` are two.

    ``mutate`` must draw only from ``rng`` (so runs are reproducible) and should return a
    genotype not in ``seen`` (``genotype in seen`` works for lists and tuples); the engine
    draws again from the same ``rng`` when it does not. ``validate`` raises (or returns False)
    for a genotype outside the space.
    """

    def ancestor(self) -> JsonGenotype:
        """The genotype of generation 0."""
        ...

    def mutate(
        self, genotype: JsonGenotype, rng: np.random.Generator, seen: GenotypeSet
    ) -> JsonGenotype:
        """A child of ``genotype`` drawn with ``rng``, preferably not in ``seen``."""
        ...

    def validate(self, genotype: JsonGenotype) -> object:
        """Raise (or return False) when ``genotype`` is not in the space."""
        ...
