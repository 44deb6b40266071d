"""The ledger: one SQLite file holding every candidate of a search and every closed generation.

Each state change is one transaction, and the file is in WAL mode, so a search killed at any
moment leaves a consistent ledger that the next run resumes from, and reports can read it while
a search writes. Candidate status goes ``pending -> running -> done | failed`` (or back to
``pending`` for a retry). Only the engine writes; reports and users read.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from evosearch.errors import LedgerError
from evosearch.genotype import JsonGenotype, genotype_key, parse_genotype

CandidateStatus = Literal["pending", "running", "done", "failed"]
CANDIDATE_STATUSES: tuple[CandidateStatus, ...] = get_args(CandidateStatus)
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS candidates (
    id INTEGER PRIMARY KEY,
    generation INTEGER NOT NULL,
    child_index INTEGER NOT NULL,
    parent_id INTEGER REFERENCES candidates(id),
    genotype TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    budget INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    artifact_dir TEXT NOT NULL,
    artifact TEXT,
    metrics TEXT,
    info TEXT,
    fitness REAL,
    device TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    traceback TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    eval_seconds REAL,
    UNIQUE (generation, child_index)
);
CREATE TABLE IF NOT EXISTS generations (
    generation INTEGER PRIMARY KEY,
    survivors TEXT NOT NULL,
    closed_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Candidate:
    """One row of the ledger: a genotype, where it came from, and how its evaluation went."""

    id: int
    generation: int
    child_index: int
    parent_id: int | None
    genotype: JsonGenotype
    status: CandidateStatus
    budget: int
    seed: int
    artifact_dir: str
    artifact: str | None
    metrics: dict[str, float]
    info: dict[str, Any]
    fitness: float | None
    device: str | None
    attempts: int
    error: str | None
    traceback: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    eval_seconds: float | None

    @property
    def key(self) -> str:
        """The canonical JSON of the genotype."""
        return genotype_key(self.genotype)


@dataclass(frozen=True)
class NewCandidate:
    """A candidate about to enter the ledger (status pending)."""

    generation: int
    child_index: int
    parent_id: int | None
    genotype: JsonGenotype
    budget: int
    seed: int
    artifact_dir: str


@dataclass(frozen=True)
class GenerationRecord:
    """A closed generation: its survivors (the next parents), best first."""

    generation: int
    survivors: tuple[int, ...]
    closed_at: float


class Ledger:
    """An SQLite ledger file; opening an existing one resumes it. Use as a context manager."""

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise LedgerError(f"no ledger at {self.path}; check the path or run the search first")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=60.0)
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot open the ledger {self.path}: {exc}") from None
        self._db.row_factory = sqlite3.Row
        try:
            self._prepare()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise LedgerError(f"{self.path} is not a readable evosearch ledger: {exc}") from None
        except BaseException:
            self._db.close()
            raise

    def _prepare(self) -> None:
        """Set WAL mode, create the tables in an empty file, check the schema version."""
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        query = "SELECT name FROM sqlite_master WHERE type='table'"
        tables = {row[0] for row in self._db.execute(query)}
        if not tables:
            with self._transaction() as db:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),)
                )
        elif not {"meta", "candidates", "generations"} <= tables:
            raise LedgerError(f"{self.path} is an SQLite file but not an evosearch ledger")
        row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None or row["value"] != str(SCHEMA_VERSION):
            found = None if row is None else row["value"]
            raise LedgerError(
                f"ledger {self.path} has schema {found}, this evosearch reads {SCHEMA_VERSION}"
            )

    # ----- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r})"

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ----- metadata ----------------------------------------------------------------------------

    def get_meta(self, key: str) -> Any:
        """The JSON value stored under ``key``, None if absent."""
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else json.loads(row["value"])

    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON value under ``key`` (one transaction)."""
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    # ----- writes (the engine's) -------------------------------------------------------------

    def add_candidates(self, new: Sequence[NewCandidate]) -> list[Candidate]:
        """Insert candidates as pending, all in one transaction; ids follow the given order."""
        now = time.time()
        ids = []
        with self._transaction() as db:
            for c in new:
                try:
                    cursor = db.execute(
                        "INSERT INTO candidates (generation, child_index, parent_id, genotype, "
                        "status, budget, seed, artifact_dir, created_at) "
                        "VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
                        (
                            c.generation,
                            c.child_index,
                            c.parent_id,
                            genotype_key(c.genotype),
                            c.budget,
                            c.seed,
                            c.artifact_dir,
                            now,
                        ),
                    )
                except sqlite3.IntegrityError as exc:
                    raise LedgerError(
                        f"cannot add generation {c.generation} child {c.child_index} "
                        f"{genotype_key(c.genotype)} to {self.path}: {exc}"
                    ) from None
                ids.append(cursor.lastrowid)
        return [self.candidate(i) for i in ids]

    def mark_running(self, candidate_id: int, device: str | None = None) -> Candidate:
        """pending -> running, counting one more attempt."""
        self._transition(
            candidate_id,
            "pending",
            "status='running', attempts=attempts+1, started_at=?, device=?",
            (time.time(), device),
        )
        return self.candidate(candidate_id)

    def mark_done(
        self,
        candidate_id: int,
        *,
        metrics: Mapping[str, float],
        info: Mapping[str, Any],
        fitness: float,
        artifact: str | None,
        device: str | None,
        eval_seconds: float,
    ) -> Candidate:
        """running -> done, with the evaluation's metrics, info, fitness and artifact."""
        self._transition(
            candidate_id,
            "running",
            "status='done', metrics=?, info=?, fitness=?, artifact=?, device=?, "
            "eval_seconds=?, finished_at=?, error=NULL, traceback=NULL",
            (
                json.dumps(dict(metrics)),
                json.dumps(dict(info)),
                fitness,
                artifact,
                device,
                eval_seconds,
                time.time(),
            ),
        )
        return self.candidate(candidate_id)

    def mark_failed(
        self,
        candidate_id: int,
        *,
        error: str,
        traceback: str | None = None,
        metrics: Mapping[str, float] | None = None,
        device: str | None = None,
        eval_seconds: float | None = None,
    ) -> Candidate:
        """running -> failed, keeping the error text (and the metrics, if any came back)."""
        self._transition(
            candidate_id,
            "running",
            "status='failed', error=?, traceback=?, metrics=?, device=?, eval_seconds=?, "
            "finished_at=?",
            (
                error,
                traceback,
                None if metrics is None else json.dumps(dict(metrics)),
                device,
                eval_seconds,
                time.time(),
            ),
        )
        return self.candidate(candidate_id)

    def mark_retry(
        self, candidate_id: int, *, error: str, traceback: str | None = None
    ) -> Candidate:
        """running -> pending after a transient error, keeping that error's text."""
        self._transition(
            candidate_id, "running", "status='pending', error=?, traceback=?", (error, traceback)
        )
        return self.candidate(candidate_id)

    def requeue_running(self) -> list[int]:
        """Every running candidate (its run was killed) back to pending; returns their ids."""
        with self._transaction() as db:
            ids = [r["id"] for r in db.execute("SELECT id FROM candidates WHERE status='running'")]
            db.execute("UPDATE candidates SET status='pending' WHERE status='running'")
        return ids

    def close_generation(self, generation: int, survivors: Sequence[int]) -> GenerationRecord:
        """Record a generation's survivors (best first); a generation closes once."""
        now = time.time()
        with self._transaction() as db:
            try:
                db.execute(
                    "INSERT INTO generations VALUES (?, ?, ?)",
                    (generation, json.dumps([int(i) for i in survivors]), now),
                )
            except sqlite3.IntegrityError:
                raise LedgerError(
                    f"generation {generation} is already closed in {self.path}"
                ) from None
        return GenerationRecord(generation, tuple(int(i) for i in survivors), now)

    def _transition(
        self, candidate_id: int, expected: CandidateStatus, assignments: str, values: tuple
    ) -> None:
        with self._transaction() as db:
            cursor = db.execute(
                f"UPDATE candidates SET {assignments} WHERE id=? AND status=?",
                (*values, candidate_id, expected),
            )
            if cursor.rowcount != 1:
                row = db.execute(
                    "SELECT status FROM candidates WHERE id=?", (candidate_id,)
                ).fetchone()
                found = "absent" if row is None else row["status"]
                raise LedgerError(
                    f"candidate {candidate_id} in {self.path} is {found}, expected {expected}"
                )

    # ----- reads -----------------------------------------------------------------------------

    def candidate(self, candidate_id: int) -> Candidate:
        """The candidate with this id; `LedgerError` if absent."""
        row = self._db.execute("SELECT * FROM candidates WHERE id=?", (candidate_id,)).fetchone()
        if row is None:
            raise LedgerError(f"no candidate {candidate_id} in {self.path}")
        return _candidate(row)

    def candidates(
        self, *, generation: int | None = None, status: CandidateStatus | None = None
    ) -> list[Candidate]:
        """Candidates in id order, optionally of one generation and/or one status."""
        if status is not None and status not in CANDIDATE_STATUSES:
            raise LedgerError(f"unknown status {status!r}; use one of {CANDIDATE_STATUSES}")
        clauses, values = [], []
        if generation is not None:
            clauses.append("generation=?")
            values.append(generation)
        if status is not None:
            clauses.append("status=?")
            values.append(status)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._db.execute(f"SELECT * FROM candidates{where} ORDER BY id", values)
        return [_candidate(r) for r in rows]

    def genotype_keys(self) -> list[str]:
        """The canonical JSON of every genotype in the ledger, in id order."""
        return [r[0] for r in self._db.execute("SELECT genotype FROM candidates ORDER BY id")]

    def generations(self) -> list[GenerationRecord]:
        """Every closed generation, in order."""
        rows = self._db.execute("SELECT * FROM generations ORDER BY generation")
        return [
            GenerationRecord(r["generation"], tuple(json.loads(r["survivors"])), r["closed_at"])
            for r in rows
        ]

    def last_generation(self) -> int | None:
        """The highest generation holding candidates, None for an empty ledger."""
        return self._db.execute("SELECT MAX(generation) FROM candidates").fetchone()[0]

    def is_closed(self, generation: int) -> bool:
        """True once `close_generation` recorded this generation."""
        row = self._db.execute("SELECT 1 FROM generations WHERE generation=?", (generation,))
        return row.fetchone() is not None

    def survivors(self, generation: int) -> list[Candidate]:
        """The survivors of a closed generation, best first; `LedgerError` if it is open."""
        row = self._db.execute(
            "SELECT survivors FROM generations WHERE generation=?", (generation,)
        ).fetchone()
        if row is None:
            raise LedgerError(f"generation {generation} is not closed in {self.path}")
        return [self.candidate(i) for i in json.loads(row["survivors"])]

    def counts(self) -> dict[CandidateStatus, int]:
        """How many candidates have each status."""
        counts = dict.fromkeys(CANDIDATE_STATUSES, 0)
        for row in self._db.execute("SELECT status, COUNT(*) FROM candidates GROUP BY status"):
            counts[row[0]] = row[1]
        return counts


def _candidate(row: sqlite3.Row) -> Candidate:
    return Candidate(
        id=row["id"],
        generation=row["generation"],
        child_index=row["child_index"],
        parent_id=row["parent_id"],
        genotype=parse_genotype(row["genotype"]),
        status=row["status"],
        budget=row["budget"],
        seed=row["seed"],
        artifact_dir=row["artifact_dir"],
        artifact=row["artifact"],
        metrics={} if row["metrics"] is None else json.loads(row["metrics"]),
        info={} if row["info"] is None else json.loads(row["info"]),
        fitness=row["fitness"],
        device=row["device"],
        attempts=row["attempts"],
        error=row["error"],
        traceback=row["traceback"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        eval_seconds=row["eval_seconds"],
    )
