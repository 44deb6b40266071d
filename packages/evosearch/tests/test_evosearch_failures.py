from collections import Counter

import pytest

from evosearch import EvalResult, Ledger, ProcessExecutor, SearchConfig, SearchError
from evosearch.toy import ToyEvaluation

CONFIG = SearchConfig(parents=2, children=4, generations=2, seed=3, max_attempts=3)


def starts(journal):
    lines = journal.read_text().splitlines()
    return Counter(int(line.split()[1]) for line in lines if line.startswith("start"))


def test_an_evaluation_that_raises_fails_its_candidate_and_the_generation_goes_on(run_toy):
    result, path = run_toy(config=CONFIG, evaluation=ToyEvaluation(faults={3: "raise"}))
    assert result.reason == "generations" and result.generation == 2
    with Ledger(path) as ledger:
        failed = ledger.candidate(3)
        others = [c for c in ledger.candidates(generation=1) if c.id != 3]
    assert failed.status == "failed" and failed.attempts == 1
    assert failed.error == "ValueError: toy failure of candidate 3"
    assert "Traceback" in failed.traceback and "toy.py" in failed.traceback
    assert {c.status for c in others} == {"done"}
    assert 3 not in result.survivors and all(c.id != 3 for c in result.survivors)


def test_an_evaluation_returning_nan_fails_its_candidate_with_its_metrics(run_toy):
    result, path = run_toy(config=CONFIG, evaluation=ToyEvaluation(faults={4: "nan"}))
    with Ledger(path) as ledger:
        failed = ledger.candidate(4)
    assert failed.status == "failed" and failed.fitness is None
    assert failed.error.startswith("non-finite fitness nan")
    assert failed.metrics["params"] > 0 and failed.metrics["val_loss"] != failed.metrics["val_loss"]
    assert result.reason == "generations"


def test_a_transient_error_is_retried_until_the_evaluation_succeeds(run_toy, tmp_path):
    journal = tmp_path / "journal.txt"
    evaluation = ToyEvaluation(faults={2: "transient_once"}, journal=str(journal))
    _, path = run_toy(config=CONFIG, evaluation=evaluation)
    with Ledger(path) as ledger:
        retried = ledger.candidate(2)
    assert (retried.status, retried.attempts, retried.error) == ("done", 2, None)
    assert starts(journal)[2] == 2


def test_a_transient_error_gives_up_after_max_attempts(run_toy, tmp_path):
    journal = tmp_path / "journal.txt"
    evaluation = ToyEvaluation(faults={2: "transient"}, journal=str(journal))
    _, path = run_toy(config=CONFIG, evaluation=evaluation)
    with Ledger(path) as ledger:
        failed = ledger.candidate(2)
    assert (failed.status, failed.attempts) == ("failed", 3)
    assert failed.error == (
        "TransientEvaluationError: toy transient failure of candidate 2 (gave up after 3 attempts)"
    )
    assert starts(journal)[2] == 3


def test_any_exception_type_can_be_declared_transient(run_toy):
    config = SearchConfig(**{**vars(CONFIG), "transient_errors": (ValueError,)})
    _, path = run_toy(config=config, evaluation=ToyEvaluation(faults={2: "raise"}))
    with Ledger(path) as ledger:
        assert ledger.candidate(2).attempts == 3


def test_a_failed_ancestor_stops_the_search_with_a_clear_error(run_toy):
    with pytest.raises(SearchError, match=r"generation 0 has no survivors.*toy failure"):
        run_toy(config=CONFIG, evaluation=ToyEvaluation(faults={1: "raise"}))


def missing_params(request):
    return EvalResult(metrics={"val_loss": 1.0})


def test_metrics_the_fitness_needs_but_lacks_fail_the_candidate(run_toy):
    with pytest.raises(SearchError, match=r"FitnessError: fitness needs metric 'params'"):
        run_toy(config=CONFIG, evaluation=missing_params)


def not_metrics(request):
    return [1.0, 2.0]


def test_an_evaluation_returning_no_metrics_fails_with_what_it_returned(run_toy):
    with pytest.raises(SearchError, match=r"must return an EvalResult or a mapping.*got list"):
        run_toy(config=CONFIG, evaluation=not_metrics)


def test_a_worker_that_dies_is_replaced_and_its_candidate_retried(run_toy, tmp_path):
    journal = tmp_path / "journal.txt"
    evaluation = ToyEvaluation(faults={3: "die_once"}, journal=str(journal))
    result, path = run_toy(config=CONFIG, evaluation=evaluation, executor=ProcessExecutor(2))
    with Ledger(path) as ledger:
        retried = ledger.candidate(3)
    assert (retried.status, retried.attempts) == ("done", 2)
    pids = [
        line.split()[3] for line in journal.read_text().splitlines() if line.startswith("start 3 ")
    ]
    assert len(pids) == 2 and pids[0] != pids[1]
    assert result.reason == "generations"


def test_a_candidate_whose_worker_always_dies_fails_after_max_attempts(run_toy):
    config = SearchConfig(**{**vars(CONFIG), "max_attempts": 2})
    evaluation = ToyEvaluation(faults={5: "die"})
    _, path = run_toy(config=config, evaluation=evaluation, executor=ProcessExecutor(2))
    with Ledger(path) as ledger:
        failed = ledger.candidate(5)
        done = ledger.counts()["done"]
    assert (failed.status, failed.attempts) == ("failed", 2)
    assert failed.error.startswith("WorkerDiedError: the worker process for device cpu:")
    assert "(exit code 3)" in failed.error and failed.error.endswith("(gave up after 2 attempts)")
    assert done == 1 + 2 * 4 - 1
