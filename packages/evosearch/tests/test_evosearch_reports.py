import csv
import itertools
import json
import math

import pytest

from evosearch import (
    Ledger,
    SearchConfig,
    export_csv,
    export_json,
    format_leaderboard,
    history,
    leaderboard,
    lineage,
    pareto_front,
)
from evosearch.ledger import NewCandidate
from evosearch.toy import ToyEvaluation


def finished(ledger, rows):
    """Add one candidate per (loss, cost, status) row, in generation 0, and finish it."""
    ids = []
    for index, (loss, cost, status) in enumerate(rows):
        (c,) = ledger.add_candidates([NewCandidate(0, index, None, [index], 1, 0, "a")])
        ledger.mark_running(c.id)
        metrics = {"val_loss": loss, "params": cost}
        if status == "done":
            ledger.mark_done(
                c.id,
                metrics=metrics,
                info={},
                fitness=loss * cost,
                artifact=None,
                device="cpu",
                eval_seconds=0.1,
            )
        else:
            ledger.mark_failed(c.id, error="ValueError: boom", metrics=metrics)
        ids.append(c.id)
    return ids


@pytest.fixture
def ledger(tmp_path):
    with Ledger(tmp_path / "ledger.sqlite") as opened:
        yield opened


def test_the_pareto_front_keeps_the_candidates_nothing_beats_on_loss_and_cost(ledger):
    a, b, _, d, e, _ = finished(
        ledger,
        [
            (1.0, 10, "done"),
            (0.5, 20, "done"),
            (0.6, 30, "done"),  # beaten by b
            (0.2, 40, "done"),
            (0.5, 20, "done"),  # equal to b: neither beats the other
            (0.1, 5, "failed"),  # failed candidates are not on the front
        ],
    )
    assert [x.id for x in pareto_front(ledger)] == [a, b, e, d]
    assert [x.id for x in pareto_front(ledger, cost="val_loss", loss="params")] == [d, b, e, a]


def test_the_leaderboard_ranks_done_candidates_by_fitness_then_id(ledger):
    a, b, c, _ = finished(
        ledger, [(1.0, 2, "done"), (0.5, 4, "done"), (0.1, 1, "done"), (0.0, 1, "failed")]
    )
    assert [x.id for x in leaderboard(ledger)] == [c, a, b]
    assert [x.id for x in leaderboard(ledger, top=1)] == [c]


def test_format_leaderboard_writes_one_aligned_row_per_candidate(ledger):
    finished(ledger, [(1.0, 2, "done"), (0.5, 4, "done")])
    table = format_leaderboard(leaderboard(ledger), metrics=("val_loss", "params", "flops"))
    lines = table.splitlines()
    assert lines[0].split() == [
        "rank",
        "id",
        "gen",
        "parent",
        "fitness",
        "val_loss",
        "params",
        "flops",
    ]
    assert lines[1].split() == ["1", "1", "0", "-", "2", "1", "2", "-"]
    assert len({len(line) for line in lines}) == 1


def test_history_has_one_row_per_closed_generation_with_the_best_survivor(run_toy, small_config):
    _, path = run_toy(config=SearchConfig(**{**vars(small_config), "generations": 4}))
    with Ledger(path) as ledger:
        rows = history(ledger)
        for row in rows:
            best = ledger.survivors(row.generation)[0]
            assert (row.best_id, row.best_fitness, row.best_loss) == (
                best.id,
                best.fitness,
                best.metrics["val_loss"],
            )
            done = ledger.candidates(generation=row.generation, status="done")
            assert row.evaluated == len(done) and row.failed == 0
    assert [r.generation for r in rows] == [0, 1, 2, 3, 4]
    assert rows[0].lowest_loss == 82.0
    assert all(b.lowest_loss <= a.lowest_loss for a, b in itertools.pairwise(rows))


def test_lineage_runs_from_the_ancestor_to_the_candidate(run_toy):
    result, path = run_toy()
    with Ledger(path) as ledger:
        chain = lineage(ledger, result.best.id)
    assert chain[0].generation == 0 and chain[0].parent_id is None
    assert chain[-1].id == result.best.id
    assert all(child.parent_id == parent.id for parent, child in itertools.pairwise(chain))
    assert [c.generation for c in chain] == sorted(c.generation for c in chain)


def test_csv_export_has_a_row_per_candidate_and_a_column_per_metric(run_toy, tmp_path):
    _, path = run_toy(evaluation=ToyEvaluation(faults={4: "nan"}))
    out = tmp_path / "exports" / "candidates.csv"
    with Ledger(path) as ledger:
        export_csv(ledger, out)
        candidates = ledger.candidates()
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == len(candidates)
    assert all(None not in row and None not in row.values() for row in rows)
    assert (rows[0]["budget"], rows[1]["budget"]) == ("4", "1")
    assert {"fitness", "val_loss", "params", "flops", "genotype"} <= set(rows[0])
    assert float(rows[0]["val_loss"]) == candidates[0].metrics["val_loss"]
    assert json.loads(rows[1]["genotype"]) == candidates[1].genotype
    nan_row = rows[3]
    assert (nan_row["status"], nan_row["val_loss"], nan_row["fitness"]) == ("failed", "", "")
    assert list(out.parent.iterdir()) == [out], "no temporary file is left behind"


def test_json_export_holds_settings_candidates_and_generations(run_toy, tmp_path, small_config):
    _, path = run_toy(evaluation=ToyEvaluation(faults={4: "nan"}))
    out = tmp_path / "ledger.json"
    with Ledger(path) as ledger:
        export_json(ledger, out)
        count = len(ledger.candidates())
    document = json.loads(out.read_text())
    assert document["search"]["children"] == small_config.children
    assert len(document["candidates"]) == count
    assert len(document["generations"]) == small_config.generations + 1
    assert document["candidates"][3]["metrics"]["val_loss"] is None
    assert math.isfinite(document["candidates"][0]["fitness"])
