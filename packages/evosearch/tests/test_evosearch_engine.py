import ast
import inspect
import io
import itertools
import json
import typing
from collections import Counter
from pathlib import Path

import pytest

from evosearch import (
    CandidateFinished,
    CandidateStarted,
    ConfigError,
    GenerationFinished,
    GenerationStarted,
    Ledger,
    LedgerMismatchError,
    ProgressPrinter,
    SearchConfig,
    SearchError,
    SearchSpaceExhaustedError,
    SearchStopped,
    StopReason,
    candidate_streams,
    engine,
    history,
)
from evosearch.genotype import GenotypeSet
from evosearch.toy import IntVectorSpace, ToyEvaluation


def test_the_search_converges_on_the_toy_space(run_toy, small_config):
    config = SearchConfig(parents=3, children=8, generations=25, seed=1)
    result, path = run_toy(config=config, evaluation=ToyEvaluation(write_artifact=False))
    assert result.reason == "generations" and result.generation == 25
    with Ledger(path) as ledger:
        best = [h.best_fitness for h in history(ledger)]
        ancestor = ledger.candidate(1)
    assert all(later <= earlier for earlier, later in itertools.pairwise(best))
    assert ancestor.metrics["val_loss"] == 82.0
    assert result.best.metrics["val_loss"] <= 2.0


def test_survivors_are_exactly_the_best_mu_of_parents_and_children(run_toy, small_config):
    _, path = run_toy()
    with Ledger(path) as ledger:
        previous = []
        for record in ledger.generations():
            pool = previous + ledger.candidates(generation=record.generation, status="done")
            ranked = sorted(pool, key=lambda c: (c.fitness, c.id))
            assert list(record.survivors) == [c.id for c in ranked[: small_config.parents]]
            worst_survivor = ranked[len(record.survivors) - 1].fitness
            assert all(c.fitness >= worst_survivor for c in ranked[len(record.survivors) :])
            previous = ledger.survivors(record.generation)
    assert len(previous) == small_config.parents


def test_generation_one_pools_the_children_with_the_ancestor(run_toy):
    config = SearchConfig(parents=2, children=3, generations=1, seed=3)
    evaluation = ToyEvaluation(target=(9, 9, 9, 9, 9, 9), write_artifact=False)
    result, path = run_toy(config=config, evaluation=evaluation)
    with Ledger(path) as ledger:
        assert ledger.survivors(0)[0].generation == 0
    # The ancestor (all 9) sits on the target, so it stays the best parent.
    assert result.survivors[0].id == 1 and result.survivors[1].generation == 1


def test_no_genotype_is_evaluated_twice(run_toy, tmp_path):
    journal = tmp_path / "journal.txt"
    config = SearchConfig(parents=3, children=10, generations=12, seed=5)
    _, path = run_toy(config=config, evaluation=ToyEvaluation(journal=str(journal)))
    with Ledger(path) as ledger:
        keys = [c.key for c in ledger.candidates()]
    assert len(keys) == len(set(keys)) == 1 + 10 * 12
    starts = Counter(
        line.split()[1] for line in journal.read_text().splitlines() if "start" in line
    )
    assert len(starts) == len(keys) and set(starts.values()) == {1}


def test_children_take_their_parents_round_robin(run_toy, small_config):
    _, path = run_toy()
    with Ledger(path) as ledger:
        for generation in range(1, small_config.generations + 1):
            parents = ledger.survivors(generation - 1)
            for child in ledger.candidates(generation=generation):
                assert child.parent_id == parents[child.child_index % len(parents)].id


def test_each_child_is_drawn_from_the_generator_of_its_seed_generation_and_index(run_toy):
    config = SearchConfig(parents=1, children=4, generations=1, seed=42)
    space = IntVectorSpace()
    _, path = run_toy(config=config, space=space)
    seen = GenotypeSet([space.ancestor()])
    with Ledger(path) as ledger:
        children = ledger.candidates(generation=1)
    for child in children:
        rng, seed = candidate_streams(42, 1, child.child_index)
        expected = space.mutate(space.ancestor(), rng, seen)
        seen.add(expected)
        assert child.genotype == expected and child.seed == seed


def test_the_same_seed_reproduces_the_run_exactly(run_toy, snapshot):
    _, first = run_toy("first")
    _, second = run_toy("second")
    assert snapshot(first) == snapshot(second)


