"""`evopose search export DIR`: the best network of a search as a train config.

The exported config is the search's own (data, train recipe, evaluation) with the winner's
genotype and without the search section, so `evopose train` trains it by the full recipe
(warmup and augmentation as written in `train` and `data`, not the search's shortcuts). It
records the search resolution as `model.search_resolution`: at any other `model.input_size`
the network is compound scaled relative to it (Eq. 3).
"""

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import yaml

import evosearch
from evopose import atomic
from evopose.config import SearchSection, config_to_dict
from evopose.errors import SearchCommandError
from evopose.search.candidate import CandidateInfo, CandidateMetrics, search_resolution
from evopose.search.workdir import SearchFiles, stored_config


@dataclass(frozen=True)
class ExportedConfig:
    """Where the train config went and which candidate it describes."""

    path: Path
    candidate: evosearch.Candidate


def export_best(
    work_dir: str | Path,
    out: str | Path | None = None,
    *,
    candidate_id: int | None = None,
    transfer: bool = False,
    input_size: tuple[int, int] | None = None,
) -> ExportedConfig:
    """Writes the train config of the best candidate (or of `candidate_id`) to `out` (default
    `DIR/best.yaml`), at `input_size` (default: the config's `model.input_size`), scaled from
    the search resolution by Eq. 3. With `transfer`, its `model.transfer_from` is the
    candidate's trained model, so training continues from the searched weights (inherited by
    the transfer rule when the sizes differ) instead of from scratch."""
    files = SearchFiles(Path(work_dir))
    config = stored_config(files)
    if not files.ledger.is_file():
        raise SearchCommandError(
            f"{files.root} has no ledger yet; run `evopose search` on it first"
        )
    with evosearch.Ledger(files.ledger, create=False) as ledger:
        if candidate_id is None:
            ranked = evosearch.leaderboard(ledger, top=1)
            if not ranked:
                raise SearchCommandError(f"{files.root}: no candidate has finished training yet")
            candidate = ranked[0]
        else:
            try:
                candidate = ledger.candidate(candidate_id)
            except evosearch.LedgerError:
                raise SearchCommandError(f"{files.root} has no candidate {candidate_id}") from None
            if candidate.status != "done":
                raise SearchCommandError(
                    f"candidate {candidate_id} of {files.root} is {candidate.status}, not done; "
                    "export a finished candidate"
                )
    resolution = search_resolution(config)
    size = input_size or config.model.input_size or resolution
    model = dataclasses.replace(
        config.model,
        input_size=tuple(size),
        genotype=tuple(tuple(int(v) for v in gene) for gene in candidate.genotype),
        transfer_from=candidate.artifact if transfer else None,
        search_resolution=resolution,
    )
    exported = dataclasses.replace(config, model=model, search=SearchSection())
    data = config_to_dict(exported)
    del data["search"]
    metrics = CandidateMetrics.of(candidate)
    header = (
        f"# The best network of the search in {files.root}: candidate {candidate.id} "
        f"(generation {candidate.generation}),\n"
        f"# fitness {candidate.fitness:.6g}, validation loss {metrics.val_loss:.6g}, "
        f"{metrics.params / 1e6:.3f}M parameters.\n"
        f"# genotype {CandidateInfo.of(candidate).genotype}, searched at "
        f"{resolution[0]}x{resolution[1]}, here {size[0]}x{size[1]}"
        f"{' (built as written)' if tuple(size) == tuple(resolution) else ' (Eq. 3 scaling)'}\n"
        "# Train it with: evopose train THIS_FILE\n"
    )
    path = Path(out) if out is not None else files.best_config
    atomic.write_text(path, header + yaml.safe_dump(data, sort_keys=False))
    return ExportedConfig(path, candidate)
