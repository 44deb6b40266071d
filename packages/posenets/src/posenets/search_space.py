"""The EvoPose2D search space: genotypes, their validation, mutation and short string form.

A genotype is seven genes, one per backbone module: `(kernel, repeats, channels / 8, stride)`.
The mutation rule (SPEC.md section 2) lives here and only here.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from posenets.errors import GenotypeStringError, InvalidGenotypeError, NoNewMutantError

NUM_MODULES = 7
GENE_FIELDS = ("kernel", "repeats", "channels_div8", "stride")
_DRAWS_BEFORE_EXHAUSTION_CHECK = 100
_TOKEN_EXAMPLE = "r1_k3_s1_c16"
_TOKEN_KEYS = {"k": "kernel", "r": "repeats", "c": "channels", "s": "stride"}


class Gene(NamedTuple):
    """One backbone module: kernel size, number of blocks, output channels / 8, first stride."""

    kernel: int
    repeats: int
    channels_div8: int
    stride: int

    @property
    def channels(self) -> int:
        """Output channels of the module before compound scaling."""
        return 8 * self.channels_div8


Genotype = tuple[Gene, ...]
GenotypeLike = Sequence[Sequence[int]]


def _genotype(rows: Iterable[Iterable[int]]) -> Genotype:
    return tuple(Gene(*row) for row in rows)


# EfficientNet-B0's blocks: the search's common ancestor.
ANCESTOR: Genotype = _genotype(
    [[3, 1, 2, 1], [3, 2, 3, 2], [5, 2, 5, 2], [3, 3, 10, 2], [5, 3, 14, 1], [5, 4, 24, 2],
     [3, 1, 40, 1]]
)  # fmt: skip
# The best network of search E3 (Table 2 of the paper).
EVOPOSE2D_S: Genotype = _genotype(
    [[3, 1, 2, 1], [3, 3, 3, 2], [5, 2, 5, 2], [3, 4, 10, 2], [5, 2, 14, 1], [5, 4, 16, 1],
     [3, 2, 10, 1]]
)  # fmt: skip
# EvoPose2D-S with stride 2 in module 6: half the FLOPs, heatmaps at 1/4 of the input.
EVOPOSE2D_XS: Genotype = (*EVOPOSE2D_S[:5], EVOPOSE2D_S[5]._replace(stride=2), EVOPOSE2D_S[6])


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _as_genotype(genotype: GenotypeLike) -> Genotype:
    """Shape check only: seven genes of four integers each."""
    if isinstance(genotype, str) or not isinstance(genotype, Sequence | np.ndarray):
        raise InvalidGenotypeError(
            f"a genotype is a sequence of {NUM_MODULES} genes (kernel, repeats, channels/8, "
            f"stride), got {type(genotype).__name__}; parse strings with SearchSpace.from_string"
        )
    if len(genotype) != NUM_MODULES:
        raise InvalidGenotypeError(
            f"a genotype has {NUM_MODULES} genes, one per module; got {len(genotype)}"
        )
    genes = []
    for module, row in enumerate(genotype, start=1):
        if isinstance(row, str) or not isinstance(row, Sequence | np.ndarray) or len(row) != 4:
            raise InvalidGenotypeError(
                f"module {module}: a gene is 4 integers (kernel, repeats, channels/8, stride), "
                f"got {row!r}"
            )
        bad = [name for name, value in zip(GENE_FIELDS, row, strict=True) if not _is_int(value)]
        if bad:
            raise InvalidGenotypeError(
                f"module {module}: {', '.join(bad)} must be an integer, got {list(row)!r}"
            )
        genes.append(Gene(*(int(value) for value in row)))
    return tuple(genes)


def _extra_downsampling(genes: Genotype) -> int:
    return sum(gene.stride - 1 for gene in genes)


def _with_gene(genotype: Genotype, index: int, field: str, value: int) -> Genotype:
    """`genotype` with one gene value replaced."""
    gene = genotype[index]._replace(**{field: value})
    return (*genotype[:index], gene, *genotype[index + 1 :])


@dataclass(frozen=True)
class SearchSpace:
    """The EvoPose2D search space; the defaults are the paper's (SPEC.md section 2).

    `stride_modules` are 1-based module numbers whose stride may change;
    `max_extra_downsampling` bounds the number of stride-2 modules (sum of stride - 1).
    """

    ancestor: Genotype = ANCESTOR
    kernels: tuple[int, ...] = (3, 5)
    max_repeats: int = 4
    stride_modules: tuple[int, ...] = (5, 6, 7)
    max_extra_downsampling: int = 4

    def extra_downsampling(self, genotype: GenotypeLike) -> int:
        """Number of stride-2 modules of a genotype (the sum of stride - 1 over modules)."""
        return _extra_downsampling(_as_genotype(genotype))

    def validate(self, genotype: GenotypeLike) -> Genotype:
        """`genotype` as a tuple of `Gene`s; InvalidGenotypeError names the first bad gene."""
        genes = _as_genotype(genotype)
        for module, (gene, ancestral) in enumerate(zip(genes, self.ancestor, strict=True), 1):
            where = f"module {module}"
            if gene.kernel not in self.kernels:
                raise InvalidGenotypeError(
                    f"{where}: kernel {gene.kernel} is not allowed; use one of {self.kernels}"
                )
            if not 1 <= gene.repeats <= self.max_repeats:
                raise InvalidGenotypeError(
                    f"{where}: repeats {gene.repeats} is outside 1..{self.max_repeats}"
                )
            if not 1 <= gene.channels_div8 <= ancestral.channels_div8:
                raise InvalidGenotypeError(
                    f"{where}: channels/8 {gene.channels_div8} is outside "
                    f"1..{ancestral.channels_div8} (the ancestor's {ancestral.channels} channels)"
                )
            if gene.stride not in (1, 2):
                raise InvalidGenotypeError(f"{where}: stride {gene.stride} is not 1 or 2")
            if module not in self.stride_modules and gene.stride != ancestral.stride:
                raise InvalidGenotypeError(
                    f"{where}: stride is fixed at {ancestral.stride}; only modules "
                    f"{', '.join(map(str, self.stride_modules))} may change stride"
                )
        extra = _extra_downsampling(genes)
        if extra > self.max_extra_downsampling:
            raise InvalidGenotypeError(
                f"the genotype has {extra} stride-2 modules; at most "
                f"{self.max_extra_downsampling} are allowed"
            )
        return genes

    def is_valid(self, genotype: GenotypeLike) -> bool:
        """True when `validate` would accept `genotype`."""
        try:
            self.validate(genotype)
        except InvalidGenotypeError:
            return False
        return True

    def mutate(
        self,
        genotype: GenotypeLike,
        rng: np.random.Generator,
        seen: Iterable[GenotypeLike] = (),
        *,
        network: Callable[[Genotype], Hashable] | None = None,
    ) -> Genotype:
        """A child differing from `genotype` in one gene, never equal to it or to any of `seen`.

        The rule: pick a module and one of its four genes uniformly, then a value uniformly
        among `gene_options`; redraw while the child equals the parent or was seen. With
        `network` (what a genotype builds, e.g. `posenets.network_structure` at the search's
        input size), a child whose network equals the parent's or a seen genotype's is redrawn
        too: a mutation that compound scaling rounds away is no new network. Draws come only
        from `rng`, so one seed gives one sequence of children. `seen` may hold lists or
        arrays; a set of tuples (e.g. earlier results) is used as it is.
        """
        if not isinstance(rng, np.random.Generator):
            raise TypeError(
                f"rng must be a numpy.random.Generator (numpy.random.default_rng(seed)), "
                f"got {type(rng).__name__}"
            )
        parent = self.validate(genotype)
        if not isinstance(seen, set | frozenset):
            seen = {_as_genotype(other) for other in seen}
        networks = set()
        if network is not None:
            networks = {network(parent)} | {network(_as_genotype(other)) for other in seen}

        def is_new(child: Genotype) -> bool:
            if child == parent or child in seen:
                return False
            return network is None or network(child) not in networks

        draws = 0
        while True:
            draws += 1
            index = int(rng.integers(NUM_MODULES))
            field = GENE_FIELDS[int(rng.integers(len(GENE_FIELDS)))]
            options = self.gene_options(parent, index, field)
            if options:
                child = _with_gene(parent, index, field, options[int(rng.integers(len(options)))])
                if is_new(child):
                    return child
            if draws == _DRAWS_BEFORE_EXHAUSTION_CHECK and not any(
                is_new(child) for child in self.neighbours(parent)
            ):
                where = "is in `seen`" if network is None else "builds its or a seen network"
                raise NoNewMutantError(
                    f"every mutant of {self.to_string(parent)} {where}; mutate another genotype"
                )

    def gene_options(self, genotype: Genotype, index: int, field: str) -> tuple[int, ...]:
        """Values mutation may draw for one gene (0-based module `index`); may hold the current one.

        Kernel: any allowed size; repeats: one step, turned back at the bounds; channels/8:
        1 to the ancestor's; stride: toggled, only in the stride modules, within the budget.
        """
        gene = genotype[index]
        if field == "kernel":
            return self.kernels
        if field == "repeats":
            if gene.repeats <= 1:
                return (2,)
            if gene.repeats >= self.max_repeats:
                return (self.max_repeats - 1,)
            return (gene.repeats - 1, gene.repeats + 1)
        if field == "channels_div8":
            return tuple(range(1, self.ancestor[index].channels_div8 + 1))
        if field != "stride":
            raise ValueError(f"unknown gene field {field!r}; fields: {', '.join(GENE_FIELDS)}")
        toggled = 3 - gene.stride
        extra = _extra_downsampling(genotype) + toggled - gene.stride
        if index + 1 not in self.stride_modules or extra > self.max_extra_downsampling:
            return ()
        return (toggled,)

    def neighbours(self, genotype: GenotypeLike) -> set[Genotype]:
        """Every genotype that one mutation of `genotype` can give."""
        parent = self.validate(genotype)
        children = {
            _with_gene(parent, index, field, value)
            for index in range(NUM_MODULES)
            for field in GENE_FIELDS
            for value in self.gene_options(parent, index, field)
        }
        return children - {parent}

    def size(self, *, within_stride_budget: bool = False) -> int:
        """Number of genotypes: the paper's count (every stride choice of the stride modules).

        With `within_stride_budget`, only stride choices that respect `max_extra_downsampling`.
        """
        kernels = len(self.kernels) ** NUM_MODULES
        repeats = self.max_repeats**NUM_MODULES
        channels = math.prod(gene.channels_div8 for gene in self.ancestor)
        choices = list(itertools.product((1, 2), repeat=len(self.stride_modules)))
        if within_stride_budget:
            fixed = sum(
                gene.stride - 1
                for module, gene in enumerate(self.ancestor, 1)
                if module not in self.stride_modules
            )
            choices = [c for c in choices if fixed + sum(c) - len(c) <= self.max_extra_downsampling]
        return kernels * repeats * channels * len(choices)

    def to_string(self, genotype: GenotypeLike) -> str:
        """Short form, one token per module: 'r1_k3_s1_c16-r2_k3_s2_c24-...' (channels, not /8)."""
        genes = self.validate(genotype)
        return "-".join(
            f"r{gene.repeats}_k{gene.kernel}_s{gene.stride}_c{gene.channels}" for gene in genes
        )

    def from_string(self, text: str) -> Genotype:
        """Parse `to_string`'s form back into a validated genotype."""
        if not isinstance(text, str):
            raise GenotypeStringError(f"a genotype string must be a str, got {type(text).__name__}")
        tokens = text.strip().split("-")
        if len(tokens) != NUM_MODULES:
            raise GenotypeStringError(
                f"genotype string {text!r} has {len(tokens)} '-'-separated tokens; "
                f"expected {NUM_MODULES}, each like {_TOKEN_EXAMPLE!r}"
            )
        genes = [_parse_token(token, module) for module, token in enumerate(tokens, start=1)]
        return self.validate(genes)


def _parse_token(token: str, module: int) -> list[int]:
    values: dict[str, int] = {}
    for part in token.split("_"):
        match = re.fullmatch(r"([krsc])(\d+)", part)
        if match is None or match.group(1) in values:
            raise GenotypeStringError(
                f"module {module}: cannot parse {token!r}; expected each of k, r, s, c once, "
                f"like {_TOKEN_EXAMPLE!r}"
            )
        values[match.group(1)] = int(match.group(2))
    missing = sorted(set(_TOKEN_KEYS) - set(values))
    if missing:
        names = ", ".join(f"{key} ({_TOKEN_KEYS[key]})" for key in missing)
        raise GenotypeStringError(f"module {module}: {token!r} lacks {names}")
    if values["c"] % 8:
        raise GenotypeStringError(
            f"module {module}: channels c{values['c']} in {token!r} is not a multiple of 8"
        )
    return [values["k"], values["r"], values["c"] // 8, values["s"]]
