"""The (mu + lambda) evolution engine (SPEC.md section 4) over a ledger and an executor.

Generation 0 evaluates the ancestor with ``ancestor_budget``. Generation g >= 1 makes
``children`` mutants, child i of parent ``i % parents`` among the survivors of g - 1 (best
first), each evaluated with ``child_budget``; the best ``parents`` of those survivors and the
generation's finished children survive. Child i of generation g draws its mutation from a
generator seeded by ``(seed, g, i)``, so a resumed run makes the children an uninterrupted
one would have. A generation's children enter the ledger in one transaction before any runs.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evosearch.contract import EvalRequest, EvalTask, Evaluation, Outcome
from evosearch.errors import (
    FitnessError,
    GenotypeError,
    LedgerMismatchError,
    SearchError,
    SearchSpaceExhaustedError,
)
from evosearch.events import (
    Callback,
    CandidateFinished,
    CandidateRetrying,
    CandidateStarted,
    Event,
    GenerationFinished,
    GenerationStarted,
    ProgressPrinter,
    SearchStopped,
    StopReason,
)
from evosearch.executors.base import Executor
from evosearch.executors.serial import SerialExecutor
from evosearch.fitness import Fitness, TradeoffFitness
from evosearch.genotype import GenotypeSet, JsonGenotype, genotype_key, normalize_genotype
from evosearch.ledger import Candidate, Ledger, NewCandidate
from evosearch.search_config import SearchConfig
from evosearch.space_protocol import SearchSpaceProtocol

log = logging.getLogger("evosearch")

WAIT_SECONDS = 0.5
"""How long the engine waits on the executor before checking for a stop request again."""


@dataclass(frozen=True)
class SearchResult:
    """How a run ended: why, the last closed generation, its survivors (best first)."""

    reason: StopReason
    generation: int
    survivors: tuple[Candidate, ...]
    evaluations: int

    @property
    def best(self) -> Candidate | None:
        """The survivor with the best (lowest) fitness."""
        return self.survivors[0] if self.survivors else None


def candidate_streams(seed: int, generation: int, index: int) -> tuple[np.random.Generator, int]:
    """The mutation generator and the evaluation seed of child ``index`` of ``generation``."""
    mutation, evaluation = np.random.SeedSequence([seed, generation, index]).spawn(2)
    return np.random.default_rng(mutation), int(evaluation.generate_state(1)[0])


def select_survivors(pool: Sequence[Candidate], count: int) -> list[Candidate]:
    """The ``count`` done candidates of ``pool`` with the lowest fitness (ties: lower id first)."""
    done = {c.id: c for c in pool if c.status == "done" and c.fitness is not None}
    return sorted(done.values(), key=lambda c: (c.fitness, c.id))[:count]


class Search:
    """A resumable (mu + lambda) search: rerunning it on the same ledger continues where it stopped.

    ``evaluate`` is a picklable `Evaluation`; ``executor`` defaults to `SerialExecutor`;
    artifacts go under ``artifact_root`` (default: ``<ledger folder>/<ledger name>-artifacts``).
    Ctrl-C (when ``handle_interrupt``) stops after the running evaluations; twice aborts.
    """

    def __init__(
        self,
        space: SearchSpaceProtocol,
        evaluate: Evaluation,
        ledger: Ledger | str | os.PathLike[str],
        config: SearchConfig | None = None,
        *,
        fitness: Fitness | None = None,
        executor: Executor | None = None,
        artifact_root: str | os.PathLike[str] | None = None,
        callbacks: Sequence[Callback] = (),
        progress: bool = True,
        handle_interrupt: bool = True,
    ) -> None:
        self.space = space
        self.evaluate = evaluate
        self.config = config if config is not None else SearchConfig()
        self.fitness = fitness if fitness is not None else TradeoffFitness()
        self.executor = executor if executor is not None else SerialExecutor()
        self.callbacks = list(callbacks) + ([ProgressPrinter()] if progress else [])
        self.handle_interrupt = handle_interrupt
        self._ledger_source = ledger
        self._artifact_root = artifact_root
        self._stop = threading.Event()
        self._evaluations = 0

    def request_stop(self) -> None:
        """Ask the running search to stop once its running evaluations have finished."""
        self._stop.set()

    def run(self) -> SearchResult:
        """Run (or resume) the search until its generations are done, it plateaus, or a stop."""
        own = not isinstance(self._ledger_source, Ledger)
        ledger = Ledger(self._ledger_source) if own else self._ledger_source
        self._stop.clear()
        self._evaluations = 0
        try:
            with self._interrupts():
                self._bind(ledger)
                requeued = ledger.requeue_running()
                if requeued:
                    log.info("retrying %d candidates left running by the last run", len(requeued))
                self.executor.start()
                aborted = True
                try:
                    result = self._evolve(ledger)
                    aborted = False
                finally:
                    self.executor.close(abort=aborted)
        finally:
            if own:
                ledger.close()
        return result

    # ----- the generation loop ---------------------------------------------------------------

    def _evolve(self, ledger: Ledger) -> SearchResult:
        if ledger.last_generation() is None:
            ledger.add_candidates([self._ancestor_candidate(ledger)])
        while True:
            generation = ledger.last_generation()
            if not ledger.is_closed(generation):
                if not self._evaluate_generation(ledger, generation):
                    return self._finish(ledger, "requested", generation - 1)
                self._close_generation(ledger, generation)
            reason = self._stop_reason(ledger, generation)
            if reason is not None:
                return self._finish(ledger, reason, generation)
            self._spawn_generation(ledger, generation + 1)

    def _stop_reason(self, ledger: Ledger, generation: int) -> StopReason | None:
        if generation >= self.config.generations:
            return "generations"
        patience = self.config.patience
        if patience is not None and generation >= patience:
            best = {
                r.generation: ledger.candidate(r.survivors[0]).fitness for r in ledger.generations()
            }
            if best[generation - patience] - best[generation] <= self.config.min_improvement:
                return "plateau"
        if self._stop.is_set():
            return "requested"
        return None

    def _finish(self, ledger: Ledger, reason: StopReason, generation: int) -> SearchResult:
        survivors = tuple(ledger.survivors(generation)) if generation >= 0 else ()
        result = SearchResult(reason, generation, survivors, self._evaluations)
        log.info("search stopped after generation %d: %s", generation, reason)
        self._emit(SearchStopped(reason, generation, result.best))
        return result

    # ----- making candidates -----------------------------------------------------------------

    def _ancestor_candidate(self, ledger: Ledger) -> NewCandidate:
        ancestor = self._checked(self.space.ancestor(), "the ancestor")
        _, seed = candidate_streams(self.config.seed, 0, 0)
        return NewCandidate(
            0,
            0,
            None,
            ancestor,
            self.config.ancestor_budget,
            seed,
            self._artifact_dir(ledger, 0, 0),
        )

    def _spawn_generation(self, ledger: Ledger, generation: int) -> None:
        parents = ledger.survivors(generation - 1)
        seen = GenotypeSet.from_keys(ledger.genotype_keys())
        new = []
        for index in range(self.config.children):
            parent = parents[index % len(parents)]
            rng, seed = candidate_streams(self.config.seed, generation, index)
            genotype = self._mutate(parent, rng, seen, generation, index)
            seen.add(genotype)
            new.append(
                NewCandidate(
                    generation,
                    index,
                    parent.id,
                    genotype,
                    self.config.child_budget,
                    seed,
                    self._artifact_dir(ledger, generation, index),
                )
            )
        ledger.add_candidates(new)

    def _mutate(
        self,
        parent: Candidate,
        rng: np.random.Generator,
        seen: GenotypeSet,
        generation: int,
        index: int,
    ) -> JsonGenotype:
        where = f"generation {generation} child {index} (a mutant of candidate {parent.id})"
        for _ in range(self.config.max_mutation_draws):
            child = self.space.mutate(normalize_genotype(parent.genotype), rng, seen)
            child = self._checked(child, where)
            if child not in seen:
                return child
        raise SearchSpaceExhaustedError(
            f"{where}: the search space gave only seen genotypes in "
            f"{self.config.max_mutation_draws} draws; the space may be exhausted"
        )

    def _checked(self, genotype: JsonGenotype, where: str) -> JsonGenotype:
        try:
            genotype = normalize_genotype(genotype, where=where)
            valid = self.space.validate(genotype)
        except (GenotypeError, ValueError, TypeError) as exc:
            raise SearchError(f"{where} is not a valid genotype: {exc}") from exc
        if valid is False:
            raise SearchError(f"{where} {genotype_key(genotype)} is outside the search space")
        return genotype

    def _artifact_dir(self, ledger: Ledger, generation: int, index: int) -> str:
        root = self._artifact_root
        if root is None:
            root = ledger.path.parent / f"{ledger.path.stem}-artifacts"
        return str(Path(root).resolve() / f"gen-{generation:04d}" / f"child-{index:04d}")

    def _bind(self, ledger: Ledger) -> None:
        ancestor = self._checked(self.space.ancestor(), "the ancestor")
        identity = {**self.config.identity(), "ancestor": ancestor}
        stored = ledger.get_meta("search")
        if stored is None:
            ledger.set_meta("search", identity)
            ledger.set_meta("fitness", repr(self.fitness))
            return
        changed = [k for k in identity if stored.get(k) != identity[k]]
        if changed:
            what = ", ".join(
                f"{k}={stored.get(k)!r} there but {identity[k]!r} here" for k in changed
            )
            raise LedgerMismatchError(
                f"ledger {ledger.path} belongs to another search ({what}); "
                "resume with the same settings or use a new ledger"
            )
        if ledger.get_meta("fitness") != repr(self.fitness):
            log.warning(
                "ledger %s was written with fitness %s, this run uses %r; earlier fitness values "
                "are kept as stored",
                ledger.path,
                ledger.get_meta("fitness"),
                self.fitness,
            )

    # ----- evaluating a generation -----------------------------------------------------------

    def _evaluate_generation(self, ledger: Ledger, generation: int) -> bool:
        """Evaluate the generation's pending candidates; False if a stop left some pending."""
        candidates = ledger.candidates(generation=generation)
        pending = deque(c for c in candidates if c.status == "pending")
        total = len(candidates)
        finished = total - len(pending)
        self._emit(GenerationStarted(generation, total, len(pending)))
        in_flight: set[int] = set()
        while (pending and not self._stop.is_set()) or in_flight:
            while pending and len(in_flight) < self.executor.slots and not self._stop.is_set():
                candidate = ledger.mark_running(pending.popleft().id)
                device = self.executor.submit(self._task(ledger, candidate))
                in_flight.add(candidate.id)
                self._emit(CandidateStarted(candidate, device))
            for outcome in self.executor.wait(WAIT_SECONDS):
                in_flight.discard(outcome.candidate_id)
                self._evaluations += 1
                candidate = self._record(ledger, outcome)
                if candidate.status == "pending":
                    pending.append(candidate)
                    self._emit(CandidateRetrying(candidate, outcome.error or ""))
                else:
                    finished += 1
                    self._emit(CandidateFinished(candidate, finished, total))
        return not pending

    def _task(self, ledger: Ledger, candidate: Candidate) -> EvalTask:
        parent_artifact = None
        if candidate.parent_id is not None:
            parent_artifact = ledger.candidate(candidate.parent_id).artifact
        Path(candidate.artifact_dir).mkdir(parents=True, exist_ok=True)
        request = EvalRequest(
            candidate_id=candidate.id,
            genotype=candidate.genotype,
            generation=candidate.generation,
            parent_id=candidate.parent_id,
            parent_artifact=parent_artifact,
            artifact_dir=candidate.artifact_dir,
            budget=candidate.budget,
            seed=candidate.seed,
            attempt=candidate.attempts,
        )
        return EvalTask(self.evaluate, request, self.config.transient_errors)

    def _record(self, ledger: Ledger, outcome: Outcome) -> Candidate:
        """Write how an attempt ended: done, failed, or pending again for a transient error."""
        cid = outcome.candidate_id
        if outcome.result is not None:
            metrics = dict(outcome.result.metrics)
            try:
                fitness = float(self.fitness(metrics))
            except FitnessError as exc:
                return self._fail(ledger, outcome, f"FitnessError: {exc}", metrics)
            if not math.isfinite(fitness):
                return self._fail(
                    ledger, outcome, f"non-finite fitness {fitness} from metrics {metrics}", metrics
                )
            return ledger.mark_done(
                cid,
                metrics=metrics,
                info=outcome.result.info,
                fitness=fitness,
                artifact=outcome.result.artifact,
                device=outcome.device,
                eval_seconds=outcome.seconds,
            )
        attempts = ledger.candidate(cid).attempts
        if outcome.transient and attempts < self.config.max_attempts:
            log.warning("candidate %d attempt %d: %s; retrying", cid, attempts, outcome.error)
            return ledger.mark_retry(cid, error=outcome.error or "", traceback=outcome.traceback)
        error = outcome.error or "unknown error"
        if outcome.transient:
            error += f" (gave up after {attempts} attempts)"
        return self._fail(ledger, outcome, error, None)

    def _fail(
        self, ledger: Ledger, outcome: Outcome, error: str, metrics: dict[str, float] | None
    ) -> Candidate:
        log.warning("candidate %d failed: %s", outcome.candidate_id, error)
        if outcome.traceback:
            log.debug("candidate %d traceback:\n%s", outcome.candidate_id, outcome.traceback)
        return ledger.mark_failed(
            outcome.candidate_id,
            error=error,
            traceback=outcome.traceback,
            metrics=metrics,
            device=outcome.device,
            eval_seconds=outcome.seconds,
        )

    def _close_generation(self, ledger: Ledger, generation: int) -> None:
        members = ledger.candidates(generation=generation)
        parents = ledger.survivors(generation - 1) if generation > 0 else []
        survivors = select_survivors([*parents, *members], self.config.parents)
        if not survivors:
            errors = "; ".join(sorted({c.error or "" for c in members if c.status == "failed"}))
            raise SearchError(
                f"generation {generation} has no survivors: every candidate failed ({errors}); "
                "fix the evaluation and start a new ledger"
            )
        ledger.close_generation(generation, [c.id for c in survivors])
        failed = sum(c.status == "failed" for c in members)
        self._emit(GenerationFinished(generation, survivors, len(members) - failed, failed))

    # ----- events and interrupts -------------------------------------------------------------

    def _emit(self, event: Event) -> None:
        for callback in self.callbacks:
            try:
                callback(event)
            except Exception:
                log.exception("search callback %r failed on %s", callback, type(event).__name__)

    @contextmanager
    def _interrupts(self) -> Iterator[None]:
        if not self.handle_interrupt or threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.getsignal(signal.SIGINT)

        def on_interrupt(signum: int, frame: object) -> None:
            if self._stop.is_set():
                raise KeyboardInterrupt
            self._stop.set()
            log.warning(
                "stopping after the running evaluations finish; press Ctrl-C again to abort now"
            )

        signal.signal(signal.SIGINT, on_interrupt)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
