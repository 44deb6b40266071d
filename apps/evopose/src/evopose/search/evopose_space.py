"""evosearch's view of the EvoPose2D search space: posenets' genotypes and mutation rule, as
plain lists, starting from the config's genotype (default: EfficientNet-B0's blocks)."""

import functools
from collections.abc import Sequence

import numpy as np

import posenets
from posenets.search_space import GENE_FIELDS

GenotypeLists = list[list[int]]
"""A posenets genotype as evosearch stores it: 7 `[kernel, repeats, channels/8, stride]` lists."""


class EvoPoseSpace:
    """The search space evosearch evolves: `ancestor()`, `mutate()` and `validate()` of
    posenets' `SearchSpace` (SPEC section 2), genotypes as nested lists of ints.

    Candidates are built at `resolution` with phi = 0 there (the head `head_channels` wide,
    default the paper's 128); a mutant whose network (its `posenets.network_structure`) equals
    its parent's or a seen one's is redrawn.
    """

    def __init__(
        self,
        ancestor: Sequence[Sequence[int]] | None = None,
        space: posenets.SearchSpace | None = None,
        resolution: tuple[int, int] = posenets.PAPER_SEARCH_RESOLUTION,
        head_channels: int | None = None,
    ) -> None:
        self.space = space if space is not None else posenets.SearchSpace()
        start = self.space.ancestor if ancestor is None else ancestor
        self._ancestor = as_lists(self.space.validate(start))
        self.resolution = tuple(resolution)
        self.network = functools.partial(
            posenets.network_structure,
            input_size=self.resolution,
            search_resolution=self.resolution,
            head_channels=head_channels or posenets.evopose2d.HEAD_CHANNELS,
        )

    def ancestor(self) -> GenotypeLists:
        """The genotype of generation 0."""
        return [list(gene) for gene in self._ancestor]

    def mutate(
        self, genotype: GenotypeLists, rng: np.random.Generator, seen: object
    ) -> GenotypeLists:
        """A child differing from `genotype` in one gene whose network is new: not the
        parent's, not a genotype of `seen`'s (posenets' rule)."""
        child = self.space.mutate(genotype, rng, seen, network=self.network)  # type: ignore[arg-type]
        return as_lists(child)

    def validate(self, genotype: GenotypeLists) -> bool:
        """True for a genotype of the space; `posenets.InvalidGenotypeError` names what is wrong."""
        self.space.validate(genotype)
        return True

    def describe(self, genotype: GenotypeLists) -> str:
        """The short form, e.g. `r1_k3_s1_c16-r2_k3_s2_c24-...`."""
        return self.space.to_string(genotype)


def as_lists(genotype: Sequence[Sequence[int]]) -> GenotypeLists:
    """A genotype as a list of `[kernel, repeats, channels/8, stride]` lists of Python ints."""
    return [[int(value) for value in gene] for gene in genotype]


def describe_mutation(parent: Sequence[Sequence[int]], child: Sequence[Sequence[int]]) -> str:
    """What changed from `parent` to `child`, e.g. `module 5 kernel 3->5` or `module 4
    channels 16->72` (channels, not channels / 8; `; `-joined)."""
    changes = [
        f"module {module} channels {8 * old}->{8 * new}"
        if field == "channels_div8"
        else f"module {module} {field} {old}->{new}"
        for module, (old_gene, new_gene) in enumerate(zip(parent, child, strict=True), start=1)
        for field, old, new in zip(GENE_FIELDS, old_gene, new_gene, strict=True)
        if old != new
    ]
    return "; ".join(changes) or "no change"
