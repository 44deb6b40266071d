"""`evopose search report` and `export` on the ledger of a real search over the EvoPose2D space
whose candidates are scored by a cheap stand-in for training (no TensorFlow work): the
leaderboard, generations, Pareto front, lineage, pictures, JSON and the exported config."""

import itertools
import json
from pathlib import Path

import cv2
import pytest
import yaml

import evosearch
from evopose.cli import main
from evopose.config import config_from_dict, load_config
from evopose.errors import SearchCommandError
from evopose.search.candidate import CandidateInfo, CandidateMetrics
from evopose.search.evopose_space import EvoPoseSpace, describe_mutation
from evopose.search.run import engine_config, fitness_of
from evopose.search.search_report import build_report, write_report
from evopose.search.workdir import SearchFiles, record_config


class SizeScoredCandidate:
    """Scores a genotype without training: bigger networks get a lower loss, with noise."""

    def __call__(self, request: evosearch.EvalRequest) -> evosearch.EvalResult:
        genes = request.genotype
        params = sum(8 * c * r * k for k, r, c, _ in genes) * 10.0
        loss = 50.0 + 5000.0 / params**0.3 + (request.seed % 97) / 10.0
        mutation = inherited = None
        if request.parent_artifact is not None:
            parent = json.loads(Path(request.parent_artifact).read_text())
            mutation, inherited = describe_mutation(parent, genes), 0.9
        info = CandidateInfo(EvoPoseSpace().describe(genes), mutation=mutation)
        metrics = CandidateMetrics(
            val_loss=loss,
            params=params,
            flops=3 * params,
            best_epoch=float(request.budget),
            epochs=float(request.budget),
            resumed_from_epoch=0.0,
            train_seconds=0.0,
            inherited_fraction=inherited,
        )
        artifact = Path(request.artifact_dir) / "genotype.json"
        artifact.write_text(json.dumps(genes))
        return evosearch.EvalResult(metrics.to_json(), info.to_json(), str(artifact))


@pytest.fixture(scope="module")
def search_dir(tmp_path_factory) -> Path:
    config = config_from_dict(
        {
            "model": {"name": "evopose2d", "input_size": [64, 48]},
            "data": {"root": "data/synth"},
            "train": {"epochs": 12, "batch_size": 32},
            "search": {
                "generations": 4,
                "children": 5,
                "parents": 2,
                "ancestor_epochs": 3,
                "child_epochs": 1,
                "target": 3.0e5,
            },
        }
    )
    files = SearchFiles(tmp_path_factory.mktemp("report") / "search")
    record_config(files, config)
    evosearch.Search(
        EvoPoseSpace(),
        SizeScoredCandidate(),
        files.ledger,
        engine_config(config),
        fitness=fitness_of(config),
        artifact_root=files.candidates,
        progress=False,
    ).run()
    return files.root


def test_the_leaderboard_ranks_by_fitness(search_dir):
    report = build_report(search_dir, top=5)
    fitness = [c.fitness for c in report.leaderboard]
    assert len(fitness) == 5 and fitness == sorted(fitness)
    assert report.best == report.leaderboard[0]
    assert report.counts["done"] == 1 + 4 * 5


def test_generations_track_the_best_fitness(search_dir):
    generations = build_report(search_dir).generations
    assert [g.generation for g in generations] == [0, 1, 2, 3, 4]
    best = [g.best_fitness for g in generations]
    assert all(later <= earlier for earlier, later in itertools.pairwise(best))


def test_the_pareto_front_is_undominated(search_dir):
    report = build_report(search_dir, top=100)
    with evosearch.Ledger(SearchFiles(search_dir).ledger, create=False) as ledger:
        every = ledger.candidates(status="done")
    for c in report.pareto_front:
        assert not any(
            o.metrics["params"] <= c.metrics["params"]
            and o.metrics["val_loss"] <= c.metrics["val_loss"]
            and (o.metrics["params"], o.metrics["val_loss"])
            != (c.metrics["params"], c.metrics["val_loss"])
            for o in every
        )


def test_the_lineage_runs_from_the_ancestor_to_the_best(search_dir):
    report = build_report(search_dir)
    chain = report.lineage
    assert chain[0].parent_id is None and chain[-1].id == report.best.id
    for parent, child in itertools.pairwise(chain):
        assert child.parent_id == parent.id
        assert child.info["mutation"] == describe_mutation(parent.genotype, child.genotype)


def test_report_writes_three_pictures_and_the_tables(search_dir):
    report = write_report(search_dir)
    files = SearchFiles(search_dir)
    assert set(report.pictures) == {"convergence", "pareto", "lineage"}
    for path in report.pictures.values():
        image = cv2.imread(str(path))
        assert image is not None and image.shape[0] > 200 and image.shape[1] > 300
    assert "leaderboard:" in files.leaderboard.read_text()
    assert json.loads(files.report_json.read_text())["best"]["id"] == report.best.id
    assert not [p for p in files.report.iterdir() if p.name.startswith(".")]  # no temporaries


def test_report_command_prints_text_or_json(search_dir, capsys):
    assert main(["search", "report", str(search_dir), "--top", "3"]) == 0
    text = capsys.readouterr().out
    assert "leaderboard:" in text and "lineage of the best" in text and "pareto.png" in text
    assert main(["search", "report", str(search_dir), "--json", "--top", "3"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["leaderboard"]) == 3
    assert data["lineage"][-1]["id"] == data["best"]["id"]
    assert data["settings"]["children"] == 5
    assert set(data["pareto_front_ids"]) == {c["id"] for c in data["pareto_front"]}


def test_export_writes_the_best_genotype_as_a_train_config(search_dir, tmp_path, capsys):
    out = tmp_path / "best.yaml"
    assert main(["search", "export", str(search_dir), "--out", str(out)]) == 0
    exported = load_config(out)
    best = build_report(search_dir).best
    assert [list(gene) for gene in exported.model.genotype] == best.genotype
    assert exported.model.transfer_from is None
    assert exported.train.epochs == 12  # the config's own recipe, not the search's budgets
    assert exported.search == type(exported.search)()
    assert set(yaml.safe_load(out.read_text())) == {"model", "data", "train", "eval"}
    assert f"candidate {best.id}" in capsys.readouterr().out


def test_export_of_a_chosen_candidate_can_continue_from_its_weights(search_dir, tmp_path):
    out = tmp_path / "cand.yaml"
    assert main(["search", "export", str(search_dir), "--candidate", "3", "--out", str(out)]) == 0
    assert load_config(out).model.transfer_from is None
    main(["search", "export", str(search_dir), "--candidate", "3", "--transfer", "--out", str(out)])
    assert load_config(out).model.transfer_from.endswith("genotype.json")


def test_report_and_export_refuse_what_is_not_a_finished_search(search_dir, tmp_path, capsys):
    with pytest.raises(SearchCommandError, match="not a search folder"):
        build_report(tmp_path)
    assert main(["search", "export", str(search_dir), "--candidate", "999"]) == 2
    assert "no candidate 999" in capsys.readouterr().err
