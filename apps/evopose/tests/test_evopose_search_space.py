"""The EvoPose2D search space as evosearch sees it: the ancestor, one-gene mutations as plain
lists, validation, and the description of a mutation."""

import numpy as np
import pytest

import posenets
from evopose.search.evopose_space import EvoPoseSpace, describe_mutation
from evosearch import GenotypeSet


def test_the_default_ancestor_is_efficientnet_b0s_blocks():
    assert EvoPoseSpace().ancestor() == [list(gene) for gene in posenets.ANCESTOR]


def test_a_configured_genotype_is_the_ancestor():
    start = [list(gene) for gene in posenets.EVOPOSE2D_S]
    assert EvoPoseSpace(start).ancestor() == start


def test_an_ancestor_outside_the_space_is_refused():
    bad = [list(gene) for gene in posenets.ANCESTOR]
    bad[0][0] = 7
    with pytest.raises(posenets.InvalidGenotypeError, match="kernel 7"):
        EvoPoseSpace(bad)


def test_a_mutant_differs_in_one_gene_and_is_plain_lists():
    space = EvoPoseSpace()
    parent = space.ancestor()
    rng = np.random.default_rng(0)
    for _ in range(20):
        child = space.mutate(parent, rng, GenotypeSet([parent]))
        assert all(type(v) is int for gene in child for v in gene)
        changed = [(m, f) for m in range(7) for f in range(4) if child[m][f] != parent[m][f]]
        assert len(changed) == 1
        assert space.validate(child) is True


def test_mutants_avoid_genotypes_already_seen():
    space = EvoPoseSpace()
    parent = space.ancestor()
    seen = GenotypeSet([parent])
    rng = np.random.default_rng(1)
    for _ in range(30):
        child = space.mutate(parent, rng, seen)
        assert child not in seen
        seen.add(child)


def test_the_same_seed_gives_the_same_children():
    space = EvoPoseSpace()
    parent = space.ancestor()
    draws = [
        space.mutate(parent, np.random.default_rng(5), GenotypeSet([parent])) for _ in range(2)
    ]
    assert draws[0] == draws[1]


def test_a_mutation_is_described_by_module_field_and_values():
    parent = [list(gene) for gene in posenets.ANCESTOR]
    child = [list(gene) for gene in parent]
    child[4][0] = 3
    assert describe_mutation(parent, child) == "module 5 kernel 5->3"
    child[5][3] = 1
    assert describe_mutation(parent, child) == "module 5 kernel 5->3; module 6 stride 2->1"
    child[3][2] = 9
    assert describe_mutation(parent, child).startswith("module 4 channels 80->72; ")
    assert describe_mutation(parent, parent) == "no change"


def test_a_genotype_has_a_short_form():
    assert EvoPoseSpace().describe(EvoPoseSpace().ancestor()).startswith("r1_k3_s1_c16-")


@pytest.mark.parametrize("resolution", [(64, 48), (256, 192)])
def test_no_mutant_builds_the_ancestors_network(resolution):
    space = EvoPoseSpace(resolution=resolution)
    ancestor = space.ancestor()
    network = space.network(ancestor)
    rng = np.random.default_rng(0)
    for _ in range(1000):
        assert space.network(space.mutate(ancestor, rng, GenotypeSet([ancestor]))) != network


def test_candidates_are_built_as_written_at_the_search_resolution():
    small = EvoPoseSpace(resolution=(64, 48)).network(posenets.ANCESTOR)
    assert small == posenets.network_structure(posenets.ANCESTOR)  # 256x192's network
    assert [block.filters_out for block in small.blocks][-1] == 320


def test_the_configured_head_width_reaches_the_candidates_and_their_networks():
    from evopose.config import config_from_dict
    from evopose.models import build_model
    from evopose.search.candidate import candidate_config

    genotype = [[3, 1, 1, 1], [3, 1, 1, 2], [3, 1, 1, 2], [3, 1, 1, 2], [3, 1, 1, 1]] + [
        [3, 1, 1, 1]
    ] * 2
    config = config_from_dict(
        {
            "model": {
                "name": "evopose2d",
                "input_size": [64, 48],
                "genotype": genotype,
                "head_channels": 24,
            },
            "search": {"generations": 1},
        },
        source="test",
    )
    space = EvoPoseSpace(genotype, resolution=(64, 48), head_channels=24)
    assert space.network(genotype).head_channels == 24
    assert EvoPoseSpace(genotype, resolution=(64, 48)).network(genotype).head_channels == 128
    child = candidate_config(config, genotype, epochs=1, seed=0)
    assert child.model.head_channels == 24
    model = build_model(child.model)
    assert model.get_layer("head_block1_conv").kernel.shape[-2] == 24  # (k, k, out, in)
    assert model.get_layer("head_block3_conv").kernel.shape[-2] == 24
