"""A toy search space and a cheap evaluation, for examples, tests and benchmarks.

`IntVectorSpace` holds integer vectors mutated one gene at a time; `ToyEvaluation` scores a
vector by its squared distance to a target, writes a small artifact that its children read,
and can inject faults (an exception, NaN, a dying worker) into chosen candidates.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from evosearch._files import write_text_atomic
from evosearch.contract import EvalRequest, EvalResult
from evosearch.errors import GenotypeError, TransientEvaluationError
from evosearch.genotype import GenotypeSet, JsonGenotype

FAULTS = ("raise", "nan", "die", "die_once", "transient", "transient_once")


@dataclass(frozen=True)
class IntVectorSpace:
    """Vectors of ``length`` integers in ``[low, high]``; a mutation redraws one gene."""

    length: int = 6
    low: int = 0
    high: int = 9
    start: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.length < 1 or self.low >= self.high:
            raise GenotypeError(
                f"IntVectorSpace needs length >= 1 and low < high, got length={self.length}, "
                f"low={self.low}, high={self.high}"
            )
        if self.start is not None:
            self.validate(list(self.start))

    def ancestor(self) -> JsonGenotype:
        """``start``, or every gene at ``high``."""
        return list(self.start) if self.start is not None else [self.high] * self.length

    def mutate(
        self, genotype: JsonGenotype, rng: np.random.Generator, seen: GenotypeSet
    ) -> JsonGenotype:
        """Redraw one gene (uniform position, uniform new value); retry while the child is seen."""
        for _ in range(100):
            child = list(genotype)
            gene = int(rng.integers(self.length))
            values = [v for v in range(self.low, self.high + 1) if v != child[gene]]
            child[gene] = int(values[rng.integers(len(values))])
            if child not in seen:
                return child
        return child

    def validate(self, genotype: JsonGenotype) -> None:
        """`GenotypeError` unless ``genotype`` is ``length`` ints in ``[low, high]``."""
        if (
            not isinstance(genotype, Sequence)
            or len(genotype) != self.length
            or not all(isinstance(v, int) and self.low <= v <= self.high for v in genotype)
        ):
            raise GenotypeError(
                f"{genotype!r} is not {self.length} integers in [{self.low}, {self.high}]"
            )

    def describe(self, genotype: JsonGenotype) -> str:
        """The genes as one string, e.g. ``3-0-9-1``."""
        return "-".join(str(v) for v in genotype)


@dataclass(frozen=True)
class ToyEvaluation:
    """``val_loss = 1 + mean((g - target)^2)``, ``params = 1000 * (1 + sum(g))``.

    Sleeps ``sleep`` seconds; writes ``weights.json`` into the artifact folder (checking the
    parent's exists) unless ``write_artifact`` is False; appends ``start``/``end`` lines to
    ``journal`` (with the time and process id); ``faults`` maps candidate ids to one of
    `FAULTS`; the environment variables named in ``report_env`` are copied into ``info``.
    """

    target: tuple[int, ...] = (0, 0, 0, 0, 0, 0)
    sleep: float = 0.0
    write_artifact: bool = True
    journal: str | None = None
    faults: Mapping[int, str] = field(default_factory=dict)
    report_env: tuple[str, ...] = ()

    def __call__(self, request: EvalRequest) -> EvalResult:
        """Score ``request.genotype``; see the class docstring."""
        cid = request.candidate_id
        self._log(f"start {cid} {request.attempt} {os.getpid()} {time.time():.6f}")
        fault = self.faults.get(cid)
        if fault is not None and fault not in FAULTS:
            raise ValueError(
                f"unknown toy fault {fault!r} for candidate {cid}; use one of {FAULTS}"
            )
        first_try = self._first_try(request) if fault in ("die_once", "transient_once") else False
        if fault == "die" or (fault == "die_once" and first_try):
            os._exit(3)
        if fault == "transient" or (fault == "transient_once" and first_try):
            raise TransientEvaluationError(f"toy transient failure of candidate {cid}")
        if fault == "raise":
            raise ValueError(f"toy failure of candidate {cid}")
        if self.sleep > 0:
            time.sleep(self.sleep)
        genes = np.asarray(request.genotype, dtype=float)
        target = np.resize(np.asarray(self.target, dtype=float), genes.shape)
        loss = math.nan if fault == "nan" else 1.0 + float(np.mean((genes - target) ** 2))
        params = 1000.0 * (1.0 + float(genes.sum()))
        artifact = None
        if self.write_artifact:
            if request.parent_artifact is not None and not Path(request.parent_artifact).is_file():
                raise FileNotFoundError(f"parent artifact {request.parent_artifact} is missing")
            artifact = str(
                write_text_atomic(
                    Path(request.artifact_dir) / "weights.json",
                    json.dumps({"genotype": request.genotype, "parent": request.parent_artifact}),
                )
            )
        self._log(f"end {cid} {request.attempt} {os.getpid()} {time.time():.6f}")
        return EvalResult(
            metrics={"val_loss": loss, "params": params, "flops": 10.0 * params},
            info={
                "device": request.device,
                "budget": request.budget,
                "seed": request.seed,
                "env": {name: os.environ.get(name) for name in self.report_env},
            },
            artifact=artifact,
        )

    def _first_try(self, request: EvalRequest) -> bool:
        marker = Path(request.artifact_dir) / "attempted"
        if marker.exists():
            return False
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        return True

    def _log(self, line: str) -> None:
        if self.journal is not None:
            fd = os.open(self.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, (line + "\n").encode())
            finally:
                os.close(fd)
