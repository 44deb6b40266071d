"""What a search folder holds, by name, and the check that a rerun resumes the same search.

DIR/search.yaml                the effective config of the search (a rerun must match it)
DIR/ledger.sqlite              the evosearch ledger: every candidate, its metrics, its
                               transfer report, every closed generation
DIR/candidates/gen-G/child-I/  one candidate's training run (the `evopose train` layout,
                               plus transfer.txt / transfer.json for children)
DIR/report/                    convergence.png, pareto.png, lineage.png, leaderboard.txt,
                               report.json (`evopose search report DIR`)
DIR/best.yaml                  the best genotype as a train config (`evopose search export`)
DIR/.evopose.lock              held by the search process (`evopose.folderlock`)
"""

from dataclasses import dataclass
from pathlib import Path

import yaml

from evopose import atomic
from evopose.config import Config, config_to_dict, dump_config, load_config
from evopose.errors import ConfigFileError, SearchCommandError
from evopose.folderlock import claim_folder, is_lock_file

RESUMABLE_CHANGES = ("search.generations", "search.patience", "search.workers")
"""Settings a rerun may change: they decide how far the search goes and where, not what it is."""


@dataclass(frozen=True)
class SearchFiles:
    """The paths inside one search folder."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "search.yaml"

    @property
    def ledger(self) -> Path:
        return self.root / "ledger.sqlite"

    @property
    def candidates(self) -> Path:
        return self.root / "candidates"

    @property
    def report(self) -> Path:
        return self.root / "report"

    @property
    def convergence_plot(self) -> Path:
        return self.report / "convergence.png"

    @property
    def pareto_plot(self) -> Path:
        return self.report / "pareto.png"

    @property
    def lineage_plot(self) -> Path:
        return self.report / "lineage.png"

    @property
    def leaderboard(self) -> Path:
        return self.report / "leaderboard.txt"

    @property
    def report_json(self) -> Path:
        return self.report / "report.json"

    @property
    def best_config(self) -> Path:
        return self.root / "best.yaml"


def record_config(files: SearchFiles, config: Config) -> None:
    """Claims the search folder for this process, stores the search's config in a new folder
    or checks a rerun against the stored one, and removes the temporary files a killed run
    left (a FolderBusyError when another process is running the search).

    Only `RESUMABLE_CHANGES` may differ; the stored file is updated with them.
    """
    if not files.config.is_file() and _holds_files(files.root):
        raise SearchCommandError(
            f"{files.root} exists and is not a search folder (no search.yaml); "
            "choose another work folder"
        )
    claim_folder(files.root, "search folder")
    if files.config.is_file():
        stored = yaml.safe_load(files.config.read_text(encoding="utf-8")) or {}
        changed = [
            key
            for key in _changed_keys(stored, config_to_dict(config))
            if key not in RESUMABLE_CHANGES
        ]
        if changed:
            raise ConfigFileError(
                f"{files.root} holds a search with another config (differs in "
                f"{', '.join(changed)}); rerun with its config ({files.config}) to resume, "
                f"changing only {', '.join(RESUMABLE_CHANGES)}, or choose another work folder"
            )
    atomic.remove_leftovers(files.root)
    atomic.write_text(files.config, dump_config(config))


def _holds_files(folder: Path) -> bool:
    """True when `folder` holds anything but a lock file and leftover temporary files."""
    return folder.is_dir() and any(
        not is_lock_file(path) and not atomic.is_leftover(path) for path in folder.iterdir()
    )


def stored_config(files: SearchFiles) -> Config:
    """The config a search folder was run with; a SearchCommandError when it is not a search
    folder."""
    if not files.config.is_file():
        raise SearchCommandError(
            f"{files.root} is not a search folder (no search.yaml); give the --work-dir "
            "of an `evopose search` run"
        )
    return load_config(files.config)


def _changed_keys(old: object, new: object, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new))
        return [c for k in keys for c in _changed_keys(old.get(k), new.get(k), f"{prefix}{k}.")]
    return [prefix.rstrip(".")] if old != new else []
