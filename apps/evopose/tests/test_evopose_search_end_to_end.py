"""`evopose search` end to end on synthetic data: a tiny search (2 generations of 2 children)
stopped with Ctrl-C after a child, killed (SIGKILL) in the middle of a child's training, and
resumed to the end: no trained candidate is lost or trained again, and the killed child
continues from its last checkpoint. Then its report and its export."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

import evosearch
import posenets
from evopose.cli import main
from evopose.config import load_config
from evopose.models import build_model

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "search-cpu.yaml"
GENERATIONS, CHILDREN, CHILD_EPOCHS = 2, 2, 2
TINY = [
    f"search.generations={GENERATIONS}",
    f"search.children={CHILDREN}",
    "search.parents=2",
    "search.ancestor_epochs=1",
    f"search.child_epochs={CHILD_EPOCHS}",
    "train.steps_per_epoch=3",
    "train.val_steps=1",
]
WAIT = 600  # seconds, for anything the search must reach


def _search(work_dir: Path, data_root: Path) -> subprocess.Popen:
    overrides = [arg for item in [*TINY, f"data.root={data_root}"] for arg in ("--set", item)]
    command = [sys.executable, "-m", "evopose", "search", str(CONFIG), "--work-dir", str(work_dir)]
    return subprocess.Popen(
        [*command, *overrides],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _candidates(ledger_path: Path) -> list[evosearch.Candidate]:
    if not ledger_path.is_file():
        return []
    with evosearch.Ledger(ledger_path, create=False) as ledger:
        return ledger.candidates()


def _wait_for(process: subprocess.Popen, ledger_path: Path, condition) -> list:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        candidates = _candidates(ledger_path)
        if condition(candidates):
            return candidates
        if process.poll() is not None:
            pytest.fail(f"the search ended early ({process.returncode}):\n{process.stdout.read()}")
        time.sleep(0.05)
    process.kill()
    pytest.fail("the search did not reach the expected state in time")


def _checkpoint_epoch(candidate: evosearch.Candidate) -> int:
    state = Path(candidate.artifact_dir) / "checkpoint" / "state.json"
    try:
        return json.loads(state.read_text())["epoch"]
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


@pytest.fixture(scope="module")
def search(synthetic_root, tmp_path_factory):
    """The search folder after Ctrl-C, SIGKILL and a resume, and what was seen on the way."""
    work = tmp_path_factory.mktemp("search") / "run"
    ledger = work / "ledger.sqlite"

    # 1. Ctrl-C once the first child of generation 1 trains: the search stops after it.
    first = _search(work, synthetic_root)
    _wait_for(
        first, ledger, lambda cs: any(c.generation == 1 and c.status == "running" for c in cs)
    )
    first.send_signal(signal.SIGINT)
    output = first.communicate(timeout=WAIT)[0]
    after_interrupt = _candidates(ledger)

    # 2. Rerun; SIGKILL it once a child has checkpointed an epoch but not finished.
    second = _search(work, synthetic_root)

    def mid_training(cs):
        return any(c.status == "running" and _checkpoint_epoch(c) >= 1 for c in cs)

    before_kill = _wait_for(second, ledger, mid_training)
    second.kill()
    second.wait(timeout=60)
    killed = next(c for c in before_kill if c.status == "running")
    done_before_kill = {c.id: c for c in _candidates(ledger) if c.status == "done"}
    models_before_kill = {
        cid: Path(c.artifact).stat().st_mtime_ns for cid, c in done_before_kill.items()
    }

    # 3. Rerun to the end.
    third = _search(work, synthetic_root)
    final_output = third.communicate(timeout=WAIT)[0]
    return {
        "work": work,
        "interrupt_code": first.returncode,
        "interrupt_output": output,
        "after_interrupt": after_interrupt,
        "killed": killed,
        "done_before_kill": done_before_kill,
        "models_before_kill": models_before_kill,
        "final_code": third.returncode,
        "final_output": final_output,
        "final": _candidates(ledger),
    }


def test_ctrl_c_stops_after_the_running_child_and_leaves_a_consistent_ledger(search):
    assert search["interrupt_code"] == 130, search["interrupt_output"]
    assert "rerun the same command to resume" in search["interrupt_output"]
    statuses = {c.status for c in search["after_interrupt"]}
    assert "running" not in statuses and "failed" not in statuses
    generation1 = [c for c in search["after_interrupt"] if c.generation == 1]
    assert [c.status for c in generation1] == ["done", "pending"]


def test_the_resumed_search_finishes_every_candidate(search):
    assert search["final_code"] == 0, search["final_output"]
    final = search["final"]
    assert len(final) == 1 + GENERATIONS * CHILDREN
    assert {c.status for c in final} == {"done"}
    with evosearch.Ledger(search["work"] / "ledger.sqlite", create=False) as ledger:
        assert [g.generation for g in ledger.generations()] == list(range(GENERATIONS + 1))
    assert not (search["work"] / ".evopose.lock").exists()  # a finished search lets go


def test_no_trained_candidate_is_lost_or_trained_again(search):
    final = {c.id: c for c in search["final"]}
    assert search["done_before_kill"]  # the kill came after some candidates had finished
    for cid, before in search["done_before_kill"].items():
        after = final[cid]
        assert (after.finished_at, after.attempts, after.metrics) == (
            before.finished_at,
            before.attempts,
            before.metrics,
        )
        assert Path(after.artifact).stat().st_mtime_ns == search["models_before_kill"][cid]
    for c in final.values():
        history = json.loads((Path(c.artifact_dir) / "history.json").read_text())
        assert len(history["val_heatmap_loss"]) == c.budget  # each epoch trained exactly once


def test_the_killed_child_continues_from_its_checkpoint(search):
    killed = {c.id: c for c in search["final"]}[search["killed"].id]
    assert killed.status == "done" and killed.attempts == 2
    assert killed.metrics["resumed_from_epoch"] >= 1
    assert killed.metrics["epochs"] == CHILD_EPOCHS


def test_children_inherit_their_parents_weights_and_keep_the_report(search):
    children = [c for c in search["final"] if c.parent_id is not None]
    assert len(children) == GENERATIONS * CHILDREN
    for child in children:
        transfer = child.info["transfer"]
        assert 0 < transfer["inherited_fraction"] <= 1
        assert transfer["full"] + transfer["partial"] + transfer["none"] == transfer["layers"]
        assert child.info["mutation"].startswith("module ")
        assert child.metrics["inherited_fraction"] == transfer["inherited_fraction"]
        full = json.loads((Path(child.artifact_dir) / "transfer.json").read_text())
        assert full["totals"]["inherited_fraction"] == transfer["inherited_fraction"]
        assert (Path(child.artifact_dir) / "transfer.txt").is_file()
    ancestor = next(c for c in search["final"] if c.parent_id is None)
    assert "transfer" not in ancestor.info and ancestor.budget == 1


def test_candidates_are_scored_by_equation_2(search):
    config = load_config(search["work"] / "search.yaml")
    for c in search["final"]:
        expected = (config.search.target / c.metrics["params"]) ** config.search.gamma
        assert c.fitness == pytest.approx(expected * c.metrics["val_loss"])
        assert c.metrics["flops"] > 0


def test_the_search_writes_its_report(search, capsys):
    report = search["work"] / "report"
    for name in ("convergence.png", "pareto.png", "lineage.png"):
        assert cv2.imread(str(report / name)) is not None
    assert main(["search", "report", str(search["work"]), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["counts"]["done"] == 1 + GENERATIONS * CHILDREN
    assert data["lineage"][0]["parent_id"] is None
    assert data["lineage"][-1]["id"] == data["best"]["id"]


def test_the_best_network_exports_as_a_train_config(search, tmp_path):
    out = tmp_path / "best.yaml"
    assert main(["search", "export", str(search["work"]), "--out", str(out)]) == 0
    best = min((c for c in search["final"]), key=lambda c: (c.fitness, c.id))
    exported = load_config(out)
    assert [list(gene) for gene in exported.model.genotype] == best.genotype
    assert exported.model.input_size == (64, 48)
    assert exported.model.search_resolution == (64, 48)  # built as its candidate was


def test_the_ledger_records_the_search_resolution(search):
    with evosearch.Ledger(search["work"] / "ledger.sqlite", create=False) as ledger:
        assert ledger.get_meta("search_resolution") == [64, 48]
    for candidate in search["final"]:
        assert candidate.info["input_size"] == candidate.info["search_resolution"] == [64, 48]


def test_a_found_network_exports_at_another_size_scaled_by_equation_3(search, tmp_path):
    out = tmp_path / "best-128x96.yaml"
    args = ["search", "export", str(search["work"]), "--out", str(out), "--input-size", "128", "96"]
    assert main(args) == 0
    exported = load_config(out)
    assert exported.model.input_size == (128, 96)
    assert exported.model.search_resolution == (64, 48)
    genotype = exported.model.genotype
    scaled = posenets.network_structure(genotype, (128, 96), search_resolution=(64, 48))
    as_searched = posenets.network_structure(genotype, (64, 48), search_resolution=(64, 48))
    assert len(scaled.blocks) > len(as_searched.blocks)
    assert scaled.head_channels > as_searched.head_channels == 128
    best = min((c for c in search["final"]), key=lambda c: (c.fitness, c.id))
    at_search_size = build_model(dataclasses.replace(exported.model, input_size=(64, 48)))
    assert posenets.count_params(at_search_size) == best.metrics["params"]