def test_another_seed_gives_another_run(run_toy, snapshot, small_config):
    _, first = run_toy("first")
    _, other = run_toy("other", config=SearchConfig(**{**vars(small_config), "seed": 8}))
    assert snapshot(first)["candidates"] != snapshot(other)["candidates"]


def test_the_ancestor_gets_e0_and_children_get_e(run_toy, small_config):
    _, path = run_toy()
    with Ledger(path) as ledger:
        budgets = {c.generation: c.info["budget"] for c in ledger.candidates()}
    assert budgets[0] == small_config.ancestor_budget == 4
    assert {budgets[g] for g in range(1, small_config.generations + 1)} == {1}


def test_each_child_inherits_from_its_parents_artifact(run_toy):
    _, path = run_toy()
    with Ledger(path) as ledger:
        for c in ledger.candidates():
            written = json.loads(Path(c.artifact).read_text())
            parent = None if c.parent_id is None else ledger.candidate(c.parent_id).artifact
            assert written["parent"] == parent
            assert Path(c.artifact).parent == Path(c.artifact_dir)
        assert ledger.candidate(1).parent_id is None


def test_the_search_stops_on_a_fitness_plateau(run_toy):
    config = SearchConfig(parents=2, children=3, generations=50, seed=0, patience=3)
    result, _ = run_toy(config=config, fitness=lambda metrics: 1.0)
    assert (result.reason, result.generation) == ("plateau", 3)


def test_min_improvement_counts_small_gains_as_a_plateau(run_toy):
    config = SearchConfig(
        parents=2, children=4, generations=30, seed=0, patience=2, min_improvement=1e9
    )
    result, _ = run_toy(config=config)
    assert (result.reason, result.generation) == ("plateau", 2)


def test_a_stop_request_finishes_cleanly_and_a_rerun_completes_the_same_search(
    toy_search, run_toy, snapshot
):
    search, path = toy_search("stopped")

    def stop_after_eight(event):
        if isinstance(event, CandidateFinished) and event.candidate.id == 8:
            search.request_stop()

    search.callbacks.append(stop_after_eight)
    result = search.run()
    assert (result.reason, result.generation) == ("requested", 1)
    with Ledger(path) as ledger:
        counts = ledger.counts()
    assert counts == {"pending": 5, "running": 0, "done": 8, "failed": 0}
    search.callbacks.clear()
    assert search.run().reason == "generations"
    _, reference = run_toy("reference")
    assert snapshot(path) == snapshot(reference)


def test_rerunning_with_more_generations_continues_the_search(run_toy, snapshot, small_config):
    short = SearchConfig(**{**vars(small_config), "generations": 2})
    result, path = run_toy("resumed", config=short)
    assert result.generation == 2
    result, path = run_toy("resumed", config=small_config)
    assert result.generation == small_config.generations
    _, reference = run_toy("reference")
    assert snapshot(path) == snapshot(reference)


def test_rerunning_a_finished_search_evaluates_nothing(run_toy):
    run_toy("done")
    result, _ = run_toy("done")
    assert result.evaluations == 0 and result.reason == "generations"


def test_resuming_with_other_settings_is_refused(run_toy, small_config):
    run_toy("x", config=SearchConfig(**{**vars(small_config), "generations": 1}))
    with pytest.raises(LedgerMismatchError, match=r"children=6 there but 12 here"):
        run_toy("x", config=SearchConfig(**{**vars(small_config), "children": 12}))


def test_events_tell_each_candidate_and_generation(run_toy, small_config):
    events = []
    run_toy(config=SearchConfig(parents=2, children=3, generations=2), callbacks=[events.append])
    kinds = [type(e).__name__ for e in events]
    assert kinds[:4] == [
        "GenerationStarted",
        "CandidateStarted",
        "CandidateFinished",
        "GenerationFinished",
    ]
    assert Counter(kinds) == {
        "GenerationStarted": 3,
        "CandidateStarted": 7,
        "CandidateFinished": 7,
        "GenerationFinished": 3,
        "SearchStopped": 1,
    }
    finished = [e for e in events if isinstance(e, CandidateFinished) and e.candidate.generation]
    assert [(e.finished, e.total) for e in finished[:3]] == [(1, 3), (2, 3), (3, 3)]
    assert isinstance(events[-1], SearchStopped) and events[-1].reason == "generations"
    assert all(e.device == "cpu" for e in events if isinstance(e, CandidateStarted))
    closes = [e for e in events if isinstance(e, GenerationFinished)]
    assert [len(e.survivors) for e in closes] == [1, 2, 2]
    assert [e.pending for e in events if isinstance(e, GenerationStarted)] == [1, 3, 3]


