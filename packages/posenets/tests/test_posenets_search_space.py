"""The EvoPose2D search space: validation, the mutation rule, its size and string form."""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pytest

from posenets import (
    ANCESTOR,
    EVOPOSE2D_S,
    EVOPOSE2D_XS,
    Gene,
    GenotypeStringError,
    InvalidGenotypeError,
    NoNewMutantError,
    SearchSpace,
    network_structure,
)

SPACE = SearchSpace()
ANCESTOR_CHANNELS_DIV8 = [2, 3, 5, 10, 14, 24, 40]


def differing_genes(parent, child) -> list[tuple[int, str]]:
    """(module index, field) of every gene value that differs."""
    return [
        (index, field)
        for index, (a, b) in enumerate(zip(parent, child, strict=True))
        for field in Gene._fields
        if getattr(a, field) != getattr(b, field)
    ]


def random_walk(seed: int, steps: int, start=ANCESTOR) -> list[tuple]:
    """Mutate `steps` times from `start`, each child seeing every earlier genotype."""
    rng = np.random.default_rng(seed)
    walk = [SPACE.validate(start)]
    seen = set(walk)
    for _ in range(steps):
        walk.append(SPACE.mutate(walk[-1], rng, seen=seen))
        seen.add(walk[-1])
    return walk


# --- the named genotypes -------------------------------------------------------------------


def test_ancestor_is_efficientnet_b0s_blocks():
    assert SPACE.ancestor == ANCESTOR
    assert [list(gene) for gene in ANCESTOR] == [
        [3, 1, 2, 1], [3, 2, 3, 2], [5, 2, 5, 2], [3, 3, 10, 2],
        [5, 3, 14, 1], [5, 4, 24, 2], [3, 1, 40, 1],
    ]  # fmt: skip
    assert [gene.channels for gene in ANCESTOR] == [16, 24, 40, 80, 112, 192, 320]


def test_evopose2d_s_is_table_2_and_xs_strides_module_6():
    assert [list(gene) for gene in EVOPOSE2D_S] == [
        [3, 1, 2, 1], [3, 3, 3, 2], [5, 2, 5, 2], [3, 4, 10, 2],
        [5, 2, 14, 1], [5, 4, 16, 1], [3, 2, 10, 1],
    ]  # fmt: skip
    assert differing_genes(EVOPOSE2D_S, EVOPOSE2D_XS) == [(5, "stride")]
    assert EVOPOSE2D_XS[5].stride == 2


@pytest.mark.parametrize("genotype", [ANCESTOR, EVOPOSE2D_S, EVOPOSE2D_XS])
def test_named_genotypes_are_in_the_space(genotype):
    assert SPACE.validate(genotype) == genotype


# --- validation ----------------------------------------------------------------------------


def test_validate_accepts_lists_and_numpy_arrays_and_returns_genes():
    from_list = SPACE.validate([list(gene) for gene in EVOPOSE2D_S])
    from_array = SPACE.validate(np.array(EVOPOSE2D_S))
    assert from_list == from_array == EVOPOSE2D_S
    assert all(isinstance(gene, Gene) and type(gene.kernel) is int for gene in from_array)


def with_gene(module: int, **change) -> list[list[int]]:
    """EvoPose2D-S with one gene of `module` (1-based) changed."""
    genes = list(EVOPOSE2D_S)
    genes[module - 1] = genes[module - 1]._replace(**change)
    return [list(gene) for gene in genes]


@pytest.mark.parametrize(
    ("genotype", "message"),
    [
        (with_gene(2, kernel=7), r"module 2: kernel 7 is not allowed; use one of \(3, 5\)"),
        (with_gene(3, repeats=0), r"module 3: repeats 0 is outside 1\.\.4"),
        (with_gene(3, repeats=5), r"module 3: repeats 5 is outside 1\.\.4"),
        (with_gene(4, channels_div8=0), r"module 4: channels/8 0 is outside 1\.\.10"),
        (with_gene(7, channels_div8=41), r"module 7: channels/8 41 is outside 1\.\.40"),
        (with_gene(5, stride=3), r"module 5: stride 3 is not 1 or 2"),
        (with_gene(2, stride=1), r"module 2: stride is fixed at 2; only modules 5, 6, 7"),
        (with_gene(1, stride=2), r"module 1: stride is fixed at 1"),
        (with_gene(5, kernel=3.0), r"module 5: kernel must be an integer"),
        (with_gene(5, repeats=True), r"module 5: repeats must be an integer"),
        (EVOPOSE2D_S[:6], r"a genotype has 7 genes, one per module; got 6"),
        ([*EVOPOSE2D_S[:6], (3, 2, 10)], r"module 7: a gene is 4 integers"),
        ("r1_k3_s1_c16", r"parse strings with SearchSpace\.from_string"),
    ],
)
def test_validate_names_the_bad_gene_and_what_is_allowed(genotype, message):
    with pytest.raises(InvalidGenotypeError, match=message):
        SPACE.validate(genotype)
    assert not SPACE.is_valid(genotype)


