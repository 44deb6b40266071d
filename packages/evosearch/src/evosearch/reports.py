"""Reports over a ledger: leaderboard, per-generation history, Pareto front, lineage, export.

Plain functions; they only read, so they work on the ledger of a search still running.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evosearch._files import write_text_atomic
from evosearch.errors import LedgerError
from evosearch.ledger import Candidate, Ledger


@dataclass(frozen=True)
class GenerationSummary:
    """One closed generation: how many of its candidates finished or failed, and the best
    survivor (``best_loss`` is that survivor's loss, the dashed line of the paper's Fig. 4)."""

    generation: int
    evaluated: int
    failed: int
    best_id: int
    best_fitness: float
    best_loss: float | None
    lowest_loss: float | None


def leaderboard(ledger: Ledger, top: int | None = None) -> list[Candidate]:
    """Done candidates by fitness, best first (ties: lower id); the first ``top`` if given."""
    ranked = sorted(
        (c for c in ledger.candidates(status="done") if c.fitness is not None),
        key=lambda c: (c.fitness, c.id),
    )
    return ranked if top is None else ranked[:top]


def history(ledger: Ledger, *, loss: str = "val_loss") -> list[GenerationSummary]:
    """One summary per closed generation; ``lowest_loss`` is the lowest loss seen so far."""
    summaries = []
    lowest: float | None = None
    for record in ledger.generations():
        members = ledger.candidates(generation=record.generation)
        losses = [c.metrics[loss] for c in members if c.status == "done" and loss in c.metrics]
        if losses:
            lowest = min(losses) if lowest is None else min(lowest, *losses)
        best = ledger.candidate(record.survivors[0])
        summaries.append(
            GenerationSummary(
                generation=record.generation,
                evaluated=sum(c.status == "done" for c in members),
                failed=sum(c.status == "failed" for c in members),
                best_id=best.id,
                best_fitness=best.fitness if best.fitness is not None else math.nan,
                best_loss=best.metrics.get(loss),
                lowest_loss=lowest,
            )
        )
    return summaries


def pareto_front(
    ledger: Ledger, *, loss: str = "val_loss", cost: str = "params"
) -> list[Candidate]:
    """Done candidates no other beats on both ``loss`` and ``cost`` (lower is better), by cost."""
    points = [
        c
        for c in ledger.candidates(status="done")
        if math.isfinite(c.metrics.get(loss, math.nan))
        and math.isfinite(c.metrics.get(cost, math.nan))
    ]
    points.sort(key=lambda c: (c.metrics[cost], c.metrics[loss], c.id))
    front: list[Candidate] = []
    for c in points:
        point = (c.metrics[loss], c.metrics[cost])
        last = (front[-1].metrics[loss], front[-1].metrics[cost]) if front else None
        # Sorted by cost, a point joins the front when it lowers the best loss so far, or ties
        # the last front point exactly (equal points do not dominate each other).
        if last is None or point[0] < last[0] or point == last:
            front.append(c)
    return front


def lineage(ledger: Ledger, candidate_id: int) -> list[Candidate]:
    """The candidate's ancestry: the ancestor first, the candidate last."""
    chain = [ledger.candidate(candidate_id)]
    while chain[-1].parent_id is not None:
        if len(chain) > 1_000_000:
            raise LedgerError(f"candidate {candidate_id} in {ledger.path} has a cyclic lineage")
        chain.append(ledger.candidate(chain[-1].parent_id))
    return chain[::-1]


def format_leaderboard(
    candidates: Sequence[Candidate], metrics: Sequence[str] = ("val_loss", "params")
) -> str:
    """A plain-text table of candidates (id, generation, parent, fitness and ``metrics``)."""
    header = ["rank", "id", "gen", "parent", "fitness", *metrics]
    rows = [
        [
            str(rank),
            str(c.id),
            str(c.generation),
            "-" if c.parent_id is None else str(c.parent_id),
            "-" if c.fitness is None else f"{c.fitness:.6g}",
            *("-" if m not in c.metrics else f"{c.metrics[m]:.6g}" for m in metrics),
        ]
        for rank, c in enumerate(candidates, start=1)
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True))
        for row in [header, *rows]
    ]
    return "\n".join(lines)


def export_csv(ledger: Ledger, path: str | os.PathLike[str]) -> Path:
    """Every candidate as one CSV row, one column per metric; written atomically."""
    candidates = ledger.candidates()
    fixed = ["id", "generation", "child_index", "parent_id", "status", "fitness"]
    tail = ["attempts", "device", "eval_seconds", "budget", "artifact", "error", "genotype"]
    names = sorted({m for c in candidates for m in c.metrics})
    columns = {m: (f"metric_{m}" if m in fixed or m in tail else m) for m in names}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*fixed, *columns.values(), *tail])
    for c in candidates:
        writer.writerow(
            [
                c.id,
                c.generation,
                c.child_index,
                "" if c.parent_id is None else c.parent_id,
                c.status,
                _cell(c.fitness),
                *(_cell(c.metrics.get(m)) for m in names),
                c.attempts,
                c.device or "",
                _cell(c.eval_seconds),
                c.budget,
                c.artifact or "",
                c.error or "",
                c.key,
            ]
        )
    return write_text_atomic(path, out.getvalue())


def export_json(ledger: Ledger, path: str | os.PathLike[str]) -> Path:
    """The search settings, every candidate and every generation as JSON (NaN as null)."""
    document = {
        "search": ledger.get_meta("search"),
        "fitness": ledger.get_meta("fitness"),
        "candidates": [dataclasses.asdict(c) for c in ledger.candidates()],
        "generations": [dataclasses.asdict(g) for g in ledger.generations()],
    }
    text = json.dumps(_json_safe(document), indent=1, allow_nan=False)
    return write_text_atomic(path, text + "\n")


def _cell(value: float | None) -> str:
    return "" if value is None or not math.isfinite(value) else repr(float(value))


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value
