"""`evopose search CONFIG`: the (mu + lambda) neuroevolution of EvoPose2D (SPEC section 4) in a
work folder; rerunning it on the same folder resumes where it stopped."""

import logging
from pathlib import Path

import evosearch
from evopose.config import Config
from evopose.errors import SearchCommandError
from evopose.folderlock import release_folder
from evopose.search.candidate import COST_METRICS, TrainCandidate, search_resolution
from evopose.search.search_report import write_report
from evopose.search.workdir import SearchFiles, record_config

log = logging.getLogger(__name__)

SEARCHABLE_MODEL = "evopose2d"


def fitness_of(config: Config) -> evosearch.TradeoffFitness:
    """Eq. 2, `J = (T / cost) ** Gamma * val_loss`, with the search section's T, Gamma, cost."""
    search = config.search
    return evosearch.TradeoffFitness(
        target=search.target, gamma=search.gamma, cost=COST_METRICS[search.cost], loss="val_loss"
    )


def engine_config(config: Config) -> evosearch.SearchConfig:
    """evosearch's settings from the search section (mu, lambda, e0, e, generations, seed)."""
    search = config.search
    return evosearch.SearchConfig(
        parents=search.parents,
        children=search.children,
        generations=search.generations,
        seed=search.seed,
        ancestor_budget=search.ancestor_epochs,
        child_budget=search.child_epochs,
        patience=search.patience,
    )


def check_searchable(config: Config) -> None:
    """A SearchCommandError unless the config names the EvoPose2D search space and a dataset."""
    if config.model.name != SEARCHABLE_MODEL:
        raise SearchCommandError(
            f"{config.source}: model.name is {config.model.name!r}; the search evolves "
            f"EvoPose2D genotypes, so set model.name: {SEARCHABLE_MODEL}"
        )
    if config.model.transfer_from is not None:
        raise SearchCommandError(
            f"{config.source}: model.transfer_from is set; children inherit from their parents "
            "and the ancestor from search.ancestor_weights (an EfficientNet-B0 weights file), "
            "so remove it"
        )
    if config.model.search_resolution is not None:
        raise SearchCommandError(
            f"{config.source}: model.search_resolution is set; a search builds its candidates "
            "at search.resolution, so set that instead"
        )
    if config.data.root is None:
        raise SearchCommandError(f"{config.source}: data.root is not set; set it or use --set")
    if config.search.ancestor_weights is not None:
        from evopose.search.ancestor import read_weight_file

        read_weight_file(config.search.ancestor_weights)  # a bad file fails now, not later


def run_search(
    config: Config,
    work_dir: str | Path,
    *,
    executor: evosearch.Executor | None = None,
    progress: bool = True,
) -> evosearch.SearchResult:
    """Runs (or resumes) the search of `config` in `work_dir` and writes its report; returns
    how it ended. `executor` defaults to training one candidate at a time in this process."""
    from evopose.datasets import open_training_splits  # imports TensorFlow
    from evopose.search.evopose_space import EvoPoseSpace  # imports Keras

    check_searchable(config)
    files = SearchFiles(Path(work_dir))
    resolution = search_resolution(config)
    space = EvoPoseSpace(
        config.model.genotype, resolution=resolution, head_channels=config.model.head_channels
    )
    record_config(files, config)
    with evosearch.Ledger(files.ledger) as ledger:
        ledger.set_meta("search_resolution", list(resolution))
    search = evosearch.Search(
        space,
        TrainCandidate(config, splits=open_training_splits(config)),
        files.ledger,
        engine_config(config),
        fitness=fitness_of(config),
        executor=executor,
        artifact_root=files.candidates,
        callbacks=[_ReportEachGeneration(files)],
        progress=progress,
    )
    log.info("search in %s: %s", files.root, _describe(config))
    try:
        result = search.run()
        if result.generation >= 0:
            write_report(files.root)
    finally:  # the folder is free again: its lock file goes (record_config claimed it)
        release_folder(files.root)
    return result


class _ReportEachGeneration:
    """Redraws the report when a generation closes, so the pictures follow the search."""

    def __init__(self, files: SearchFiles) -> None:
        self.files = files

    def __call__(self, event: evosearch.Event) -> None:
        if isinstance(event, evosearch.GenerationFinished):
            write_report(self.files.root)


def _describe(config: Config) -> str:
    s = config.search
    height, width = search_resolution(config)
    return (
        f"{height}x{width} (phi = 0 there), "
        f"mu={s.parents}, lambda={s.children}, {s.generations} generations, "
        f"e0={s.ancestor_epochs}, e={s.child_epochs}, "
        f"fitness (T / {s.cost}) ** Gamma * val_loss with T={s.target:g}, Gamma={s.gamma:g}"
    )
