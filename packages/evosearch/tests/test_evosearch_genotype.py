import numpy as np
import pytest

from evosearch import GenotypeError, GenotypeSet, genotype_key, normalize_genotype
from evosearch.genotype import parse_genotype

POSENET_ANCESTOR = [[3, 1, 2, 1], [3, 2, 3, 2], [5, 2, 5, 2], [3, 3, 10, 2]]


def test_genotype_key_is_the_same_for_lists_tuples_and_numpy_ints():
    as_tuples = tuple(tuple(np.int64(v) for v in gene) for gene in POSENET_ANCESTOR)
    assert genotype_key(as_tuples) == genotype_key(POSENET_ANCESTOR)
    assert genotype_key(np.array(POSENET_ANCESTOR)) == genotype_key(POSENET_ANCESTOR)


def test_genotype_key_is_compact_json_that_parses_back():
    key = genotype_key(POSENET_ANCESTOR)
    assert key.startswith("[[3,1,2,1],[3,2,3,2]")
    assert parse_genotype(key) == POSENET_ANCESTOR


def test_genotype_key_sorts_mapping_keys():
    assert genotype_key({"b": [1], "a": 2}) == '{"a":2,"b":[1]}'


def test_different_genotypes_have_different_keys():
    assert genotype_key([1, 2]) != genotype_key([2, 1])
    assert genotype_key([[1, 2]]) != genotype_key([1, 2])


@pytest.mark.parametrize("bad", [[1, object()], [1, float("nan")], [[1], {2: 3}]])
def test_normalize_genotype_names_what_is_wrong_and_where(bad):
    with pytest.raises(GenotypeError, match=r"genotype\["):
        normalize_genotype(bad)


def test_genotype_set_finds_a_genotype_written_as_tuples():
    seen = GenotypeSet([POSENET_ANCESTOR])
    assert tuple(map(tuple, POSENET_ANCESTOR)) in seen
    assert [[5, 1, 2, 1]] not in seen
    assert object() not in seen


def test_genotype_set_counts_each_genotype_once():
    seen = GenotypeSet()
    assert seen.add([1, 2]) is True
    assert seen.add((1, 2)) is False
    assert len(seen) == 1
    assert list(seen) == [[1, 2]]


def test_genotype_set_from_keys_holds_those_genotypes():
    seen = GenotypeSet.from_keys([genotype_key([1, 2]), genotype_key([3])])
    assert [1, 2] in seen and (3,) in seen and [2, 1] not in seen