def test_validate_enforces_the_stride_budget():
    genes = with_gene(6, stride=2)
    genes[4][3] = 2  # modules 5 and 6 at stride 2: five stride-2 modules
    assert SPACE.extra_downsampling(genes) == 5
    with pytest.raises(InvalidGenotypeError, match="5 stride-2 modules; at most 4 are allowed"):
        SPACE.validate(genes)


# --- mutation ------------------------------------------------------------------------------


def test_mutation_changes_exactly_one_gene():
    rng = np.random.default_rng(1)
    for _ in range(300):
        child = SPACE.mutate(EVOPOSE2D_S, rng)
        assert len(differing_genes(EVOPOSE2D_S, child)) == 1
        assert SPACE.is_valid(child)


def test_mutation_reaches_every_gene_kind():
    rng = np.random.default_rng(2)
    kinds = {differing_genes(EVOPOSE2D_S, SPACE.mutate(EVOPOSE2D_S, rng))[0][1] for _ in range(300)}
    assert kinds == set(Gene._fields)


def test_mutated_kernel_takes_the_other_allowed_size():
    rng = np.random.default_rng(3)
    for _ in range(300):
        child = SPACE.mutate(ANCESTOR, rng)
        [(index, field)] = differing_genes(ANCESTOR, child)
        if field == "kernel":
            assert {ANCESTOR[index].kernel, child[index].kernel} == {3, 5}


def test_repeats_move_by_one_and_bounce_off_the_bounds():
    genes = [list(gene) for gene in EVOPOSE2D_S]
    genes[0][1], genes[1][1] = 1, 4  # module 1 at the lower bound, module 2 at the upper
    parent = SPACE.validate(genes)
    steps: dict[int, set[int]] = {}
    rng = np.random.default_rng(4)
    for _ in range(2000):
        child = SPACE.mutate(parent, rng)
        [(index, field)] = differing_genes(parent, child)
        if field == "repeats":
            steps.setdefault(index, set()).add(child[index].repeats - parent[index].repeats)
    assert steps[0] == {1}
    assert steps[1] == {-1}
    assert steps[2] == {-1, 1}  # EvoPose2D-S module 3 has 2 blocks: either way
    assert all(child_steps <= {-1, 1} for child_steps in steps.values())


def test_channels_are_drawn_uniformly_up_to_the_ancestors_channels():
    rng = np.random.default_rng(5)
    drawn: dict[int, list[int]] = {}
    for _ in range(6000):
        child = SPACE.mutate(EVOPOSE2D_S, rng)
        [(index, field)] = differing_genes(EVOPOSE2D_S, child)
        if field == "channels_div8":
            drawn.setdefault(index, []).append(child[index].channels_div8)
    for index, values in drawn.items():
        assert min(values) >= 1 and max(values) <= ANCESTOR_CHANNELS_DIV8[index]
    # Module 3 (ancestor: 5): every other value appears.
    assert set(drawn[2]) == {1, 2, 3, 4, 5} - {EVOPOSE2D_S[2].channels_div8}


def test_stride_changes_only_in_modules_5_to_7_within_the_budget():
    rng = np.random.default_rng(6)
    from_s, from_ancestor = set(), set()
    for _ in range(3000):
        for parent, changes in ((EVOPOSE2D_S, from_s), (ANCESTOR, from_ancestor)):
            child = SPACE.mutate(parent, rng)
            [(index, field)] = differing_genes(parent, child)
            if field == "stride":
                changes.add((index + 1, parent[index].stride, child[index].stride))
                assert SPACE.extra_downsampling(child) <= 4
    # EvoPose2D-S downsamples 3 times: any of modules 5-7 may go to stride 2.
    assert from_s == {(5, 1, 2), (6, 1, 2), (7, 1, 2)}
    # The ancestor is at the budget (4): only module 6 may go back to stride 1.
    assert from_ancestor == {(6, 2, 1)}


