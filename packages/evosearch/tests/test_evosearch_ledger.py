import sqlite3

import pytest

from evosearch import Ledger, LedgerError
from evosearch.ledger import NewCandidate


def new(generation, index, genotype, parent=None):
    return NewCandidate(generation, index, parent, genotype, budget=5, seed=11, artifact_dir="a")


@pytest.fixture
def ledger(tmp_path):
    with Ledger(tmp_path / "ledger.sqlite") as opened:
        yield opened


def test_candidates_enter_pending_with_ids_in_the_given_order(ledger):
    added = ledger.add_candidates([new(0, 0, [9, 9]), new(1, 0, [1, 9]), new(1, 1, [9, 1])])
    assert [c.id for c in added] == [1, 2, 3]
    assert {c.status for c in added} == {"pending"}
    assert [c.genotype for c in ledger.candidates(generation=1)] == [[1, 9], [9, 1]]


def test_a_finished_candidate_survives_reopening_the_file(tmp_path):
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        (c,) = ledger.add_candidates([new(0, 0, [1, 2])])
        ledger.mark_running(c.id, "cpu")
        ledger.mark_done(
            c.id,
            metrics={"val_loss": 0.25},
            info={"transfer": {"inherited_fraction": 0.5}},
            fitness=0.2,
            artifact="w.h5",
            device="GPU:0",
            eval_seconds=1.5,
        )
    with Ledger(path, create=False) as ledger:
        back = ledger.candidate(c.id)
    assert (back.status, back.fitness, back.artifact, back.device) == ("done", 0.2, "w.h5", "GPU:0")
    assert back.metrics == {"val_loss": 0.25}
    assert back.info == {"transfer": {"inherited_fraction": 0.5}}
    assert back.attempts == 1 and back.eval_seconds == 1.5
    assert back.created_at <= back.started_at <= back.finished_at


def test_the_ledger_refuses_a_genotype_it_already_holds(ledger):
    ledger.add_candidates([new(0, 0, [1, 2])])
    with pytest.raises(LedgerError, match=r"\[1,2\].*UNIQUE"):
        ledger.add_candidates([new(1, 0, (1, 2))])


def test_a_batch_with_one_bad_candidate_adds_none(ledger):
    ledger.add_candidates([new(0, 0, [1])])
    with pytest.raises(LedgerError):
        ledger.add_candidates([new(1, 0, [2]), new(1, 1, [1])])
    assert [c.genotype for c in ledger.candidates()] == [[1]]


def test_a_status_change_from_the_wrong_status_is_refused(ledger):
    (c,) = ledger.add_candidates([new(0, 0, [1])])
    with pytest.raises(LedgerError, match=rf"candidate {c.id} .* is pending, expected running"):
        ledger.mark_failed(c.id, error="boom")
    ledger.mark_running(c.id)
    ledger.mark_failed(c.id, error="ValueError: boom")
    with pytest.raises(LedgerError, match=r"is failed, expected pending"):
        ledger.mark_running(c.id)


def test_a_retry_returns_the_candidate_to_pending_keeping_the_error(ledger):
    (c,) = ledger.add_candidates([new(0, 0, [1])])
    ledger.mark_running(c.id)
    back = ledger.mark_retry(c.id, error="TransientEvaluationError: preempted")
    assert (back.status, back.attempts, back.error) == (
        "pending",
        1,
        "TransientEvaluationError: preempted",
    )


def test_requeue_running_puts_running_candidates_back_to_pending(ledger):
    a, _ = ledger.add_candidates([new(0, 0, [1]), new(0, 1, [2])])
    ledger.mark_running(a.id)
    assert ledger.requeue_running() == [a.id]
    assert [c.status for c in ledger.candidates()] == ["pending", "pending"]
    assert ledger.candidate(a.id).attempts == 1


def test_a_generation_closes_once_with_its_survivors_in_order(ledger):
    a, b = ledger.add_candidates([new(0, 0, [1]), new(0, 1, [2])])
    ledger.close_generation(0, [b.id, a.id])
    assert [c.id for c in ledger.survivors(0)] == [b.id, a.id]
    assert ledger.is_closed(0) and not ledger.is_closed(1)
    with pytest.raises(LedgerError, match=r"generation 0 is already closed"):
        ledger.close_generation(0, [a.id])


def test_survivors_of_an_open_generation_are_an_error(ledger):
    with pytest.raises(LedgerError, match=r"generation 3 is not closed"):
        ledger.survivors(3)


def test_counts_and_filters_by_status(ledger):
    a, _ = ledger.add_candidates([new(0, 0, [1]), new(0, 1, [2])])
    ledger.mark_running(a.id)
    assert ledger.counts() == {"pending": 1, "running": 1, "done": 0, "failed": 0}
    assert [c.id for c in ledger.candidates(status="running")] == [a.id]
    with pytest.raises(LedgerError, match=r"unknown status 'finished'"):
        ledger.candidates(status="finished")


def test_meta_values_round_trip_as_json(ledger):
    ledger.set_meta("search", {"parents": 4, "ancestor": [[3, 1]]})
    assert ledger.get_meta("search") == {"parents": 4, "ancestor": [[3, 1]]}
    assert ledger.get_meta("absent") is None


def test_opening_a_missing_ledger_without_create_names_the_path(tmp_path):
    with pytest.raises(LedgerError, match=r"no ledger at .*nope.sqlite"):
        Ledger(tmp_path / "nope.sqlite", create=False)


def test_an_sqlite_file_of_another_program_is_not_taken_over(tmp_path):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE photos (id INTEGER)")
    with pytest.raises(LedgerError, match=r"not an evosearch ledger"):
        Ledger(path)


def test_a_file_that_is_not_sqlite_is_refused(tmp_path):
    path = tmp_path / "notes.sqlite"
    path.write_text("hello, this is not a database at all, just some text" * 20)
    with pytest.raises(LedgerError, match=r"not a readable evosearch ledger"):
        Ledger(path)
