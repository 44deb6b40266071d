"""Pieces of a candidate's evaluation that the end-to-end search does not isolate: the
transfer report kept in the ledger, the latency cost, and where a candidate trains."""

import json

import keras
import pytest

import posenets
from evopose.search.candidate import _strategy, measure_latency, transfer_summary
from weightxfer.keras import transfer_model

SLIM = [[3, 1, 1, 1], [3, 1, 1, 2], [3, 1, 2, 2], [3, 1, 2, 2], [3, 1, 3, 1], [3, 1, 4, 1],
        [3, 1, 4, 1]]  # fmt: skip


@pytest.fixture(scope="module")
def parent_and_child():
    keras.utils.set_random_seed(0)
    parent = posenets.create_model("evopose2d", genotype=SLIM, input_shape=(64, 48))
    grown = [list(gene) for gene in SLIM]
    grown[6][2] = 12  # module 7: 4 -> 12 channels / 8
    child = posenets.create_model("evopose2d", genotype=grown, input_shape=(64, 48))
    return parent, child, transfer_model(parent, child)


def test_the_ledger_keeps_the_transfer_totals_and_the_layers_not_inherited_fully(
    parent_and_child,
):
    _, child, report = parent_and_child
    summary = transfer_summary(report)
    json.dumps(summary)  # plain data for the ledger
    assert summary["inherited_fraction"] == report.inherited_fraction
    assert summary["full"] + summary["partial"] + summary["none"] == summary["layers"]
    assert summary["total_params"] == child.count_params()
    changed = {row[0]: row for row in summary["changed_layers"]}
    assert "block7a_project_conv" in changed and changed["block7a_project_conv"][2] == "partial"
    assert "stem_conv" not in changed  # inherited fully: implied, not listed
    assert len(changed) == summary["partial"] + summary["none"]


def test_latency_is_the_median_forward_pass_in_milliseconds(parent_and_child):
    parent, _, _ = parent_and_child
    latency = measure_latency(parent, runs=3)
    assert 0 < latency < 10_000


def test_cpu_and_gpu_devices_train_with_the_default_strategy():
    # A worker sees only its own GPU, so both train on TensorFlow's default device.
    assert _strategy("cpu") is None
    assert _strategy("cpu:1") is None
    assert _strategy("GPU:1") is None
