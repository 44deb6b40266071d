"""Shared fixtures: a small toy search, and a snapshot of a ledger for comparing runs."""

from __future__ import annotations

import os

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

from collections.abc import Callable
from pathlib import Path

import pytest

from evosearch import Ledger, Search, SearchConfig, SearchResult, TradeoffFitness
from evosearch.toy import IntVectorSpace, ToyEvaluation

SMALL = SearchConfig(
    parents=3, children=6, generations=6, seed=7, ancestor_budget=4, child_budget=1
)
TOY_FITNESS = TradeoffFitness(target=1e4, gamma=-0.07)


@pytest.fixture
def small_config() -> SearchConfig:
    """Three parents, six children, six generations after the ancestor's."""
    return SMALL


@pytest.fixture
def toy_search(tmp_path: Path) -> Callable[..., tuple[Search, Path]]:
    """Build a toy search into ``tmp_path/<name>/ledger.sqlite``; returns it and the path."""

    def build(
        name: str = "run",
        *,
        config: SearchConfig = SMALL,
        evaluation: object = None,
        space: object = None,
        **options: object,
    ) -> tuple[Search, Path]:
        path = tmp_path / name / "ledger.sqlite"
        options.setdefault("fitness", TOY_FITNESS)
        options.setdefault("progress", False)
        search = Search(
            space if space is not None else IntVectorSpace(),
            evaluation if evaluation is not None else ToyEvaluation(),
            path,
            config,
            **options,
        )
        return search, path

    return build


@pytest.fixture
def run_toy(
    toy_search: Callable[..., tuple[Search, Path]],
) -> Callable[..., tuple[SearchResult, Path]]:
    """Build a toy search with `toy_search` and run it; returns the result and the path."""

    def run(name: str = "run", **options: object) -> tuple[SearchResult, Path]:
        search, path = toy_search(name, **options)
        return search.run(), path

    return run


def ledger_snapshot(path: Path) -> dict[str, object]:
    """What two equivalent runs must share: candidates, genotypes, fitness, survivors."""
    with Ledger(path, create=False) as ledger:
        return {
            "candidates": [
                (
                    c.id,
                    c.generation,
                    c.child_index,
                    c.parent_id,
                    c.key,
                    c.status,
                    c.fitness,
                    c.budget,
                    c.seed,
                )
                for c in ledger.candidates()
            ],
            "generations": [(g.generation, g.survivors) for g in ledger.generations()],
        }


@pytest.fixture
def snapshot() -> Callable[[Path], dict[str, object]]:
    """`ledger_snapshot` as a fixture."""
    return ledger_snapshot
