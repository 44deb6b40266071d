"""Events the engine emits, and `ProgressPrinter`, a callback that shows them on stderr.

A callback is any ``Callable[[Event], None]``; match on the event's type. Exceptions raised by
a callback are logged and do not stop the search.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TextIO

from evosearch.ledger import Candidate


@dataclass(frozen=True)
class GenerationStarted:
    """A generation's evaluations begin (``pending`` of ``total`` still to evaluate)."""

    generation: int
    total: int
    pending: int


@dataclass(frozen=True)
class CandidateStarted:
    """An evaluation attempt was sent to ``device``."""

    candidate: Candidate
    device: str


@dataclass(frozen=True)
class CandidateRetrying:
    """An attempt ended with a transient error; the candidate is pending again."""

    candidate: Candidate
    error: str


@dataclass(frozen=True)
class CandidateFinished:
    """A candidate is done or failed (``candidate.status``)."""

    candidate: Candidate
    finished: int
    total: int


@dataclass(frozen=True)
class GenerationFinished:
    """A generation closed; ``survivors`` (best first) are the next parents."""

    generation: int
    survivors: Sequence[Candidate]
    evaluated: int
    failed: int


StopReason = Literal["generations", "plateau", "requested"]
"""Why a run ended: its last generation closed (``generations``), its best fitness stopped
improving for ``patience`` generations (``plateau``), or a stop was requested (``requested``)."""


@dataclass(frozen=True)
class SearchStopped:
    """The run ends, for one of the `StopReason`s."""

    reason: StopReason
    generation: int
    best: Candidate | None


Event = (
    GenerationStarted
    | CandidateStarted
    | CandidateRetrying
    | CandidateFinished
    | GenerationFinished
    | SearchStopped
)
Callback = Callable[[Event], None]


class ProgressPrinter:
    """A progress display: one line per finished candidate and generation, with a bar."""

    def __init__(self, stream: TextIO | None = None, *, width: int = 20) -> None:
        self.stream = stream
        self.width = width

    def __call__(self, event: Event) -> None:
        """Write the line for ``event`` (nothing for events it does not show)."""
        line = self.format(event)
        if line is not None:
            stream = self.stream if self.stream is not None else sys.stderr
            stream.write(line + "\n")
            stream.flush()

    def format(self, event: Event) -> str | None:
        """The line shown for ``event``."""
        if isinstance(event, GenerationStarted):
            return (
                f"gen {event.generation}: {event.pending} of {event.total} candidates to evaluate"
            )
        if isinstance(event, CandidateFinished):
            c = event.candidate
            filled = self.width * event.finished // max(event.total, 1)
            bar = "#" * filled + "-" * (self.width - filled)
            if c.status == "done":
                shown = [f"{k} {v:.4g}" for k, v in list(c.metrics.items())[:3]]
                what = "  ".join([f"fitness {c.fitness:.6g}", *shown])
            else:
                what = f"FAILED {c.error}"
            took = f"{c.eval_seconds:.1f}s" if c.eval_seconds is not None else "-"
            return (
                f"gen {c.generation} [{bar}] {event.finished}/{event.total}  "
                f"cand {c.id} on {c.device}  {took}  {what}"
            )
        if isinstance(event, CandidateRetrying):
            c = event.candidate
            return f"gen {c.generation} cand {c.id} retrying (attempt {c.attempts}): {event.error}"
        if isinstance(event, GenerationFinished):
            best = event.survivors[0] if event.survivors else None
            shown = f"best fitness {best.fitness:.6g} (cand {best.id})" if best else "no survivors"
            return (
                f"gen {event.generation} closed: {shown}; "
                f"{event.evaluated} evaluated, {event.failed} failed"
            )
        if isinstance(event, SearchStopped):
            best = f"; best cand {event.best.id}" if event.best is not None else ""
            return f"search stopped after gen {event.generation} ({event.reason}){best}"
        return None