def test_mutation_never_returns_the_parent_or_a_seen_genotype():
    rng = np.random.default_rng(7)
    seen = [SPACE.mutate(EVOPOSE2D_S, np.random.default_rng(seed)) for seed in range(50)]
    for _ in range(300):
        child = SPACE.mutate(EVOPOSE2D_S, rng, seen=seen)
        assert child != EVOPOSE2D_S
        assert child not in seen


def test_a_long_random_walk_has_no_duplicates_and_stays_in_the_space():
    walk = random_walk(seed=8, steps=3000)
    assert len(set(walk)) == len(walk)
    assert all(SPACE.is_valid(genotype) for genotype in walk)
    assert all(len(differing_genes(a, b)) == 1 for a, b in itertools.pairwise(walk))


def test_mutation_is_deterministic_for_a_seed():
    assert random_walk(seed=9, steps=200) == random_walk(seed=9, steps=200)
    assert random_walk(seed=9, steps=200) != random_walk(seed=10, steps=200)


def test_seen_genotypes_may_be_plain_lists():
    first = SPACE.mutate(ANCESTOR, np.random.default_rng(11))
    second = SPACE.mutate(ANCESTOR, np.random.default_rng(11), seen=[[list(g) for g in first]])
    assert second != first


def single_gene_changes(genotype) -> list[list[tuple]]:
    """Every genotype differing from `genotype` in one gene value within the gene's range."""
    ranges = {
        "kernel": lambda index: (3, 5),
        "repeats": lambda index: range(1, 5),
        "channels_div8": lambda index: range(1, ANCESTOR_CHANNELS_DIV8[index] + 1),
        "stride": lambda index: (1, 2),
    }
    return [
        [*genotype[:index], genotype[index]._replace(**{field: value}), *genotype[index + 1 :]]
        for index in range(7)
        for field, values in ranges.items()
        for value in values(index)
        if value != getattr(genotype[index], field)
    ]


def test_neighbours_are_the_valid_single_gene_changes_the_rule_allows():
    expected = {
        SPACE.validate(genes)
        for genes in single_gene_changes(EVOPOSE2D_S)
        if SPACE.is_valid(genes)
        and all(abs(a.repeats - b.repeats) <= 1 for a, b in zip(EVOPOSE2D_S, genes, strict=True))
    }
    assert SPACE.neighbours(EVOPOSE2D_S) == expected


def test_mutation_raises_when_every_single_gene_change_was_seen():
    with pytest.raises(NoNewMutantError, match=r"every mutant of .* is in `seen`"):
        SPACE.mutate(EVOPOSE2D_S, np.random.default_rng(12), seen=single_gene_changes(EVOPOSE2D_S))


def test_mutation_finds_the_last_unseen_neighbour():
    neighbours = SPACE.neighbours(EVOPOSE2D_S)
    last = min(neighbours)
    child = SPACE.mutate(EVOPOSE2D_S, np.random.default_rng(15), seen=neighbours - {last})
    assert child == last


def test_mutation_needs_a_numpy_generator():
    with pytest.raises(TypeError, match=r"numpy\.random\.Generator"):
        SPACE.mutate(EVOPOSE2D_S, 0)


# --- size ----------------------------------------------------------------------------------


def test_space_size_is_the_papers_count():
    expected = 2**7 * 4**7 * (2 * 3 * 5 * 10 * 14 * 24 * 40) * 2**3
    assert SPACE.size() == expected
    assert 6e13 < expected < 8e13  # "about 7e13 (the paper's 10^14)"


def test_space_size_within_the_stride_budget_counts_valid_stride_choices():
    valid_choices = sum(
        SPACE.is_valid(
            [
                (*gene[:3], stride)
                for gene, stride in zip(EVOPOSE2D_S, (1, 2, 2, 2, *tail), strict=True)
            ]
        )
        for tail in itertools.product((1, 2), repeat=3)
    )
    assert valid_choices == 4
    assert SPACE.size(within_stride_budget=True) == SPACE.size() // 8 * valid_choices


# --- string form ---------------------------------------------------------------------------


def test_ancestor_string_has_one_token_per_module():
    assert SPACE.to_string(ANCESTOR) == (
        "r1_k3_s1_c16-r2_k3_s2_c24-r2_k5_s2_c40-r3_k3_s2_c80-r3_k5_s1_c112-r4_k5_s2_c192-r1_k3_s1_c320"
    )


