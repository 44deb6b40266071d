"""Fitness: a number to minimise, computed from a candidate's metrics.

Any ``Callable[[Mapping[str, float]], float]`` will do. `TradeoffFitness` is the paper's
Eq. 2, ``J = (T / cost) ** Gamma * loss`` with the parameter count as the cost by default.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from evosearch.errors import ConfigError, FitnessError

Fitness = Callable[[Mapping[str, float]], float]
"""Maps a candidate's metrics to the fitness the search minimises."""


@dataclass(frozen=True)
class TradeoffFitness:
    """Eq. 2 of EvoPose2D: ``(target / metrics[cost]) ** gamma * metrics[loss]`` (minimised).

    With ``gamma < 0`` a candidate costing more than ``target`` has its loss scaled up. Run E3
    used ``target=5e6`` parameters and ``gamma=-0.07``; ``cost`` may name any metric (``flops``).
    """

    target: float = 5e6
    gamma: float = -0.07
    cost: str = "params"
    loss: str = "val_loss"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.target) and self.target > 0):
            raise ConfigError(
                f"TradeoffFitness target must be a positive number, got {self.target}"
            )
        if not math.isfinite(self.gamma):
            raise ConfigError(f"TradeoffFitness gamma must be finite, got {self.gamma}")

    def __call__(self, metrics: Mapping[str, float]) -> float:
        """The fitness of a candidate with these metrics."""
        cost = _metric(metrics, self.cost)
        loss = _metric(metrics, self.loss)
        if not cost > 0:
            raise FitnessError(f"fitness needs a positive cost, but metric {self.cost!r} is {cost}")
        return (self.target / cost) ** self.gamma * loss


def _metric(metrics: Mapping[str, float], name: str) -> float:
    try:
        return float(metrics[name])
    except KeyError:
        raise FitnessError(
            f"fitness needs metric {name!r}, but the evaluation returned only {sorted(metrics)}"
        ) from None