def test_a_failing_callback_does_not_stop_the_search(run_toy, caplog):
    def broken(event):
        raise RuntimeError("callback bug")

    result, _ = run_toy(
        config=SearchConfig(parents=1, children=2, generations=1), callbacks=[broken]
    )
    assert result.reason == "generations"
    assert "callback bug" in caplog.text


def test_the_progress_printer_writes_a_bar_per_candidate_and_a_line_per_generation(run_toy):
    stream = io.StringIO()
    config = SearchConfig(parents=1, children=4, generations=1)
    run_toy(config=config, callbacks=[ProgressPrinter(stream, width=8)])
    lines = stream.getvalue().splitlines()
    assert "gen 1 [##------] 1/4" in lines[4]
    assert "gen 1 [########] 4/4" in lines[7] and "fitness" in lines[7]
    assert lines[8].startswith("gen 1 closed: best fitness")
    assert lines[-1].startswith("search stopped after gen 1 (generations)")


def test_a_space_that_only_repeats_itself_is_reported_exhausted(run_toy):
    tiny = IntVectorSpace(length=1, low=0, high=1)
    config = SearchConfig(parents=1, children=2, generations=1, max_mutation_draws=20)
    with pytest.raises(SearchSpaceExhaustedError, match=r"generation 1 child 1 .*only seen"):
        run_toy(space=tiny, config=config)


class RejectingSpace(IntVectorSpace):
    def validate(self, genotype):
        return False


def test_an_ancestor_outside_the_space_is_refused(run_toy):
    with pytest.raises(SearchError, match=r"the ancestor .* is outside the search space"):
        run_toy(space=RejectingSpace())


class FloatSpace(IntVectorSpace):
    def mutate(self, genotype, rng, seen):
        return [float("nan")] * self.length


def test_a_mutation_that_is_not_json_data_is_refused(run_toy):
    with pytest.raises(SearchError, match=r"generation 1 child 0 .* non-finite"):
        run_toy(space=FloatSpace())


@pytest.mark.parametrize(
    "settings",
    [
        {"parents": 0},
        {"children": -1},
        {"seed": -3},
        {"patience": 0},
        {"generations": 1.5},
        {"min_improvement": -1.0},
        {"transient_errors": (ValueError, "oops")},
    ],
)
def test_search_config_refuses_bad_values_naming_them(settings):
    name = next(iter(settings))
    with pytest.raises(ConfigError, match=rf"SearchConfig.{name}"):
        SearchConfig(**settings)


def test_the_stop_reasons_the_engine_gives_are_exactly_the_stop_reason_literals(
    toy_search, run_toy, small_config
):
    one_generation = SearchConfig(**{**vars(small_config), "generations": 1})
    reasons = {run_toy("ran", config=one_generation)[0].reason}
    plateau = SearchConfig(parents=2, children=3, generations=50, seed=0, patience=3)
    reasons.add(run_toy("flat", config=plateau, fitness=lambda metrics: 1.0)[0].reason)
    search, _ = toy_search("stopped")
    stopped: list[SearchStopped] = []

    def stop_at_once(event):
        if isinstance(event, SearchStopped):
            stopped.append(event)
        elif isinstance(event, CandidateFinished):
            search.request_stop()

    search.callbacks.append(stop_at_once)
    reasons.add(search.run().reason)
    assert [event.reason for event in stopped] == ["requested"]
    assert reasons == set(typing.get_args(StopReason))
    # and the engine's source names no other: every literal it returns or finishes with
    source = ast.parse(inspect.getsource(engine))
    written = {
        node.value
        for call in ast.walk(source)
        if isinstance(call, ast.Call) and getattr(call.func, "attr", None) == "_finish"
        for node in call.args[1:2]
        if isinstance(node, ast.Constant)
    }
    method = next(
        f for f in ast.walk(source) if isinstance(f, ast.FunctionDef) and f.name == "_stop_reason"
    )
    written |= {
        r.value.value
        for r in ast.walk(method)
        if isinstance(r, ast.Return) and isinstance(r.value, ast.Constant) and r.value.value
    }
    assert written == set(typing.get_args(StopReason))
