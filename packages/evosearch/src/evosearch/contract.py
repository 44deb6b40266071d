"""The contract between the engine and an evaluation: `EvalRequest` in, `EvalResult` out.

An evaluation is a picklable callable (a top-level function or an instance of a top-level
class) ``evaluate(request: EvalRequest) -> EvalResult | Mapping[str, float]``. It runs in the
engine's process, in a spawned worker process or in a Ray task; `execute` is the one wrapper
that runs it everywhere, times it and turns an exception into an `Outcome`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from evosearch.errors import TransientEvaluationError
from evosearch.genotype import JsonGenotype


@dataclass(frozen=True)
class EvalRequest:
    """Everything an evaluation gets to train and score one candidate.

    ``parent_artifact`` is the artifact (e.g. weights file) its parent returned, None for the
    ancestor; ``artifact_dir`` is an existing folder for this candidate's own files; ``budget``
    is the training budget (``e0`` epochs in generation 0, ``e`` after); ``device`` names the
    accelerator the executor gave this evaluation (``"cpu"`` when none); ``seed`` seeds the
    evaluation's own randomness (derived from the search seed, generation and child index).
    """

    candidate_id: int
    genotype: JsonGenotype
    generation: int
    parent_id: int | None
    parent_artifact: str | None
    artifact_dir: str
    budget: int
    seed: int
    attempt: int = 1
    device: str = "cpu"


@dataclass(frozen=True)
class EvalResult:
    """What an evaluation returns: metrics (``val_loss``, ``params``, ...), extra JSON info
    stored in the ledger (e.g. a transfer report), and the artifact its children inherit from."""

    metrics: Mapping[str, float]
    info: Mapping[str, Any] = field(default_factory=dict)
    artifact: str | None = None


Evaluation = Callable[[EvalRequest], "EvalResult | Mapping[str, float]"]
"""A picklable callable that evaluates one candidate."""


@dataclass(frozen=True)
class EvalTask:
    """One unit of work for an executor: the evaluation, its request, which errors are transient."""

    evaluate: Evaluation
    request: EvalRequest
    transient_errors: tuple[type[BaseException], ...] = (TransientEvaluationError,)


@dataclass(frozen=True)
class Outcome:
    """How one attempt ended: a result, or an error (retried when ``transient``)."""

    candidate_id: int
    device: str
    seconds: float
    result: EvalResult | None = None
    error: str | None = None
    transient: bool = False
    traceback: str | None = None

    @property
    def ok(self) -> bool:
        """True when the evaluation returned a well-formed result."""
        return self.result is not None


def execute(task: EvalTask, device: str) -> Outcome:
    """Run ``task`` on ``device`` and report how it ended; never raises for evaluation errors."""
    request = dataclasses.replace(task.request, device=device)
    start = time.perf_counter()
    try:
        result = normalize_result(task.evaluate(request))
    except Exception as exc:
        return Outcome(
            candidate_id=request.candidate_id,
            device=device,
            seconds=time.perf_counter() - start,
            error=f"{type(exc).__name__}: {exc}",
            transient=isinstance(exc, task.transient_errors),
            traceback=traceback.format_exc(),
        )
    return Outcome(request.candidate_id, device, time.perf_counter() - start, result=result)


def failure(task: EvalTask, device: str, error: str, *, transient: bool) -> Outcome:
    """An `Outcome` for an attempt that ended outside the evaluation (a worker died)."""
    return Outcome(task.request.candidate_id, device, 0.0, error=error, transient=transient)


def normalize_result(returned: object) -> EvalResult:
    """An `EvalResult` with float metrics and JSON info; `TypeError`/`ValueError` if malformed."""
    if isinstance(returned, EvalResult):
        metrics, info, artifact = returned.metrics, returned.info, returned.artifact
    elif isinstance(returned, Mapping):
        metrics, info, artifact = returned, {}, None
    else:
        raise TypeError(
            f"an evaluation must return an EvalResult or a mapping of metrics, "
            f"got {type(returned).__name__}"
        )
    floats = {}
    for name, value in metrics.items():
        if not isinstance(name, str):
            raise TypeError(f"metric names must be strings, got {name!r}")
        try:
            floats[name] = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"metric {name!r} is {value!r}, not a number") from None
    info = dict(info)
    try:
        json.dumps(info)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"the evaluation's info is not JSON-serialisable: {exc}") from None
    if artifact is not None:
        artifact = os.fspath(artifact)
    return EvalResult(metrics=floats, info=info, artifact=artifact)