def test_genotype_strings_round_trip():
    for genotype in [ANCESTOR, EVOPOSE2D_S, EVOPOSE2D_XS, *random_walk(seed=13, steps=200)]:
        assert SPACE.from_string(SPACE.to_string(genotype)) == genotype


def test_string_fields_may_come_in_any_order():
    text = SPACE.to_string(EVOPOSE2D_S).replace("r3_k3_s2_c24", "c24_s2_k3_r3")
    assert SPACE.from_string(f"  {text}\n") == EVOPOSE2D_S


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("r1_k3_s1_c16", r"has 1 '-'-separated tokens; expected 7"),
        ("-".join(["r1_k3_s1"] * 7), r"module 1: 'r1_k3_s1' lacks c \(channels\)"),
        ("-".join(["r1_k3_s1_c16_k5"] * 7), r"module 1: cannot parse 'r1_k3_s1_c16_k5'"),
        ("-".join(["r1_k3_s1_x16"] * 7), r"expected each of k, r, s, c once"),
        ("-".join(["r1_k3_s1_c12"] * 7), r"channels c12 in 'r1_k3_s1_c12' is not a multiple of 8"),
    ],
)
def test_bad_strings_say_what_is_expected(text, message):
    with pytest.raises(GenotypeStringError, match=message):
        SPACE.from_string(text)


def test_parsed_strings_are_validated():
    text = SPACE.to_string(EVOPOSE2D_S).replace("r1_k3_s1_c16", "r1_k7_s1_c16")
    with pytest.raises(InvalidGenotypeError, match="module 1: kernel 7 is not allowed"):
        SPACE.from_string(text)


def test_gene_channels_are_eight_times_the_gene():
    assert [gene.channels for gene in EVOPOSE2D_S] == [8 * gene[2] for gene in EVOPOSE2D_S]
    assert math.prod(gene.channels_div8 for gene in ANCESTOR) == 4032000


def test_seen_as_a_set_of_tuples_is_honoured():
    first = SPACE.mutate(ANCESTOR, np.random.default_rng(14))
    plain = tuple(tuple(gene) for gene in first)
    assert SPACE.mutate(ANCESTOR, np.random.default_rng(14), seen={plain}) != first


# --- mutants are new networks ----------------------------------------------------------------


def test_scaling_at_a_small_input_makes_many_mutants_the_same_network():
    """Why mutation looks at the built network: built with the paper's 256x192 scaling at
    64x48, many one-gene changes round away (the check below must have something to catch)."""
    network = functools.partial(network_structure, input_size=(64, 48))
    rng = np.random.default_rng(0)
    mutants = [SPACE.mutate(ANCESTOR, rng, {ANCESTOR}) for _ in range(200)]
    assert sum(network(child) == network(ANCESTOR) for child in mutants) > 50


@pytest.mark.parametrize(
    ("input_size", "search_resolution"),
    [((64, 48), (256, 192)), ((64, 48), (64, 48)), ((256, 192), (256, 192))],
)
def test_a_mutant_never_builds_its_parents_network(input_size, search_resolution):
    network = functools.partial(
        network_structure, input_size=input_size, search_resolution=search_resolution
    )
    rng = np.random.default_rng(0)
    ancestor = network(ANCESTOR)
    for _ in range(1000):
        assert network(SPACE.mutate(ANCESTOR, rng, {ANCESTOR}, network=network)) != ancestor


def test_a_mutant_never_builds_a_seen_network():
    network = functools.partial(network_structure, input_size=(64, 48))
    rng = np.random.default_rng(3)
    seen, networks = {ANCESTOR}, {network(ANCESTOR)}
    distinct = {network(child) for child in SPACE.neighbours(ANCESTOR)} - networks
    for _ in range(len(distinct)):  # every new network one mutation of it can give
        child = SPACE.mutate(ANCESTOR, rng, seen, network=network)
        assert network(child) not in networks
        seen.add(child)
        networks.add(network(child))


def test_mutation_raises_when_every_mutant_builds_a_seen_network():
    network = functools.partial(network_structure, input_size=(64, 48))
    taken = {network(child): child for child in SPACE.neighbours(ANCESTOR)}
    with pytest.raises(NoNewMutantError, match="builds its or a seen network"):
        SPACE.mutate(ANCESTOR, np.random.default_rng(0), set(taken.values()), network=network)
