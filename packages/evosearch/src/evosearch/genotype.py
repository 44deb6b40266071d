"""Genotypes as plain JSON data, and their canonical form (the "never evaluated twice" key).

A genotype is any nesting of lists (or tuples) of ints, strings, bools and finite floats, e.g.
the 7 genes ``[[kernel, repeats, channels, stride], ...]`` of posenets. Two genotypes are the
same when their canonical JSON is equal: tuples and lists, numpy and Python ints compare equal.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from numbers import Integral, Real
from typing import Any, TypeAlias

from evosearch.errors import GenotypeError

JsonGenotype: TypeAlias = Any
"""A nested list of JSON scalars (ints in practice); see the module docstring."""


def normalize_genotype(genotype: JsonGenotype, *, where: str = "genotype") -> JsonGenotype:
    """The genotype as nested lists of int, float, str, bool; `GenotypeError` if not JSON data."""
    if isinstance(genotype, bool | str) or genotype is None:
        return genotype
    if isinstance(genotype, Integral):
        return int(genotype)
    if isinstance(genotype, Real):
        value = float(genotype)
        if not math.isfinite(value):
            raise GenotypeError(f"{where} holds the non-finite number {value!r}")
        return value
    if isinstance(genotype, Mapping):
        out = {}
        for key, value in genotype.items():
            if not isinstance(key, str):
                raise GenotypeError(f"{where} has a non-string key {key!r}; use string keys")
            out[key] = normalize_genotype(value, where=f"{where}[{key!r}]")
        return out
    if isinstance(genotype, Sequence | Iterable) and not isinstance(genotype, bytes | bytearray):
        return [normalize_genotype(v, where=f"{where}[{i}]") for i, v in enumerate(genotype)]
    raise GenotypeError(
        f"{where} holds {genotype!r} of type {type(genotype).__name__}; "
        "genotypes must be nested lists of ints, floats or strings"
    )


def genotype_key(genotype: JsonGenotype) -> str:
    """The canonical JSON of a genotype: compact, keys sorted, tuples written as lists."""
    return json.dumps(normalize_genotype(genotype), separators=(",", ":"), sort_keys=True)


def parse_genotype(key: str) -> JsonGenotype:
    """The genotype written by `genotype_key` (nested lists)."""
    return json.loads(key)


class GenotypeSet:
    """A set of genotypes compared by canonical JSON: ``genotype in seen`` for lists or tuples."""

    def __init__(self, genotypes: Iterable[JsonGenotype] = ()) -> None:
        self._keys: dict[str, None] = {}
        for genotype in genotypes:
            self.add(genotype)

    @classmethod
    def from_keys(cls, keys: Iterable[str]) -> GenotypeSet:
        """A set holding the genotypes whose canonical JSON (`genotype_key`) is given."""
        seen = cls()
        seen._keys.update(dict.fromkeys(keys))
        return seen

    def add(self, genotype: JsonGenotype) -> bool:
        """Add a genotype; True if it was new."""
        key = genotype_key(genotype)
        if key in self._keys:
            return False
        self._keys[key] = None
        return True

    def __contains__(self, genotype: object) -> bool:
        try:
            return genotype_key(genotype) in self._keys
        except GenotypeError:
            return False

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[JsonGenotype]:
        return (parse_genotype(key) for key in self._keys)

    def __repr__(self) -> str:
        return f"GenotypeSet({len(self)} genotypes)"
