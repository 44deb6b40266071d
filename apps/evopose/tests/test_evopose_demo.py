"""`evopose demo` end to end at a tiny size: from an empty folder to a searched, trained and
evaluated network with its pictures; rerunning it resumes (nothing is made or trained again)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
import yaml

import evosearch
from evopose.cli import main
from evopose.demo import DEMO_CONFIG, demo_config

TINY = [
    "model.input_size=[64, 48]",
    "search.generations=1",
    "search.children=2",
    "search.parents=1",
    "search.ancestor_epochs=1",
    "search.child_epochs=1",
    "train.epochs=1",
    "train.steps_per_epoch=3",
    "train.val_steps=1",
]
ARGS = ["--images", "40", "6", *[arg for item in TINY for arg in ("--set", item)]]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    work = tmp_path_factory.mktemp("demo") / "evopose-demo"
    run = subprocess.run(
        [sys.executable, "-m", "evopose", "demo", "--work-dir", str(work), *ARGS],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    return work, run


def test_the_demo_runs_from_an_empty_folder(demo):
    _, run = demo
    assert run.returncode == 0, run.stdout + run.stderr
    assert "evopose demo finished" in run.stdout
    for step in range(1, 8):
        assert f"[{step}/7" in run.stdout  # progress through every step


def test_the_demo_says_what_the_search_found(demo):
    _, run = demo
    assert "The search trained 3 networks (3 different) at" in run.stdout
    assert "parameters (the ancestor" in run.stdout or "the ancestor itself" in run.stdout
    assert "Pictures:" in run.stdout


def test_the_demo_prints_where_everything_is(demo):
    work, run = demo
    listed = [line.split()[-1] for line in run.stdout.splitlines() if str(work) in line]
    expected = {
        work / "data",
        work / "demo.yaml",
        work / "search",
        work / "best.yaml",
        work / "prediction.png",
        work / "search" / "report" / "convergence.png",
        work / "search" / "report" / "pareto.png",
        work / "search" / "report" / "lineage.png",
    }
    assert expected <= {Path(p) for p in listed}
    for path in expected:
        assert path.exists(), path
    finals = list((work / "final").glob("candidate-*/best.keras"))
    assert len(finals) == 1 and str(finals[0]) in listed


def test_the_demo_searches_then_trains_the_best_network_longer(demo):
    work, _ = demo
    with evosearch.Ledger(work / "search" / "ledger.sqlite", create=False) as ledger:
        candidates = ledger.candidates()
        best = evosearch.leaderboard(ledger, top=1)[0]
    assert len(candidates) == 3 and {c.status for c in candidates} == {"done"}
    exported = yaml.safe_load((work / "best.yaml").read_text())
    assert exported["model"]["genotype"] == best.genotype
    assert exported["model"]["transfer_from"] == best.artifact  # continues from its weights
    result = json.loads((work / "final" / f"candidate-{best.id}" / "result.json").read_text())
    assert result["epochs"] == 1


def test_the_demo_evaluates_ap_and_draws_a_prediction(demo):
    work, run = demo
    (final,) = (work / "final").glob("candidate-*")
    metrics = json.loads((final / "val-dets.metrics.json").read_text())["metrics"]
    assert 0.0 <= metrics["AP"] <= 1.0
    assert f"AP {metrics['AP']:.3f}" in run.stdout
    picture = cv2.imread(str(work / "prediction.png"))
    assert picture is not None and picture.shape[0] >= 2 * 128 and picture.shape[1] >= 2 * 96


def test_rerunning_the_demo_resumes_without_redoing_anything(demo, capsys):
    work, _ = demo
    ledger_path = work / "search" / "ledger.sqlite"
    with evosearch.Ledger(ledger_path, create=False) as ledger:
        before = ledger.candidates()
    (final,) = (work / "final").glob("candidate-*")
    stamps = {
        path: path.stat().st_mtime_ns
        for path in (
            work / "data" / "train" / "manifest.json",
            final / "result.json",
            final / "best.keras",
        )
    }
    assert main(["demo", "--work-dir", str(work), *ARGS]) == 0
    assert "evopose demo finished" in capsys.readouterr().out
    with evosearch.Ledger(ledger_path, create=False) as ledger:
        assert ledger.candidates() == before
    assert {path: path.stat().st_mtime_ns for path in stamps} == stamps


def test_the_embedded_config_is_a_small_search_on_the_demo_data(tmp_path):
    config = demo_config(tmp_path)
    assert config.data.root == str(tmp_path / "data")
    assert config.model.name == "evopose2d" and config.model.input_size == (96, 72)
    assert config.model.head_channels == 48  # 48x36 heatmaps at a CPU's cost
    assert config.search.generations >= 2 and config.search.children >= 2
    assert 1 + config.search.generations * config.search.children >= 8  # networks, all new
    assert config.search.flip_only  # children: flip only; the final training: box jitter
    assert config.data.augment.scale_factor > 0 and config.data.augment.shift_factor > 0
    assert yaml.safe_load(DEMO_CONFIG)["search"]["gamma"] == -0.07
