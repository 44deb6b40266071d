"""What a search candidate records in the ledger (issue 15, point 7): one typed record for its
metrics and one for its info, written by `TrainCandidate` and read back by the report, the
export, the search command and the demo; evosearch reads the metrics by name."""

import dataclasses
import inspect
import json

import pytest

import evosearch
from evopose.config import config_from_dict
from evopose.errors import SearchCommandError
from evopose.search.candidate import COST_METRICS, CandidateInfo, CandidateMetrics
from evopose.search.run import fitness_of

CHILD_METRICS = CandidateMetrics(
    val_loss=81.5,
    params=1.25e5,
    flops=2.5e7,
    best_epoch=2.0,
    epochs=3.0,
    resumed_from_epoch=1.0,
    train_seconds=12.5,
    inherited_fraction=0.93,
    latency_ms=4.25,
)
CHILD_INFO = CandidateInfo(
    genotype="r1_k3_s1_c16-r2_k3_s2_c24",
    input_size=(64, 48),
    search_resolution=(64, 48),
    mutation="module 4 kernel 3->5",
    transfer={"inherited_fraction": 0.93, "changed_layers": [["a", "b", "partial", 3, 4]]},
)


def _through_the_ledger(data: dict) -> dict:
    """What the ledger gives back: JSON text, read again."""
    return json.loads(json.dumps(data))


@pytest.mark.parametrize(
    "record",
    [
        CHILD_METRICS,
        CandidateMetrics(1.0, 2.0, 3.0, 1.0, 1.0, 0.0, 0.5),
        CHILD_INFO,
        CandidateInfo("r1_k3_s1_c16", inherited_from="b0.keras", transfer={"partial": 3}),
    ],
)
def test_a_record_reads_back_as_written(record):
    assert type(record).from_json(_through_the_ledger(record.to_json())) == record


def test_a_record_leaves_out_what_it_lacks():
    assert set(CandidateMetrics(1.0, 2.0, 3.0, 1.0, 1.0, 0.0, 0.5).to_json()) == {
        "val_loss",
        "params",
        "flops",
        "best_epoch",
        "epochs",
        "resumed_from_epoch",
        "train_seconds",
    }
    assert CandidateInfo("r1_k3_s1_c16").to_json() == {"genotype": "r1_k3_s1_c16"}


def test_info_from_a_ledger_older_than_the_sizes_reads_with_none():
    info = CandidateInfo.from_json({"genotype": "r1_k3_s1_c16", "mutation": "module 1 ..."})
    assert (info.input_size, info.search_resolution) == (None, None)


def test_a_missing_key_is_one_line_naming_the_candidate_and_the_key():
    data = CHILD_METRICS.to_json()
    del data["flops"]
    with pytest.raises(SearchCommandError, match=r"^candidate 7's metrics lack flops: .*") as error:
        CandidateMetrics.from_json(data, "candidate 7")
    assert "\n" not in str(error.value)


def test_an_unknown_key_is_an_error_not_dropped():
    data = {**CHILD_INFO.to_json(), "resolution": [64, 48]}
    with pytest.raises(SearchCommandError, match="candidate 3's info hold unknown resolution"):
        CandidateInfo.from_json(data, "candidate 3")


def test_records_read_an_evosearch_candidate():
    candidate = evosearch.Candidate(
        id=4, generation=1, child_index=0, parent_id=1, genotype=[[3, 1, 2, 1]],
        status="done", budget=1, seed=0, artifact_dir="", artifact=None,
        metrics=_through_the_ledger(CHILD_METRICS.to_json()),
        info=_through_the_ledger(CHILD_INFO.to_json()),
        fitness=1.0, device=None, attempts=1, error=None, traceback=None,
        created_at=0.0, started_at=0.0, finished_at=0.0, eval_seconds=1.0,
    )  # fmt: skip
    assert CandidateMetrics.of(candidate) == CHILD_METRICS
    assert CandidateInfo.of(candidate) == CHILD_INFO
    candidate = dataclasses.replace(candidate, metrics={"val_loss": 1.0})
    with pytest.raises(SearchCommandError, match="candidate 4's metrics lack params"):
        CandidateMetrics.of(candidate)


@pytest.mark.parametrize("cost", sorted(COST_METRICS))
def test_evosearch_reads_the_metrics_by_names_the_record_writes(cost):
    """The fitness (Eq. 2), the history and the Pareto front read metrics by name: each name
    must be a field of `CandidateMetrics`, or a renamed field would leave them reading nothing."""
    fields = {f.name for f in dataclasses.fields(CandidateMetrics)}
    config = config_from_dict(
        {"model": {"name": "evopose2d"}, "data": {"root": "d"}, "search": {"cost": cost}}
    )
    fitness = fitness_of(config)
    assert {fitness.cost, fitness.loss} <= fields
    for reader in (evosearch.history, evosearch.pareto_front):
        names = {
            p.default for p in inspect.signature(reader).parameters.values() if p.name != "ledger"
        }
        assert names <= fields, reader.__name__
