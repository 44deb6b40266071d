"""The settings of a (mu + lambda) search."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from evosearch.errors import ConfigError, TransientEvaluationError


@dataclass(frozen=True)
class SearchConfig:
    """How the evolution runs. SPEC.md run E3: ``parents=4, children=64, ancestor_budget=30,
    child_budget=5``.

    ``generations`` counts the generations after generation 0 (the ancestor's); the search stops
    there, or earlier when the best fitness has not improved by more than ``min_improvement``
    over the last ``patience`` generations. An evaluation raising one of ``transient_errors``
    (or whose worker died) is retried until it has run ``max_attempts`` times.
    """

    parents: int = 4
    children: int = 64
    generations: int = 10
    seed: int = 0
    ancestor_budget: int = 30
    child_budget: int = 5
    patience: int | None = None
    min_improvement: float = 0.0
    max_attempts: int = 3
    max_mutation_draws: int = 1000
    transient_errors: tuple[type[BaseException], ...] = (TransientEvaluationError,)

    def __post_init__(self) -> None:
        for name in ("parents", "children", "max_attempts", "max_mutation_draws"):
            _check_int(name, getattr(self, name), minimum=1)
        for name in ("generations", "seed", "ancestor_budget", "child_budget"):
            _check_int(name, getattr(self, name), minimum=0)
        if self.patience is not None:
            _check_int("patience", self.patience, minimum=1)
        if not (math.isfinite(self.min_improvement) and self.min_improvement >= 0):
            raise ConfigError(
                f"SearchConfig.min_improvement must be a finite number >= 0, "
                f"got {self.min_improvement!r}"
            )
        errors = self.transient_errors
        if not isinstance(errors, tuple) or not all(
            isinstance(e, type) and issubclass(e, BaseException) for e in errors
        ):
            raise ConfigError(
                "SearchConfig.transient_errors must be a tuple of exception classes, "
                f"got {errors!r}"
            )

    def identity(self) -> dict[str, Any]:
        """The settings a resumed search must share with the run that wrote the ledger."""
        return {
            "parents": self.parents,
            "children": self.children,
            "seed": self.seed,
            "ancestor_budget": self.ancestor_budget,
            "child_budget": self.child_budget,
        }


def _check_int(name: str, value: object, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"SearchConfig.{name} must be an integer >= {minimum}, got {value!r}")
